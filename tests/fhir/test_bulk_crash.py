"""SIGKILL during a bulk export, 20 times and more: nothing partial published, every published file audited.

A child process (``bulk_crash_child.py``) writes synthetic episodes with ``write_ndjson(..., replace=True)``
to one target, run after run, and is killed with SIGKILL at named phases (mid-write, before and after the
audit, just after each rename) and at delays spread over a whole run. After every kill: the target either
does not exist or is one run's complete export (``manifest.json`` present, every file listed with its line
count and nothing else, every episode of the run with all its resources), and every published episode is in
the child's audit log (fsynced by its audit callable before it returns, so the test checks the contract
whatever the library's default audit becomes). Each run removes what the killed one before it left.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

from .bulk_crash_child import SHAPE, WITHHELD, episode_id

CHILD = Path(__file__).with_name("bulk_crash_child.py")
EPISODES = 40
PAUSE = 0.004  # seconds per episode: a run writes for about 0.2 s
#: Phases the child stalls at, in order: the first "rename-1" finds a previous export (so it is the rename
#: aside, the window of replace=True), the second finds none (so it is the publishing rename).
PHASES = [
    "rename-1",
    "write",
    "audit-before",
    "audit-after",
    "rename-1",
    "done",
    "rename-2",
    "audit-after",
    "write",
    "rename-1",
    "audit-before",
    "done",
]
TIMED = 16
MIN_KILLS = 20


def expected_counts(episodes: int) -> dict[str, int]:
    counts = {rtype: n * episodes for rtype, n in SHAPE.items()}
    counts["OperationOutcome"] = math.ceil(episodes / WITHHELD)
    return counts


def audited(log: Path) -> set[str]:
    """Episode ids in the audit log (a line torn by a kill is not an entry)."""
    if not log.exists():
        return set()
    out: set[str] = set()
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            out.add(json.loads(line)["episode"])
        except ValueError:
            continue
    return out


def episode_of(resource: dict[str, object]) -> str:
    if resource["resourceType"] == "EpisodeOfCare":
        return str(resource["id"])
    refs = resource["episodeOfCare"]
    assert isinstance(refs, list)
    return str(refs[0]["reference"]).removeprefix("EpisodeOfCare/")


def published_run(target: Path, log: Path) -> int | None:
    """The run whose complete export is at ``target``, or None if there is none; fails on anything else."""
    if not target.exists():
        return None
    names = {path.name for path in target.iterdir()}
    assert "manifest.json" in names, f"published without a manifest: {sorted(names)}"
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    listed = {
        entry["url"].rsplit("/", 1)[1]: (entry["type"], entry["count"])
        for entry in manifest["output"] + manifest["error"]
    }
    assert names == set(listed) | {"manifest.json"}, "files and manifest disagree"
    assert {e["type"] for e in manifest["error"]} == {"OperationOutcome"}
    counts: dict[str, int] = {}
    episodes: set[str] = set()
    for url, (rtype, count) in listed.items():
        lines = (target / url).read_text(encoding="utf-8").splitlines()
        assert len(lines) == count, f"{url}: {len(lines)} lines, the manifest says {count}"
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == rtype
            episodes.add(episode_of(resource))
        counts[rtype] = count
    runs = {int(e[1:4]) for e in episodes}
    assert len(runs) == 1, f"episodes of several runs published together: {sorted(runs)}"
    run = runs.pop()
    assert episodes == {episode_id(run, i) for i in range(EPISODES)}, "an incomplete export was published"
    assert counts == expected_counts(EPISODES)
    unaudited = episodes - audited(log)
    assert not unaudited, f"{len(unaudited)} published episodes have no audit entry"
    return run


def leftovers(target: Path) -> tuple[list[Path], list[Path]]:
    names = sorted(target.parent.iterdir())
    partial = [p for p in names if p.name.startswith(f".{target.name}.partial-")]
    replaced = [p for p in names if p.name.startswith(f".{target.name}.replaced-")]
    return partial, replaced


def start(target: Path, log: Path, run: int, stall: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(target), str(log), str(run), str(EPISODES), str(PAUSE), stall],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "start":  # pragma: no cover - the child failed to start
        proc.kill()
        raise AssertionError(f"child did not start: {line!r} {proc.communicate()[1]}")
    return proc


def wait_for(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if expected == "stalled at done" and line == "done":
        line = proc.stdout.readline().strip()
    if line != expected:  # pragma: no cover - the child failed
        proc.kill()
        raise AssertionError(f"expected {expected!r}, got {line!r}: {proc.communicate()[1]}")


def kill(proc: subprocess.Popen[str], *, returned: bool = False) -> bool:
    """SIGKILL the child; True if the kill landed before the export returned (``returned``: it had)."""
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    if proc.returncode not in (0, -signal.SIGKILL):  # pragma: no cover - the child failed
        raise AssertionError(f"child failed: {err}")
    return proc.returncode == -signal.SIGKILL and not returned and "done" not in out.splitlines()


def finish(proc: subprocess.Popen[str]) -> None:
    """Let the child run to its end."""
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_sigkill_during_bulk_export_never_publishes_partial_or_unaudited_files(tmp_path: Path) -> None:
    target = tmp_path / "exports" / "bulk"
    log = tmp_path / "audit.jsonl"

    # run 0, not killed: a previous export to replace, and how long a run takes
    proc = start(target, log, 0, "none")
    t0 = time.monotonic()
    wait_for(proc, "done")
    duration = time.monotonic() - t0
    finish(proc)
    assert published_run(target, log) == 0
    run = 0
    kills = 0

    for phase in PHASES:
        run += 1
        existed = target.exists()
        proc = start(target, log, run, phase)
        wait_for(proc, f"stalled at {phase}")
        landed = kill(proc, returned=phase == "done")
        assert landed or phase == "done"
        kills += landed
        published = published_run(target, log)
        partial, replaced = leftovers(target)
        assert len(partial) <= 1, "a run left the leftovers of an earlier run"
        assert len(replaced) <= 1, "a run left the leftovers of an earlier run"
        mine = {episode_id(run, i) for i in range(EPISODES)} & audited(log)
        if phase in ("write", "audit-before"):
            assert published != run
            assert not mine, "audited before the files were complete"
        elif phase == "audit-after":
            assert published != run
            assert len(mine) == 7, "the first audit batch is durable before anything is published"
        elif phase == "rename-1" and existed:  # the window of replace=True: the old export set aside
            assert published is None
            assert len(partial) == 1
            assert len(replaced) == 1
        else:  # published by the first (no previous export) or second rename, or done
            assert published == run
            assert mine == {episode_id(run, i) for i in range(EPISODES)}
            if phase == "done":
                assert leftovers(target) == ([], [])

    # kills at delays spread over a whole run (the clean-up, writing), and closer together over its end
    # (fsync, audit, renames, removal of the replaced export)
    half = TIMED // 2
    delays = [duration * (i + 0.5) / half for i in range(half)]
    delays += [duration * (0.8 + 0.3 * i / (TIMED - half)) for i in range(TIMED - half)]
    # A run that finishes first is retried a little earlier, down to a kill at once: a loaded machine
    # slows the runs, so how many tries a kill takes varies, but every delay ends in a kill.
    attempts = 0
    while delays and attempts < 12 * TIMED:
        attempts += 1
        run += 1
        proc = start(target, log, run, "none")
        time.sleep(delays[0])
        if kill(proc):
            kills += 1
            delays.pop(0)
        else:  # finished first: a little earlier
            delays[0] = max(0.0, delays[0] - duration * 0.1)
            assert published_run(target, log) == run
        published_run(target, log)
        partial, replaced = leftovers(target)
        assert len(partial) <= 2
        assert len(replaced) <= 2
    assert kills >= MIN_KILLS

    # an export that is not killed removes every leftover and publishes completely
    run += 1
    proc = start(target, log, run, "none")
    finish(proc)
    assert published_run(target, log) == run
    assert leftovers(target) == ([], [])
