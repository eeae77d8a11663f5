"""The integrator example in docs/guides/fhir.md runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path


def test_fhir_guide_integrator_example_runs(source_root: Path) -> None:
    guide = (source_root / "docs" / "guides" / "fhir.md").read_text(encoding="utf-8")
    section = guide.split("## Integrator hooks", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the Integrator hooks section has no python block"
    code = match.group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/guides/fhir.md#integrator-hooks", "exec"), {"__name__": "fhir_example"})  # noqa: S102
    promised = [m.strip() for m in re.findall(r"print\(.*\)\s+# (.*)", code)]
    assert out.getvalue().splitlines() == promised
    assert len(promised) == 5


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
        "Provenance",
    ):
        assert f"| {resource} |" in table or f"| {resource} (" in table
