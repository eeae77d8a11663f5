"""The functions behind ``alliancekit measures list|show|validate|check``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alliancekit.errors import UnknownMeasure
from alliancekit.measures.commands import (
    check_definition,
    list_measures,
    show_measure,
    validate_response,
)
from alliancekit.measures.registry import MeasureRegistry


def test_list_text_and_json(registry: MeasureRegistry) -> None:
    text = list_measures(registry, as_json=False)
    assert text.splitlines()[0].startswith("ID")
    assert len(text.splitlines()) == 11  # a header, then one line per measure and version
    assert "Patient Health Questionnaire-9" in text
    rows = json.loads(list_measures(registry, as_json=True))
    assert [(r["id"], r["version"]) for r in rows] == [
        ("core-10", "1.0"),
        ("cors", "1.0"),
        ("gad-7", "1.0"),
        ("gad-7", "1.1"),
        ("gad-7", "1.2"),
        ("gsrs", "1.0"),
        ("ors", "1.0"),
        ("phq-9", "1.0"),
        ("srs", "1.0"),
        ("wai-sr", "1.0"),
    ]
    phq = next(r for r in rows if r["id"] == "phq-9")
    assert phq | {"supplier": None} == phq | {
        "version": "1.0",
        "kind": "symptom",
        "direction": "higher-is-worse",
        "items": 9,
        "range": [0, 27],
        "clinical_cutoff": 10,
        "reliable_change": 6,
        "supplier": None,
    }


def test_show_includes_citations_and_flags_unconfirmed(registry: MeasureRegistry) -> None:
    text = show_measure(registry, "ors")
    assert "Outcome Rating Scale (ors 1.0)" in text
    assert "clinical if below 25  [openfit-ka01031" in text
    assert "reliable change: 5 points" in text
    assert "(UNCONFIRMED)" in text
    core = show_measure(registry, "core-10")
    assert "reverse-keyed: q2, q3" in core
    assert "risk item q6" in core
    phq = show_measure(registry, "phq-9")
    assert "Thoughts that you would be better off dead" in phq
    with pytest.raises(UnknownMeasure):
        show_measure(registry, "oq-45")


def test_show_gives_the_source_with_its_detail(registry: MeasureRegistry) -> None:
    """Before, the source line gave the reference only, without what the definition takes from it."""
    core = registry.get("core-10")
    assert core.source.detail
    (line,) = [line for line in show_measure(registry, "core-10").splitlines() if line.startswith("source: ")]
    assert line == f"source: {core.source.reference} [{core.source.detail}]"
    assert line.endswith(
        "[10 items scored 0-4 (not at all ... most or all of the time); clinical score 0-40, "
        "higher is more distress]"
    )


def test_validate_scores_a_valid_response(registry: MeasureRegistry) -> None:
    doc = json.dumps({"measure": "phq-9", "answers": {f"q{i}": 1 for i in range(1, 10)}})
    code, text = validate_response(registry, "phq-9", doc)
    assert code == 0
    assert json.loads(text) == {
        "measure": "phq-9",
        "version": "1.0",
        "total": 9,
        "subscales": {},
        "band": "mild",
        "clinical": False,
        "risk_items": ["q9"],
        "prorated": False,
        "not_applicable": [],
    }


@pytest.mark.parametrize(
    ("measure_id", "document", "expected"),
    [
        (
            "phq-9",
            {"answers": {f"q{i}": 1 for i in range(1, 9)}},
            "error: $.answers: required (item q9 is missing)",
        ),
        (
            "phq-9",
            {"answers": {f"q{i}": 4 if i == 2 else 0 for i in range(1, 10)}},
            "error: $.answers.q2: maximum (at most 3)",
        ),
        (
            "ors",
            {"answers": {"individually": "seven"}},
            # every problem, not only the first the scorer met
            (
                "error: $.answers.individually: type (must be a number)\n"
                "error: $.answers: required (items interpersonally, socially, overall are missing)"
            ),
        ),
        ("nope", {"answers": {}}, "error: no measure with id nope"),
    ],
)
def test_validate_gives_the_precise_error(
    registry: MeasureRegistry, measure_id: str, document: Any, expected: str
) -> None:
    code, text = validate_response(registry, measure_id, json.dumps(document).encode())
    assert (code, text) == (1, expected)
    assert "seven" not in text


def test_validate_refuses_garbage_without_echo(registry: MeasureRegistry) -> None:
    code, text = validate_response(registry, "ors", b"{ not json: secret-words")
    assert code == 1
    assert text.startswith("error: $: json")
    assert "secret" not in text


def test_check_accepts_a_good_definition(definition: Any) -> None:
    code, text, advice = check_definition(json.dumps(definition("wai-sr-1.0")))
    assert (code, text) == (0, "ok: wai-sr 1.0 (12 items, 1 example)")
    assert [(a.field, a.rule) for a in advice] == [("$.norms", "clinical-cutoff")]


def test_check_reports_the_json_path(definition: Any) -> None:
    d = definition("gad-7-1.0")
    d["norms"][0]["clinical_cutoff"]["clinical_if"] = "sideways"
    assert check_definition(json.dumps(d)) == (
        1,
        (
            "error: $.norms[0].clinical_cutoff.clinical_if: enum "
            '(one of "below", "at-or-below", "above", "at-or-above")'
        ),
        (),
    )


def test_check_reports_an_example_that_scores_differently(definition: Any) -> None:
    d = definition("gad-7-1.0")
    d["examples"][1]["total"] = 15
    assert check_definition(json.dumps(d)) == (
        1,
        "error: $.examples[1].total: example (scored total differs)",
        (),
    )


def test_check_refuses_non_json() -> None:
    code, text, _ = check_definition(b"\x00\x01")
    assert code == 1
    assert "$: json" in text
