"""Reliable change and clinical significance (Jacobson & Truax, 1991).

Jacobson, N. S., & Truax, P. (1991). Clinical significance: a statistical approach to defining meaningful
change in psychotherapy research. *Journal of Consulting and Clinical Psychology*, 59(1), 12-19.

* ``SE_m = SD_pre * sqrt(1 - r)``, ``S_diff = sqrt(2) * SE_m``, ``RC = (post - pre) / S_diff``;
  the change is reliable when ``|RC| > 1.96`` (p < .05, two-tailed).
* Where a measure's norms publish a reliable-change threshold in points (the IAPT conventions for PHQ-9
  and GAD-7, for example), a change of at least that many points is reliable instead.
* Cutoffs for returning to the functional range, written for a measure where **higher is worse**
  (signs flip when higher is better):

  - ``a = M_clin - k * SD_clin`` (beyond the clinical sample's range, toward health)
  - ``b = M_norm + k * SD_norm`` (within the functional sample's range)
  - ``c = (SD_clin * M_norm + SD_norm * M_clin) / (SD_clin + SD_norm)`` (the point where the two
    distributions meet, equally likely either side)

  Jacobson & Truax use ``k = 2``; some implementations use 1.96. :class:`Spread` makes the choice explicit.
* **Exactly at c.** Criterion c asks that the post score lie closer to the functional mean than to the
  dysfunctional one (in standard-deviation units; Jacobson & Truax 1991, p. 13). A score exactly at ``c``
  is equally close to both, so it is on neither side: a client starting or ending exactly at ``c`` has
  not crossed it. Criteria a and b ("beyond" or "within" two SDs) count a post score exactly at the
  cutoff as having reached it, and the published clinical cutoff keeps its declared comparison.
* **Exact arithmetic.** Changes are computed on the decimals the scores stand for (:mod:`.exact`), and
  ``c`` is compared as an exact fraction, so a change of exactly the threshold counts.
* Classes: **recovered** (reliable improvement and crossed the cutoff), **improved** (reliable improvement
  only), **unchanged**, **deteriorated** (reliable worsening).
"""

from __future__ import annotations

import functools
import math
from enum import Enum, StrEnum
from fractions import Fraction

import attrs

from alliancekit.domain.reprs import hidden
from alliancekit.measures.exact import SCALE, at_least, exact, units
from alliancekit.measures.exact import change as exact_change
from alliancekit.measures.norms import Direction, Norm, Sample

#: the two-tailed 5% criterion for |RC| (Jacobson & Truax 1991, p. 14)
RC_CRITERION = 1.96


class Spread(float, Enum):
    """How many SDs from a sample's mean cutoffs *a* and *b* lie."""

    TWO_SD = 2.0  # Jacobson & Truax (1991)
    Z_196 = 1.96  # a variant some implementations use


class ChangeClass(StrEnum):
    RECOVERED = "recovered"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    DETERIORATED = "deteriorated"


class CutoffKind(StrEnum):
    A = "a"
    B = "b"
    C = "c"
    PUBLISHED = "published"  # the norm's clinical cutoff, used when sample statistics are not known


def standard_error_of_difference(sd_pre: float, reliability: float) -> float:
    """``S_diff = sqrt(2) * SD_pre * sqrt(1 - r)``."""
    if sd_pre <= 0 or not 0 < reliability < 1:
        raise ValueError("sd_pre must be positive and reliability strictly between 0 and 1")
    return math.sqrt(2) * sd_pre * math.sqrt(1 - reliability)


def standard_error_of_difference_from_sem(sem: float) -> float:
    """``S_diff = sqrt(2 * SE_m**2)``, for test manuals that publish the standard error of measurement."""
    if sem <= 0:
        raise ValueError("sem must be positive")
    return math.sqrt(2 * sem * sem)


def reliable_change_index(pre: float, post: float, s_diff: float) -> float:
    """``RC = (post - pre) / S_diff``; positive when the score rose."""
    return exact_change(pre, post) / s_diff


def reliable_change_threshold(norm: Norm) -> float | None:
    """Points of change needed to be reliable under ``norm``: published, or ``1.96 * S_diff``, or ``None``."""
    if norm.reliable_change_points is not None:
        return norm.reliable_change_points.value
    if norm.reliability is not None and norm.clinical_sample is not None:
        return RC_CRITERION * standard_error_of_difference(norm.clinical_sample.sd, norm.reliability.value)
    return None


@attrs.frozen
class Cutoffs:
    a: float | None
    b: float | None
    c: float | None


@functools.lru_cache(maxsize=256)
def cutoffs(norm: Norm, direction: Direction, spread: Spread = Spread.TWO_SD) -> Cutoffs:
    """Cutoffs a, b and c from the norm's clinical and non-clinical samples (``None`` when not computable)."""
    clin, func = norm.clinical_sample, norm.nonclinical_sample
    k = spread.value
    # toward health is downward when higher is worse, upward when higher is better
    sign = -1.0 if direction is Direction.HIGHER_IS_WORSE else 1.0
    a = None if clin is None else clin.mean + sign * k * clin.sd
    b = None if func is None else func.mean - sign * k * func.sd
    c = None
    if clin is not None and func is not None:
        c = float(_weighted(clin, func))
    return Cutoffs(a, b, c)


@attrs.frozen
class ChangeResult:
    # a client's change is client data: only the measure's threshold and cutoff show in a repr
    change: float = attrs.field(repr=hidden)
    rc: float | None = attrs.field(repr=hidden)
    """The reliable change index, when SD and reliability are known."""
    threshold: float  # points of change needed to be reliable
    reliable: bool = attrs.field(repr=hidden)
    improved: bool = attrs.field(repr=hidden)  # the change, reliable or not, is toward health
    cutoff: float | None
    cutoff_kind: CutoffKind | None
    crossed_cutoff: bool = attrs.field(repr=hidden)
    """Started on the clinical side, ended on the functional side."""
    change_class: ChangeClass = attrs.field(repr=hidden)


def classify_change(
    pre: float,
    post: float,
    norm: Norm,
    direction: Direction,
    *,
    cutoff: CutoffKind = CutoffKind.C,
    spread: Spread = Spread.TWO_SD,
) -> ChangeResult:
    """Classify the change from ``pre`` to ``post`` as recovered, improved, unchanged or deteriorated.

    Reliability uses the norm's published threshold in points when it has one (change of at least that many
    points), otherwise ``|RC| > 1.96``. ``cutoff`` picks a, b or c; when that one cannot be computed from
    the norm's samples, c is tried, then the norm's published clinical cutoff.

    :raises ValueError: the norm gives no way to judge reliable change.
    """
    change = exact_change(pre, post)
    toward_health = change < 0 if direction is Direction.HIGHER_IS_WORSE else change > 0
    s_diff, value, kind, c_units = _terms(norm, direction, cutoff, spread)
    rc: float | None = None
    if s_diff is not None:
        rc = change / s_diff  # reliable_change_index on the exact change
    if norm.reliable_change_points is not None:
        threshold = norm.reliable_change_points.value
        reliable = at_least(abs(change), threshold)
    else:  # a norm with neither was refused by _terms
        assert s_diff is not None  # noqa: S101
        assert rc is not None  # noqa: S101
        threshold = RC_CRITERION * s_diff
        reliable = abs(rc) > RC_CRITERION

    crossed = False
    if kind is CutoffKind.PUBLISHED:
        crossed = _published_crossed(norm, pre, post)
    elif c_units is not None:
        # strictly closer to the dysfunctional mean before, strictly closer to the functional mean after;
        # c = num / den micro-points, compared in integers
        num, den = c_units
        before, after = units(pre) * den, units(post) * den
        crossed = before > num > after if direction is Direction.HIGHER_IS_WORSE else before < num < after
    elif value is not None:
        crossed = pre > value >= post if direction is Direction.HIGHER_IS_WORSE else pre < value <= post

    if reliable and toward_health:
        klass = ChangeClass.RECOVERED if crossed else ChangeClass.IMPROVED
    elif reliable:
        klass = ChangeClass.DETERIORATED
    else:
        klass = ChangeClass.UNCHANGED
    return ChangeResult(change, rc, threshold, reliable, toward_health, value, kind, crossed, klass)


_Terms = tuple[float | None, float | None, CutoffKind | None, tuple[int, int] | None]


@functools.lru_cache(maxsize=256, typed=True)
def _terms(norm: Norm, direction: Direction, cutoff: CutoffKind, spread: Spread) -> _Terms:
    """What :func:`classify_change` takes from the norm alone, worked out once per norm and choice (a norm
    is immutable; the alert rules classify a change on every session with an outcome measure): ``S_diff``
    (``None`` without SD and reliability), the cutoff picked and its kind, and cutoff c as an exact ratio
    when that is the one picked.

    :raises ValueError: the norm gives no way to judge reliable change (nothing is kept)."""
    s_diff = None
    if norm.reliability is not None and norm.clinical_sample is not None:
        s_diff = standard_error_of_difference(norm.clinical_sample.sd, norm.reliability.value)
    if norm.reliable_change_points is None and s_diff is None:
        raise ValueError(
            f"population {norm.population!r} has no reliable-change threshold or SD and reliability"
        )
    value, kind = _pick_cutoff(norm, direction, cutoff, spread)
    return s_diff, value, kind, _c_units(norm) if kind is CutoffKind.C else None


@functools.lru_cache(maxsize=256)
def _c_units(norm: Norm) -> tuple[int, int]:
    """Cutoff c in micro-points as an exact ratio of integers (numerator, positive denominator)."""
    clin, func = norm.clinical_sample, norm.nonclinical_sample
    if clin is None or func is None:  # pragma: no cover - only called when c was computed
        raise ValueError("cutoff c needs both samples")
    c = _weighted(clin, func) * SCALE
    return c.numerator, c.denominator


@functools.lru_cache(maxsize=256)
def _weighted(clin: Sample, func: Sample) -> Fraction:
    """``(SD_clin * M_norm + SD_norm * M_clin) / (SD_clin + SD_norm)`` exactly, from published decimals."""
    sd_c, sd_f = exact(clin.sd), exact(func.sd)
    return (sd_c * exact(func.mean) + sd_f * exact(clin.mean)) / (sd_c + sd_f)


def _published_crossed(norm: Norm, pre: float, post: float) -> bool:
    cutoff = norm.clinical_cutoff
    return cutoff is not None and cutoff.is_clinical(pre) and not cutoff.is_clinical(post)


def _pick_cutoff(
    norm: Norm, direction: Direction, wanted: CutoffKind, spread: Spread
) -> tuple[float | None, CutoffKind | None]:
    computed = cutoffs(norm, direction, spread)
    by_kind = {CutoffKind.A: computed.a, CutoffKind.B: computed.b, CutoffKind.C: computed.c}
    for kind in (wanted, CutoffKind.C):
        if kind in by_kind and by_kind[kind] is not None:
            return by_kind[kind], kind
    if norm.clinical_cutoff is not None:
        return norm.clinical_cutoff.value, CutoffKind.PUBLISHED
    return None, None
