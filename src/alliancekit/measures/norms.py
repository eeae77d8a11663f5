"""The norms a measure is read against: populations, clinical cutoffs, reliable change, and the citations
that every number carries. Plain values: :mod:`.change` computes with them,
:mod:`alliancekit.measures.definition` holds them.
"""

from __future__ import annotations

from enum import StrEnum

import attrs


class Direction(StrEnum):
    """Which way is healthier."""

    HIGHER_IS_BETTER = "higher-is-better"
    HIGHER_IS_WORSE = "higher-is-worse"


class ClinicalIf(StrEnum):
    """How a total compares with the clinical cutoff to count as clinical (or, for alliance, as a concern)."""

    BELOW = "below"
    AT_OR_BELOW = "at-or-below"
    ABOVE = "above"
    AT_OR_ABOVE = "at-or-above"

    def is_clinical(self, total: float, cutoff: float) -> bool:
        if self is ClinicalIf.BELOW:
            return total < cutoff
        if self is ClinicalIf.AT_OR_BELOW:
            return total <= cutoff
        if self is ClinicalIf.ABOVE:
            return total > cutoff
        return total >= cutoff


class CitationStatus(StrEnum):
    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"


@attrs.frozen(cache_hash=True)  # hashed on every change classification (lru caches)
class Citation:
    ref: str
    reference: str
    detail: str | None = None
    status: CitationStatus = CitationStatus.CONFIRMED


@attrs.frozen(cache_hash=True)
class CitedValue:
    value: float
    citation: Citation


@attrs.frozen(cache_hash=True)
class Cutoff:
    value: float
    clinical_if: ClinicalIf
    citation: Citation

    def is_clinical(self, total: float) -> bool:
        return self.clinical_if.is_clinical(total, self.value)


@attrs.frozen(cache_hash=True)
class Sample:
    mean: float
    sd: float
    citation: Citation
    n: int | None = None


@attrs.frozen(cache_hash=True)
class Norm:
    """Norms for one population: what counts as clinical and as reliable change there."""

    population: str
    default: bool
    label: str | None = None
    clinical_cutoff: Cutoff | None = None
    reliable_change_points: CitedValue | None = None
    reliability: CitedValue | None = None
    clinical_sample: Sample | None = None
    nonclinical_sample: Sample | None = None
