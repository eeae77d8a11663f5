"""An export whose references are in the placeholder systems (``urn:alliancekit:host:<kind>``, no
identifier system configured) says so: ``alliancekit export fhir`` warns on stderr naming
``--identifier-system`` (and exits 0: the export is complete and valid), ``--json`` carries
``placeholder_identifiers``, ``BulkResult.placeholder_identifiers`` tells a Python caller of a bulk export,
and :func:`~alliancekit.fhir.identity.placeholder_identifiers` tells one of a Bundle. Before, the
placeholder was used silently, and an EHR loading two hosts' exports would merge their clients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import alliancekit
from alliancekit import Practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor
from alliancekit.fhir import ExportOptions, SystemIdentity, episode_bundle, export_ndjson
from alliancekit.fhir.identity import DEFAULT_SYSTEM_BASE, placeholder_identifiers
from alliancekit.plugins.manager import make_plugin_host

from .conftest import episode_of

SYSTEM = "https://clinic.example.org/ids"
WARNING = "alliancekit: warning: no --identifier-system given"


def _export(capsys: pytest.CaptureFixture[str], db: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["export", "fhir", "--db", str(db), *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("json_flag", [False, True])
def test_a_bulk_export_without_a_system_warns_and_exits_0(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], json_flag: bool
) -> None:
    code, out, err = _export(
        capsys, demo_db, "--all", "--out", str(tmp_path / "bulk"), *(["--json"] if json_flag else [])
    )
    assert code == 0, err
    assert err.count(WARNING) == 1
    assert "--identifier-system to a URL" in err
    assert f"{DEFAULT_SYSTEM_BASE}:<kind>" in err
    if json_flag:
        summary = json.loads(out)
        assert (summary["placeholder_identifiers"], summary["ok"]) == (True, True)


@pytest.mark.parametrize("json_flag", [False, True])
def test_a_bulk_export_with_a_system_does_not_warn(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], json_flag: bool
) -> None:
    argv = ["--all", "--out", str(tmp_path / "bulk"), "--identifier-system", SYSTEM]
    code, out, err = _export(capsys, demo_db, *argv, *(["--json"] if json_flag else []))
    assert code == 0, err
    assert "identifier-system" not in err
    assert DEFAULT_SYSTEM_BASE not in (tmp_path / "bulk" / "EpisodeOfCare.ndjson").read_text()
    if json_flag:
        assert json.loads(out)["placeholder_identifiers"] is False


@pytest.mark.parametrize(("system", "warned"), [(None, True), (SYSTEM, False)])
def test_a_bundle_export_warns_only_without_a_system(
    demo: Practice,
    exporter_actor: Actor,
    demo_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    system: str | None,
    warned: bool,
) -> None:
    episode = episode_of(demo, exporter_actor, 1)
    more = [] if system is None else ["--identifier-system", system]
    for out in (str(tmp_path / "bundle.json"), "-"):  # to a file, and to stdout (the warning on stderr)
        code, stdout, err = _export(capsys, demo_db, "--episode", episode, "--out", out, *more)
        assert code == 0, err
        assert (WARNING in err) is warned
        assert WARNING not in stdout
    code, stdout, err = _export(
        capsys, demo_db, "--episode", episode, "--out", str(tmp_path / "b.json"), "--json", *more
    )
    assert json.loads(stdout)["placeholder_identifiers"] is warned


@pytest.mark.parametrize(("system", "warned"), [(None, True), (SYSTEM, False)])
def test_the_python_api_says_whether_the_placeholder_was_used(
    demo: Practice, exporter_actor: Actor, tmp_path: Path, system: str | None, warned: bool
) -> None:
    options = ExportOptions(identifier_system=system)
    result = export_ndjson(demo, exporter_actor, tmp_path / "bulk", options=options)
    assert result.placeholder_identifiers is warned
    bundle = episode_bundle(demo, exporter_actor, episode_of(demo, exporter_actor, 1), options=options)
    assert placeholder_identifiers([bundle]) is warned


class _HostIdentities:
    """A host's master patient index: literal references, no identifier systems at all."""

    @alliancekit.hookimpl
    def alliancekit_fhir_identity(self, clinic_id: str, options: ExportOptions) -> Any:
        return _Literal()


class _Literal:
    def reference(self, kind: str, local_id: str) -> dict[str, Any]:
        return {"reference": f"Patient/{local_id}" if kind == "client" else f"Practitioner/{local_id}"}


def test_identities_from_a_plugin_are_no_placeholder(
    demo_db: Path, exporter_actor: Actor, tmp_path: Path
) -> None:
    host = make_plugin_host(extra_plugins=[_HostIdentities()])
    with alliancekit.open_practice(demo_db, plugins=host) as practice:
        result = export_ndjson(practice, exporter_actor, tmp_path / "bulk")
        bundle = episode_bundle(practice, exporter_actor, episode_of(practice, exporter_actor, 1))
    assert result.placeholder_identifiers is False
    assert placeholder_identifiers([bundle]) is False


def test_the_scan_finds_a_placeholder_system_only() -> None:
    placeholder = SystemIdentity().reference("client", "c-1")
    own = SystemIdentity(SYSTEM).reference("client", "c-1")
    near = {"identifier": {"system": DEFAULT_SYSTEM_BASE + "x:client", "value": "c-1"}}
    assert placeholder_identifiers([{"resourceType": "Goal", "subject": placeholder}]) is True
    assert placeholder_identifiers([{"resourceType": "Goal", "subject": own}]) is False
    assert placeholder_identifiers([{"resourceType": "Goal", "subject": near}]) is False
    nested = {"resourceType": "Bundle", "entry": [{"resource": {"performer": [placeholder]}}]}
    assert placeholder_identifiers([nested]) is True
