"""Tampering with a SQLite record by raw SQL: every change is reported by verify at the right entry."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

from alliancekit.domain import Review, ReviewDecision
from alliancekit.integrity import chain
from alliancekit.store.protocol import AuditRecord, StoredEvent
from alliancekit.store.sqlite import SQLiteStore

from .conftest import DAY, KEY, Record, clinician, practice_on


def test_the_untouched_record_verifies(record: Record) -> None:
    report = record.verify()
    assert report.ok, report.describe()
    assert (report.episodes, report.seals_checked) == (3, True)
    assert report.events == len(record.sql("SELECT 1 FROM events")) > 20
    assert report.audit_entries == len(record.sql("SELECT 1 FROM audit"))
    assert report.checkpoints >= 3
    assert report.describe().startswith("record ok: 3 episodes")
    unkeyed = record.verify(key=None)
    assert unkeyed.ok
    assert not unkeyed.seals_checked


def _where(report: Any, check: str) -> str:
    finding = report.finding(check)
    assert finding is not None, report.describe()
    assert not report.ok
    assert report.describe().startswith("record broken:")
    return str(finding.where)


def _event(record: Record, ep: str, seq: int) -> StoredEvent:
    store = SQLiteStore(record.path, read_only=True)
    try:
        [event] = [e for e in store.load_events(ep) if e.seq == seq]
        return event
    finally:
        store.close()


def _audit(record: Record) -> list[AuditRecord]:
    store = SQLiteStore(record.path, read_only=True)
    try:
        return store.audit_records()
    finally:
        store.close()


def _entry_writing(record: Record, ep: str, version: int) -> AuditRecord:
    [entry] = [a for a in _audit(record) if a.record_id == ep and a.writes.startswith(f"{version}:")]
    return entry


def _session_with_phq9(record: Record, ep: str) -> int:
    rows = record.sql(
        "SELECT seq FROM events WHERE episode_id = ? AND type = 'session-recorded'"
        " AND json_extract(payload, '$.scores[0].total') = 18 ORDER BY seq",
        (ep,),
    )
    assert rows, "the record has a PHQ-9 of 18"
    return int(rows[0][0])


# ------------------------------------------------------------------------------------------- events


def test_a_changed_score_is_found_at_its_event(record: Record) -> None:
    ep = record.episodes["ep2"]
    seq = _session_with_phq9(record, ep)
    record.sql(
        "UPDATE events SET payload = json_set(payload, '$.scores[0].total', 3.0)"
        " WHERE episode_id = ? AND seq = ?",
        (ep, seq),
    )
    report = record.verify()
    assert _where(report, "events") == f"episode {ep} event {seq}"
    assert report.finding("events").problem == "content does not match its hash"  # type: ignore[union-attr]
    # The snapshot (PHQ-9 still 18) no longer matches the fold (3) either.
    assert _where(report, "snapshots") == f"episode {ep} snapshot"


def test_a_changed_actor_is_found_at_its_event(record: Record) -> None:
    ep = record.episodes["ep1"]
    record.sql("UPDATE events SET actor_id = 'someone-else' WHERE episode_id = ? AND seq = 4", (ep,))
    report = record.verify()
    assert _where(report, "events") == f"episode {ep} event 4"
    assert report.finding("snapshots") is None
    assert report.finding("audit") is None


def test_a_deleted_event_is_found_where_it_was(record: Record) -> None:
    ep = record.episodes["ep3"]
    record.sql("DELETE FROM events WHERE episode_id = ? AND seq = 3", (ep,))
    assert _where(record.verify(), "events") == f"episode {ep} event 3"


def test_an_inserted_event_is_found(record: Record) -> None:
    ep = record.episodes["ep1"]
    [(count,)] = record.sql("SELECT count(*) FROM events WHERE episode_id = ?", (ep,))
    # A copy of the second event appended as a new last one, its hash recomputed over its own prev_hash.
    record.sql(
        "INSERT INTO events SELECT episode_id, ? AS seq, 'forged-event', type, schema_version, occurred_at,"
        " recorded_at, actor_id, actor_role, clinic_id, corrects, payload, prev_hash, hash"
        " FROM events WHERE episode_id = ? AND seq = 2",
        (count + 1, ep),
    )
    report = record.verify()
    assert _where(report, "events") == f"episode {ep} event {count + 1}"
    assert report.finding("events").problem == "does not follow the event before it"  # type: ignore[union-attr]


def test_a_well_forged_inserted_event_is_caught_by_the_snapshot_and_the_audit_log(record: Record) -> None:
    ep = record.episodes["ep1"]
    [(count,)] = record.sql("SELECT count(*) FROM events WHERE episode_id = ?", (ep,))
    last = _event(record, ep, count)
    forged = attrs.evolve(last, seq=count + 1, event_id="forged", actor_id="clin-9")
    forged = attrs.evolve(forged, prev_hash=last.hash, hash=chain.event_hash(forged, last.hash))
    record.sql(
        "INSERT INTO events (episode_id, seq, event_id, type, schema_version, occurred_at, recorded_at,"
        " actor_id, actor_role, clinic_id, corrects, payload, prev_hash, hash) VALUES"
        " (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            ep, forged.seq, forged.event_id, forged.type, forged.schema_version,
            forged.occurred_at.isoformat(), forged.recorded_at.isoformat(), forged.actor_id,
            forged.actor_role, forged.clinic_id,
            forged.corrects, forged.payload_json, forged.prev_hash, forged.hash,
        ),
    )  # fmt: skip
    report = record.verify()
    assert _where(report, "events") == f"episode {ep} snapshot"
    # Even with the snapshot moved to the forged head, no audit entry names it.
    record.sql("UPDATE episodes SET version = ?, head = ? WHERE episode_id = ?", (count + 1, forged.hash, ep))
    report = record.verify()
    assert report.finding("events") is None
    assert _where(report, "references") == f"episode {ep}"


def test_two_reordered_events_are_found_at_the_first(record: Record) -> None:
    ep = record.episodes["ep2"]
    record.sql("UPDATE events SET seq = -1 WHERE episode_id = ? AND seq = 5", (ep,))
    record.sql("UPDATE events SET seq = 5 WHERE episode_id = ? AND seq = 6", (ep,))
    record.sql("UPDATE events SET seq = 6 WHERE episode_id = ? AND seq = -1", (ep,))
    assert _where(record.verify(), "events") == f"episode {ep} event 5"


def test_a_cut_tail_with_a_matching_snapshot_is_found_at_the_entry_that_wrote_it(record: Record) -> None:
    ep = record.episodes["ep3"]
    keep = 5  # the version after the first session: a commit boundary
    record.sql("DELETE FROM events WHERE episode_id = ? AND seq > ?", (ep, keep))
    # Rewrite the snapshot and the caseload row to what the remaining events give: all consistent.
    practice = practice_on(record.path)
    try:
        events = practice.store.load_events(ep)
        # what the core would have written for these events: a forger with the library can compute it
        state_json = practice._s.fold_json(events)
        row = practice._s.project(state_json)
    finally:
        practice.close()
    record.sql(
        "UPDATE episodes SET version = ?, head = ?, state = ?, sessions_attended = ?, open_alerts = ?,"
        " open_alerts_json = ?, highest_severity = ?, last_session_on = ?, next_review_at = ?,"
        " review_due = ?, latest_scores = ? WHERE episode_id = ?",
        (
            keep, events[-1].hash, state_json, row.sessions_attended, row.open_alerts, row.open_alerts_json,
            row.highest_severity, row.last_session_on and row.last_session_on.isoformat(), row.next_review_at,
            int(row.review_due), row.latest_scores_json, ep,
        ),
    )  # fmt: skip
    report = record.verify()
    for check in ("events", "snapshots", "projections"):
        assert report.finding(check) is None, report.describe()
    # The entry of the first commit that was cut names a version the stream no longer has.
    first_cut = min(
        (a for a in _audit(record) if a.record_id == ep and a.writes and int(a.writes.split(":")[0]) > keep),
        key=lambda a: int(a.writes.split(":")[0]),
    )
    assert _where(report, "references") == f"audit shard {first_cut.shard} entry {first_cut.position}"


# --------------------------------------------------------------------------- snapshots and projections


def test_a_rewritten_clinician_of_record_in_the_snapshot_is_found(record: Record) -> None:
    ep = record.episodes["ep1"]
    record.sql(
        "UPDATE episodes SET state = json_set(state, '$.clinician_id', 'clin-x') WHERE episode_id = ?", (ep,)
    )
    report = record.verify()
    assert report.finding("events") is None
    assert _where(report, "snapshots") == f"episode {ep} snapshot"


def test_a_rewritten_projection_column_is_found(record: Record) -> None:
    ep = record.episodes["ep2"]
    record.sql("UPDATE episodes SET sessions_attended = 42 WHERE episode_id = ?", (ep,))
    report = record.verify()
    assert report.finding("snapshots") is None
    assert _where(report, "projections") == f"episode {ep} caseload row"


def test_a_rewritten_clinician_column_is_found(record: Record) -> None:
    ep = record.episodes["ep3"]
    record.sql("UPDATE episodes SET clinician_id = 'clin-x' WHERE episode_id = ?", (ep,))
    assert _where(record.verify(), "projections") == f"episode {ep} caseload row"


# ---------------------------------------------------------------------------------------------- audit


def _busiest_shard(record: Record) -> tuple[int, int]:
    [(shard, count)] = record.sql(
        "SELECT shard, count(*) AS n FROM audit GROUP BY shard ORDER BY n DESC, shard LIMIT 1"
    )
    assert count >= 5
    return int(shard), int(count)


def test_a_changed_audit_entry_is_found_there(record: Record) -> None:
    shard, _ = _busiest_shard(record)
    record.sql("UPDATE audit SET actor_id = 'someone-else' WHERE shard = ? AND position = 3", (shard,))
    report = record.verify()
    assert _where(report, "audit") == f"audit shard {shard} entry 3"
    assert report.finding("events") is None


def test_a_deleted_audit_entry_is_found_there(record: Record) -> None:
    shard, _ = _busiest_shard(record)
    record.sql("DELETE FROM audit WHERE shard = ? AND position = 2", (shard,))
    assert _where(record.verify(), "audit") == f"audit shard {shard} entry 2"


def test_a_well_forged_inserted_audit_entry_breaks_the_chain_right_after_it(record: Record) -> None:
    shard, count = _busiest_shard(record)
    entries = [a for a in _audit(record) if a.shard == shard]
    for position in range(count, 2, -1):  # make room at position 3
        record.sql(
            "UPDATE audit SET position = ? WHERE shard = ? AND position = ?", (position + 1, shard, position)
        )
    forged = attrs.evolve(entries[2], entry_id="forged", actor_id="clin-9", writes="")
    forged = attrs.evolve(
        forged, position=3, prev_hash=entries[1].hash, hash=chain.entry_hash(forged, 3, entries[1].hash)
    )
    record.sql(
        "INSERT INTO audit (chain, shard, position, entry_id, at, actor_id, actor_role, clinic_id, purpose,"
        " action, record_type, record_id, outcome, client_ref, detail, writes, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            forged.clinic_id, shard, 3, forged.entry_id, forged.at.isoformat(), forged.actor_id,
            forged.actor_role, forged.clinic_id, forged.purpose, forged.action, forged.record_type,
            forged.record_id, forged.outcome, forged.client_ref, forged.detail, forged.writes,
            forged.prev_hash, forged.hash,
        ),
    )  # fmt: skip
    report = record.verify()
    assert _where(report, "audit") == f"audit shard {shard} entry 4"
    assert report.finding("audit").problem == "does not follow the entry before it"  # type: ignore[union-attr]


def test_two_reordered_audit_entries_are_found_at_the_first(record: Record) -> None:
    shard, _ = _busiest_shard(record)
    record.sql("UPDATE audit SET position = -1 WHERE shard = ? AND position = 2", (shard,))
    record.sql("UPDATE audit SET position = 2 WHERE shard = ? AND position = 3", (shard,))
    record.sql("UPDATE audit SET position = 3 WHERE shard = ? AND position = -1", (shard,))
    assert _where(record.verify(), "audit") == f"audit shard {shard} entry 2"


def test_a_cut_audit_tail_is_found_by_the_seals(record: Record) -> None:
    shard, _ = _busiest_shard(record)
    [(sealed,)] = record.sql(
        "SELECT max(json_extract(h.value, '$[1]')) FROM audit_checkpoints, json_each(heads) AS h"
        " WHERE json_extract(h.value, '$[0]') = ?",
        (shard,),
    )
    assert sealed >= 3
    record.sql("DELETE FROM audit WHERE shard = ? AND position > ?", (shard, sealed - 2))
    report = record.verify()
    assert report.finding("audit") is None  # what is left is a whole chain
    finding = report.finding("seals")
    assert finding is not None
    assert finding.where == f"audit shard {shard} entry {sealed - 1}"
    assert finding.problem.startswith(f"entries after shard {shard} position {sealed - 2} are missing")
    # Without the key the checkpoints' claims are still checked.
    assert record.verify(key=None).finding("seals") is not None


def test_a_forged_checkpoint_is_refused(record: Record) -> None:
    store = SQLiteStore(record.path, read_only=True)
    heads, checkpoints = store.audit_heads(), store.audit_checkpoints()
    store.close()
    forged = chain.make_checkpoint(b"x" * 32, heads, checkpoints[-1], checkpoints[-1].at)
    record.sql(
        "INSERT INTO audit_checkpoints (chain, seq, heads, root, mac, at) VALUES (?,?,?,?,?,?)",
        (
            checkpoints[-1].chain,
            forged.seq,
            json.dumps([[h.shard, h.position, h.hash] for h in forged.heads]),
            forged.root,
            forged.mac,
            forged.at.isoformat(),
        ),
    )
    report = record.verify()
    assert _where(report, "seals") == f"checkpoint {forged.seq}"
    assert report.finding("seals").problem == "seal is not valid"  # type: ignore[union-attr]
    assert record.verify(key=None).ok  # without the key a MAC cannot be told from another


def test_a_checkpoint_with_a_wrong_root_is_refused(record: Record) -> None:
    record.sql("UPDATE audit_checkpoints SET root = ? WHERE seq = 2", (hashlib.sha256(b"x").hexdigest(),))
    assert _where(record.verify(), "seals") == "checkpoint 2"


def test_cutting_the_tail_with_its_checkpoints_needs_the_expected_head(record: Record) -> None:
    store = SQLiteStore(record.path, read_only=True)
    checkpoints = store.audit_checkpoints()
    store.close()
    anchor, earlier = checkpoints[-1], checkpoints[-2]
    assert record.verify(expected_head=anchor).ok
    # Cut every shard back to the earlier checkpoint and drop the later checkpoints.
    for head in anchor.heads:
        before = next((h.position for h in earlier.heads if h.shard == head.shard), 0)
        record.sql("DELETE FROM audit WHERE shard = ? AND position > ?", (head.shard, before))
    record.sql("DELETE FROM audit_checkpoints WHERE seq > ?", (earlier.seq,))
    without = record.verify()
    assert without.finding("audit") is None
    assert without.finding("seals") is None
    report = record.verify(expected_head=anchor)
    finding = report.finding("seals")
    assert finding is not None, report.describe()
    assert "are missing" in finding.problem


def test_entries_after_the_last_seal_still_verify(record: Record) -> None:
    """Writes after the last checkpoint are covered by the chains; verify does not call them missing."""
    practice = practice_on(record.path, audit_key=KEY, checkpoint_every=1000)
    ep = record.episodes["ep1"]
    practice.episode(clinician(1), ep)
    practice.record_review(clinician(1), ep, Review(held_on=DAY, decision=ReviewDecision.CONTINUE))
    practice.store.close()  # no seal on the way out
    assert record.verify().ok


def test_a_whole_episode_removed_is_found_by_the_audit_log(record: Record) -> None:
    ep = record.episodes["ep2"]
    record.sql("DELETE FROM events WHERE episode_id = ?", (ep,))
    record.sql("DELETE FROM episodes WHERE episode_id = ?", (ep,))
    report = record.verify()
    assert report.episodes == 2
    first = min(
        (a for a in _audit(record) if a.record_id == ep and a.writes), key=lambda a: (a.shard, a.position)
    )
    assert _where(report, "references") == f"audit shard {first.shard} entry {first.position}"
    assert report.finding("references").problem == f"names episode {ep}, which the record does not hold"  # type: ignore[union-attr]
