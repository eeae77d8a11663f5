"""A measure the identified client answered themselves (a request's link) is theirs: another participant of
the episode reads neither its answers nor its score, in the shared record, a FHIR export or the client view,
and a command of theirs naming it is answered as one naming an unknown id. The client and the clinician
still see it whole. On the memory store and an SQLite file.

Before it, a partner's shared record carried the client's ``client-response-recorded`` event whole: the
PHQ-9's answers and its total.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, RequestConfig
from alliancekit.domain import Actor, Consent, Participant, Purpose, Role
from alliancekit.errors import NotFoundError
from alliancekit.events.types import ClientResponseRecorded
from alliancekit.fhir.bundle import episode_bundle
from alliancekit.fhir.questionnaire import canonical

from .helpers import CLIENT, CLINIC, PARTNER, active_episode, open_on

D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
CLIENT_ACTOR = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
PARTNER_ACTOR = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
ANSWERS = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}
#: The LOINC code of the PHQ-9's total: the Observation of its score.
PHQ9_TOTAL = "44261-6"
UNKNOWN = "no-such-event-0f3a"
REQUESTS = RequestConfig(link_template="https://clinic.example/m/{token}")


@pytest.fixture(params=["memory", "sqlite"])
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    p = open_on(request.param, tmp_path, requests=REQUESTS)
    yield p
    p.close()


def _answered(p: Practice) -> tuple[str, str]:
    """An episode with a partner, where the identified client answered a PHQ-9 through a request's link:
    the episode's id and the response's event id."""
    setup = active_episode(p)
    partner = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
    p.add_participant(OWN, setup.episode_id, partner, added_on=D)
    made = p.request_administration(OWN, setup.episode_id, measure="phq-9", point="between")
    assert made.token is not None
    assert p.submit_response(made.token, answers=ANSWERS).total == 8.0
    (entry,) = _responses(p.timeline(OWN, setup.episode_id))
    return setup.episode_id, entry.event_id


def _responses(entries: Any) -> list[Any]:
    return [e for e in entries if isinstance(e.event, ClientResponseRecorded)]


def _phq_resources(bundle: dict[str, Any]) -> list[str]:
    """The bundle's resources of the PHQ-9's answers and score: its QuestionnaireResponse, its Observation."""
    found = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        code = resource.get("code") if resource["resourceType"] == "Observation" else None
        codings = [] if code is None else code["coding"]
        if canonical("phq-9", "1.0") == resource.get("questionnaire") or any(
            coding.get("code") == PHQ9_TOTAL for coding in codings
        ):
            found.append(resource["resourceType"])
    return found


def test_the_partner_reads_neither_the_answers_nor_the_score(practice: Practice) -> None:
    ep, _ = _answered(practice)
    shared = practice.shared_record(PARTNER_ACTOR, ep)
    assert _responses(shared.entries) == []
    assert shared.state is not None
    assert "phq-9" not in shared.state.latest_scores
    assert _phq_resources(episode_bundle(practice, PARTNER_ACTOR, ep)) == []
    view = practice.client_view(PARTNER_ACTOR, ep)
    assert [s.measure_id for s in view.scores if s.measure_id == "phq-9"] == []
    # the partner's own share of the record is otherwise there: the session they share
    assert [e.type for e in shared.entries if e.type == "session-recorded"] == ["session-recorded"]


@pytest.mark.parametrize("reader", [CLIENT_ACTOR, OWN], ids=["client", "clinician"])
def test_the_client_and_the_clinician_still_read_them(practice: Practice, reader: Actor) -> None:
    ep, _ = _answered(practice)
    (entry,) = _responses(practice.shared_record(reader, ep).entries)
    assert dict(entry.event.administration.answers) == ANSWERS
    assert [(s.measure_id, s.total) for s in entry.event.scores] == [("phq-9", 8.0)]
    assert _phq_resources(episode_bundle(practice, reader, ep)) == ["QuestionnaireResponse", "Observation"]


def test_a_statement_on_the_response_is_answered_as_on_an_unknown_event(practice: Practice) -> None:
    ep, response_id = _answered(practice)
    before = practice.store.load_events(ep)

    def refused(target: str) -> tuple[Any, ...]:
        with pytest.raises(NotFoundError) as caught:
            practice.attach_disagreement(PARTNER_ACTOR, ep, target, statement="not so", received_on=D)
        return type(caught.value), str(caught.value), caught.value.kind

    assert refused(response_id) == refused(UNKNOWN)
    assert practice.store.load_events(ep) == before
    # the client's own response is theirs to disagree with
    practice.attach_disagreement(CLIENT_ACTOR, ep, response_id, statement="not so", received_on=D)
