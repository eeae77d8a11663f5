"""Publishing a bulk export: refused targets, replacing, audit before publication, leftovers, concurrent runs.

All but the last test drive ``write_ndjson`` with plain (episode id, resources) pairs, no store. The last,
``test_integration_...``, exports a real Practice.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from alliancekit.cli.main import main
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.exports.publish import StagedDirectory
from alliancekit.fhir import bulk
from alliancekit.fhir.bulk import export_ndjson, write_ndjson

from .bulk_crash_child import episode_id, resources
from .conftest import CLINIC, small_practice


def episodes(count: int, run: int = 0) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(episode_id(run, i), resources(episode_id(run, i), i)) for i in range(count)]


class Log:
    """An audit callable that remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, episode_ids: Sequence[str]) -> None:
        self.calls.append(list(episode_ids))

    @property
    def ids(self) -> list[str]:
        return [e for call in self.calls for e in call]


def hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_publishes_every_file_with_its_manifest_and_audits_every_episode(tmp_path: Path) -> None:
    log = Log()
    target = tmp_path / "a" / "b" / "bulk"  # parents are created
    result = write_ndjson(target, episodes(12), audit=log, purpose="treatment")
    assert result.directory == target
    assert result.episodes == 12
    assert result.withheld_episodes == 3  # episodes 0, 5 and 10 carry an OperationOutcome
    assert log.ids == [episode_id(0, i) for i in range(12)]
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest == result.manifest
    base = target.as_uri()  # no base URL given: the published files' file: URLs
    assert manifest["error"] == [
        {"type": "OperationOutcome", "url": f"{base}/OperationOutcome.ndjson", "count": 3}
    ]
    assert manifest["extension"] == {"https://alliancekit.dev/fhir/bulk/purpose": "treatment"}
    assert manifest["request"] == f"{base}/$export"
    assert manifest["requiresAccessToken"] is False
    for entry in manifest["output"] + manifest["error"]:
        assert entry["url"].startswith(f"{base}/")
        name = entry["url"].rsplit("/", 1)[1]
        assert len((target / name).read_text().splitlines()) == entry["count"]
    assert hidden(target.parent) == []
    assert (target.stat().st_mode & 0o777) == 0o700  # clinical records: the owner's only


def test_audit_is_called_before_publication_with_every_file_and_the_manifest_written(tmp_path: Path) -> None:
    target = tmp_path / "bulk"
    seen: list[str] = []

    def audit(episode_ids: Sequence[str]) -> None:
        assert not target.exists(), "published before the audit"
        (staging,) = [p for p in tmp_path.iterdir() if p.name.startswith(".bulk.partial-")]
        manifest = json.loads((staging / "manifest.json").read_text())
        for entry in manifest["output"]:
            name = entry["url"].rsplit("/", 1)[1]
            assert len((staging / name).read_text().splitlines()) == entry["count"]
        seen.extend(episode_ids)

    write_ndjson(target, episodes(4), audit=audit, purpose="treatment")
    assert seen == [episode_id(0, i) for i in range(4)]
    assert target.is_dir()


def test_the_manifest_is_what_the_bulk_data_ig_requires(tmp_path: Path) -> None:
    result = write_ndjson(
        tmp_path / "bulk",
        episodes(6),
        audit=Log(),
        purpose="treatment",
        base_url="https://files.clinic.example.org/exports/2026-11/",
        request="https://fhir.clinic.example.org/r4/$export?_type=Encounter",
        requires_access_token=True,
    )
    manifest = result.manifest
    # transactionTime is a FHIR instant (seconds and a time zone)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", manifest["transactionTime"])
    assert manifest["request"] == "https://fhir.clinic.example.org/r4/$export?_type=Encounter"
    assert manifest["requiresAccessToken"] is True
    urls = [e["url"] for e in manifest["output"] + manifest["error"]]
    assert urls
    assert all(u.startswith("https://files.clinic.example.org/exports/2026-11/") for u in urls)
    assert "https://files.clinic.example.org/exports/2026-11/OperationOutcome.ndjson" in urls
    assert not any("//" in u.split("://", 1)[1] for u in urls)
    default = write_ndjson(
        tmp_path / "again", [], audit=Log(), purpose="treatment", base_url="http://127.0.0.1:8080/x"
    )
    assert default.manifest["request"] == "http://127.0.0.1:8080/x/$export"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_url", "exports/2026"),  # relative
        ("base_url", "/srv/exports"),  # a path, not a URL
        ("base_url", "ftp://files.example.org/x"),
        ("base_url", "https://"),  # no host
        ("base_url", "https://files.example.org/x?y=1"),  # a query: the file names cannot follow it
        ("base_url", "https://files.example.org/x#y"),
        ("base_url", "https://files.example.org/a b"),
        ("base_url", 42),
        ("request", "$export"),
        ("request", "https://fhir.example.org/$export#x"),
    ],
)
def test_a_base_url_or_request_that_is_not_an_absolute_url_is_refused_and_nothing_written(
    tmp_path: Path, field: str, value: object
) -> None:
    log = Log()
    with pytest.raises(ValidationError) as caught:
        write_ndjson(tmp_path / "bulk", episodes(2), audit=log, purpose="treatment", **{field: value})
    assert caught.value.field == field
    assert caught.value.rule in ("absolute-url", "type")
    assert list(tmp_path.iterdir()) == []
    assert log.calls == []


def test_audit_comes_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "AUDIT_BATCH", 3)
    log = Log()
    write_ndjson(tmp_path / "bulk", episodes(7), audit=log, purpose="treatment")
    assert [len(call) for call in log.calls] == [3, 3, 1]
    log = Log()
    write_ndjson(tmp_path / "empty", [], audit=log, purpose="treatment")
    assert log.calls == []  # nothing exported, nothing to audit; the manifest is still published
    assert json.loads((tmp_path / "empty" / "manifest.json").read_text())["output"] == []


def test_a_non_empty_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "bulk"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    log = Log()
    with pytest.raises(ValidationError) as caught:
        write_ndjson(target, episodes(2), audit=log, purpose="treatment")
    assert (caught.value.field, caught.value.rule) == ("directory", "exists")
    assert "replace" in str(caught.value)
    assert log.calls == []
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert hidden(tmp_path) == []
    # an empty directory is fine
    (target / "notes.txt").unlink()
    write_ndjson(target, episodes(2), audit=log, purpose="treatment")
    assert (target / "manifest.json").is_file()


def test_replace_replaces_a_previous_export_only(tmp_path: Path) -> None:
    target = tmp_path / "bulk"
    write_ndjson(target, episodes(6, run=1), audit=Log(), purpose="treatment")
    with pytest.raises(ValidationError, match="directory: exists"):
        write_ndjson(target, episodes(2, run=2), audit=Log(), purpose="treatment")
    result = write_ndjson(target, episodes(2, run=2), audit=Log(), purpose="treatment", replace=True)
    assert result.episodes == 2
    eoc = (target / "EpisodeOfCare.ndjson").read_text().splitlines()
    assert [json.loads(line)["id"] for line in eoc] == [episode_id(2, 0), episode_id(2, 1)]
    assert hidden(tmp_path) == []

    other = tmp_path / "documents"
    other.mkdir()
    (other / "letter.txt").write_text("keep me")
    with pytest.raises(ValidationError) as caught:
        write_ndjson(other, episodes(1), audit=Log(), purpose="treatment", replace=True)
    assert (caught.value.field, caught.value.rule) == ("directory", "not-an-export")
    assert (other / "letter.txt").read_text() == "keep me"


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_file_or_link_in_the_way_is_refused(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "bulk"
    if kind == "file":
        target.write_text("x")
    else:
        (tmp_path / "real").mkdir()
        target.symlink_to(tmp_path / "real")
    with pytest.raises(ValidationError) as caught:
        write_ndjson(target, episodes(1), audit=Log(), purpose="treatment", replace=True)
    assert (caught.value.field, caught.value.rule) == ("directory", "not-a-directory")


@pytest.mark.parametrize(
    ("directory", "rule"),
    [
        ("file/bulk", "not-a-directory"),  # a file where a parent should be
        ("bu\0lk", "path"),
        ("", "path"),
        ("bulk\ud800", "encoding"),
        ("b" * 201, "maximum"),
        (b"bulk", "type"),
        (5, "type"),
        ("/", "not-a-directory"),
    ],
)
def test_a_directory_that_cannot_be_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directory: Any, rule: str
) -> None:
    (tmp_path / "file").write_text("x")
    log = Log()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError) as caught:
        write_ndjson(directory, episodes(1), audit=log, purpose="treatment")
    assert (caught.value.field, caught.value.rule) == ("directory", rule)
    assert log.calls == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_refused_audit_publishes_nothing(tmp_path: Path) -> None:
    def refuse(episode_ids: Sequence[str]) -> None:
        raise ValidationError("actor", "denied", "test")

    with pytest.raises(AlliancekitError):
        write_ndjson(tmp_path / "bulk", episodes(3), audit=refuse, purpose="treatment")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_publishes_and_audits_nothing(tmp_path: Path) -> None:
    def failing() -> Iterator[tuple[str, list[dict[str, Any]]]]:
        yield from episodes(3)
        raise ValidationError("episode", "not-found", "test")

    log = Log()
    with pytest.raises(ValidationError):
        write_ndjson(tmp_path / "bulk", failing(), audit=log, purpose="treatment")
    assert log.calls == []
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_dead_runs_are_removed_and_a_live_run_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "bulk"
    dead = tmp_path / ".bulk.partial-dead"
    dead.mkdir()
    (dead / "Observation.ndjson").write_text("{}\n")
    aside = tmp_path / ".bulk.replaced-old"
    aside.mkdir()
    live = tmp_path / ".bulk.partial-live"
    live.mkdir()
    other = tmp_path / ".other.partial-x"  # another target's
    other.mkdir()
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run in progress holds it
        write_ndjson(target, episodes(1), audit=Log(), purpose="treatment")
    finally:
        os.close(fd)
    assert hidden(tmp_path) == [".bulk.partial-live", ".other.partial-x"]
    write_ndjson(target, episodes(1), audit=Log(), purpose="treatment", replace=True)
    assert hidden(tmp_path) == [".other.partial-x"]


def test_of_two_runs_to_one_target_the_second_to_publish_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "bulk"
    first, second = Log(), Log()
    # the second one's clean-up leaves the first one's staging directory alone: its run is alive
    with (
        StagedDirectory(target, replaces="manifest.json") as one,
        StagedDirectory(target, replaces="manifest.json") as two,
    ):
        for staged in (one, two):
            (staged.path / "manifest.json").write_text("{}")
        one.publish(lambda: first(["a"]))
        with pytest.raises(ValidationError, match="directory: exists"):
            two.publish(lambda: second(["b"]))
    assert first.ids == ["a"]
    assert second.ids == []  # refused before its audit
    assert hidden(tmp_path) == []
    assert [p.name for p in target.iterdir()] == ["manifest.json"]


def test_integration_practice_export_is_published_atomically_and_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through a real Practice (its reads audited by the facade's guard, before publication) and the CLI."""
    practice, _, ep = small_practice(tmp_path / "practice.sqlite")
    exporter = Actor("records-officer", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)
    auditor = Actor("auditor", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
    target = tmp_path / "bulk"
    with practice:
        result = export_ndjson(practice, exporter, target)
        assert result.episodes == 1
        assert (target / "manifest.json").is_file()
        assert hidden(tmp_path) == []
        entries = practice.audit_entries(auditor, actor_id=exporter.id)
        assert ep in {entry.record_id for entry in entries}
        # found by the client's reference too, as a client's request for who accessed their data needs
        by_client = practice.audit_entries(auditor, client_ref="client-7")
        assert any(e.actor_id == exporter.id and e.record_id == ep for e in by_client)

        with pytest.raises(ValidationError, match="directory: exists"):
            export_ndjson(practice, exporter, target)
        again = export_ndjson(practice, exporter, target, replace=True)
        assert again.manifest["output"] == result.manifest["output"]

        # every episode's read was audited, as an export of the bulk kind with the client and the purpose:
        # once per published export; the refused one read nothing
        by_client = practice.audit_entries(auditor, client_ref="client-7")
        reads = [e for e in by_client if e.record_id == ep and e.action == "export-fhir-bulk"]
        assert len(reads) == 2
        assert {e.purpose for e in reads} == {"treatment"}

    cli = ["export", "fhir", "--db", str(tmp_path / "practice.sqlite"), "--all", "--out", str(target)]
    assert main(cli) == 2  # an input error: the directory is not empty
    said = capsys.readouterr().err  # named by the option typed, refused before the practice is read
    assert f"error: --out {target}: exists and is not empty; pass --replace" in said
    assert main([*cli, "--replace"]) == 0
    assert "of 1 episodes" in capsys.readouterr().out
    assert hidden(tmp_path) == []


def test_what_any_writer_staged_is_published_owner_only(tmp_path: Path) -> None:
    """Files a third-party writer (a Parquet library) makes follow the umask: published 0600 and 0700."""
    previous = os.umask(0o022)
    try:
        with StagedDirectory(tmp_path / "bulk") as staged:
            (staged.path / "part").mkdir()
            (staged.path / "part" / "table.parquet").write_bytes(b"PAR1")
            (staged.path / "manifest.json").write_text("{}")
            published = staged.publish(lambda: None)
    finally:
        os.umask(previous)
    modes = {
        str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in [published, *published.rglob("*")]
    }
    assert modes == {
        "bulk": 0o700,
        "bulk/part": 0o700,
        "bulk/part/table.parquet": 0o600,
        "bulk/manifest.json": 0o600,
    }
