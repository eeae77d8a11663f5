"""docs/reference/measure-numbers.md, the audit of every number the built-in measures use, stays honest:
a number a definition marks *unconfirmed* is listed there as unconfirmed (unless this audit confirmed it
since, named below), and every LOINC code a definition puts in FHIR output is listed with its verdict."""

from __future__ import annotations

import re
from pathlib import Path

import alliancekit_measure_k10
import pytest

from alliancekit.measures.builtin import BUILTIN_MEASURES
from alliancekit.measures.definition import Measure
from alliancekit.measures.norms import Citation, CitationStatus
from alliancekit.testing.measures import measure_registry

PAGE = Path("docs") / "reference" / "measure-numbers.md"
ROW = re.compile(r"^\| ([a-z0-9-]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", re.MULTILINE)
VERDICTS = {"confirmed", "confirmed (secondary)", "unconfirmed", "project rule", "differs"}

#: Marked unconfirmed in CORE-10 1.0 as published, confirmed by the December 2026 audit (Barkham et al.
#: 2013's abstract for the reliable change; the user manual's samples as NovoPsych quotes them). A
#: definition is never edited under its version, so the mark stays until CORE-10's next version.
RECONFIRMED = {("core-10", 6.0), ("core-10", 19.7), ("core-10", 7.7), ("core-10", 4.7), ("core-10", 4.8)}


def _measures() -> list[Measure]:
    registry = measure_registry(alliancekit_measure_k10)
    names = [*BUILTIN_MEASURES, "k10-1.0"]
    return [registry.get(name.rsplit("-", 1)[0], name.rsplit("-", 1)[1]) for name in names]


def _rows(source_root: Path) -> list[tuple[str, str, str, str]]:
    text = (source_root / PAGE).read_text(encoding="utf-8")
    rows = [(m, value, verdict.strip()) for m, _, value, _, verdict in ROW.findall(text) if m != "measure"]
    return [(m, value, verdict, f"| {m} | ... | {value.strip()} |") for m, value, verdict in rows]


def _cited_values(measure: Measure) -> list[tuple[float, Citation]]:
    out: list[tuple[float, Citation]] = []
    for norm in measure.norms:
        if norm.clinical_cutoff is not None:
            out.append((norm.clinical_cutoff.value, norm.clinical_cutoff.citation))
        if norm.reliable_change_points is not None:
            out.append((norm.reliable_change_points.value, norm.reliable_change_points.citation))
        for sample in (norm.clinical_sample, norm.nonclinical_sample):
            if sample is not None:
                out += [(sample.mean, sample.citation), (sample.sd, sample.citation)]
    out += [(risk.threshold, risk.citation) for risk in measure.risk_items]
    return out


def _mentions(cell: str, value: float) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(f'{value:g}')}(?![\d.])", cell) is not None


def test_every_row_has_a_known_verdict(source_root: Path) -> None:
    rows = _rows(source_root)
    assert len(rows) > 40
    assert [row for _, _, verdict, row in rows if verdict not in VERDICTS] == []


@pytest.mark.parametrize("measure", _measures(), ids=lambda m: f"{m.id}-{m.version}")
def test_an_unconfirmed_number_is_listed_as_unconfirmed(source_root: Path, measure: Measure) -> None:
    rows = [(value, verdict) for m, value, verdict, _ in _rows(source_root) if m == measure.id]
    for value, citation in _cited_values(measure):
        if citation.status is not CitationStatus.UNCONFIRMED:
            continue
        verdicts = {verdict for cell, verdict in rows if _mentions(cell, value)}
        assert verdicts, f"{measure.id}: {value:g} ({citation.ref}) is not on the page"
        if (measure.id, value) not in RECONFIRMED:
            assert verdicts == {"unconfirmed"}, f"{measure.id}: {value:g} is listed as {verdicts}"


@pytest.mark.parametrize("measure", _measures(), ids=lambda m: f"{m.id}-{m.version}")
def test_every_loinc_code_is_listed(source_root: Path, measure: Measure) -> None:
    cells = [value for m, value, _, _ in _rows(source_root) if m == measure.id]
    codes = [code.code for code in measure.codes] + [o.loinc for o in measure.answer_options if o.loinc]
    codes += [code for item in measure.items for code in item.loinc_answers]  # an item's own list (GAD-7 1.2)
    assert [code for code in codes if not any(code in cell for cell in cells)] == []
