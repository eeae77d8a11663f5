"""A bulk export run in a child process, for test_bulk_crash.py to kill with SIGKILL.

Usage: ``python bulk_crash_child.py TARGET AUDIT_LOG RUN EPISODES PAUSE STALL``

Writes ``EPISODES`` synthetic episodes (ids ``r<RUN>-ep<i>``, see :func:`resources`) with ``write_ndjson``
and ``replace=True`` to ``TARGET``, sleeping ``PAUSE`` seconds per episode. Its audit callable appends one
JSON line per episode id to ``AUDIT_LOG`` and fsyncs before returning: whatever the library's default audit
becomes, the test checks the contract (audited before published) through this log. Prints ``start`` when
the export begins and ``done`` when it returned. When ``STALL`` names a phase (``write``, ``audit-before``,
``audit-after``, ``rename-1``, ``rename-2``, ``done``), prints ``stalled at <phase>`` when it gets there
and sleeps, for the test to kill it exactly there; ``rename-<n>`` is just after the n-th ``os.rename``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import alliancekit.fhir.bulk as bulk

#: Resource types each episode has, and how many of each.
SHAPE = {"EpisodeOfCare": 1, "Encounter": 3, "Observation": 4, "Provenance": 2}
#: Every WITHHELD-th episode also has an OperationOutcome (listed under the manifest's ``error``).
WITHHELD = 5


def episode_id(run: int, index: int) -> str:
    return f"r{run:03d}-ep{index:03d}"


def resources(episode: str, index: int) -> list[dict[str, Any]]:
    """Small FHIR-like resources; every one names its episode (its id, or an ``episodeOfCare`` reference)."""
    ref = [{"reference": f"EpisodeOfCare/{episode}"}]
    out: list[dict[str, Any]] = [{"resourceType": "EpisodeOfCare", "id": episode, "status": "active"}]
    for rtype, count in SHAPE.items():
        if rtype != "EpisodeOfCare":
            out += [
                {
                    "resourceType": rtype,
                    "id": f"{episode}-{rtype}-{n}",
                    "episodeOfCare": ref,
                    "text": "x" * 200,
                }
                for n in range(count)
            ]
    if index % WITHHELD == 0:
        out.append({"resourceType": "OperationOutcome", "id": f"{episode}-withheld", "episodeOfCare": ref})
    return out


def main(argv: Sequence[str]) -> None:
    target, log_path, run, count, pause, stall = (
        argv[0],
        argv[1],
        int(argv[2]),
        int(argv[3]),
        float(argv[4]),
        argv[5],
    )

    def say(message: str) -> None:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    def at(phase: str) -> None:
        if phase == stall:
            say(f"stalled at {phase}")
            time.sleep(60)

    def episodes() -> Iterator[tuple[str, list[dict[str, Any]]]]:
        for index in range(count):
            if index == count // 2:
                at("write")
            time.sleep(pause)
            episode = episode_id(run, index)
            yield episode, resources(episode, index)

    def audit(episode_ids: Sequence[str]) -> None:
        at("audit-before")
        lines = "".join(json.dumps({"episode": e, "run": run}) + "\n" for e in episode_ids)
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size:  # a run killed mid-line must not swallow this one's first line
                with open(log_path, "rb") as log:
                    log.seek(-1, os.SEEK_END)
                    if log.read(1) != b"\n":
                        lines = "\n" + lines
            os.write(fd, lines.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        at("audit-after")

    real_rename = os.rename
    renames = 0

    def rename(src: Any, dst: Any) -> None:
        nonlocal renames
        real_rename(src, dst)
        renames += 1
        at(f"rename-{renames}")

    os.rename = rename  # type: ignore[assignment]
    bulk.AUDIT_BATCH = 7  # several audit calls per run: kills land between them too
    say("start")
    bulk.write_ndjson(target, episodes(), audit=audit, purpose="treatment", replace=True)
    say("done")
    at("done")


if __name__ == "__main__":
    main(sys.argv[1:])
