"""Measures the client fills in, through the facade on a real SQLite file: requests and their messages,
submitting (plain answers and QuestionnaireResponses), every bad input the issue names (each refused with an
error of the hierarchy that writes nothing and echoes nothing), kiosk codes and their guessing limit, and the
safety net. Times come from a clock the tests move; nothing here sleeps or times anything."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit import (
    Actor,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Practice,
    RequestConfig,
    Session,
    Subscriptions,
)
from alliancekit.errors import (
    IdempotencyKeyReused,
    InvalidToken,
    LifecycleError,
    ResponseError,
    TooManyAttempts,
    ValidationError,
)
from alliancekit.fhir.questionnaire import canonical
from alliancekit.i18n import translate
from alliancekit.measures.definition import parse_definition
from alliancekit.notify.outbox import Notification
from alliancekit.requests import answers as answer_codes
from alliancekit.requests.config import DEFAULT_CRISIS_INFORMATION
from alliancekit.store.protocol import OutboxState
from alliancekit.store.sqlite import SQLiteStore

CLINIC = "north"
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
DAY = date(2026, 6, 1)
ME = Actor("clin-1", "clinician", CLINIC)
CANARY = "CANARY-7f3a"
LOW = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}
RISK = LOW | {"q9": 2}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Clinic:
    def __init__(self, practice: Practice, clock: Clock, episode_id: str) -> None:
        self.p, self.clock, self.ep = practice, clock, episode_id

    def written(self) -> tuple[int, int, int]:
        s = self.p.store
        return (len(s.load_events(self.ep)), len(s.audit_records()), len(s.outbox_records()))

    def token(self, **options: Any) -> str:
        made = self.p.request_administration(ME, self.ep, measure="phq-9", **options)
        assert made.token is not None
        return made.token


def _practice(path: Path, clock: Clock, **config: Any) -> Practice:
    return Practice(
        SQLiteStore(path),
        clock=clock,
        clinic_time_zones={CLINIC: "Europe/Berlin"},
        requests=RequestConfig(link_template="https://clinic.example/m/{token}", **config),
        subscriptions=Subscriptions.of(
            {"client-sms": ["administration-request", "administration-reminder"], "team": ["alert-raised"]}
        ),
    )


def _episode(p: Practice, client_ref: str = "client-1") -> str:
    ep = p.start_episode(ME, client_ref=client_ref, clinician_id=ME.id, opened_on=DAY)
    p.record_consultation(ME, ep, Consultation(held_on=DAY, modality="video", consent=Consent(True, True)))
    p.decide_fit(ME, ep, FitDecision("proceed", DAY))
    p.agree_goals(ME, ep, [GoalDraft("sleep better", ())], agreed_on=DAY)
    return ep


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    clock = Clock()
    with _practice(tmp_path / "p.sqlite", clock, crisis_information={CLINIC: "Call 0800 111 0 111"}) as p:
        yield Clinic(p, clock, _episode(p))


# -- requests and their messages -----------------------------------------------------------------------------


def test_a_request_is_sent_with_its_link_and_nothing_clinical(clinic: Clinic) -> None:
    made = clinic.p.request_administration(ME, clinic.ep, measure="phq-9")
    assert made.token is not None
    assert made.link == f"https://clinic.example/m/{made.token}"
    assert (made.expires_at, made.remind_at) == (T0 + timedelta(days=4), T0 + timedelta(days=2))
    assert made.token not in repr(made)
    [sent, reminder] = sorted(clinic.p.outbox_records(), key=lambda m: m.kind != "administration-request")
    assert (sent.kind, sent.channel, sent.created_at, sent.next_attempt_at) == (
        "administration-request",
        "client-sms",
        T0,
        T0,
    )
    # written with the request, due at its own time
    assert (reminder.kind, reminder.created_at, reminder.next_attempt_at) == (
        "administration-reminder",
        T0,
        T0 + timedelta(days=2),
    )
    assert (
        made.token not in sent.body_json
    )  # the worker call shows no link (tests/notify/test_outbox_links.py)
    # the stored row, which only the dispatcher reads, holds it for the channel
    (stored,) = [m for m in clinic.p.store.outbox_records() if m.message_id == sent.message_id]
    body = json.loads(stored.body_json)
    assert body["link"] == made.link
    assert body["request_id"] == made.request_id
    assert "phq" not in stored.body_json
    assert "client-1" not in stored.body_json
    note = Notification.from_record(stored)
    assert note.link == made.link
    assert made.token not in repr(note)
    assert made.token not in note.summary()


def test_the_reminder_is_due_at_its_time_and_delivered_once(clinic: Clinic) -> None:
    made = clinic.p.request_administration(ME, clinic.ep, measure="phq-9", remind_after=timedelta(hours=30))
    due = clinic.p.store.claim_outbox("w", ["client-sms"], T0, T0 + timedelta(minutes=1), 10)
    assert [m.kind for m in due] == ["administration-request"]
    clinic.p.store.outbox_delivered("w", [due[0].message_id], T0)
    at = made.remind_at
    assert at == T0 + timedelta(hours=30)
    early = clinic.p.store.claim_outbox("w", ["client-sms"], at - timedelta(microseconds=1), at, 10)
    assert early == []
    late = clinic.p.store.claim_outbox("w", ["client-sms"], at, at + timedelta(minutes=1), 10)
    assert [m.kind for m in late] == ["administration-reminder"]


def test_no_reminder_when_it_would_fall_at_or_after_the_expiry(clinic: Clinic) -> None:
    made = clinic.p.request_administration(
        ME, clinic.ep, measure="phq-9", expires_in=timedelta(days=1), remind_after=timedelta(days=1)
    )
    assert made.remind_at is None
    assert [m.kind for m in clinic.p.outbox_records()] == ["administration-request"]


def test_a_keyed_repeat_returns_the_request_without_its_token(clinic: Clinic) -> None:
    first = clinic.p.request_administration(ME, clinic.ep, measure="phq-9", key="req-1")
    again = clinic.p.request_administration(ME, clinic.ep, measure="phq-9", key="req-1")
    assert again.duplicate
    assert again.request_id == first.request_id
    assert (again.token, again.link) == (None, None)
    assert len(clinic.p.outbox_records()) == 2  # the request and its reminder, once


@pytest.mark.parametrize(
    "other",
    [
        {"expires_in": timedelta(days=3, microseconds=1)},
        {"remind_after": timedelta(days=1, microseconds=1)},
        {"expires_in": timedelta(days=4), "remind_after": timedelta(days=2)},  # the defaults, given
    ],
)
def test_a_key_used_again_with_another_duration_is_refused(clinic: Clinic, other: dict[str, Any]) -> None:
    """Durations are part of the request: the same key with another expiry or reminder is another request
    (both durations once hashed alike, and the repeat was answered with the first request's expiry)."""
    first = {"expires_in": timedelta(days=3), "remind_after": timedelta(days=1)}
    clinic.p.request_administration(ME, clinic.ep, measure="phq-9", key="req-1", **first)
    before = clinic.written()
    with pytest.raises(IdempotencyKeyReused) as caught:
        clinic.p.request_administration(ME, clinic.ep, measure="phq-9", key="req-1", **(first | other))
    assert (caught.value.field, caught.value.rule) == ("idempotency_key", "reused")
    assert clinic.written() == before
    again = clinic.p.request_administration(ME, clinic.ep, measure="phq-9", key="req-1", **first)
    assert again.duplicate


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"measure": "no-such-measure"}, None),
        ({"measure": "phq-9", "point": "middle"}, "point"),
        ({"measure": "phq-9", "expires_in": timedelta(0)}, "expires_in"),
        ({"measure": "phq-9", "expires_in": timedelta(days=31)}, "expires_in"),
        ({"measure": "phq-9", "language": "not a tag"}, "language"),
        ({"measure": "phq-9", "session_id": "no-such-session"}, None),
    ],
)
def test_a_bad_request_is_refused_and_writes_nothing(
    clinic: Clinic, options: dict[str, Any], field: str
) -> None:
    before = clinic.written()
    with pytest.raises((ValidationError, LookupError)) as refused:
        clinic.p.request_administration(ME, clinic.ep, **options)
    if field is not None:
        assert isinstance(refused.value, ValidationError)
        assert refused.value.field == field
    assert clinic.written()[0] == before[0]
    assert clinic.written()[2] == before[2]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"link_template": "https://clinic.example/m/"}, "RequestConfig.link_template"),
        ({"link_template": "ftp://x/{token}"}, "RequestConfig.link_template"),
        ({"expires_in": timedelta(0)}, "RequestConfig.expires_in"),
        ({"kiosk_attempts": 0}, "RequestConfig.kiosk_attempts"),
        ({"kiosk_code_length": 5}, "RequestConfig.kiosk_code_length"),
        ({"crisis_information": {"north": ""}}, "RequestConfig.crisis_information"),
    ],
)
def test_a_bad_request_setting_is_refused(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RequestConfig(**config)
    assert refused.value.field == field


def test_revoking_an_unknown_or_used_request_is_refused(clinic: Clinic) -> None:
    token = clinic.token()
    request_id = clinic.p.open_request(token).request_id
    clinic.p.submit_response(token, answers=LOW)
    for ident in (request_id, "no-such-request"):
        with pytest.raises(LifecycleError):
            clinic.p.revoke_request(ME, clinic.ep, ident)


# -- submitting ----------------------------------------------------------------------------------------------


def test_a_submission_is_scored_recorded_and_audited_as_the_client(clinic: Clinic) -> None:
    form = clinic.p.open_request(clinic.token(point="between"))
    # the SDC form: the instructions (a display item), the nine questions, the calculated total (read-only)
    asked = [i["linkId"] for i in form.questionnaire["item"] if i["type"] == "choice"]
    assert asked == [f"q{i}" for i in range(1, 10)]
    token = clinic.token(point="between")
    done = clinic.p.submit_response(token, answers=LOW)
    assert (done.total, done.band, done.show_crisis_information, done.crisis_information) == (
        8.0,
        "mild",
        False,
        None,
    )
    [response] = [e for e in clinic.p.timeline(ME, clinic.ep) if e.type == "client-response-recorded"]
    assert response.actor_id == "client-1"
    assert response.actor_role == "client"
    assert clinic.p.episode(ME, clinic.ep).latest_scores["phq-9"].total == 8.0
    audit = [r for r in clinic.p.store.audit_records() if r.action in ("answer-measures", "open-request")]
    assert [(r.actor_id, r.action, r.outcome) for r in audit] == [
        ("client-1", "open-request", "allowed"),
        ("client-1", "answer-measures", "allowed"),
    ]


def _response(items: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items, **more}


def _items(answers: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"linkId": k, "answer": [{"valueInteger": v}]} for k, v in answers.items()]


def test_a_questionnaire_response_is_accepted_as_data_or_text(clinic: Clinic) -> None:
    coded = _items(LOW)
    coded[0] = {"linkId": "q1", "answer": [{"valueCoding": {"code": "1"}}]}
    qr = _response(coded, questionnaire=canonical("phq-9", "1.0"))
    assert clinic.p.submit_response(clinic.token(), questionnaire_response=qr).total == 8.0
    text = json.dumps(_response([{"linkId": "group", "item": _items(LOW)}]))
    assert clinic.p.submit_response(clinic.token(), questionnaire_response=text).total == 8.0


def _picked(form: dict[str, Any], positions: dict[str, int]) -> list[dict[str, Any]]:
    """What an SDC renderer returns for ``form``: each choice item's chosen answerOption coding, as given
    (with its ``ordinalValue`` extension, the item's score for that response)."""
    out = []
    for item in form["item"]:
        if item["type"] == "choice":
            coding = item["answerOption"][positions[item["linkId"]]]["valueCoding"]
            out.append({"linkId": item["linkId"], "answer": [{"valueCoding": coding}]})
    return out


@pytest.mark.parametrize(("reversed_position", "total"), [(0, 8.0), (1, 6.0), (3, 2.0), (4, 0.0)])
def test_core10_reverse_keyed_items_answered_on_the_form_are_reversed_once(
    clinic: Clinic, reversed_position: int, total: float
) -> None:
    # Barkham et al. 2013: items 2 and 3 are scored 4..0; position 0 ("Not at all") on them is 4 points each.
    # The form's codings carry that score as ordinalValue; read as the position, it was reversed twice.
    made = clinic.p.request_administration(ME, clinic.ep, measure="core-10")
    assert made.token is not None
    form = clinic.p.open_request(made.token).questionnaire
    positions = {f"q{i}": 0 for i in range(1, 11)} | {"q2": reversed_position, "q3": reversed_position}
    done = clinic.p.submit_response(made.token, questionnaire_response=_response(_picked(form, positions)))
    assert done.total == total


def test_loinc_answer_codes_alone_are_read_as_their_responses(clinic: Clinic) -> None:
    # an EHR or SDC renderer may send the answer's LOINC code (loinc.org/LL358-3) without the extension
    codes = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")
    answers = LOW | {"q1": 3, "q2": 2, "q9": 0}
    items = [
        {"linkId": k, "answer": [{"valueCoding": {"system": "http://loinc.org", "code": codes[v]}}]}
        for k, v in answers.items()
    ]
    assert clinic.p.submit_response(clinic.token(), questionnaire_response=_response(items)).total == 11.0


PHQ_CODES = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")


def _coded(answers: dict[str, int], **coding: str) -> list[dict[str, Any]]:
    return [
        {
            "linkId": k,
            "answer": [{"valueCoding": {"system": "http://loinc.org", "code": PHQ_CODES[v], **coding}}],
        }
        for k, v in answers.items()
    ]


def test_a_loinc_coded_response_scores_as_the_numeric_one_whatever_its_display(clinic: Clinic) -> None:
    answers = LOW | {"q1": 3, "q2": 2}
    numeric = clinic.p.submit_response(clinic.token(), questionnaire_response=_response(_items(answers)))
    # the display is not checked: the code is the answer, whatever wording the form filler shows
    coded = _response(_coded(answers, display="synthetic wording"))
    assert (
        clinic.p.submit_response(clinic.token(), questionnaire_response=coded).total == numeric.total == 11.0
    )


@pytest.mark.parametrize(
    ("index", "answer", "rule"),
    [
        # a code of another system was read by its number: it may mean anything there
        (2, {"valueCoding": {"system": "http://snomed.info/sct", "code": "2"}}, "system"),
        (2, {"valueCoding": {"system": "http://loinc.org", "code": "LA9999-0"}}, "unknown-code"),
        # a number and a coding for one item: which did the client mean?
        (
            2,
            {"valueInteger": 1, "valueCoding": {"system": "http://loinc.org", "code": "LA6569-3"}},
            "one-value",
        ),
    ],
    ids=["another system", "an unknown code", "a number and a coding"],
)
def test_a_coding_the_phq9_cannot_read_is_refused_by_its_rule(
    clinic: Clinic, index: int, answer: dict[str, Any], rule: str
) -> None:
    token = clinic.token()
    items = _coded(LOW)
    items[index] = {"linkId": f"q{index + 1}", "answer": [answer]}
    before = clinic.written()
    with pytest.raises(ValidationError) as caught:
        clinic.p.submit_response(token, questionnaire_response=_response(items))
    path = f"questionnaire_response.item[{index}].answer[0]"
    assert (caught.value.field, caught.value.rule) == (
        path if rule == "one-value" else f"{path}.valueCoding",
        rule,
    )
    assert "LA" not in str(caught.value)
    assert "snomed" not in str(caught.value)
    assert clinic.written() == before
    assert clinic.p.submit_response(token, questionnaire_response=_response(_coded(LOW))).total == 8.0


def test_gad7_item_2s_own_code_is_another_items_answer_on_item_1(clinic: Clinic) -> None:
    made = clinic.p.request_administration(ME, clinic.ep, measure="gad-7")
    assert made.token is not None
    items = _coded({f"q{n}": 1 for n in range(1, 8)})
    items[0]["answer"][0]["valueCoding"]["code"] = "LA18938-3"
    with pytest.raises(ValidationError) as caught:
        clinic.p.submit_response(made.token, questionnaire_response=_response(items))
    assert (caught.value.field, caught.value.rule) == (
        "questionnaire_response.item[0].answer[0].valueCoding",
        "other-item",
    )


@pytest.mark.parametrize("measure", ["ors", "core-10"])
def test_a_loinc_coding_for_a_measure_without_answer_codes_is_refused(clinic: Clinic, measure: str) -> None:
    # ORS and CORE-10 have no LOINC answers: a LOINC code cannot name a response of theirs
    made = clinic.p.request_administration(ME, clinic.ep, measure=measure)
    assert made.token is not None
    link = clinic.p.plugins.measures().get(measure).item_keys[0]
    items = [
        {"linkId": link, "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA6569-3"}}]}
    ]
    with pytest.raises(ValidationError) as caught:
        clinic.p.submit_response(made.token, questionnaire_response=_response(items))
    assert (caught.value.field, caught.value.rule) == (
        "questionnaire_response.item[0].answer[0].valueCoding",
        "not-coded",
    )


@pytest.mark.parametrize("status", ["in-progress", "stopped", "entered-in-error"])
def test_a_response_not_completed_is_refused_and_nothing_is_written(clinic: Clinic, status: str) -> None:
    # a form a renderer saved half-done (or marked entered in error) was recorded as the client's answers
    token = clinic.token()
    before = clinic.written()
    with pytest.raises(ValidationError) as caught:
        clinic.p.submit_response(token, questionnaire_response=_response(_items(LOW), status=status))
    assert (caught.value.field, caught.value.rule) == ("questionnaire_response.status", "not-completed")
    assert clinic.written() == before
    assert clinic.p.submit_response(token, questionnaire_response=_response(_items(LOW))).total == 8.0


def test_gad7_item_2_coded_from_loincs_own_answer_list_is_read(clinic: Clinic) -> None:
    # LOINC's GAD-7 panel answers item 2 (68509-9) with LA18938-3 "More days than not" where the form has
    # LA6570-1 "More than half the days": a response coded from LOINC's panel was refused
    made = clinic.p.request_administration(ME, clinic.ep, measure="gad-7")
    assert made.token is not None
    codes = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")
    answers = {f"q{n}": 1 for n in range(1, 8)} | {"q2": 2}
    items = [
        {"linkId": k, "answer": [{"valueCoding": {"system": "http://loinc.org", "code": codes[v]}}]}
        for k, v in answers.items()
    ]
    items[1]["answer"][0]["valueCoding"]["code"] = "LA18938-3"
    assert clinic.p.submit_response(made.token, questionnaire_response=_response(items)).total == 8.0


def test_a_loinc_code_outside_the_items_answers_is_refused(clinic: Clinic) -> None:
    token = clinic.token()
    items = _items(LOW)
    # "More days than not": LOINC's answer for GAD-7 item 2's term, not one of the PHQ-9's answers
    other = {"system": "http://loinc.org", "code": "LA18938-3"}
    items[1] = {"linkId": "q2", "answer": [{"valueCoding": other}]}
    before = clinic.written()
    with pytest.raises(ValidationError) as caught:
        clinic.p.submit_response(token, questionnaire_response=_response(items))
    assert (caught.value.field, caught.value.rule) == (
        "questionnaire_response.item[1].answer[0].valueCoding",
        "unknown-code",
    )
    assert "LA18938" not in str(caught.value)
    assert clinic.written() == before


BAD_RESPONSES: list[tuple[str, dict[str, Any], type[Exception], str, str]] = [
    (
        "unknown link id",
        {"questionnaire_response": _response(_items(LOW | {CANARY: 1}))},
        ValidationError,
        "questionnaire_response.item[9].linkId",
        "unknown-link-id",
    ),
    ("extra item", {"answers": LOW | {CANARY: 1}}, ResponseError, "", ""),
    (
        "missing required item",
        {"answers": {k: v for k, v in LOW.items() if k != "q3"}},
        ResponseError,
        "",
        "",
    ),
    ("missing in a response", {"questionnaire_response": _response(_items(LOW)[1:])}, ResponseError, "", ""),
    ("wrong type", {"answers": LOW | {"q1": CANARY}}, ValidationError, "", ""),
    ("out of range", {"answers": LOW | {"q1": 4}}, ResponseError, "", ""),
    (
        "wrong answer type",
        {
            "questionnaire_response": _response(
                [{"linkId": "q1", "answer": [{"valueString": CANARY}]}, *_items(LOW)[1:]]
            )
        },
        ValidationError,
        "questionnaire_response.item[0].answer[0].valueString",
        "answer-type",
    ),
    (
        "two answers",
        {
            "questionnaire_response": _response(
                [{"linkId": "q1", "answer": [{"valueInteger": 1}, {"valueInteger": 2}]}, *_items(LOW)[1:]]
            )
        },
        ValidationError,
        "questionnaire_response.item[0].answer",
        "answer-count",
    ),
    (
        "answered twice",
        {"questionnaire_response": _response([*_items(LOW), *_items({"q1": 1})])},
        ValidationError,
        "questionnaire_response.item[9].linkId",
        "duplicate",
    ),
    (
        "another questionnaire",
        {"questionnaire_response": _response(_items(LOW), questionnaire=canonical("gad-7", "1.0"))},
        ValidationError,
        "questionnaire_response.questionnaire",
        "mismatch",
    ),
    (
        "not a response",
        {"questionnaire_response": {"resourceType": "Patient", "name": CANARY}},
        ValidationError,
        "questionnaire_response.resourceType",
        "value",
    ),
    (
        "oversized text",
        {"answers": json.dumps(LOW | {"pad": CANARY * 10_000})},
        ValidationError,
        "answers",
        "max-size",
    ),
    (
        "oversized data",
        {"questionnaire_response": _response(_items(LOW), text=CANARY * 10_000)},
        ValidationError,
        "questionnaire_response",
        "max-size",
    ),
    ("not JSON", {"answers": "{" + CANARY}, ValidationError, "answers", "syntax"),
    (
        "both",
        {"answers": LOW, "questionnaire_response": _response(_items(LOW))},
        ValidationError,
        "answers",
        "one-of",
    ),
    ("neither", {}, ValidationError, "answers", "one-of"),
]


@pytest.mark.parametrize(
    ("label", "given", "error", "field", "rule"), BAD_RESPONSES, ids=[b[0] for b in BAD_RESPONSES]
)
def test_a_bad_response_is_refused_writes_nothing_and_keeps_the_token(
    clinic: Clinic, label: str, given: dict[str, Any], error: type[Exception], field: str, rule: str
) -> None:
    token = clinic.token()
    before = clinic.written()
    with pytest.raises(error) as refused:
        clinic.p.submit_response(token, **given)
    if field:
        assert isinstance(refused.value, ValidationError)
        assert (refused.value.field, refused.value.rule) == (field, rule)
    assert CANARY not in str(refused.value)
    assert clinic.written() == before
    assert clinic.p.submit_response(token, answers=LOW).total == 8.0  # the token is still good


# -- refused tokens: one error, one message, nothing written but a known request's audit entry -------------


def _refused_message(clinic: Clinic, token: object, *, known: bool = True) -> str:
    """Submitting and opening are refused alike; a known request's refusal is audited (once each), a token
    naming no request writes nothing (tests/requests/test_refusal_audit.py checks the entries)."""
    (events, audited, outbox) = clinic.written()
    with pytest.raises(InvalidToken) as refused:
        clinic.p.submit_response(token, answers=LOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        clinic.p.open_request(token)  # type: ignore[arg-type]
    assert clinic.written() == (events, audited + (2 if known else 0), outbox)
    return str(refused.value)


def test_forged_expired_revoked_and_used_tokens_are_refused_alike(clinic: Clinic) -> None:
    used = clinic.token()
    clinic.p.submit_response(used, answers=LOW)
    revoked = clinic.p.request_administration(ME, clinic.ep, measure="phq-9")
    clinic.p.revoke_request(ME, clinic.ep, revoked.request_id)
    expired = clinic.token(expires_in=timedelta(hours=1))
    forged = "A" * 43
    messages = {_refused_message(clinic, forged, known=False)}
    messages |= {_refused_message(clinic, t) for t in (used, revoked.token)}
    clinic.clock.now = T0 + timedelta(hours=1)
    messages.add(_refused_message(clinic, expired))
    assert messages == {InvalidToken.MESSAGE}


@pytest.mark.parametrize("token", [None, 42, "", "short", "has space" * 5, "x" * 200, CANARY + "\x00" * 20])
def test_a_token_of_the_wrong_shape_is_refused_without_a_lookup(clinic: Clinic, token: object) -> None:
    assert _refused_message(clinic, token, known=False) == InvalidToken.MESSAGE


@pytest.mark.parametrize(("after", "usable"), [(timedelta(microseconds=-1), True), (timedelta(0), False)])
def test_a_token_expires_at_its_exact_instant(clinic: Clinic, after: timedelta, usable: bool) -> None:
    token = clinic.token(expires_in=timedelta(days=4))
    clinic.clock.now = T0 + timedelta(days=4) + after
    if usable:
        assert clinic.p.open_request(token).expires_at == T0 + timedelta(days=4)
        assert clinic.p.submit_response(token, answers=LOW).total == 8.0
    else:
        _refused_message(clinic, token)


def test_a_request_of_a_closed_episode_cannot_be_used(clinic: Clinic) -> None:
    token = clinic.token()
    clinic.p.plan_ending(ME, clinic.ep, on=DAY)
    from alliancekit.domain import Ending

    clinic.p.close_episode(
        ME, clinic.ep, Ending(ended_on=DAY, planned=True, reason="goals-met", no_plan_reason="moved away")
    )
    _refused_message(clinic, token)


def test_a_request_bound_to_a_session_scores_at_that_session(clinic: Clinic) -> None:
    first = clinic.p.record_session(
        ME, clinic.ep, Session(held_on=DAY, modality="video", attendance="attended")
    )
    clinic.p.record_session(ME, clinic.ep, Session(held_on=DAY, modality="video", attendance="attended"))
    token = clinic.token(point="end", session_id=first.record_id)
    clinic.p.submit_response(token, answers=LOW)
    [response] = [e for e in clinic.p.timeline(ME, clinic.ep) if e.type == "client-response-recorded"]
    assert response.event.at_session == 1  # type: ignore[attr-defined]
    assert response.event.session_id == first.record_id  # type: ignore[attr-defined]


# -- the safety net ------------------------------------------------------------------------------------------


def test_an_endorsed_risk_item_notifies_the_clinician_at_once_and_shows_crisis_information(
    clinic: Clinic,
) -> None:
    done = clinic.p.submit_response(clinic.token(), answers=RISK)
    assert done.show_crisis_information
    assert done.crisis_information == "Call 0800 111 0 111"
    urgent = [
        json.loads(m.body_json)
        for m in clinic.p.outbox_records(OutboxState.PENDING)
        if m.kind == "alert-raised" and m.channel == "team"
    ]
    assert {(b["rule_id"], b["severity"]) for b in urgent} >= {("risk-item-endorsed", "urgent")}
    assert set(done.alerts) <= set(clinic.p.alerts(ME, clinic.ep))
    assert any(clinic.p.alerts(ME, clinic.ep)[a].rule_id == "risk-item-endorsed" for a in done.alerts)


def test_a_submissions_repr_does_not_say_whether_a_risk_item_was_endorsed(clinic: Clinic) -> None:
    risky = clinic.p.submit_response(clinic.token(), answers=RISK)
    assert risky.crisis_information is not None
    assert risky.crisis_information not in repr(risky)
    assert "crisis" not in repr(risky)


def test_a_clinic_without_crisis_text_shows_the_default_in_the_clients_language(tmp_path: Path) -> None:
    clock = Clock()
    with _practice(tmp_path / "p.sqlite", clock) as p:
        c = Clinic(p, clock, _episode(p))
        done = p.submit_response(c.token(), answers=RISK, language="es")
        assert done.crisis_information == translate(DEFAULT_CRISIS_INFORMATION, "es")
        assert p.submit_response(c.token(), answers=LOW).crisis_information is None


# -- kiosk codes ---------------------------------------------------------------------------------------------


def test_a_kiosk_code_gives_a_one_use_token_for_the_session(clinic: Clinic) -> None:
    kiosk = clinic.p.kiosk_code(ME, clinic.ep, measure="phq-9")
    assert kiosk.code not in repr(kiosk)
    assert kiosk.valid_on == DAY
    typed = f"{kiosk.code[:4].lower()}-{kiosk.code[4:]}"
    form = clinic.p.redeem_kiosk_code(CLINIC, typed, source="tablet-1")
    assert form.token is not None
    assert form.token not in repr(form)
    assert clinic.p.submit_response(form.token, answers=LOW).total == 8.0
    with pytest.raises(InvalidToken):
        clinic.p.redeem_kiosk_code(CLINIC, kiosk.code, source="tablet-1")
    with pytest.raises(InvalidToken):
        clinic.p.submit_response(form.token, answers=LOW)


@pytest.mark.parametrize(("after", "usable"), [(timedelta(microseconds=-1), True), (timedelta(0), False)])
def test_a_kiosk_code_is_valid_until_the_clinics_midnight(
    clinic: Clinic, after: timedelta, usable: bool
) -> None:
    kiosk = clinic.p.kiosk_code(ME, clinic.ep, measure="phq-9")
    midnight = datetime(2026, 6, 1, 22, 0, tzinfo=UTC)  # 00:00 on 2 June in Berlin (summer time)
    assert kiosk.expires_at == midnight
    clinic.clock.now = midnight + after
    if usable:
        assert clinic.p.redeem_kiosk_code(CLINIC, kiosk.code, source="tablet-1").token is not None
    else:
        with pytest.raises(InvalidToken):
            clinic.p.redeem_kiosk_code(CLINIC, kiosk.code, source="tablet-1")


def test_kiosk_code_guessing_is_limited_per_source_and_audited(tmp_path: Path) -> None:
    clock = Clock()
    with _practice(tmp_path / "p.sqlite", clock, kiosk_attempts=3) as p:
        ep = _episode(p)
        kiosk = p.kiosk_code(ME, ep, measure="phq-9")
        wrong = "2222222" if kiosk.code != "2222222" else "3333333"
        events = len(p.store.load_events(ep))
        for _ in range(3):
            with pytest.raises(InvalidToken):
                p.redeem_kiosk_code(CLINIC, wrong, source="10.0.0.7")
        with pytest.raises(TooManyAttempts):  # even the right code, from that source, in this window
            p.redeem_kiosk_code(CLINIC, kiosk.code, source="10.0.0.7")
        refusals = [r for r in p.store.audit_records() if r.action == "redeem-kiosk-code"]
        assert [r.outcome for r in refusals] == ["refused"] * 4
        assert all("10.0.0.7" not in r.actor_id for r in refusals)
        assert len(p.store.load_events(ep)) == events
        # another tablet is not held up; the next window starts again
        assert p.redeem_kiosk_code(CLINIC, kiosk.code, source="10.0.0.8").token is not None
        clock.now = T0 + timedelta(minutes=15)
        with pytest.raises(InvalidToken):
            p.redeem_kiosk_code(CLINIC, wrong, source="10.0.0.7")


@pytest.mark.parametrize("code", [None, 7, "", "O0I1L", "ABC", "A" * 60, CANARY])
def test_a_malformed_kiosk_code_counts_as_a_wrong_one(clinic: Clinic, code: object) -> None:
    with pytest.raises(InvalidToken) as refused:
        clinic.p.redeem_kiosk_code(CLINIC, code, source="tablet-1")  # type: ignore[arg-type]
    assert CANARY not in str(refused.value)
    assert clinic.p.store.failures(CLINIC, _source("tablet-1"), _window(T0)) == 1  # type: ignore[attr-defined]


def _source(text: str) -> str:
    from alliancekit.requests.tokens import source_key

    return source_key(text)


def _window(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


# -- the form's answer codes, derived once per definition ----------------------------------------------------


def test_two_submissions_for_one_definition_reuse_its_answer_codes(clinic: Clinic) -> None:
    # CORE-10's reverse-keyed items come back as codings whose ordinalValue is the score: the codes that turn
    # them back into positions are derived once for the definition and serve both submissions alike
    measure = clinic.p.plugins.measures().get("core-10", "1.0")
    results, kept = [], []
    for reversed_position, total in ((0, 8.0), (3, 2.0)):
        made = clinic.p.request_administration(ME, clinic.ep, measure="core-10")
        assert made.token is not None
        form = clinic.p.open_request(made.token).questionnaire
        positions = {f"q{i}": 0 for i in range(1, 11)} | {"q2": reversed_position, "q3": reversed_position}
        done = clinic.p.submit_response(
            made.token, questionnaire_response=_response(_picked(form, positions))
        )
        results.append((done.total, total))
        kept.append(answer_codes._kept[("core-10", "1.0")])
    assert [got for got, _ in results] == [want for _, want in results]
    assert kept[0][0] is measure
    assert kept[1][1] is kept[0][1]  # the second submission used the first one's codes
    assert answer_codes.item_codes(measure) is kept[0][1]
    assert kept[0][1] == answer_codes._ItemCodes.of(measure)  # the same codes as derived afresh


def _probe(n: int, top: int = 5) -> Any:
    """A small definition ``probe-N`` 1.0 with items scored 1..``top``."""
    return parse_definition(
        {
            "id": f"probe-{n}",
            "version": "1.0",
            "title": "Synthetic probe scale",
            "kind": "symptom",
            "direction": "higher-is-worse",
            "licence": {"notice": "Synthetic.", "item_text": False, "cite": {"ref": "s"}},
            "references": {"s": "A synthetic reference."},
            "source": {"ref": "s"},
            "items": [
                {"key": f"q{i}", "label": f"Item {i}", "min": 1, "max": top, "step": 1} for i in (1, 2)
            ],
            "scoring": {"method": "sum", "reverse_keyed": [], "missing": {"policy": "refuse"}},
            "range": {"min": 2, "max": 2 * top},
        }
    )


def test_another_definition_under_the_same_id_and_version_gets_its_own_codes() -> None:
    five, seven = _probe(0, top=5), _probe(0, top=7)  # as two plugin hosts in one process may have
    assert max(answer_codes.item_codes(five).codes["q1"].values()) == 5
    assert max(answer_codes.item_codes(seven).codes["q1"].values()) == 7
    assert max(answer_codes.item_codes(five).codes["q1"].values()) == 5


def test_the_kept_answer_codes_are_bounded_least_recently_used_first() -> None:
    answer_codes._kept.clear()
    measures = [_probe(i) for i in range(answer_codes.ITEM_CODES_KEPT + 1)]
    first = answer_codes.item_codes(measures[0])
    for m in measures[1 : answer_codes.ITEM_CODES_KEPT]:
        answer_codes.item_codes(m)
    assert len(answer_codes._kept) == answer_codes.ITEM_CODES_KEPT  # full, nothing dropped yet
    assert answer_codes.item_codes(measures[0]) is first  # used again: now the most recent
    answer_codes.item_codes(measures[-1])
    assert len(answer_codes._kept) == answer_codes.ITEM_CODES_KEPT
    assert ("probe-1", "1.0") not in answer_codes._kept  # the least recently used went
    assert answer_codes.item_codes(measures[0]) is first


def test_answer_codes_asked_from_many_threads_at_once_agree() -> None:
    measure = _probe(999)
    start = threading.Barrier(8)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(answer_codes.item_codes(measure))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8
    assert all(codes == got[0] for codes in got)
    assert answer_codes.item_codes(measure) in got  # one of them is kept and served from now on
