"""docs/guides/fhir.md names every mapped record kind (tests/test_readme.py runs its example)."""

from __future__ import annotations

from pathlib import Path


def test_fhir_guide_names_every_mapped_record_kind(source_root: Path) -> None:
    guide = (source_root / "docs" / "guides" / "fhir.md").read_text(encoding="utf-8")
    table = guide.split("## The mapping", 1)[1].split("###", 1)[0]
    for resource in (
        "EpisodeOfCare",
        "Encounter",
        "Goal",
        "Questionnaire",
        "QuestionnaireResponse",
        "Observation",
        "Flag",
        "CarePlan",
        "Consent",
        "Provenance",
    ):
        assert f"| {resource} |" in table or f"| {resource} (" in table
