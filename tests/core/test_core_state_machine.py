"""Random command sequences against the memory and the SQLite store side by side.

Both practices get the same deterministic ``ids=`` and ``clock=``, and every command is made on both, so
they must agree exactly. Invariants after every step: each store's snapshot equals the fold of its stored
events, the two stores hold the same states, timelines, caseloads and audit counts, and a refused command
(or a duplicate) changed nothing in either store but the one audit entry of a repeat or an unknown episode.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alliancekit import open_practice
from alliancekit.domain import (
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    GoalProgressNote,
    GoalRevision,
    GroupSession,
    MaintenancePlan,
    MemberAttendance,
    Participant,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import CONFRONTATION_MARKERS, WITHDRAWAL_MARKERS, Stage
from alliancekit.errors import AlliancekitError, NotFoundError
from alliancekit.practice import Practice, Recorded

from .conftest import (
    CANARY,
    DAY0,
    AllowAll,
    clinician,
    counter_ids,
    day,
    fixed_clock,
    footprint,
    maintenance,
    ors,
    srs,
    stored_snapshot,
)

ACTOR = clinician()
WITHDRAWAL = sorted(WITHDRAWAL_MARKERS)
CONFRONTATION = sorted(CONFRONTATION_MARKERS)
GSRS_ITEMS = ("relationship", "goals_topics", "approach", "overall")
KEYS = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["key-a", "key-b", "key-c"]))


class BothStores(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="ak-sm-"))
        self.practices: list[Practice] = [
            open_practice("memory:", ids=counter_ids(), clock=fixed_clock(), policy=AllowAll()),
            open_practice(self.tmp / "sm.sqlite", ids=counter_ids(), clock=fixed_clock(), policy=AllowAll()),
        ]
        self.episodes: list[str] = []
        self.sessions: list[tuple[str, str, str]] = []  # (episode, session id, attendance)
        self.ruptures: list[tuple[str, str]] = []
        self.goals: list[tuple[str, str]] = []
        self.participants: dict[str, set[str]] = {}  # episode -> participants besides the client
        self.group_members: set[str] = set()
        self.cursor = 0  # days after DAY0: dates mostly move forwards, sometimes back

    def teardown(self) -> None:
        for practice in self.practices:
            practice.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------------------------------- harness

    def when(self, data: st.DataObject) -> Any:
        step = data.draw(st.sampled_from([1, 0, 2, 7, 1, 3, -2]), label="days")
        self.cursor = max(0, self.cursor + step)
        return day(self.cursor)

    def episode(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.episodes), label="episode")

    @staticmethod
    def rarely(data: st.DataObject, label: str) -> bool:
        """True about one time in eight: for the invalid variants of mostly valid input."""
        return data.draw(st.sampled_from([False] * 7 + [True]), label=label)

    def both(self, episode_id: str | None, call: Callable[[Practice], Any]) -> Any:
        """Make the same call on both practices; they must agree, and a refusal must change nothing."""
        before = [footprint(p, episode_id or "") for p in self.practices]
        outcomes_before = [_outcomes(p) for p in self.practices]
        outcomes: list[tuple[str, Any]] = []
        for practice in self.practices:
            try:
                outcomes.append(("ok", call(practice)))
            except AlliancekitError as error:
                outcomes.append(("refused", (type(error), str(error), getattr(error, "rule", None))))
        assert outcomes[0] == outcomes[1], outcomes
        assert CANARY not in repr(outcomes)
        kind, value = outcomes[0]
        unchanged = kind == "refused" or (isinstance(value, Recorded) and value.duplicate)
        if unchanged:
            # a repeat answered, or an unknown episode or record of one asked for (not a measure: a subclass),
            # leaves its one audit entry and nothing else
            audited = "replayed" if kind == "ok" else "not-found" if value[0] is NotFoundError else None
            after = [footprint(p, episode_id or "") for p in self.practices]
            assert after == [(*b[:2], b[2] + (audited is not None), *b[3:]) for b in before]
            for practice, earlier in zip(self.practices, outcomes_before, strict=True):
                assert _outcomes(practice) - earlier == (Counter([audited]) if audited else Counter())
        return value if kind == "ok" else None

    # ---------------------------------------------------------------------------------------------- rules

    @precondition(lambda self: len(self.episodes) < 3)
    @rule(data=st.data(), key=KEYS)
    def start_episode(self, data: st.DataObject, key: str | None) -> None:
        client = "" if self.rarely(data, "no-client") else f"client-{len(self.episodes)}"
        opened = day(self.cursor)
        made = self.both(
            None,
            lambda p: p.start_episode(
                ACTOR, client_ref=client, clinician_id=ACTOR.id, opened_on=opened, idempotency_key=key
            ),
        )
        if made is not None and made not in self.episodes:
            self.episodes.append(made)

    @precondition(lambda self: self.episodes)
    @rule(data=st.data(), key=KEYS)
    def record_consultation(self, data: st.DataObject, key: str | None) -> None:
        ep, on = self.episode(data), self.when(data)
        consent = not self.rarely(data, "no-consent")
        consultation = Consultation(
            held_on=on,
            modality="video",
            consent=Consent(treatment=consent, measures=True),
            presenting_concerns=(CANARY,),
        )
        self.both(ep, lambda p: p.record_consultation(ACTOR, ep, consultation, idempotency_key=key))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def decide_fit(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        outcome = data.draw(st.sampled_from(["proceed"] * 6 + ["refer", "not-proceed"]), label="outcome")
        target = None if self.rarely(data, "no-referral-target") else "a colleague"
        decision = FitDecision(outcome=outcome, decided_on=on, rationale=CANARY, referred_to=target)
        self.both(ep, lambda p: p.decide_fit(ACTOR, ep, decision))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data(), key=KEYS)
    def agree_goals(self, data: st.DataObject, key: str | None) -> None:
        ep, on = self.episode(data), self.when(data)
        drafts = [
            GoalDraft(f"{CANARY} {i}", (CANARY,))
            for i in range(data.draw(st.sampled_from([1, 2, 0]), label="n"))
        ]
        made = self.both(ep, lambda p: p.agree_goals(ACTOR, ep, drafts, agreed_on=on, idempotency_key=key))
        for goal_id in made or ():
            self.goals.append((ep, goal_id))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def revise_goal(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        mine = [g for e, g in self.goals if e == ep]
        goal_id = (
            "no-such-goal"
            if not mine or self.rarely(data, "bogus-goal")
            else data.draw(st.sampled_from(mine), label="goal")
        )
        status = data.draw(st.sampled_from([None, "achieved", "on-hold", "cancelled"]), label="status")
        revision = GoalRevision(goal_id, reason=CANARY, description=CANARY, status=status)
        self.both(ep, lambda p: p.revise_goal(ACTOR, ep, revision, revised_on=on))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data(), key=KEYS)
    def record_session(self, data: st.DataObject, key: str | None) -> None:
        ep, on = self.episode(data), self.when(data)
        attendance = data.draw(st.sampled_from(["attended"] * 4 + ["cancelled", "no-show"]), label="att")
        if self.rarely(data, "unknown-attendance"):
            attendance = "perhaps"
        measures = attendance == "attended" or self.rarely(data, "measures-when-absent")
        fraction = data.draw(st.sampled_from([0.1, 0.5, 0.9]), label="fraction")

        def call(p: Practice) -> Recorded:
            given = (ors(p, fraction), srs(p)) if measures else ()
            session = Session(
                held_on=on, modality="in-person", attendance=attendance, administrations=given, helpful=CANARY
            )
            return p.record_session(ACTOR, ep, session, idempotency_key=key)

        done = self.both(ep, call)
        if done is not None and not done.duplicate and done.record_id is not None:
            self.sessions.append((ep, done.record_id, attendance))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def correct_session(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        mine = [(s, a) for e, s, a in self.sessions if e == ep]
        if not mine or self.rarely(data, "bogus-session"):
            mine = [("no-such-session", "attended")]
        session_id, attendance = data.draw(st.sampled_from(mine), label="session")
        if self.rarely(data, "change-attendance"):
            attendance = "no-show" if attendance == "attended" else "attended"

        def call(p: Practice) -> Recorded:
            given = (ors(p, 0.7),) if attendance == "attended" else ()
            session = Session(
                held_on=on, modality="phone", attendance=attendance, administrations=given, not_helpful=CANARY
            )
            return p.correct_session(ACTOR, ep, session_id, session, reason=CANARY)

        self.both(ep, call)

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def record_review(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        mine = [g for e, g in self.goals if e == ep]
        notes = tuple(GoalProgressNote(g, "improving", CANARY) for g in mine[:1])
        if self.rarely(data, "bogus-goal"):
            notes += (GoalProgressNote("no-such-goal", "no-change"),)
        decision = data.draw(
            st.sampled_from(["continue", "adjust-approach", "plan-ending"]), label="decision"
        )
        review = Review(held_on=on, decision=decision, obstacles=CANARY, goal_progress=notes)
        self.both(ep, lambda p: p.record_review(ACTOR, ep, review))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data(), key=KEYS)
    def note_rupture(self, data: st.DataObject, key: str | None) -> None:
        ep, on = self.episode(data), self.when(data)
        kind = data.draw(st.sampled_from(["withdrawal", "confrontation"]), label="kind")
        pool = WITHDRAWAL if kind == "withdrawal" else CONFRONTATION
        if self.rarely(data, "wrong-markers"):
            pool = CONFRONTATION if kind == "withdrawal" else WITHDRAWAL
        markers = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True), label="m")
        if self.rarely(data, "no-markers"):
            markers = []
        salience = data.draw(st.sampled_from([3, 1, 5, 2, 4, 3, 0, 6]), label="salience")
        mine = [s for e, s, _ in self.sessions if e == ep]
        session_id = data.draw(st.sampled_from([None, *mine]), label="session")
        if self.rarely(data, "bogus-session"):
            session_id = "no-such-session"
        note = RuptureNote(
            noted_on=on,
            kind=kind,
            markers=tuple(markers),
            likely_cause="misunderstanding",
            salience=salience,
            session_id=session_id,
            description=CANARY,
            resolved=data.draw(st.booleans(), label="resolved"),
        )
        done = self.both(ep, lambda p: p.note_rupture(ACTOR, ep, note, idempotency_key=key))
        if done is not None and not done.duplicate and done.record_id is not None:
            self.ruptures.append((ep, done.record_id))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def record_repair(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        mine = [r for e, r in self.ruptures if e == ep]
        rupture_id = (
            "no-such-rupture"
            if not mine or self.rarely(data, "bogus-rupture")
            else data.draw(st.sampled_from(mine), label="rupture")
        )
        strategies = data.draw(
            st.lists(
                st.sampled_from(["give-rationale", "link-to-patterns"]), min_size=1, max_size=2, unique=True
            ),
            label="strategies",
        )
        if self.rarely(data, "no-strategy"):
            strategies = []
        attempt = RepairAttempt(on, tuple(strategies), data.draw(st.booleans(), label="resolved"), CANARY)
        self.both(ep, lambda p: p.record_repair(ACTOR, ep, rupture_id, attempt))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def put_on_hold(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        self.both(ep, lambda p: p.put_on_hold(ACTOR, ep, on=on, reason=CANARY))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        self.both(ep, lambda p: p.resume(ACTOR, ep, on=on))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        to = data.draw(st.sampled_from(["clin-1", "clin-2", "clin-3"]), label="to")
        self.both(ep, lambda p: p.transfer(ACTOR, ep, to_clinician_id=to, on=on, reason=CANARY))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def plan_ending(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        target = data.draw(st.sampled_from([None, on + (on - DAY0)]), label="target")
        self.both(ep, lambda p: p.plan_ending(ACTOR, ep, on=on, target_date=target))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def close_episode(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        planned = data.draw(st.sampled_from([True, True, False]), label="planned")
        plan = data.draw(st.sampled_from(["plan", "reason", "plan", "none"]), label="plan")
        ending = Ending(
            ended_on=on,
            planned=planned,
            reason="goals-met" if planned else "dropout",
            reflection=CANARY,
            maintenance_plan=MaintenancePlan(warning_signs=(CANARY,)) if plan == "plan" else None,
            no_plan_reason=CANARY if plan == "reason" else None,
        )
        self.both(ep, lambda p: p.close_episode(ACTOR, ep, ending))

    def _advance(self, data: st.DataObject) -> None:
        """The next step a clinician would usually take for the episode in its stage (valid input)."""
        ep = self.episode(data)
        state = stored_snapshot(self.practices[0], ep)  # not episode(): reads are audited, on one store
        on = day(self.cursor)
        if state.stage is Stage.CONSULTATION and state.consultation_on is None:
            consultation = Consultation(
                held_on=max(on, state.opened_on),
                modality="in-person",
                consent=Consent(treatment=True, measures=True),
            )
            self.both(ep, lambda p: p.record_consultation(ACTOR, ep, consultation))
        elif state.stage is Stage.CONSULTATION:
            decision = FitDecision(outcome="proceed", decided_on=max(on, state.last_activity_on or on))
            self.both(ep, lambda p: p.decide_fit(ACTOR, ep, decision))
        elif state.stage is Stage.GOAL_SETTING:
            made = self.both(ep, lambda p: p.agree_goals(ACTOR, ep, [GoalDraft(CANARY)], agreed_on=on))
            self.goals.extend((ep, g) for g in made or ())
        elif state.stage is Stage.ACTIVE:
            self.cursor += 7
            choice = data.draw(
                st.sampled_from(["session"] * 3 + ["rupture", "repair", "review", "end", "hold"]),
                label="next",
            )
            if choice == "rupture" or (choice == "repair" and not state.open_ruptures):
                note = RuptureNote(
                    noted_on=day(self.cursor),
                    kind="withdrawal",
                    markers=("denial",),
                    likely_cause="other",
                    description=CANARY,
                )
                done = self.both(ep, lambda p: p.note_rupture(ACTOR, ep, note))
                self.ruptures.append((ep, str(done.record_id)))
                return
            if choice == "repair":
                rupture_id = sorted(state.open_ruptures)[0]
                attempt = RepairAttempt(day(self.cursor), ("invite-client-view",), True, CANARY)
                self.both(ep, lambda p: p.record_repair(ACTOR, ep, rupture_id, attempt))
                return
            if choice == "review":
                review = Review(held_on=day(self.cursor), decision="continue", what_helped=CANARY)
                self.both(ep, lambda p: p.record_review(ACTOR, ep, review))
                return
            if choice == "end":
                self.both(ep, lambda p: p.plan_ending(ACTOR, ep, on=day(self.cursor)))
                return
            if choice == "hold":
                self.both(ep, lambda p: p.put_on_hold(ACTOR, ep, on=day(self.cursor), reason=CANARY))
                return

            # each participant who consented to measures rates the session too
            others = sorted(ref for ref, joined in state.participants.items() if joined.measures_consent)

            def call(p: Practice) -> Recorded:
                theirs = tuple(attrs.evolve(srs(p, 0.6 + 0.1 * i), about=ref) for i, ref in enumerate(others))
                session = Session(
                    held_on=day(self.cursor),
                    modality="video",
                    attendance="attended",
                    administrations=(ors(p), srs(p), *theirs),
                )
                return p.record_session(ACTOR, ep, session)

            done = self.both(ep, call)
            if done is not None:
                self.sessions.append((ep, str(done.record_id), "attended"))
        elif state.stage is Stage.ON_HOLD:
            self.both(ep, lambda p: p.resume(ACTOR, ep, on=max(on, state.last_activity_on or on)))
        elif state.stage is Stage.ENDING:
            ending = Ending(
                ended_on=max(on, state.last_activity_on or on),
                planned=True,
                reason="goals-met",
                maintenance_plan=MaintenancePlan(supports=(CANARY,)),
            )
            self.both(ep, lambda p: p.close_episode(ACTOR, ep, ending))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        self._advance(data)

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def advance_more(self, data: st.DataObject) -> None:
        self._advance(data)

    # -- several participants, raters, groups --------------------------------------------------------------

    @precondition(lambda self: self.episodes)
    @rule(data=st.data(), key=KEYS)
    def add_participant(self, data: st.DataObject, key: str | None) -> None:
        ep, on = self.episode(data), self.when(data)
        # an existing participant, the identified client or a second identified client: refused
        ref = data.draw(
            st.sampled_from(["partner-a", "child-b", f"client-{self.episodes.index(ep)}"]), label="ref"
        )
        role = (
            "client"
            if self.rarely(data, "second-identified-client")
            else data.draw(st.sampled_from(["partner", "child", "parent"]), label="role")
        )
        consent = Consent(treatment=True, measures=not self.rarely(data, "no-measures-consent"))
        done = self.both(
            ep,
            lambda p: p.add_participant(
                ACTOR, ep, Participant(ref, role, consent), added_on=on, idempotency_key=key
            ),
        )
        if done is not None:
            self.participants.setdefault(ep, set()).add(ref)

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def record_family_session(self, data: st.DataObject) -> None:
        """A session with several participants: each one's own measures, a parent's collateral ORS, and
        (rarely) someone outside the episode or a rater the measure does not allow: refused, nothing
        written."""
        with_others = [e for e in self.episodes if self.participants.get(e)]
        ep = data.draw(st.sampled_from(with_others), label="episode") if with_others else self.episode(data)
        on = self.when(data)
        others = sorted(self.participants.get(ep, ()))
        about = (
            "stranger-1"
            if not others or self.rarely(data, "participant-not-in-episode")
            else data.draw(st.sampled_from(others), label="about")
        )
        srs_rater = "parent" if self.rarely(data, "rater-not-allowed") else "client"
        present = (about, "stranger-2") if self.rarely(data, "stranger-present") else (about,)

        def call(p: Practice) -> Recorded:
            given = (
                ors(p),
                attrs.evolve(ors(p, 0.3), about=about),
                attrs.evolve(ors(p, 0.6), about=about, rater="parent"),
                attrs.evolve(srs(p, 0.7), about=about, rater=srs_rater),
                srs(p),
            )
            session = Session(
                held_on=on,
                modality="in-person",
                attendance="attended",
                administrations=given,
                attended_by=present,
            )
            return p.record_session(ACTOR, ep, session)

        done = self.both(ep, call)
        if done is not None:
            self.sessions.append((ep, str(done.record_id), "attended"))

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def join_group(self, data: st.DataObject) -> None:
        ep, on = self.episode(data), self.when(data)
        facilitators = (ACTOR.id, "clinician-2") if self.rarely(data, "co-facilitated") else (ACTOR.id,)
        if self.rarely(data, "three-facilitators"):
            facilitators = (ACTOR.id, "clinician-2", "clinician-3")
        done = self.both(
            ep,
            lambda p: p.join_group(ACTOR, ep, group_id="group-1", facilitator_ids=facilitators, joined_on=on),
        )
        if done is not None:
            self.group_members.add(ep)

    @precondition(lambda self: self.episodes)
    @rule(data=st.data(), key=KEYS)
    def record_group_session(self, data: st.DataObject, key: str | None) -> None:
        on = self.when(data)
        group = sorted(self.group_members)
        members = (
            data.draw(st.lists(st.sampled_from(group), unique=True, min_size=1), label="m") if group else []
        )
        if not members or self.rarely(data, "attendance-outside-the-group"):
            members = [*members, self.episode(data)]

        def call(p: Practice) -> Any:
            session = GroupSession(
                held_on=on,
                modality="in-person",
                members=tuple(
                    MemberAttendance(
                        ep,
                        "attended",
                        (Administration("gsrs", "1.0", "end", dict.fromkeys(GSRS_ITEMS, 9.0)),),
                    )
                    for ep in members
                ),
            )
            return p.record_group_session(ACTOR, "group-1", session, idempotency_key=key)

        self.both(None, call)

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def unknown_episode(self, data: st.DataObject) -> None:
        on = self.when(data)
        call = data.draw(
            st.sampled_from(
                [
                    lambda p: p.resume(ACTOR, "no-such-episode", on=on),
                    lambda p: p.put_on_hold(ACTOR, "no-such-episode", on=on, reason=CANARY),
                    lambda p: p.record_session(
                        ACTOR, "no-such-episode", Session(held_on=on, modality="video", attendance="no-show")
                    ),
                ]
            ),
            label="call",
        )
        self.both(None, call)

    @precondition(lambda self: self.episodes)
    @rule(data=st.data())
    def bad_date_type(self, data: st.DataObject) -> None:
        ep = self.episode(data)
        self.both(ep, lambda p: p.put_on_hold(ACTOR, ep, on=str(day(self.cursor)), reason=CANARY))  # type: ignore[arg-type]

    # ----------------------------------------------------------------------------------------- invariants

    @invariant()
    def snapshots_are_the_fold_and_stores_agree(self) -> None:
        memory, sqlite = self.practices
        for ep in self.episodes:
            states = [stored_snapshot(p, ep) for p in self.practices]
            for practice, state in zip(self.practices, states, strict=True):
                assert state == practice.rebuild_state(maintenance(), ep)
                assert state == practice.episode(ACTOR, ep)
                assert state.version == len(practice.store.load_events(ep))
            assert states[0] == states[1]
            timelines = [
                [(e.seq, e.type, e.event_id, e.corrects, e.payload_json) for e in p.store.load_events(ep)]
                for p in self.practices
            ]
            assert timelines[0] == timelines[1]
        assert memory.store.caseload(open_only=False) == sqlite.store.caseload(open_only=False)
        assert len(memory.store.audit_records()) == len(sqlite.store.audit_records())
        assert list(memory.store.episode_ids()) == list(sqlite.store.episode_ids())


def _outcomes(practice: Practice) -> Counter[str]:
    return Counter(r.outcome for r in practice.store.audit_records())


BothStores.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_memory_and_sqlite_agree = BothStores.TestCase
