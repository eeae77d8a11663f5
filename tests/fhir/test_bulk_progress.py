"""``export_ndjson(..., progress=)``: called with the episodes exported so far, after each is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.demo import simulate_practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import ValidationError
from alliancekit.fhir.bulk import export_ndjson

EXPORTER = Actor("records-officer", Role.SUPERVISOR, "demo-clinic", Purpose.TREATMENT)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bulk-progress") / "demo.sqlite"
    simulate_practice(path, clients=12, seed=7)
    return path


@pytest.fixture
def practice_copy(demo_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "p.sqlite"
    copy.write_bytes(demo_db.read_bytes())
    return copy


def test_progress_gets_1_to_n_each_after_its_episode_is_written(practice_copy: Path, tmp_path: Path) -> None:
    episodes_seen = 0
    calls: list[tuple[int, int]] = []  # (done, EpisodeOfCare resources handed to the writer by then)

    def seen(resource: dict[str, Any]) -> None:
        nonlocal episodes_seen
        episodes_seen += resource["resourceType"] == "EpisodeOfCare"

    with open_practice(practice_copy) as practice:
        result = export_ndjson(
            practice,
            EXPORTER,
            tmp_path / "out",
            on_resource=seen,
            progress=lambda done: calls.append((done, episodes_seen)),
        )
    n = result.episodes
    assert n == result.counts["EpisodeOfCare"] > 12  # the demo's returning clients have a second episode
    assert calls == [(done, done) for done in range(1, n + 1)]


def test_progress_counts_the_episodes_given(practice_copy: Path, tmp_path: Path) -> None:
    calls: list[int] = []
    with open_practice(practice_copy) as practice:
        chosen = practice.episode_ids(EXPORTER)[:3]
        result = export_ndjson(
            practice, EXPORTER, tmp_path / "out", episode_ids=chosen, progress=calls.append
        )
    assert result.episodes == 3
    assert calls == [1, 2, 3]


def test_a_refused_directory_reads_no_ids_and_calls_no_progress(practice_copy: Path, tmp_path: Path) -> None:
    """``episode_ids`` is iterated only once the directory is accepted: a refused export reads nothing."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "other.txt").write_text("not an export\n")
    iterated: list[bool] = []
    calls: list[int] = []

    def ids() -> Any:
        iterated.append(True)
        yield from ()

    with open_practice(practice_copy) as practice, pytest.raises(ValidationError, match="directory: exists"):
        export_ndjson(practice, EXPORTER, target, episode_ids=ids(), progress=calls.append)
    assert iterated == calls == []
