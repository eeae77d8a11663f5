"""An import resumed, or raced by a second run of itself, in the middle of an episode.

The sample file changes modality from one session to the next. A run that opens an episode from a later
session's unit (a resumed run whose checkpoint fell inside the episode, or a batch written again after a
second run of the import won a race for it) must ask for the episode's opening exactly as the first run did,
or its keys refuse it as another request.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.feedback import SESSION_EVENTS, AlertRule, AlertRuleRegistrar, RuleContext
from alliancekit.imports.csv_source import CsvSource
from alliancekit.imports.mapping import load_mapping
from alliancekit.imports.writer import run_import
from alliancekit.plugins.manager import DISABLE_AUTOLOAD_ENV, make_plugin_host

from .conftest import CLINIC, import_csv, sessions

EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"
MAPPING, SOURCE = EXAMPLES / "openfit-style.toml", EXAMPLES / "openfit-style.csv"


def _whole_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    db = tmp_path / "alone.sqlite"
    assert import_csv(capsys, db, MAPPING, SOURCE)[0] == 0
    return dict(sessions(db))


def test_a_run_resumed_inside_an_episode_opens_it_as_the_first_run_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = SOURCE.read_text(encoding="utf-8").splitlines(keepends=True)
    first_two = tmp_path / "openfit-style.csv"  # the same name: the same checkpoint
    first_two.write_text("".join(lines[:3]), encoding="utf-8")  # OF-0001's video and telephone sessions
    db = tmp_path / "p.sqlite"
    code, out, err = import_csv(capsys, db, MAPPING, first_two)
    assert (code, out.split(";")[0]) == (0, "imported 2 units: 2 written, 0 already imported"), err
    code, out, err = import_csv(capsys, db, MAPPING, SOURCE)  # resumes at OF-0001's in-person session
    assert code == 0, err
    assert out.startswith("imported 36 units: 34 written, 2 already imported")
    assert sessions(db) == _whole_file_alone(tmp_path, capsys)


class _SecondRun:
    """An alert rule that, at the given session of this import, runs the whole import once more in another
    process: that run wins the race for every episode this run's batch holds."""

    def __init__(self, db: Path, at: int) -> None:
        self.db, self.countdown = db, at

    def _rule(self, ctx: RuleContext) -> Iterator[None]:
        self.countdown -= 1
        if self.countdown == 0:
            argv = ["import", "csv", "--db", str(self.db), "--clinic", CLINIC, "--mapping", str(MAPPING)]
            env = {**os.environ, DISABLE_AUTOLOAD_ENV: "1"}
            done = subprocess.run(
                [sys.executable, "-m", "alliancekit", *argv, str(SOURCE)], capture_output=True, env=env
            )
            assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        yield from ()

    @hookimpl
    def alliancekit_register_alert_rules(self, register: AlertRuleRegistrar) -> None:
        register(AlertRule("test.second-run", "info", "Never raised.", self._rule, reads=SESSION_EVENTS))


def test_a_second_run_at_the_same_time_wins_the_race_and_nothing_is_refused_or_doubled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.sqlite"
    open_practice(db).close()
    # The third session: with batches of two units, the second batch, which opens OF-0001 again.
    host = make_plugin_host(load_entry_points=False, extra_plugins=[_SecondRun(db, 3)])
    with open_practice(db, plugins=host) as practice:
        source = CsvSource(SOURCE, load_mapping(MAPPING), practice.plugins.measures())
        result = run_import(practice, source, clinic_id=CLINIC, source_id="mine", batch_size=2)
    assert result.errors == ()
    assert (result.units, result.checkpoint) == (36, 37)
    assert sessions(db) == _whole_file_alone(tmp_path, capsys)
