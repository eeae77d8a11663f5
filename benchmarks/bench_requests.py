"""Measures the client fills in: submitting a response through a token, beside ``record_session``.

* ``submit_response`` p50 (a PHQ-9 by plain answers through a link's token: token check, validation,
  scoring, the alert rules, one commit that records the response and uses the token up) and
  ``record_session`` p50 (an attended session with the same PHQ-9 given in it), interleaved on one SQLite
  practice so that both see the same machine at the same moment; their ratio is the figure to compare.
* The token check's own cost, p50: shape, SHA-256 and the store's look-up by hash (what every refusal of
  a token costs, and what every use of one costs before its work), beside the SHA-256 alone.
* ``open_request`` p50: the token check, the questionnaire and the audit entry of the client's read.

Layout: one clinic, one writer (this process), one SQLite file in a temporary directory; requests are made
beforehand (not measured). ``ALLIANCEKIT_BENCH_REQUESTS_ROUNDS`` sets the rounds (400; 40 for a quick look).
Run: ``python benchmarks/run.py requests``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from alliancekit import Practice, RequestConfig, Subscriptions
from alliancekit.domain import (
    Actor,
    Administration,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Modality,
    Role,
    Session,
)
from alliancekit.requests.tokens import token_hash
from alliancekit.store.sqlite import SQLiteStore

ROUNDS = int(os.environ.get("ALLIANCEKIT_BENCH_REQUESTS_ROUNDS", "400"))
WARMUP = max(ROUNDS // 10, 5)
ACTOR = Actor("bench-clinician", Role.CLINICIAN, "bench-clinic")
START = date(2026, 1, 5)
PHQ9 = {"q1": 1, "q2": 2, "q3": 1, "q4": 0, "q5": 1, "q6": 1, "q7": 0, "q8": 0, "q9": 0}


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _episode(practice: Practice, i: int) -> str:
    ep = practice.start_episode(ACTOR, client_ref=f"bench-{i}", clinician_id=ACTOR.id, opened_on=START)
    consent = Consent(treatment=True, measures=True)
    practice.record_consultation(ACTOR, ep, Consultation(held_on=START, modality="video", consent=consent))
    practice.decide_fit(ACTOR, ep, FitDecision(outcome="proceed", decided_on=START))
    practice.agree_goals(ACTOR, ep, [GoalDraft("a goal", ("a task",))], agreed_on=START)
    return ep


def _session(day: date) -> Session:
    return Session(
        held_on=day,
        modality=Modality.IN_PERSON,
        attendance=Attendance.ATTENDED,
        administrations=(Administration("phq-9", "1.0", "start", PHQ9),),
    )


def _p50(times: list[float]) -> float:
    return statistics.median(times[WARMUP:]) * 1e6


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        clock = _Clock()
        practice = Practice(
            SQLiteStore(Path(tmp_dir) / "requests.sqlite"),
            clock=clock,
            # A link and a reminder to a client channel: the messages a real request writes.
            requests=RequestConfig(link_template="https://clinic.example/m/{token}"),
            subscriptions=Subscriptions.of(
                {"client-sms": ("administration-request", "administration-reminder")}
            ),
        )
        total = WARMUP + ROUNDS
        eps = [_episode(practice, i) for i in range(total // 20 + 1)]
        tokens = []
        for i in range(total):
            made = practice.request_administration(ACTOR, eps[i % len(eps)], measure="phq-9", point="between")
            assert made.token is not None
            tokens.append(made.token)
        opened = [
            practice.request_administration(ACTOR, eps[0], measure="phq-9").token or "" for _ in range(total)
        ]
        submit: list[float] = []
        record: list[float] = []
        for i in range(total):
            clock.now += timedelta(minutes=1)
            day = clock.now.date()
            ep = eps[i % len(eps)]
            steps: list[tuple[list[float], Any]] = [
                (submit, lambda t=tokens[i]: practice.submit_response(t, answers=PHQ9)),
                (record, lambda e=ep, d=day: practice.record_session(ACTOR, e, _session(d))),
            ]
            for times, step in steps if i % 2 else steps[::-1]:
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        flows = practice._flows  # noqa: SLF001 - the token check on its own
        check, digest, form = [], [], []
        for token in opened:
            t0 = time.perf_counter()
            flows._live(token)  # noqa: SLF001
            check.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            token_hash(token)
            digest.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            practice.open_request(token)
            form.append(time.perf_counter() - t0)
        practice.close()
    submitted, recorded = _p50(submit), _p50(record)
    return {
        "submit_response p50 (µs)": submitted,
        "record_session with the same PHQ-9 p50 (µs)": recorded,
        "submit_response / record_session (ratio)": submitted / recorded,
        "token check p50 (µs)": _p50(check),
        "token SHA-256 alone p50 (µs)": _p50(digest),
        "open_request p50 (µs)": _p50(form),
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:50s} {value:10.2f}")
