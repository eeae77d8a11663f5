"""The compiled validator agrees with the reference engine (jsonschema); schemas are committed and local."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliancekit.errors import MeasureDefinitionError, ResponseError
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.measures.validation import (
    generate_response_schema,
    local_registry,
    meta_schema,
    reference_validate,
    reference_validator,
)

MEASURES = [
    ("ors", "1.0"),
    ("srs", "1.0"),
    ("wai-sr", "1.0"),
    ("phq-9", "1.0"),
    ("gad-7", "1.0"),
    ("gad-7", "1.1"),
    ("core-10", "1.0"),
]
DOCS_PER_EXAMPLE = 50
EXAMPLES = 220  # 220 x 50 = 11,000 documents
seen = {"documents": 0, "valid": 0, "invalid": 0}


def test_committed_response_schemas_match_the_definitions(registry: MeasureRegistry) -> None:
    directory = files("alliancekit") / "schemas" / "measures"
    committed = {p.name for p in directory.iterdir() if p.name.endswith(".response.schema.json")}
    assert committed == {f"{m}-{v}.response.schema.json" for m, v in registry}
    for measure_id, version in registry:
        text = (directory / f"{measure_id}-{version}.response.schema.json").read_text("utf-8")
        assert json.loads(text) == generate_response_schema(registry.get(measure_id, version)), (
            f"regenerate schemas/measures: {measure_id} {version} changed"
        )
        jsonschema.Draft202012Validator.check_schema(json.loads(text))


def test_meta_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(meta_schema())


def test_no_remote_ref_is_ever_retrieved(definition: Any, registry: MeasureRegistry) -> None:
    d = definition("ors-1.0")
    d["id"] = "ors-remote"
    d["response_schema"] = {"$ref": "https://example.invalid/evil.json"}
    del d["examples"]  # none could score: registration runs them
    fresh = MeasureRegistry()
    with pytest.raises(MeasureDefinitionError) as caught:  # the reference is never fetched: refused at once
        fresh.add(d, "test")
    assert (caught.value.field, caught.value.rule) == ("$.response_schema.$ref", "$ref")
    assert ("ors-remote", "1.0") not in fresh
    # a validator built on such a schema all the same (a stored definition read back) never fetches either
    validator = reference_validator(d["response_schema"])
    with pytest.raises(ResponseError) as refused:
        reference_validate(validator, {"answers": {}})
    assert refused.value.rule == "$ref"
    # the local registry knows alliancekit's own schemas only
    assert "https://alliancekit.org/schemas/measure-definition.schema.json" in local_registry()


def test_a_definition_may_supply_its_own_response_schema(definition: Any) -> None:
    d = definition("ors-1.0")
    d["id"] = "ors-strict"
    schema = generate_response_schema_for(d)
    schema["$defs"]["answers"]["properties"]["overall"]["multipleOf"] = 1  # custom: whole numbers only
    d["response_schema"] = schema
    d["examples"] = [e for e in d["examples"] if float(e["answers"]["overall"]).is_integer()]
    fresh = MeasureRegistry()
    fresh.add(d, "test")
    answers = {"individually": 1.5, "interpersonally": 1, "socially": 1, "overall": 1}
    assert fresh.score("ors-strict", "1.0", answers).total == 4.5
    with pytest.raises(ResponseError) as caught:
        fresh.score("ors-strict", "1.0", answers | {"overall": 1.5})
    assert (caught.value.field, caught.value.rule) == ("$.answers.overall", "multipleOf")


def generate_response_schema_for(d: dict[str, Any]) -> dict[str, Any]:
    r = MeasureRegistry()
    r.add(d, "test")
    return json.loads(json.dumps(generate_response_schema(r.get(d["id"], d["version"]))))


def test_definition_errors_come_from_the_reference_engine(definition: Any) -> None:
    d = definition("srs-1.0")
    d["items"][3]["step"] = 0
    with pytest.raises(MeasureDefinitionError) as caught:
        MeasureRegistry().add(d, "test")
    assert (caught.value.field, caught.value.rule) == ("$.items[3].step", "exclusiveMinimum")


# ------------------------------------------------------------------------------- engine agreement

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def documents(draw: st.DrawFn, registry: MeasureRegistry) -> tuple[str, str, Any]:
    measure_id, version = draw(st.sampled_from(MEASURES))
    measure = registry.get(measure_id, version)
    answers: dict[str, Any] = {}
    clean = draw(st.integers(0, 2)) == 0  # a third of the documents start with every answer plausible
    for item in measure.items:
        choice = 0 if clean else draw(st.integers(0, 9))
        if choice <= 5:  # mostly plausible answers so that many documents are valid
            if item.integral:
                value: Any = draw(st.integers(int(item.min), int(item.max)))
                if draw(st.booleans()):
                    value = float(value)
            else:
                value = draw(st.floats(item.min, item.max))
        elif choice == 6:  # just outside, or a fraction on a whole-number item
            value = draw(
                st.sampled_from(
                    [item.min - item.step, item.max + item.step, item.min + 0.5, -0.0, item.max + 1e-9]
                )
            )
        elif choice == 7:
            value = draw(json_values)
        elif choice == 8:
            value = None
        else:
            continue  # leave the item out
        answers[item.key] = value
    if draw(st.integers(0, 19)) == 0:
        answers[draw(st.text(max_size=4))] = draw(json_values)
    document: Any = {"answers": answers}
    extra = draw(st.integers(0, 29))
    if extra == 0:
        document["measure"] = draw(st.sampled_from([measure_id, "other"]))
    elif extra == 1:
        document["version"] = draw(st.sampled_from([version, "2.0", 1]))
    elif extra == 2:
        document = draw(json_values)
    elif extra == 3:
        document = {"answers": draw(json_values)}
    elif extra == 4:
        document[draw(st.text(max_size=3))] = 1
    return measure_id, version, document


def _compiled_accepts(registry: MeasureRegistry, measure_id: str, version: str, document: Any) -> bool:
    try:
        registry.entry(measure_id, version).validate_document(document)
    except ResponseError:
        return False
    return True


_validators: dict[tuple[str, str], Any] = {}


def _reference_accepts(registry: MeasureRegistry, measure_id: str, version: str, document: Any) -> bool:
    key = (measure_id, version)
    if key not in _validators:
        _validators[key] = reference_validator(registry.response_schema(measure_id, version))
    return bool(_validators[key].is_valid(document))


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_compiled_and_reference_engines_agree(registry: MeasureRegistry, data: st.DataObject) -> None:
    batch = data.draw(st.lists(documents(registry), min_size=DOCS_PER_EXAMPLE, max_size=DOCS_PER_EXAMPLE))
    for measure_id, version, document in batch:
        reference = _reference_accepts(registry, measure_id, version, document)
        compiled = _compiled_accepts(registry, measure_id, version, document)
        assert reference == compiled, (measure_id, document)
        seen["documents"] += 1
        seen["valid" if reference else "invalid"] += 1


def test_agreement_covered_enough_documents() -> None:
    # runs after the property test in file order; proves the 10,000-document floor and a useful mix
    if seen["documents"] == 0:
        pytest.skip("the agreement test did not run in this session")
    assert seen["documents"] >= 10_000
    assert seen["valid"] >= 1_000
    assert seen["invalid"] >= 1_000
