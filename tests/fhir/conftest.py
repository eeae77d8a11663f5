"""Shared fixtures: the demo practice on disk, the FHIR R4 schema from the test data, exports of both."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, open_practice
from alliancekit.demo import simulate_practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.fhir.validate import R4Schema

DATA = Path(__file__).parent / "data"
CLINIC = "demo-clinic"


@pytest.fixture(scope="session")
def r4_schema() -> R4Schema:
    """The schema as an integrator would use it: the copy in the test data, compiled once per type."""
    return R4Schema(DATA / "fhir.r4.schema.json")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fhir-demo") / "demo.sqlite"
    simulate_practice(path, clients=24, seed=7)
    return path


@pytest.fixture
def demo(demo_db: Path) -> Iterator[Practice]:
    with open_practice(demo_db) as practice:
        yield practice


@pytest.fixture
def exporter_actor() -> Actor:
    return Actor("exporter", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)


def episode_of(practice: Practice, actor: Actor, index: int) -> str:
    """The demo episode of client ``index`` (the demo's courses come in a fixed order, see COURSES)."""
    for row in practice.caseload(actor, include_closed=True):
        if row.client_ref == f"demo-client-{index:03d}":
            return row.episode_id
    raise LookupError(index)


def by_type(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle.get("entry", []):
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def append_raw(practice: Practice, episode_id: str, event_type: str, payload: dict[str, Any]) -> None:
    """Write an event of a type this branch may not define yet, straight through the store's commit.

    Stands in for events other features add (process notes, alerts): the export must handle them by type.
    """
    import json
    import uuid
    from datetime import UTC, datetime

    import attrs

    from alliancekit.events.codec import Codec
    from alliancekit.integrity.chain import chain_events
    from alliancekit.projections import caseload_row
    from alliancekit.store.protocol import Commit, StoredEvent

    version, snapshot, head = practice.store.load_snapshot(episode_id)  # type: ignore[misc]
    decoded = Codec.decode_state(snapshot)
    assert decoded is not None
    state = attrs.evolve(decoded, version=version + 1)
    now = datetime.now(UTC)
    event = StoredEvent(
        episode_id=episode_id,
        seq=version + 1,
        event_id=uuid.uuid4().hex,
        type=event_type,
        schema_version=1,
        occurred_at=now,
        recorded_at=now,
        actor_id="clin-ada",
        actor_role="clinician",
        clinic_id=state.clinic_id,
        payload_json=json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    )
    [event] = chain_events([event], head)
    practice.store.append(
        Commit(
            episode_id=episode_id,
            expected_version=version,
            events=[event],
            snapshot_json=Codec.encode_state(state),
            caseload=caseload_row(state, review_every=practice.review_every),
            head=event.hash,
        )
    )


def small_practice(path: Path) -> tuple[Practice, Actor, str]:
    """One episode through the facade: a phone consultation, two goals, sessions with PHQ-9 and ORS."""
    import random
    from datetime import date

    from alliancekit.demo.measures import administration
    from alliancekit.domain import (
        AdministrationTiming,
        Attendance,
        Consent,
        Consultation,
        FitDecision,
        FitOutcome,
        GoalDraft,
        Modality,
        Session,
    )

    practice = open_practice(path)
    actor = Actor("clin-ada", Role.CLINICIAN, CLINIC, Purpose.TREATMENT)
    ep = practice.start_episode(
        actor, client_ref="client-7", clinician_id="clin-ada", opened_on=date(2025, 1, 6)
    )
    practice.record_consultation(
        actor,
        ep,
        Consultation(
            held_on=date(2025, 1, 6),
            modality=Modality.PHONE,
            consent=Consent(treatment=True, measures=True),
            presenting_concerns=("synthetic concern",),
        ),
    )
    practice.decide_fit(actor, ep, FitDecision(FitOutcome.PROCEED, date(2025, 1, 6)))
    practice.agree_goals(
        actor,
        ep,
        [GoalDraft("synthetic goal: walk daily", ("walk after lunch",))],
        agreed_on=date(2025, 1, 13),
    )
    registry = practice.plugins.measures()
    rng = random.Random(1)
    for day, attendance in ((20, Attendance.ATTENDED), (27, Attendance.NO_SHOW)):
        admins = (
            (
                administration(registry, "phq-9", AdministrationTiming.START, 0.3, rng),
                administration(registry, "ors", AdministrationTiming.START, 0.3, rng),
            )
            if attendance is Attendance.ATTENDED
            else ()
        )
        practice.record_session(
            actor,
            ep,
            Session(
                held_on=date(2025, 1, day),
                modality=Modality.PHONE,
                attendance=attendance,
                administrations=admins,
                helpful="synthetic: talking it through",
            ),
        )
    return practice, actor, ep


#: The days of :func:`consent_changes`: the client withdraws consent to measures, agrees again, withdraws.
CONSENT_CHANGES = (("2025-01-22", False), ("2025-02-03", True), ("2025-02-10", False))


def consent_changes(path: Path) -> tuple[Practice, Actor, str]:
    """:func:`small_practice`, then each change of :data:`CONSENT_CHANGES` (a Consent each in an export)."""
    from datetime import date

    practice, actor, ep = small_practice(path)
    for day, measures in CONSENT_CHANGES:
        practice.change_measures_consent(actor, ep, measures, on=date.fromisoformat(day))
    return practice, actor, ep


#: The days of :func:`participant_consent_changes`, whose consent changed (``None``: the client) and to what.
PARTICIPANT_CONSENT_CHANGES = (
    ("2025-01-22", "partner-ref-9b4e", False),
    ("2025-01-24", None, False),
    ("2025-02-03", "partner-ref-9b4e", True),
)


def participant_consent_changes(path: Path) -> tuple[Practice, Actor, str]:
    """:func:`small_practice` with a partner who joined consenting to measures, then each change of
    :data:`PARTICIPANT_CONSENT_CHANGES` (the partner's and the client's interleaved)."""
    from datetime import date

    from alliancekit.domain import Consent, Participant

    practice, actor, ep = small_practice(path)
    partner = Participant("partner-ref-9b4e", "partner", Consent(treatment=True, measures=True))
    practice.add_participant(actor, ep, partner, added_on=date(2025, 1, 13))
    for day, participant, measures in PARTICIPANT_CONSENT_CHANGES:
        practice.change_measures_consent(
            actor, ep, measures, on=date.fromisoformat(day), participant=participant
        )
    return practice, actor, ep


def cli_with_k10(*args: str, autoload: bool) -> subprocess.CompletedProcess[str]:
    """``alliancekit ARGS`` in a process of its own with the K10 plugin named, and (``autoload=False``)
    every measure plugin switched off, as if uninstalled."""
    env = dict(os.environ)
    env.pop("ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD", None)
    env["ALLIANCEKIT_PLUGINS"] = "k10"
    if not autoload:
        env["ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "alliancekit", *args], capture_output=True, text=True, env=env, check=False
    )
