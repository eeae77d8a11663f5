"""The queries of the facade. Each asks the guard first and audits before it returns; for everyone but
the treating clinician (and the client reading their own record), the client's lockbox applies, in summaries
(the episode's state, caseload rows, closed outcomes: what the reader's timeline shows, see
:func:`~alliancekit.security.lockbox.seen_state`) as in timelines. Every read of entries by the reader
themselves (timeline, session history, break-glass read, client view) takes them from one decision,
:meth:`~alliancekit.core.guard.Guard.own_view`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import TypeVar

import attrs

from alliancekit.core.definitions import DecodedOnce, administered, installed_digests
from alliancekit.core.services import Services
from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import (
    check_bool,
    check_optional_date,
    check_optional_recipient,
    check_optional_ref,
    check_ref,
    check_text,
)
from alliancekit.domain.records import MaintenancePlan
from alliancekit.domain.vocab import Purpose, RequestPoint, Role
from alliancekit.errors import NotFoundError, StoreError, ValidationError
from alliancekit.events.types import (
    ClientResponseRecorded,
    DisagreementAttached,
    EpisodeClosed,
    GoalAgreed,
    GoalRevised,
    ProcessNoteRecorded,
    RecordedScore,
    SessionAddendumAdded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback.expectation import FIT_KEY, ExpectationFit
from alliancekit.imports.checkpoint import ImportCheckpoint
from alliancekit.imports.checkpoint import meta_key as checkpoint_key
from alliancekit.integrity.verify import IntegrityReport, verify_record
from alliancekit.lifecycle.state import AlertState, EpisodeState
from alliancekit.measures.definition import Measure
from alliancekit.protocols.definition import DueMeasure
from alliancekit.protocols.schedule import due_measures
from alliancekit.security import encryption
from alliancekit.security.lockbox import (
    UNNAMED,
    Directive,
    Recipient,
    apply_lockbox,
    audited_recipient,
    binding_directives,
    directives_of,
    scores_withheld,
    seen_state,
    shared_state,
    summary_withheld,
)
from alliancekit.security.participants import (
    participant_binding,
    participant_reader,
    summary_for,
    visible_entries,
)
from alliancekit.security.policy import Action
from alliancekit.security.views import (
    CarriesDefinitions,
    Caseload,
    ClientGoal,
    ClientScore,
    ClientView,
    ClosedOutcomes,
    ProcessNote,
    SessionHistory,
    SharedRecord,
    Timeline,
    TimelineEntry,
)
from alliancekit.store.protocol import AuditCheckpoint, AuditRecord, CaseloadRow, ClosedOutcome, StoredEvent
from alliancekit.store.scan import scan_store

C = TypeVar("C", bound=CarriesDefinitions)
#: The episode's timeline entries in order, read when asked for (see :meth:`Views._seen`).
Entries = Callable[[], list[TimelineEntry]]

#: The practice-metadata key of the demo mark.
DEMO_KEY = "demo"


class Views:
    """The read side of one practice."""

    def __init__(self, services: Services) -> None:
        self.s = services

    # -- an episode -----------------------------------------------------------------------------------

    def episode(self, actor: object, episode_id: object) -> EpisodeState:
        a, state = self._read(actor, Action.READ_EPISODE, episode_id)
        return self._summary(a, state)

    def alerts(self, actor: object, episode_id: object) -> dict[str, AlertState]:
        return dict(self.episode(actor, episode_id).alerts)

    def due_measures(
        self, actor: object, episode_id: object, *, for_next_session: object = False
    ) -> tuple[DueMeasure, ...]:
        guard = self.s.guard
        a = guard.require_actor(actor, Action.READ_DUE_MEASURES, "episode", episode_id)
        next_session = check_bool("for_next_session", for_next_session)
        state = guard.read_episode(a, Action.READ_DUE_MEASURES, check_ref("episode_id", episode_id))
        # what is due follows from the stage and the sessions: for a reader under the lockbox, those their
        # timeline shows (an ending planned, a hold or sessions withheld would show in what falls due)
        seen = self._seen(a, state)
        due = due_measures(
            self.s.protocol_for(seen),
            seen,
            self.s.today(state.clinic_id),
            review_every=self.s.feedback.review_every,
            for_next_session=next_session,
        )
        if guard.summary_withheld(a, state):  # what was missed is withheld with the scores, as in a row
            due = tuple(attrs.evolve(d, overdue=False) for d in due)
        return due

    def rebuild_state(self, actor: object, episode_id: object) -> EpisodeState:
        a, state = self._read(actor, Action.REBUILD_STATE, episode_id)
        return self._summary(a, self.s.reader.rebuilt(state.episode_id))

    def timeline(self, actor: object, episode_id: object) -> Timeline:
        a, state = self._read(actor, Action.READ_TIMELINE, episode_id)
        # decided and audited: the report drawing it reads the stored definitions under this entry
        return self._carrying(self._own_timeline(a, state))

    def session_history(self, actor: object, episode_id: object, session_id: object) -> SessionHistory:
        guard, action = self.s.guard, Action.READ_SESSION_HISTORY
        a = guard.require_actor(actor, action, "episode", episode_id)
        checked, session = check_ref("episode_id", episode_id), check_ref("session_id", session_id)
        state, outcome = guard.decide_read(a, action, checked)
        entries = self._own_timeline(a, state)
        original = next(
            (e for e in entries if isinstance(e.event, SessionRecorded) and e.event.session_id == session),
            None,
        )
        if original is None:  # unknown, or left out of the reader's view: audited alike, instead of the read
            guard.not_found(a, action, "session", session)
            raise NotFoundError("session", session)
        guard.audit(a, action, "episode", checked, state, outcome=outcome)
        about = {original.event_id}
        corrections, addenda, disagreements = [], [], []
        for entry in entries:
            if entry.corrects not in about:
                continue
            if isinstance(entry.event, SessionCorrected):
                corrections.append(entry)
                about.add(entry.event_id)
            elif isinstance(entry.event, SessionAddendumAdded):
                addenda.append(entry)
                about.add(entry.event_id)
            elif isinstance(entry.event, DisagreementAttached):
                disagreements.append(entry)
        return SessionHistory(session, original, tuple(corrections), tuple(addenda), tuple(disagreements))

    def process_notes(self, actor: object, episode_id: object) -> list[ProcessNote]:
        a, state = self._read(actor, Action.READ_PROCESS_NOTES, episode_id)
        notes = []
        for entry in self.s.reader.entries(state.episode_id, (ProcessNoteRecorded.TYPE,)):
            event = entry.event
            assert isinstance(event, ProcessNoteRecorded)  # noqa: S101 - by its type name
            if event.author_id == a.id:
                notes.append(ProcessNote(event.note_id, event.written_on, entry.recorded_at, event.text))
        return notes

    def client_view(self, actor: object, episode_id: object) -> ClientView:
        a, state = self._read(actor, Action.READ_CLIENT_VIEW, episode_id)
        goals: dict[str, ClientGoal] = {}
        sessions: dict[int, list[ClientScore]] = {}
        answered: list[tuple[RequestPoint, ClientScore]] = []
        plan: MaintenancePlan | None = None
        # as their timeline shows it (a participant's without what is another's, the identified client's
        # own answers among them; whoever else the policy lets read it, the clinician of record for another
        # purpose say, under the directives binding them): a response withheld takes its scores with it
        for entry in self._own_timeline(a, state):
            event = entry.event
            if isinstance(event, GoalAgreed):
                goals[event.goal_id] = ClientGoal(event.goal_id, "active", event.description)
            elif isinstance(event, GoalRevised) and event.revision.goal_id in goals:
                old, rev = goals[event.revision.goal_id], event.revision
                goals[rev.goal_id] = ClientGoal(
                    rev.goal_id,
                    rev.status.value if rev.status else old.status,
                    rev.description if rev.description is not None else old.description,
                )
            elif isinstance(event, SessionRecorded | SessionCorrected):
                # a correction replaces the session's content: its scores (one taken out goes, one added
                # comes) and its day; every score stays apart, whomever it is about and whoever rated it
                sessions[event.number] = [
                    _client_score(score, event.session.held_on, event.number) for score in event.scores
                ]
            elif isinstance(event, ClientResponseRecorded):
                # its scores only: the answers to the items stay in the record
                for score in event.scores:
                    given = _client_score(score, event.responded_on, event.at_session, client_reported=True)
                    answered.append((event.point, given))
            elif isinstance(event, EpisodeClosed) and event.ending is not None:
                plan = event.ending.maintenance_plan
        scores = _in_order(itertools.chain.from_iterable(sessions.values()), answered)
        return ClientView(state.episode_id, tuple(goals.values()), scores, plan)

    def shared_record(
        self,
        actor: object,
        episode_id: object,
        *,
        recipient: object = None,
        override_reason: object = None,
        action: str = Action.EXPORT,
        purpose: Purpose | None = None,
    ) -> SharedRecord:
        """The record as shared or exported: process notes never, the lockbox honoured for ``recipient``
        (none named: every directive applies, whomever it names, since where the record goes is unknown).

        Every export passes here (``action`` names the kind of export in the audit entry, ``purpose`` the
        purpose the export was made for). Its audit entries (allowed, refused, not found, overridden) name
        the recipient, or ``(unnamed)`` when none was named: an accounting of disclosures says to whom.
        """
        guard = self.s.guard
        a = guard.require_actor(actor, action, "episode", episode_id)
        ep = check_ref("episode_id", episode_id)
        named = check_optional_recipient("recipient", recipient)
        to: Recipient = UNNAMED if named is None else named
        audited = audited_recipient(to)
        reason = (
            None if override_reason is None else check_text("override_reason", override_reason, required=True)
        )
        # The policy decides on the purpose the record is shared for, which an export states.
        a = Actor(a.id, a.role, a.clinic_id, purpose) if purpose is not None else a
        state, _ = guard.state(a, action, ep, recipient=audited)
        decision = guard.allow(
            a, Action.EXPORT, "episode", state.episode_id, state, audit_as=action, recipient=audited
        )
        if reason is not None:
            decision = guard.allow(
                a,
                Action.OVERRIDE_LOCKBOX,
                "episode",
                state.episode_id,
                state,
                reason=reason,
                recipient=audited,
            )
        guard.audit(
            a,
            action if reason is None else Action.OVERRIDE_LOCKBOX,
            "episode",
            state.episode_id,
            state,
            outcome=decision.outcome,
            reason=reason or "",
            recipient=audited,
        )
        reader = participant_reader(a.role, a.id, state) if reason is None else None
        binding: list[Directive] = []
        if reader is not None:
            # a participant's right of access: the shared record, without what is another participant's
            found = self.s.reader.entries(state.episode_id)
            binding = participant_binding(found, reader, to)
            entries = _as_timeline(*visible_entries(found, state, reader, binding))
        else:
            found = self._entries(state.episode_id)
            if reason is None and not guard.own_record(a, state):
                # whoever shares reads what they share, so the directives binding them bind the share (else
                # naming another recipient would open the record to the reader it was withheld from), all
                # but the treating clinician, who reads it whole
                maker = None if guard.treating(a, state) else a.id
                binding = binding_directives(found, reader=maker, recipient=to)
            entries = _as_timeline(*apply_lockbox(found, binding))
        # the summary is shared as the entries are, under the same directives: a participant's, their own
        shared = shared_state(state, entries, entries.withheld)
        if shared is not None and reader is not None:
            shared = summary_for(shared, reader)
        summary = _withheld_summary(shared) if shared is not None and scores_withheld(binding) else shared
        return self._carrying(
            SharedRecord(state.episode_id, state.client_ref, tuple(entries), entries.withheld, state=summary)
        )

    def break_glass(self, actor: object, episode_id: object, *, reason: object) -> Timeline:
        guard = self.s.guard
        a = guard.require_actor(actor, Action.BREAK_GLASS, "episode", episode_id)
        ep = check_ref("episode_id", episode_id)
        why = check_text("reason", reason, required=True)
        state = guard.read_episode(a, Action.BREAK_GLASS, ep, reason=why)
        return self._own_timeline(a, state)

    # -- many episodes --------------------------------------------------------------------------------

    def caseload(
        self, actor: object, *, clinician_id: object = None, include_closed: object = False
    ) -> Caseload:
        guard = self.s.guard
        a = guard.require_actor(actor, Action.READ_CASELOAD, "caseload", clinician_id or "(clinic)")
        clinician = check_optional_ref("clinician_id", clinician_id)
        closed_too = check_bool("include_closed", include_closed)
        if clinician is None and a.role is Role.CLINICIAN:
            clinician = a.id  # a clinician's caseload is their own unless they name another
        record_id = clinician or a.clinic_id
        decision = guard.allow(a, Action.READ_CASELOAD, "caseload", record_id, None, clinician_id=clinician)
        guard.audit(a, Action.READ_CASELOAD, "caseload", record_id, outcome=decision.outcome)
        # The open caseload reads the closed rows that carry directives too: to a reader from whom one
        # withholds the closing the episode is open, and leaving it out would tell them it closed. One
        # clinician's caseload reads the other clinicians' rows that carry directives too: to a reader from
        # whom one withholds a transfer away from this clinician the episode is still theirs.
        rows = self.s.reader.caseload(
            clinic_id=a.clinic_id,
            clinician_id=clinician,
            open_only=not closed_too,
            closed_under_lockbox=not closed_too,
            others_under_lockbox=clinician is not None,
        )
        readable: dict[str, bool] = {}
        seen = []
        for row in rows:
            if clinician is not None and row.clinician_id != clinician:
                # another clinician's episode: listed here only as the reader sees it (a transfer withheld),
                # and only to a reader who may read it where it is (their caseload: not a team's outsider's)
                if not guard.row_lockbox_applies(a, row.clinician_id, row.client_ref, row.lockbox_json):
                    continue
                if row.clinician_id not in readable:
                    readable[row.clinician_id] = guard.permits_caseload(a, row.clinician_id)
                if not readable[row.clinician_id]:
                    continue
            seen.append(self._row(a, row))
        # one clinician's caseload lists what is theirs as the reader sees it: not an episode transferred to
        # them by a transfer the lockbox withholds (the row would say so by being listed), and an episode
        # transferred away from them by one, as the clinic's caseload lists it
        return self._carrying(
            Caseload(
                row
                for row in seen
                if (closed_too or row.closed_on is None)
                and (clinician is None or row.clinician_id == clinician)
            )
        )

    def closed_outcomes(self, actor: object) -> ClosedOutcomes:
        guard = self.s.guard
        a = guard.require_actor(actor, Action.READ_CASELOAD, "practice", "(clinic)")
        decision = guard.allow(a, Action.READ_CASELOAD, "practice", a.clinic_id, None)
        guard.audit(a, Action.READ_CASELOAD, "practice", a.clinic_id, outcome=decision.outcome)
        rows = self.s.reader.closed_outcomes(a.clinic_id)
        # closed outcomes carry no client reference: a client's own directive cannot be waived here
        if not any(guard.row_lockbox_applies(a, r.clinician_id, "", r.lockbox_json) for r in rows):
            return self._carrying(ClosedOutcomes(rows))
        # A directive applies to some rows (rare): they are made again from what the reader may see, which
        # needs their episode, so the clinic's closed rows are read from the caseload projection this once.
        outcomes = ClosedOutcomes()
        for row in self.s.reader.caseload(clinic_id=a.clinic_id, open_only=False):
            if row.closed_on is None:
                continue
            if guard.row_lockbox_applies(a, row.clinician_id, "", row.lockbox_json):
                if guard.row_withheld(a, row.clinician_id, "", row.lockbox_json):
                    continue  # the outcome is its scores: left out, not counted without them
                row = self._seen_row(a, row)
                if row.closed_on is None:
                    continue  # the closing is withheld: not an ended episode to this reader
            outcomes.append(ClosedOutcome.of(row))
        return self._carrying(outcomes)

    def episode_ids(self, actor: object) -> list[str]:
        """The ids of the actor's clinic's episodes (a supervisor's or an exporter's walk)."""
        guard = self.s.guard
        a = guard.require_actor(actor, Action.READ_CASELOAD, "caseload", "(clinic)")
        clinician_id = a.id if a.role is Role.CLINICIAN else None  # a clinician walks their own caseload
        record_id = clinician_id or a.clinic_id
        decision = guard.allow(
            a, Action.READ_CASELOAD, "caseload", record_id, None, clinician_id=clinician_id
        )
        guard.audit(a, Action.READ_CASELOAD, "caseload", record_id, outcome=decision.outcome)
        rows = self.s.reader.caseload(clinic_id=a.clinic_id, clinician_id=clinician_id, open_only=False)
        return [row.episode_id for row in rows]

    def measure_definitions(
        self,
        actor: object,
        *,
        action: str = Action.EXPORT,
        purpose: Purpose | None = None,
        recipient: object = None,
    ) -> list[Measure]:
        """The measure definitions stored with the data, loaded as the registry loads a plugin's.

        Published instruments, not client data: any actor may read them, and the read is audited (as part
        of an export: its kind, purpose and recipient, ``(unnamed)`` when none is named), like every read.
        """
        guard = self.s.guard
        a = guard.require_actor(actor, action, "measure-definitions", "(stored)")
        named = check_optional_recipient("recipient", recipient)
        a = Actor(a.id, a.role, a.clinic_id, purpose) if purpose is not None else a
        guard.audit(
            a,
            action,
            "measure-definitions",
            "(stored)",
            recipient=audited_recipient(UNNAMED if named is None else named),
        )
        return self.s.stored_measures()

    def schema_versions(self) -> tuple[int, int] | None:
        """The store's schema version and this alliancekit's, for a store numbered so (SQLite), else
        ``None`` (no client data: what a backup of an older file needs to know)."""
        versions = getattr(self.s.store, "schema_versions", None)
        if not callable(versions):
            return None
        found, latest = versions()
        return int(found), int(latest)

    def clinics(self, every_record: object = False) -> list[str]:
        """The clinics that have episodes in the store, or with ``every_record`` any record (no client
        data: for choosing an actor's clinic)."""
        if check_bool("every_record", every_record):
            return self.s.reader.clinics_held()
        return self.s.reader.clinics()

    # -- the audit log --------------------------------------------------------------------------------

    def audit_entries(
        self,
        actor: object,
        *,
        client_ref: object = None,
        actor_id: object = None,
        since: object = None,
        until: object = None,
    ) -> list[AuditRecord]:
        guard = self.s.guard
        a = guard.require_actor(actor, Action.READ_AUDIT, "audit", client_ref or "(all)")
        about = check_optional_ref("client_ref", client_ref)
        by = check_optional_ref("actor_id", actor_id)
        first, last = check_optional_date("since", since), check_optional_date("until", until)
        target = about or "(all)"
        decision = guard.allow(a, Action.READ_AUDIT, "audit", target, None)
        guard.audit(a, Action.READ_AUDIT, "audit", target, outcome=decision.outcome)
        # an auditor sees their clinic's entries, and the refusals of calls made without any actor (which
        # name no host reference: Guard.require_actor), read by clinic in the store's query where it can;
        # the days of since/until are the clinic's calendar days
        zone = self.s.zone(a.clinic_id)
        entries = [
            r
            for r in self.s.reader.clinic_audit_records(a.clinic_id)
            if (about is None or r.client_ref == about)
            and (by is None or r.actor_id == by)
            and (first is None or r.at.astimezone(zone).date() >= first)
            and (last is None or r.at.astimezone(zone).date() <= last)
        ]
        # the auditor reads a stated reason as it was typed (as [encrypted] without the practice's key);
        # the entry's hash stays the stored one, over the ciphertext
        cipher = self.s.codec.cipher
        entries = [
            attrs.evolve(r, detail=encryption.open_reason(cipher, r.entry_id, r.detail))
            if r.detail.startswith(encryption.PREFIX)
            else r
            for r in entries
        ]
        return sorted(entries, key=lambda r: (r.at, r.shard, r.position))

    def audit_checkpoint(self, actor: object) -> AuditCheckpoint | None:
        guard = self.s.guard
        a = guard.require_actor(actor, Action.CHECKPOINT_AUDIT, "audit", "(log)")
        guard.allow(a, Action.CHECKPOINT_AUDIT, "audit", "(log)", None)
        return guard.seal(a.clinic_id)

    def import_checkpoint(self, actor: object, source: object) -> ImportCheckpoint | None:
        """Where the last import of ``source`` got to in the actor's clinic (metadata, no client data)."""
        guard = self.s.guard
        name = check_ref("source", source)
        a = guard.require_actor(actor, Action.IMPORT, "import-checkpoint", name)
        guard.allow(a, Action.IMPORT, "import-checkpoint", name, None)
        text = self.s.reader.load_meta(checkpoint_key(a.clinic_id, name))
        return None if text is None else ImportCheckpoint.from_json(text)

    def save_import_checkpoint(self, actor: object, source: object, checkpoint: object) -> None:
        """Save where an import of ``source`` got to (after a unit of it is committed). Audited."""
        guard = self.s.guard
        name = check_ref("source", source)
        if not isinstance(checkpoint, ImportCheckpoint):
            raise ValidationError("checkpoint", "type", "ImportCheckpoint expected")
        a = guard.require_actor(actor, Action.IMPORT, "import-checkpoint", name)
        decision = guard.allow(a, Action.IMPORT, "import-checkpoint", name, None)
        guard.audit(a, Action.IMPORT, "import-checkpoint", name, outcome=decision.outcome)
        self.s.store.save_meta(checkpoint_key(a.clinic_id, name), checkpoint.to_json())

    def refit_expectations(self, actor: object) -> ExpectationFit:
        """Fit the expected-response model from the closed episodes, outside any command."""
        guard, action = self.s.guard, Action.REFIT_EXPECTATIONS
        a = guard.require_actor(actor, action, "expectation-model", "(practice)")
        # decided on the clinics it reaches, as a key rotation is: every clinic with episodes has its closed
        # outcomes read into the model and its feedback read against it (a refusal is audited)
        clinics = frozenset(self.s.reader.clinics())
        decision = guard.allow(a, action, "expectation-model", "(practice)", None, clinics=clinics)
        guard.audit_across(a, action, "expectation-model", "(practice)", clinics, outcome=decision.outcome)
        # A measure whose plugin is gone is fitted by its latest stored definition, as the installed one
        # would be: read (only then) under this decided and audited call's entry, as a report's are.
        # Stored before it is put in use: a practice opened later (any process) reads this fit.
        fit = self.s.expectations.fit_now(self.s.described_measures().latest)
        self.s.store.save_meta(FIT_KEY, fit.to_json())
        self.s.expectations.use(fit)
        return fit

    def mark_demo(self, actor: object) -> None:
        """Mark the practice as a demo (``alliancekit demo`` replaces only a practice so marked)."""
        guard = self.s.guard
        a = guard.require_actor(actor, Action.MARK_DEMO, "practice-meta", DEMO_KEY)
        decision = guard.allow(a, Action.MARK_DEMO, "practice-meta", DEMO_KEY, None)
        guard.audit(a, Action.MARK_DEMO, "practice-meta", DEMO_KEY, outcome=decision.outcome)
        self.s.store.save_meta(DEMO_KEY, '{"demo": true}')

    def is_demo(self) -> bool:
        """Whether the practice carries the demo mark (a metadata read: nothing of a client, unaudited)."""
        return self.s.reader.load_meta(DEMO_KEY) is not None

    def verify(
        self,
        actor: object,
        *,
        expected_head: object = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> IntegrityReport:
        """Check the actor's clinic's record (see :mod:`alliancekit.integrity.verify`).

        Verification returns no record content and must run on a read-only store, so the policy decides
        it like an audit read but it writes no audit entry of its own. The report counts and names only
        the actor's clinic's episodes and entries, and checks its own audit chains (and, whole, named by
        position, the chains an upgraded SQLite file kept shared).
        """
        guard = self.s.guard
        a = guard.require_actor(actor, Action.READ_AUDIT, "audit", "(record)")
        if expected_head is not None and not isinstance(expected_head, AuditCheckpoint):
            raise ValidationError("expected_head", "type", "AuditCheckpoint expected")
        if progress is not None and not callable(progress):
            raise ValidationError("progress", "type", "a callable or None")
        guard.allow(a, Action.READ_AUDIT, "audit", "(record)", None)
        # a store scoped to another clinic holds nothing of the actor's clinic: an empty report, as its
        # caseload is empty for them (its chains' positions are not the actor's to learn)
        scan = scan_store(self.s.store, clinic=a.clinic_id, progress=progress)
        episodes = scan.episodes
        decode = DecodedOnce(self.s.codec.decode)  # each event decoded once, for the fold and the measures
        try:
            return verify_record(
                episodes,
                scan.audit,
                scan.checkpoints,
                unreadable=scan.unreadable,
                unreadable_rows=scan.unreadable_rows,
                key=guard.audit_key,
                expected_head=expected_head,
                fold=lambda events: self.s.fold_json(events, decode),
                project=self.s.project,
                upcast=self.s.codec.upcast_state,
                clinic=a.clinic_id,
                definitions=scan.definitions,
                administered=lambda events: administered(decode, events),
                installed=installed_digests(self.s.plugins.measures()),
                commands=scan.commands,
                requests=scan.requests,
                schema=scan.schema,
            )
        finally:
            # Stopped midway (Ctrl-C), the scan is ended now, while the store is open: left to the garbage
            # collector, it ended its read transaction on a closed connection ("Exception ignored").
            close = getattr(episodes, "close", None)
            if close is not None:
                close()

    def rotate_encryption(
        self, actor: object, *, batch_size: object = 200, progress: Callable[[int], None] | None = None
    ) -> encryption.RotationReport:
        guard = self.s.guard
        a = guard.require_actor(actor, Action.ROTATE_KEYS, "keys", "(all)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 100_000:
            raise ValidationError("batch_size", "range", "a whole number from 1 to 100000")
        if progress is not None and not callable(progress):  # else a TypeError after the first batch
            raise ValidationError("progress", "type", "a function taking the fields rewritten so far")
        # decided on the clinics whose records it rewrites, as a backup is on those the copy holds
        clinics = frozenset(self.s.reader.clinics())
        # a refusal is audited
        decision = guard.allow(a, Action.ROTATE_KEYS, "keys", "(all)", None, clinics=clinics)
        cipher = self.s.codec.cipher
        if cipher is None:  # refused before the rotation is audited as allowed: nothing is written
            raise ValidationError("cipher", "required", "the practice was opened without a cipher")
        # one transaction: each clinic whose records are rewritten has the entry in its own log
        guard.audit_across(a, Action.ROTATE_KEYS, "keys", "(all)", clinics, outcome=decision.outcome)
        events = (e for ep in self.s.reader.episode_ids() for e in self.s.reader.stored_events(ep))

        def replace(batch: list[tuple[StoredEvent, str]]) -> None:
            # each batch with its attestations, in one transaction: a rotation stopped midway leaves no event
            # encrypted from clear without the entry that lets it verify
            entries = guard.rehash_entries(a, batch)
            self.s.store.replace_payloads([(e.episode_id, e.seq, p) for e, p in batch], audit=entries)
            guard.committed(len(entries))

        done = encryption.rotate(events, replace, cipher, batch_size=batch_size, progress=progress)
        # the audit log is append-only (an entry's hash covers its ciphertext): its reasons are not rewritten,
        # so the report names the keys they still need rather than let the host retire them unknowing
        details = (r.detail for r in self.s.reader.iter_audit_records())
        kept = encryption.reasons_kept(details, cipher)
        return encryption.RotationReport(done.rewritten, kept, from_clear=done.from_clear)

    def back_up(self, actor: object, target: object, check: Callable[[str], None] | None) -> None:
        """The store copied to ``target`` by its own backup, decided on the clinics whose records it
        holds and audited first (a refusal too, in the actor's clinic); the entry goes into the log of
        every clinic the copy holds, so each clinic's log shows its records were copied."""
        guard = self.s.guard
        a = guard.require_actor(actor, Action.BACK_UP, "store", "(all)")
        path = os.fspath(target) if isinstance(target, str | os.PathLike) else None
        if not isinstance(path, str) or not path:  # a bytes path-like too: Path() refuses it past the audit
            raise ValidationError("target", "type", "the path of the copy's file")
        if "\x00" in path:  # no file system takes it; refused before anything is decided or written
            raise ValidationError("target", "path", "a file path without NUL characters")
        if check is not None and not callable(check):
            raise ValidationError("check", "type", "a function taking the staged copy's path")
        store = self.s.store
        # A read-only practice writes no entry: only a file an older release wrote is copied so, as it
        # stands (the entry needs this release's log, and writing it would upgrade the file first).
        as_it_is = bool(getattr(store, "read_only", False))
        versions = self.schema_versions()
        if as_it_is and not (versions is not None and versions[0] < versions[1]):
            raise StoreError(
                "the store was opened read-only: a backup is audited first, so open it for writing (only a "
                "file an older release wrote is copied from a read-only open, as it stands)"
            )
        clinics = frozenset(self.s.reader.clinics_held())
        decision = guard.allow(a, Action.BACK_UP, "store", "(all)", None, clinics=clinics)  # refusal audited
        back_up = getattr(self.s.store, "back_up", None)
        if not callable(back_up):  # refused before the copy is audited as allowed: nothing is written
            raise StoreError(
                "this store has no file backup of its own: back it up with its server's tools (PostgreSQL: "
                "pg_dump, base backups)"
            )
        # one transaction: every clinic's log has the entry, or none has (and nothing is copied); an empty
        # store's in the actor's clinic
        if not as_it_is:
            guard.audit_across(a, Action.BACK_UP, "store", "(all)", clinics, outcome=decision.outcome)
        # a clinic that writes its first record between the decision and the copy is not copied unaudited
        back_up(Path(path), check=check, clinics=clinics or frozenset({a.clinic_id}))

    # -- internals ------------------------------------------------------------------------------------

    def _read(
        self, actor: object, action: str, episode_id: object, **ids: object
    ) -> tuple[Actor, EpisodeState]:
        """The checked actor and the episode's state, the read decided and audited; ``ids`` (the read's
        other ids) are checked first, so that a bad one is refused before the read is audited."""
        a = self.s.guard.require_actor(actor, action, "episode", episode_id)
        checked = check_ref("episode_id", episode_id)
        for name, value in ids.items():
            check_ref(name, value)
        return a, self.s.guard.read_episode(a, action, checked)

    def _carrying(self, read: C) -> C:
        """``read`` (a decided and audited read's result) carrying the stored measure definitions, read only
        if a report asks for them (see :class:`~alliancekit.security.views.CarriesDefinitions`)."""
        read.carry_definitions(self.s.stored_measures)
        return read

    def _summary(self, actor: Actor, state: EpisodeState, timeline: Entries | None = None) -> EpisodeState:
        """``state`` as ``actor`` may see it: under directives that apply to them, what their timeline shows
        (:func:`~alliancekit.security.lockbox.seen_state`), its scores and alerts withheld where the
        directives say so; for a participant of an episode with several, without what is another's.
        ``timeline`` gives the entries ``state`` was folded from when those stored are not all of them (a
        batch's, see :meth:`_seen`)."""
        reader = participant_reader(actor.role, actor.id, state)
        if reader is not None:
            return summary_for(state, reader)
        seen = self._seen(actor, state, timeline)
        return _withheld_summary(seen) if self.s.guard.summary_withheld(actor, state) else seen

    def _seen(self, actor: Actor, state: EpisodeState, timeline: Entries | None = None) -> EpisodeState:
        """The episode as a whole as ``actor`` may see it (:func:`~alliancekit.security.lockbox.seen_state`);
        ``state`` itself, with no events read, when no directive applies to them. The lockbox decides on
        the entries ``state`` was folded from: those stored, or what ``timeline`` gives (a batch's reads:
        the stored entries and those it holds, so a directive or a closing held there counts)."""
        if not self.s.guard.lockbox_applies(actor, state):
            return state
        entries = self.s.reader.entries(state.episode_id) if timeline is None else timeline()
        return seen_state(state, entries, actor.id)

    def _seen_row(self, actor: Actor, row: CaseloadRow) -> CaseloadRow:
        """``row`` made again from what ``actor`` may see of its episode, when that differs from the state
        it was projected from (a directive applying to them withholds part of it). Reads the episode's
        events: only for rows whose directives apply to the reader."""
        state, _ = self.s.reader.state(row.episode_id)
        seen = self._seen(actor, state)
        # as the runner projects a state (seen keeps the directives in force: the same column)
        return row if seen is state else self.s.caseload_row(seen)

    def _row(self, actor: Actor, row: CaseloadRow) -> CaseloadRow:
        guard = self.s.guard
        if not guard.row_lockbox_applies(actor, row.clinician_id, row.client_ref, row.lockbox_json):
            return row  # the fast path: the projection as stored, no events read
        row = self._seen_row(actor, row)
        if not summary_withheld(directives_of(row.lockbox_json), actor.id):
            return row
        return attrs.evolve(
            row,
            latest_scores_json="{}",
            open_alerts=0,
            open_alerts_json="[]",
            highest_severity=None,
            first_outcome=None,
            latest_outcome=None,
            outcome_measure=None,
            outcome_sessions=None,
            missed_measures_json="[]",
            # due by the sessions attended only: a review a red or urgent alert asked for tells of the alert
            review_due=row.next_review_at is not None and row.sessions_attended >= row.next_review_at,
        )

    def _own_timeline(self, actor: Actor, state: EpisodeState) -> Timeline:
        """The episode's entries as ``actor``'s own view shows them (:meth:`Guard.own_view`): every read of
        entries by the reader themselves takes this one decision."""
        return _as_timeline(*self.s.guard.own_view(actor, state, self._entries(state.episode_id)))

    def _entries(self, episode_id: str) -> list[TimelineEntry]:
        """The episode's timeline entries, in order (an episode without any is not found)."""
        entries = self.s.reader.entries(episode_id)
        if not entries:
            raise NotFoundError("episode", episode_id)
        return entries


def _client_score(
    score: RecordedScore, held_on: date, at_session: int, *, client_reported: bool = False
) -> ClientScore:
    """``score`` as the client view shows it: its total, never its answers, and whose it is."""
    return ClientScore(
        score.measure_id,
        held_on,
        score.total,
        at_session=at_session,
        client_reported=client_reported,
        about=score.about,
        rater=score.rater,
    )


def _in_order(
    sessions: Iterable[ClientScore], answered: list[tuple[RequestPoint, ClientScore]]
) -> tuple[ClientScore, ...]:
    """The client view's scores in the order they were given: by the session they count at, a session's
    own by measure (one measure's as the session lists them), the client's answers for its start before
    them and any other after them (between sessions, by the day they were answered; on one day, as
    recorded)."""
    keyed = [((score.at_session, 1, date.min, score.measure_id), score) for score in sessions]
    keyed += [
        ((score.at_session, 0 if point is RequestPoint.START else 2, score.held_on, ""), score)
        for point, score in answered
    ]
    return tuple(score for _, score in sorted(keyed, key=lambda pair: pair[0]))


def _as_timeline(kept: list[TimelineEntry], withheld: bool) -> Timeline:
    timeline = Timeline(kept)
    timeline.withheld = withheld
    return timeline


def _withheld_summary(state: EpisodeState) -> EpisodeState:
    """``state`` without its scores and alerts, nor what they leave behind: the alerts ever raised, the
    review a red or urgent one asked for, and which measures were given when."""
    return attrs.evolve(
        state,
        first_scores={},
        latest_scores={},
        previous_scores={},
        alerts={},
        tracks={},
        alert_keys_raised=(),
        review_requested=False,
        administered_at={},
    )
