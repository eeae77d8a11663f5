"""A measure definition as typed, frozen values.

A definition arrives as a mapping in the format of ``schemas/measure-definition.schema.json``.
:func:`parse_definition` checks it against that meta-schema, then checks what JSON Schema cannot say
(keys unique, referenced items exist, bands contiguous, citations resolve, item text only where the licence
allows it, "not applicable" only where the missing-data rule can score without the item, an item's own LOINC
answer list one code per answer option and each code one answer throughout) and returns a
:class:`Measure`. Every error is a :class:`MeasureDefinitionError` whose ``field`` is the JSON path of the
offending part.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import attrs
from attrs.converters import optional

from alliancekit.domain.frozen_map import FrozenMap, frozen_map
from alliancekit.domain.vocab import Rater
from alliancekit.errors import MeasureDefinitionError
from alliancekit.i18n import best_language
from alliancekit.measures.change import reliable_change_threshold
from alliancekit.measures.norms import (
    Citation,
    CitationStatus,
    CitedValue,
    ClinicalIf,
    Cutoff,
    Direction,
    Norm,
    Sample,
)
from alliancekit.measures.readonly import read_only
from alliancekit.measures.validation import NOT_APPLICABLE, check_against_meta_schema

__all__ = [
    "AnswerConvention",
    "AnswerOption",
    "Band",
    "Citation",
    "CitationStatus",
    "CitedValue",
    "ClinicalIf",
    "Code",
    "CodeTarget",
    "Cutoff",
    "Direction",
    "Example",
    "Item",
    "Measure",
    "MeasureKind",
    "MeasureText",
    "MissingPolicy",
    "NOT_APPLICABLE",
    "Norm",
    "RiskItem",
    "Sample",
    "ScoringMethod",
    "Subscale",
    "Translation",
    "check_bands",
    "parse_definition",
]


class MeasureKind(StrEnum):
    OUTCOME = "outcome"
    ALLIANCE = "alliance"
    SYMPTOM = "symptom"


class ScoringMethod(StrEnum):
    SUM = "sum"
    MEAN = "mean"


class MissingPolicy(StrEnum):
    REFUSE = "refuse"
    PRORATE = "prorate"


class AnswerConvention(StrEnum):
    """What a submitted answer is (``scoring.answers`` in a definition)."""

    RESPONSE_POSITION = "response-position"
    """The response's position on the form, counted from the first option; reverse-keyed items are
    reversed when scored (``min + max - answer``)."""
    ITEM_SCORE = "item-score"
    """The item's score as already keyed; nothing is reversed."""


class CodeTarget(StrEnum):
    PANEL = "panel"
    TOTAL = "total"
    ITEM = "item"


@attrs.frozen
class Item:
    key: str
    label: str
    min: float
    max: float
    step: float
    text: str | None = None
    allows_na: bool = False
    """The item may be answered :data:`NOT_APPLICABLE`."""
    loinc_answers: tuple[str, ...] = ()
    """The item's own LOINC answer codes, one per :attr:`Measure.answer_options` entry in order, where its
    LOINC term's answer list differs from the measure's (empty: the measure's codes). What reads and writes
    them is :mod:`alliancekit.fhir.coded_answers`."""

    @property
    def integral(self) -> bool:
        """Answers must be whole numbers (a step of 1 from a whole minimum)."""
        return self.step == 1 and float(self.min).is_integer()


@attrs.frozen
class Subscale:
    key: str
    label: str
    items: tuple[str, ...]


@attrs.frozen
class Band:
    key: str
    label: str
    min: float
    max: float


@attrs.frozen
class RiskItem:
    item: str
    threshold: float
    citation: Citation


@attrs.frozen
class Code:
    system: str
    code: str
    target: CodeTarget
    display: str | None = None
    item: str | None = None


@attrs.frozen
class AnswerOption:
    """One response on the form: its position ``value`` (what is submitted), label and LOINC answer code."""

    value: float
    label: str
    loinc: str | None = None


@attrs.frozen
class Translation:
    """The definition's text in one other language (``translations`` in a definition), with its source."""

    language: str
    source: Citation
    title: str | None = None
    stem: str | None = None
    labels: Mapping[str, str] = attrs.field(converter=frozen_map, factory=FrozenMap)
    texts: Mapping[str, str] = attrs.field(converter=frozen_map, factory=FrozenMap)
    answer_labels: tuple[str, ...] = ()


@attrs.frozen
class MeasureText:
    """A measure's text as shown in one language: what :meth:`Measure.text_for` picked.

    Whatever the translation leaves out is the definition's own text. ``source`` cites the translation
    (``None`` for the definition's own language).
    """

    language: str
    title: str
    stem: str | None
    labels: Mapping[str, str] = attrs.field(converter=frozen_map)
    texts: Mapping[str, str | None] = attrs.field(converter=frozen_map)
    answer_labels: tuple[str, ...]
    source: Citation | None = None

    def label(self, key: str) -> str:
        return self.labels[key]

    def text(self, key: str) -> str | None:
        """The item's wording (``None`` when the licence keeps it out: show the label)."""
        return self.texts.get(key)


@attrs.frozen
class Example:
    answers: Mapping[str, float | str | None] = attrs.field(converter=frozen_map)
    total: float
    subscales: Mapping[str, float] | None = attrs.field(default=None, converter=optional(frozen_map))
    band: str | None = None
    clinical: bool | None = None
    risk_items: tuple[str, ...] | None = None
    description: str | None = None


@attrs.frozen(repr=False, eq=False)
class Measure:
    """One registered measure. ``definition`` is the mapping it was parsed from: a private JSON copy,
    read-only (see :mod:`alliancekit.measures.readonly`)."""

    id: str
    version: str
    title: str
    kind: MeasureKind
    direction: Direction
    licence_notice: str
    item_text_allowed: bool
    items: tuple[Item, ...]
    method: ScoringMethod
    reverse_keyed: frozenset[str]
    missing_policy: MissingPolicy
    max_missing: int
    subscales: tuple[Subscale, ...]
    range_min: float
    range_max: float
    norms: tuple[Norm, ...]
    bands: tuple[Band, ...]
    risk_items: tuple[RiskItem, ...]
    codes: tuple[Code, ...]
    examples: tuple[Example, ...]
    source: Citation
    definition: Mapping[str, Any]
    answers: AnswerConvention = AnswerConvention.RESPONSE_POSITION
    """What a submitted answer is; see :class:`AnswerConvention`."""
    raters: frozenset[Rater] = frozenset({Rater.CLIENT})
    """Who may complete it: the client about themselves unless the definition names collateral raters."""
    answer_options: tuple[AnswerOption, ...] = ()
    """The labelled responses shared by every item (PHQ-9's "Not at all" ...); empty: numbered positions."""
    stem: str | None = None
    """The instruction before the items, where the licence allows its wording."""
    language: str = "en"
    """The BCP 47 tag of the definition's own text."""
    translations: Mapping[str, Translation] = attrs.field(converter=frozen_map, factory=FrozenMap)
    """The definition's text in other languages, keyed by BCP 47 tag."""
    _read_against: Mapping[str, Norm] = attrs.field(init=False, repr=False, eq=False)
    """:meth:`norm_for` of each declared population, derived once when the measure is made (a norm that
    borrows the default's reliable-change threshold is a new :class:`Norm`; scoring asks per score)."""

    def __attrs_post_init__(self) -> None:
        default = self.default_norm
        derived: dict[str, Norm] = {}
        for norm in self.norms:  # the first norm of a population is its norm (see :meth:`norm`)
            derived.setdefault(norm.population, _derive_norm(norm, default))
        object.__setattr__(self, "_read_against", FrozenMap(derived))

    def __repr__(self) -> str:
        return f"<Measure {self.id} {self.version}>"

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the measure's text is available in: its own first, then its translations."""
        return (self.language, *self.translations)

    def text_for(self, language: str | None = None) -> MeasureText:
        """The measure's text in ``language`` (BCP 47): that tag, else its primary subtag (``es-MX`` falls
        back to ``es``), else the definition's own language. Parts a translation leaves out are the
        definition's own text."""
        picked = best_language(language, self.languages) or self.language
        labels = {item.key: item.label for item in self.items}
        texts = {item.key: item.text if self.item_text_allowed else None for item in self.items}
        answers = tuple(option.label for option in self.answer_options)
        translation = self.translations.get(picked)
        if translation is None:
            return MeasureText(self.language, self.title, self.stem, labels, texts, answers)
        labels.update(translation.labels)
        texts.update(translation.texts)
        return MeasureText(
            picked,
            translation.title or self.title,
            translation.stem or self.stem,
            labels,
            texts,
            translation.answer_labels or answers,
            translation.source,
        )

    @property
    def higher_is_better(self) -> bool:
        """Whether a higher total means the client is doing better."""
        return self.direction is Direction.HIGHER_IS_BETTER

    @property
    def item_keys(self) -> tuple[str, ...]:
        """The items' keys, in the definition's order."""
        return tuple(item.key for item in self.items)

    @property
    def na_items(self) -> frozenset[str]:
        """Keys of the items that allow :data:`NOT_APPLICABLE`."""
        return frozenset(item.key for item in self.items if item.allows_na)

    @property
    def default_norm(self) -> Norm | None:
        """The norm marked as the default (read when an episode names no population), if any."""
        for norm in self.norms:
            if norm.default:
                return norm
        return None

    @property
    def populations(self) -> frozenset[str]:
        """The populations the measure's norms are published for."""
        return frozenset(norm.population for norm in self.norms)

    def norm(self, population: str | None = None) -> Norm | None:
        """The norms for ``population`` as published (the default population when ``None``; ``None`` when
        the measure declares no such population). What a score is read against is :meth:`norm_for`'s."""
        if population is None:
            return self.default_norm
        for norm in self.norms:
            if norm.population == population:
                return norm
        return None

    def norm_for(self, population: str | None) -> Norm | None:
        """The norm a score of a client in ``population`` is read against: the one place that decides it
        (scoring's clinical flag, the alert rules, change classes, reviews, charts and reports all ask).

        ``None`` (an episode that names no population), or a population this measure does not declare,
        reads against the measure's default population. A declared population that publishes no
        reliable-change figure of its own (the ORS child and adolescent norms give a cutoff only) keeps its
        own cutoff and samples and takes the default population's reliable-change threshold, so a child's
        reliable deterioration is still noticed; the threshold keeps the default's citation.
        """
        if population is None:
            return self.default_norm
        norm = self._read_against.get(population)
        return self.default_norm if norm is None else norm

    def is_clinical(self, total: float, population: str | None = None) -> bool | None:
        """Whether ``total`` is on the clinical side of :meth:`norm_for` ``(population)``'s cutoff
        (``None``: that norm has no cutoff)."""
        norm = self.norm_for(population)
        return (
            None if norm is None or norm.clinical_cutoff is None else norm.clinical_cutoff.is_clinical(total)
        )

    @property
    def clinical_cutoff(self) -> float | None:
        """The default population's clinical cutoff, or ``None`` when the measure has none."""
        norm = self.norm_for(None)
        return None if norm is None or norm.clinical_cutoff is None else norm.clinical_cutoff.value

    @property
    def reliable_change(self) -> float | None:
        """The default population's reliable-change threshold in points (published, or from SD and r)."""
        norm = self.norm_for(None)
        return None if norm is None else reliable_change_threshold(norm)

    @property
    def integral_total(self) -> bool:
        """Totals of complete responses are whole numbers, so bands meet at ``max + 1``."""
        return self.method is ScoringMethod.SUM and all(item.integral for item in self.items)

    @property
    def whole_totals(self) -> bool:
        """Every total is a whole number: a sum of whole-number items that never prorates (a prorated sum,
        ``sum * items / answered``, is carried to six places: a CORE-10 with one item missing may be
        21.111111). What a total recorded on its own (:func:`~alliancekit.measures.scoring.
        compile_total_scorer`) and the SDC total item's type follow."""
        return self.integral_total and self.missing_policy is MissingPolicy.REFUSE

    def band_for(self, total: float) -> Band | None:
        """The band whose range holds ``total``; a prorated total between two bands goes to the lower one."""
        found: Band | None = None
        for band in self.bands:
            if band.min <= total:
                found = band
            else:
                break
        return found


def _derive_norm(own: Norm, default: Norm | None) -> Norm:
    """The norm a score in ``own``'s population is read against (see :meth:`Measure.norm_for`)."""
    if default is None or own is default:
        return own
    if own.reliable_change_points is not None or (
        own.reliability is not None and own.clinical_sample is not None
    ):
        return own
    if default.reliable_change_points is not None:
        return attrs.evolve(own, reliable_change_points=default.reliable_change_points)
    threshold = reliable_change_threshold(default)
    if threshold is None or default.reliability is None:
        return own
    return attrs.evolve(own, reliable_change_points=CitedValue(threshold, default.reliability.citation))


# ------------------------------------------------------------------------------------------------ parsing


def parse_definition(definition: Mapping[str, Any]) -> Measure:
    """Validate ``definition`` (meta-schema, then consistency) and build a :class:`Measure`."""
    definition = check_against_meta_schema(definition)  # any mapping, as plain dicts
    try:
        # a private, JSON-only copy: the plugin cannot change a registered measure behind our back
        private = json.loads(json.dumps(definition, allow_nan=False))
    except (TypeError, ValueError):
        raise MeasureDefinitionError("$", "json", "a definition must be plain JSON data") from None
    return _build(read_only(private))  # nor can any plugin it is handed to


def _err(path: str, rule: str, detail: str = "") -> MeasureDefinitionError:
    return MeasureDefinitionError(path, rule, detail)


def _build(d: Mapping[str, Any]) -> Measure:
    references: Mapping[str, str] = d["references"]

    def cite(raw: Mapping[str, Any], path: str) -> Citation:
        ref = raw["ref"]
        if ref not in references:
            raise _err(f"{path}.ref", "citation", "no such key in references")
        return Citation(
            ref=ref,
            reference=references[ref],
            detail=raw.get("detail"),
            status=CitationStatus(raw.get("status", "confirmed")),
        )

    licence = d["licence"]
    cite(licence["cite"], "$.licence.cite")
    items: list[Item] = []
    seen: set[str] = set()
    for i, raw in enumerate(d["items"]):
        path = f"$.items[{i}]"
        if raw["key"] in seen:
            raise _err(f"{path}.key", "unique", "item keys must be unique")
        seen.add(raw["key"])
        if not raw["min"] < raw["max"]:
            raise _err(f"{path}.max", "range", "max must be greater than min")
        if "text" in raw and not licence["item_text"]:
            raise _err(f"{path}.text", "licence", "item text given but licence.item_text is false")
        for bound in ("min", "max", "step"):
            if not math.isfinite(raw[bound]):
                raise _err(f"{path}.{bound}", "finite")
        items.append(
            Item(
                raw["key"],
                raw["label"],
                raw["min"],
                raw["max"],
                raw["step"],
                raw.get("text"),
                raw.get("allows_na", False),
                tuple(raw.get("loinc_answers", ())),
            )
        )

    if "stem" in d and not licence["item_text"]:  # the instruction before the items is wording too
        raise _err("$.stem", "licence", "a stem given but licence.item_text is false")

    def known_item(key: str, path: str) -> str:
        if key not in seen:
            raise _err(path, "item", "no item with that key")
        return key

    scoring = d["scoring"]
    reverse = scoring.get("reverse_keyed", [])
    for i, key in enumerate(reverse):
        known_item(key, f"$.scoring.reverse_keyed[{i}]")
    if reverse and "reverse_keyed_cite" not in scoring:
        raise _err("$.scoring.reverse_keyed_cite", "required", "reverse-keyed items need a citation")
    if "reverse_keyed_cite" in scoring:
        cite(scoring["reverse_keyed_cite"], "$.scoring.reverse_keyed_cite")
    missing = scoring["missing"]
    policy = MissingPolicy(missing["policy"])
    max_missing = missing.get("max_missing", 0)
    if policy is MissingPolicy.PRORATE:
        if max_missing < 1 or max_missing >= len(items):
            raise _err("$.scoring.missing.max_missing", "range", "prorating needs 1 <= max_missing < items")
        if "cite" not in missing:
            raise _err("$.scoring.missing.cite", "required", "a prorating rule needs a citation")
    elif max_missing:
        raise _err("$.scoring.missing.max_missing", "policy", "max_missing only applies to prorate")
    for i, item in enumerate(items):
        # an N/A item is scored as the missing-data rule scores a missing one: that rule must allow it
        if item.allows_na and policy is not MissingPolicy.PRORATE:
            raise _err(f"$.items[{i}].allows_na", "missing-policy", "N/A items need a prorating missing rule")
    if "cite" in missing:
        cite(missing["cite"], "$.scoring.missing.cite")

    subscales: list[Subscale] = []
    sub_keys: set[str] = set()
    for i, raw in enumerate(scoring.get("subscales", [])):
        path = f"$.scoring.subscales[{i}]"
        if raw["key"] in sub_keys:
            raise _err(f"{path}.key", "unique")
        sub_keys.add(raw["key"])
        for j, key in enumerate(raw["items"]):
            known_item(key, f"{path}.items[{j}]")
        if "cite" in raw:
            cite(raw["cite"], f"{path}.cite")
        subscales.append(Subscale(raw["key"], raw["label"], tuple(raw["items"])))

    method = ScoringMethod(d["scoring"]["method"])
    rng = d["range"]
    if method is ScoringMethod.SUM:
        expected = (sum(it.min for it in items), sum(it.max for it in items))
    else:
        expected = (min(it.min for it in items), max(it.max for it in items))
    if (rng["min"], rng["max"]) != expected:
        raise _err("$.range", "scoring", "range does not match the items and scoring method")

    norms: list[Norm] = []
    populations: set[str] = set()
    for i, raw in enumerate(d.get("norms", [])):
        path = f"$.norms[{i}]"
        if raw["population"] in populations:
            raise _err(f"{path}.population", "unique")
        populations.add(raw["population"])
        cutoff = None
        if "clinical_cutoff" in raw:
            cc = raw["clinical_cutoff"]
            if not rng["min"] <= cc["value"] <= rng["max"]:
                raise _err(f"{path}.clinical_cutoff.value", "range", "cutoff outside the score range")
            _check_reachable(cc, rng, f"{path}.clinical_cutoff")
            cutoff = Cutoff(
                cc["value"], ClinicalIf(cc["clinical_if"]), cite(cc["cite"], f"{path}.clinical_cutoff.cite")
            )

        def cited(key: str, raw: Mapping[str, Any] = raw, path: str = path) -> CitedValue | None:
            if key not in raw:
                return None
            field = "points" if key == "reliable_change" else "value"
            return CitedValue(raw[key][field], cite(raw[key]["cite"], f"{path}.{key}.cite"))

        def sample(key: str, raw: Mapping[str, Any] = raw, path: str = path) -> Sample | None:
            if key not in raw:
                return None
            s = raw[key]
            return Sample(s["mean"], s["sd"], cite(s["cite"], f"{path}.{key}.cite"), s.get("n"))

        _check_norm_values(raw, rng, path)
        _check_direction(raw, d["direction"], path)
        norms.append(
            Norm(
                population=raw["population"],
                default=raw["default"],
                label=raw.get("label"),
                clinical_cutoff=cutoff,
                reliable_change_points=cited("reliable_change"),
                reliability=cited("reliability"),
                clinical_sample=sample("clinical_sample"),
                nonclinical_sample=sample("nonclinical_sample"),
            )
        )
    if norms and sum(n.default for n in norms) != 1:
        raise _err("$.norms", "default", "exactly one population must be the default")

    bands: list[Band] = []
    if "bands" in d:
        cite(d["bands"]["cite"], "$.bands.cite")
        bands = [Band(b["key"], b["label"], b["min"], b["max"]) for b in d["bands"]["bands"]]
        integral = method is ScoringMethod.SUM and all(it.integral for it in items)
        check_bands(bands, rng["min"], rng["max"], integral)

    risk: list[RiskItem] = []
    for i, raw in enumerate(d.get("risk_items", [])):
        path = f"$.risk_items[{i}]"
        item = next(it for it in items if it.key == known_item(raw["item"], f"{path}.item"))
        if any(r.item == item.key for r in risk):  # else a score lists the item once per threshold it reaches
            raise _err(f"{path}.item", "unique", "one risk rule per item")
        if item.allows_na:
            raise _err(f"{path}.item", "not-applicable", "a risk item must be answered: it cannot allow N/A")
        if not item.min < raw["threshold"] <= item.max:
            raise _err(
                f"{path}.threshold",
                "range",
                "threshold must lie above the item's minimum and at most its maximum",
            )
        risk.append(RiskItem(raw["item"], raw["threshold"], cite(raw["cite"], f"{path}.cite")))

    codes: list[Code] = []
    for i, raw in enumerate(d.get("codes", [])):
        if "item" in raw:
            known_item(raw["item"], f"$.codes[{i}].item")
        # the total-score Observation carries one code: a second would be dropped without a word
        if raw["target"] == CodeTarget.TOTAL and any(c.target is CodeTarget.TOTAL for c in codes):
            raise _err(f"$.codes[{i}].target", "unique", "one total code per measure")
        codes.append(
            Code(raw["system"], raw["code"], CodeTarget(raw["target"]), raw.get("display"), raw.get("item"))
        )

    options = tuple(
        AnswerOption(raw["value"], raw["label"], raw.get("loinc")) for raw in d.get("answer_options", [])
    )
    _check_answer_options(options, items)
    _check_item_answer_codes(options, items)

    examples = []
    for raw in d.get("examples", []):
        examples.append(
            Example(
                answers=dict(raw["answers"]),
                total=raw["total"],
                subscales=raw.get("subscales"),
                band=raw.get("band"),
                clinical=raw.get("clinical"),
                risk_items=tuple(raw["risk_items"]) if "risk_items" in raw else None,
                description=raw.get("description"),
            )
        )

    return Measure(
        id=d["id"],
        version=d["version"],
        title=d["title"],
        kind=MeasureKind(d["kind"]),
        direction=Direction(d["direction"]),
        licence_notice=licence["notice"],
        item_text_allowed=licence["item_text"],
        items=tuple(items),
        method=method,
        reverse_keyed=frozenset(reverse),
        missing_policy=policy,
        max_missing=max_missing,
        subscales=tuple(subscales),
        range_min=rng["min"],
        range_max=rng["max"],
        norms=tuple(norms),
        bands=tuple(bands),
        risk_items=tuple(risk),
        codes=tuple(codes),
        examples=tuple(examples),
        source=cite(d["source"], "$.source"),
        definition=d,
        answers=AnswerConvention(scoring.get("answers", AnswerConvention.RESPONSE_POSITION)),
        raters=_raters(d, cite),
        answer_options=options,
        stem=d.get("stem"),
        language=d.get("language", "en"),
        translations=_translations(d, cite, seen, len(options)),
    )


def _check_reachable(cutoff: Mapping[str, Any], rng: Mapping[str, Any], path: str) -> None:
    """A cutoff no total can meet (``below`` the minimum, ``above`` the maximum) calls nobody clinical."""
    side = cutoff["clinical_if"]
    if (side == "below" and cutoff["value"] == rng["min"]) or (
        side == "above" and cutoff["value"] == rng["max"]
    ):
        raise _err(f"{path}.clinical_if", "unreachable", "no total in the score range meets this cutoff")


def _check_norm_values(raw: Mapping[str, Any], rng: Mapping[str, Any], path: str) -> None:
    """A population's sample means lie in the score range, and a reliable change fits in it: a mean or a
    change no total could show is a typo (or another scale's norms), and it would skew every comparison."""
    for key in ("clinical_sample", "nonclinical_sample"):
        if key in raw and not rng["min"] <= raw[key]["mean"] <= rng["max"]:
            raise _err(f"{path}.{key}.mean", "range", "a sample mean outside the score range")
    if "reliable_change" in raw and raw["reliable_change"]["points"] > rng["max"] - rng["min"]:
        raise _err(f"{path}.reliable_change.points", "range", "a reliable change wider than the score range")


def _check_direction(raw: Mapping[str, Any], direction: str, path: str) -> None:
    """A population's cutoff and samples agree with the measure's ``direction``: clinical on the worse side,
    the clinical sample worse than the non-clinical one. Otherwise the cutoff and the reliable change
    would disagree about which way is improvement, and cutoffs a, b and c would point the wrong way."""
    higher_is_worse = direction == "higher-is-worse"
    cutoff = raw.get("clinical_cutoff")
    if cutoff is not None and (cutoff["clinical_if"] in ("above", "at-or-above")) is not higher_is_worse:
        raise _err(
            f"{path}.clinical_cutoff.clinical_if", "direction", "clinical on the side direction calls better"
        )
    clinical, functional = raw.get("clinical_sample"), raw.get("nonclinical_sample")
    if clinical is None or functional is None:
        return
    gap = clinical["mean"] - functional["mean"]
    if gap == 0 or (gap > 0) is not higher_is_worse:
        raise _err(
            f"{path}.nonclinical_sample.mean",
            "direction",
            "the non-clinical sample must score better than the clinical",
        )


def _check_answer_options(options: tuple[AnswerOption, ...], items: list[Item]) -> None:
    """Answer options are shared by every item: each value an answer every item takes (in its range, on
    its step), and no two options with one value (which label would a submitted answer be?)."""
    seen: set[float] = set()
    for i, option in enumerate(options):
        path = f"$.answer_options[{i}].value"
        if option.value in seen:
            raise _err(path, "unique", "two answer options with one value")
        seen.add(option.value)
        for item in items:
            if not item.min <= option.value <= item.max:
                raise _err(path, "range", f"outside the range of item {item.key}")
            steps = (option.value - item.min) / item.step
            if not math.isclose(steps, round(steps), abs_tol=1e-9):
                raise _err(path, "step", f"not on the step of item {item.key}")


def _check_item_answer_codes(options: tuple[AnswerOption, ...], items: list[Item]) -> None:
    """An item's own LOINC answer list (``items[].loinc_answers``) replaces the measure's codes one for one,
    so it needs every answer option coded and one code per option; it must differ from the measure's list
    (else it says nothing); and a code names one response position throughout the measure, so that a
    response coded from either list, or from another item's, reads as one answer, never as two."""
    position: dict[str, float] = {o.loinc: o.value for o in options if o.loinc}
    for i, item in enumerate(items):
        if not item.loinc_answers:
            continue
        path = f"$.items[{i}].loinc_answers"
        if not options or any(o.loinc is None for o in options):
            raise _err(path, "coded", "an item's own answer codes need every answer option's loinc code")
        if len(item.loinc_answers) != len(options):
            raise _err(path, "count", "one code for each of answer_options, in order")
        if list(item.loinc_answers) == [o.loinc for o in options]:
            raise _err(path, "differs", "the same codes as answer_options: leave it out")
        for j, (code, option) in enumerate(zip(item.loinc_answers, options, strict=True)):
            if position.setdefault(code, option.value) != option.value:
                raise _err(f"{path}[{j}]", "position", "a code that names another answer elsewhere")


def _translations(
    d: Mapping[str, Any], cite: Any, item_keys: set[str], n_options: int
) -> dict[str, Translation]:
    """The ``translations`` of a definition; publisher wording only where the licence allows item text."""
    own = d.get("language", "en")
    text_allowed = d["licence"]["item_text"]
    found: dict[str, Translation] = {}
    for tag, raw in d.get("translations", {}).items():
        path = f"$.translations.{tag}"
        if tag.lower() == own.lower():
            raise _err(path, "language", "a translation into the definition's own language")
        if tag.lower() in (known.lower() for known in found):
            raise _err(path, "unique", "two translations for one language tag")
        labels: dict[str, str] = {}
        texts: dict[str, str] = {}
        for key, item in raw.get("items", {}).items():
            if key not in item_keys:
                raise _err(f"{path}.items.{key}", "item", "no item with that key")
            if "text" in item:
                if not text_allowed:
                    raise _err(f"{path}.items.{key}.text", "licence", "item text but item_text is false")
                texts[key] = item["text"]
            if "label" in item:
                labels[key] = item["label"]
        if "stem" in raw and not text_allowed:
            raise _err(f"{path}.stem", "licence", "a stem given but licence.item_text is false")
        answers = tuple(raw.get("answer_options", ()))
        if answers and len(answers) != n_options:
            raise _err(f"{path}.answer_options", "count", "one label for each of answer_options, in order")
        found[tag] = Translation(
            tag,
            cite(raw["source"], f"{path}.source"),
            raw.get("title"),
            raw.get("stem"),
            labels,
            texts,
            answers,
        )
    return found


def _raters(d: Mapping[str, Any], cite: Any) -> frozenset[Rater]:
    """The raters a definition allows; any besides the client needs a citation for that use."""
    raw = d.get("raters")
    if raw is None:
        return frozenset({Rater.CLIENT})
    cite(raw["cite"], "$.raters.cite")
    return frozenset(Rater(r) for r in raw["allowed"])


def check_bands(bands: list[Band] | tuple[Band, ...], lo: float, hi: float, integral: bool) -> None:
    """Bands must run in order from ``lo`` to ``hi`` with no gap and no overlap.

    For whole-number totals the next band starts one above the previous maximum; otherwise bands meet
    (``next.min == previous.max``) and a total on the boundary belongs to the upper band.
    """
    keys = [b.key for b in bands]
    if len(set(keys)) != len(keys):
        raise _err("$.bands.bands", "unique", "band keys must be unique")
    if bands[0].min != lo:
        raise _err("$.bands.bands[0].min", "coverage", "the first band must start at the range minimum")
    if bands[-1].max != hi:
        raise _err(
            f"$.bands.bands[{len(bands) - 1}].max", "coverage", "the last band must end at the range maximum"
        )
    step = 1 if integral else 0
    for i, band in enumerate(bands):
        if band.min > band.max:
            raise _err(f"$.bands.bands[{i}]", "order", "min above max")
        if i and band.min != bands[i - 1].max + step:
            rule = "overlap" if band.min < bands[i - 1].max + step else "gap"
            raise _err(f"$.bands.bands[{i}].min", rule, "bands must meet without gap or overlap")
