"""The measure registry: every measure the plugins registered, ready to validate and score responses.

INTERFACE CONTRACT (used by the core): ``MeasureRegistry.score(measure_id, version, answers) -> Score``
validates and scores one response, raising ``UnknownMeasure`` or ``ResponseError``; ``get(measure_id,
version=None)`` returns the :class:`~alliancekit.measures.definition.Measure` (its ``definition`` is the
mapping); ``latest_version(measure_id)``; ``supplier(measure_id, version)``; iteration yields
``(measure_id, version)`` pairs. ``response_problems(measure_id, version, document)`` lists every problem
of a response document (for validators; scoring stops at the first). ``build_measure_registry(host)``
builds it from the ``alliancekit_register_measures`` hook.

Validators and scorers are compiled once, when a measure is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.errors import (
    AlliancekitError,
    MeasureDefinitionError,
    PluginError,
    ResponseError,
    UnknownMeasure,
    ValidationError,
)
from alliancekit.measures.definition import Measure, parse_definition
from alliancekit.measures.scoring import Score, Scorer, TotalScorer, compile_scorer, compile_total_scorer
from alliancekit.measures.validation import (
    RESPONSE_LIMITS,
    AnswersValidator,
    DocumentValidator,
    compile_answers_validator,
    compile_document_validator,
    load_json,
    reference_validate,
    reference_validator,
    response_problems,
    response_schema,
)

if TYPE_CHECKING:  # pragma: no cover
    import jsonschema.protocols

    from alliancekit.plugins.manager import PluginHost

__all__ = [
    "MeasureRegistrar",
    "MeasureRegistry",
    "RegisteredMeasure",
    "Score",
    "build_measure_registry",
    "check_examples",
]

#: The ``register`` callback ``alliancekit_register_measures`` receives: call it with each definition.
MeasureRegistrar = Callable[[Mapping[str, Any]], None]


@attrs.frozen(repr=False)
class RegisteredMeasure:
    """A measure with its supplier and its compiled validators and scorer."""

    measure: Measure
    supplier: str
    schema: Mapping[str, Any]
    reference: jsonschema.protocols.Validator
    validate_answers: AnswersValidator
    validate_document: DocumentValidator
    scorer: Scorer
    #: True when the definition supplies its own response schema (only the reference engine applies)
    custom_schema: bool
    total_scorer: TotalScorer
    """Scores a total recorded without its items."""


def version_key(version: str) -> tuple[int, ...]:
    """A measure version as numbers, so that ``1.10`` orders after ``1.9``."""
    return tuple(int(part) for part in version.split("."))


class MeasureRegistry:
    """Measures by ``(id, version)``; ``score`` is the hot path and does two dict lookups and two calls."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], RegisteredMeasure] = {}

    def add(self, definition: Mapping[str, Any], supplier: str) -> Measure:
        """Parse, check and compile ``definition``, and score its examples (:func:`check_examples`); refuse a
        second registration of an id and version."""
        measure = parse_definition(definition)
        key = (measure.id, measure.version)
        if key in self._entries:
            clash = PluginError.clash(
                f"measure {key[0]} version {key[1]}", self._entries[key].supplier, supplier
            )
            clash.args = (f"{clash}: a changed definition needs a new version, another measure another id",)
            raise clash
        schema = response_schema(measure)
        answers_validator = compile_answers_validator(measure)
        self._entries[key] = RegisteredMeasure(
            measure=measure,
            supplier=supplier,
            schema=schema,
            reference=reference_validator(schema),
            validate_answers=answers_validator,
            validate_document=compile_document_validator(measure, answers_validator),
            scorer=compile_scorer(measure),
            custom_schema="response_schema" in definition,
            total_scorer=compile_total_scorer(measure),
        )
        try:
            # a definition whose own examples do not score as declared has its scoring or its examples
            # wrong: refused when registered (a few scorings at start), not found in a client's total
            check_examples(self, measure)
        except MeasureDefinitionError:
            del self._entries[key]
            raise
        return measure

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(sorted(self._entries, key=lambda k: (k[0], version_key(k[1]))))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def entry(self, measure_id: str, version: str | None = None) -> RegisteredMeasure:
        if version is None:
            version = self.latest_version(measure_id)
        try:
            return self._entries[(measure_id, version)]
        except (KeyError, TypeError):
            raise UnknownMeasure(measure_id, version) from None

    def get(self, measure_id: str, version: str | None = None) -> Measure:
        """The measure; the latest version when ``version`` is ``None``."""
        return self.entry(measure_id, version).measure

    def latest_version(self, measure_id: str) -> str:
        versions = [v for (m, v) in self._entries if m == measure_id]
        if not versions:
            raise UnknownMeasure(measure_id)
        return max(versions, key=version_key)

    def populations(self) -> frozenset[str]:
        """Every norm population some registered measure declares (what an episode may name)."""
        return frozenset(p for entry in self._entries.values() for p in entry.measure.populations)

    def check_population(self, field: str, population: str | None) -> str | None:
        """``population`` when a registered measure's norms declare it (``None`` passes: each measure's
        default); otherwise a :class:`~alliancekit.errors.ValidationError` naming ``field``. A measure that
        does not declare a population an episode names reads it against its default (``Measure.norm_for``)."""
        if population is None or population in self.populations():
            return population
        declared = ", ".join(sorted(self.populations())) or "none"
        raise ValidationError(
            field,
            "declared-population",
            f"not a population any registered measure's norms declare ({declared})",
        )

    def supplier(self, measure_id: str, version: str) -> str:
        return self.entry(measure_id, version).supplier

    def response_schema(self, measure_id: str, version: str) -> Mapping[str, Any]:
        return self.entry(measure_id, version).schema

    def score(self, measure_id: str, version: str, answers: Mapping[str, Any]) -> Score:
        """Validate ``answers`` (item key -> number, or ``None`` for a missing item) and score them."""
        try:
            entry = self._entries[(measure_id, version)]
        except (KeyError, TypeError):
            raise UnknownMeasure(measure_id, version) from None
        if entry.custom_schema:
            given: Any = answers  # callers outside the type checker may pass anything
            reference_validate(
                entry.reference, {"answers": dict(given) if isinstance(given, Mapping) else given}
            )
        entry.validate_answers(answers)
        return entry.scorer(answers)

    def score_total(self, measure_id: str, version: str, total: Any) -> Score:
        """Check a total recorded without its items against the measure's range and score it (band, cutoff;
        no subscales or risk items: a total cannot tell them)."""
        try:
            entry = self._entries[(measure_id, version)]
        except (KeyError, TypeError):
            raise UnknownMeasure(measure_id, version) from None
        return entry.total_scorer(total)

    def score_document(self, measure_id: str, version: str, document: Any) -> Score:
        """Validate a whole response document ``{"answers": {...}}`` (parsed JSON) and score it."""
        entry = self.entry(measure_id, version)
        if entry.custom_schema:
            reference_validate(entry.reference, document)
            answers = document["answers"]
            entry.validate_answers(answers)
        else:
            answers = entry.validate_document(document)
        return entry.scorer(answers)

    def score_json(self, measure_id: str, version: str, document: bytes | str) -> Score:
        """Parse a response document within :data:`RESPONSE_LIMITS`, validate it and score it."""
        entry = self.entry(measure_id, version)  # unknown measure before parsing anything
        return self.score_document(
            entry.measure.id, entry.measure.version, load_json(document, RESPONSE_LIMITS)
        )

    def response_problems(
        self, measure_id: str, version: str, document: bytes | str
    ) -> tuple[ResponseError, ...]:
        """Every problem :meth:`score_json` would refuse ``document`` for, not only its first (empty when it
        scores): each a :class:`ResponseError` naming a JSON path and a rule, never a value, in a stable
        order (the response schema's). For a validator to list; scoring still stops at the first.

        A document that cannot be read (too big, not JSON) has that one problem. The list is the reference
        engine's; a refusal it does not see (the missing-items rule, which is scoring's, or a custom schema
        looser than the items' ranges) is the one problem listed when it finds none.

        :raises UnknownMeasure: no such measure and version.
        """
        entry = self.entry(measure_id, version)
        try:
            parsed = load_json(document, RESPONSE_LIMITS)
        except ResponseError as exc:
            return (exc,)
        problems = response_problems(entry.reference, parsed)
        if problems:
            return problems
        try:
            self.score_document(entry.measure.id, entry.measure.version, parsed)
        except ResponseError as exc:
            return (exc,)
        return ()


def build_measure_registry(host: PluginHost) -> MeasureRegistry:
    """Build the registry from every plugin's ``alliancekit_register_measures``."""
    registry = MeasureRegistry()

    def make_register(plugin: str) -> MeasureRegistrar:
        def register(definition: Mapping[str, Any]) -> None:
            try:
                registry.add(definition, plugin)
            except MeasureDefinitionError as exc:  # say whose definition it is: several may be installed
                raise exc.registered_by(plugin) from None

        return register

    host.call_registration("alliancekit_register_measures", make_register)
    return registry


def check_examples(registry: MeasureRegistry, measure: Measure) -> None:
    """Score each of the definition's examples and compare with what it declares.

    :raises MeasureDefinitionError: at ``$.examples[i]`` naming the first field that differs.
    """
    for i, example in enumerate(measure.examples):
        path = f"$.examples[{i}]"
        try:
            score = registry.score(measure.id, measure.version, example.answers)
        except AlliancekitError as exc:
            raise MeasureDefinitionError(f"{path}.answers", "example", f"refused: {exc}") from None
        if abs(score.total - example.total) > 1e-6:
            raise MeasureDefinitionError(f"{path}.total", "example", "scored total differs")
        if example.subscales is not None:
            for key, value in example.subscales.items():
                if key not in score.subscales or abs(score.subscales[key] - value) > 1e-6:
                    raise MeasureDefinitionError(
                        f"{path}.subscales.{key}", "example", "scored subscale differs"
                    )
        if "band" in measure.definition["examples"][i] and score.band != example.band:
            raise MeasureDefinitionError(f"{path}.band", "example", "scored band differs")
        if "clinical" in measure.definition["examples"][i] and score.clinical != example.clinical:
            raise MeasureDefinitionError(f"{path}.clinical", "example", "scored clinical status differs")
        if example.risk_items is not None and set(score.risk_items) != set(example.risk_items):
            raise MeasureDefinitionError(f"{path}.risk_items", "example", "endorsed risk items differ")
