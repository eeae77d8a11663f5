"""The public facade: open a practice, make commands as an actor, query episodes and caseloads.

A thin typed face over the guarded path (:mod:`alliancekit.core`): every command is one row of the
command table, run by the same runner (guard, checks, idempotency, decide, alert rules, one commit,
bounded retry), and every query is a view that asks the same guard and audits before it returns.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, cast
from zoneinfo import ZoneInfo

from alliancekit.core.command_table import COMMANDS, Returns
from alliancekit.core.groups import GroupSessionRecorded, record_group_session
from alliancekit.core.requests import RequestFlows
from alliancekit.core.runner import DEFAULT_CONFLICT_RETRIES, Recorded, RecordedWithId, Runner
from alliancekit.core.services import Services, build_services
from alliancekit.core.views import Views
from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import (
    check_bool,
    check_clinic,
    check_instance,
    check_int,
    check_number,
    check_optional_choice,
    check_optional_instance,
    check_optional_int,
    check_ref,
)
from alliancekit.domain.records import (
    Administration,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    GoalRevision,
    GroupSession,
    Participant,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import Purpose, RequestPoint, RequestPointValue
from alliancekit.errors import PracticeClosed, StoreError, ValidationError
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.feedback.expectation import ExpectationFit, Expectations
from alliancekit.imports.checkpoint import ImportCheckpoint
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.lifecycle.state import AlertState, EpisodeState
from alliancekit.measures.definition import Measure
from alliancekit.notify.dispatcher import Dispatcher, DispatchPolicy, DispatchSummary
from alliancekit.notify.outbox import Subscriptions, shown_record
from alliancekit.plugins.manager import PluginHost, get_plugin_host
from alliancekit.protocols import DueMeasure, MeasurementProtocol
from alliancekit.requests import AdministrationRequest, KioskCode, RequestConfig, RequestForm, Submission
from alliancekit.security import encryption, private_files
from alliancekit.security.encryption import RotationReport
from alliancekit.security.policy import AccessPolicy
from alliancekit.security.views import (
    Caseload,
    ClientView,
    ClosedOutcomes,
    ProcessNote,
    SessionHistory,
    SharedRecord,
    Timeline,
    TimelineEntry,
)
from alliancekit.store.group_commit import AuditBatch
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    OutboxRecord,
    OutboxState,
    OutboxStatus,
    Store,
)
from alliancekit.store.registry import shown_location as _shown_location
from alliancekit.store.registry import split_location, sqlite_file
from alliancekit.store.sqlite import database_files, journal_beside

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.batch import Batch

__all__ = [
    "DEFAULT_CONFLICT_RETRIES",
    "Practice",
    "PracticeOptions",
    "Recorded",
    "RecordedWithId",
    "TimelineEntry",
    "open_practice",
]

#: Audit entries between two checkpoints written by one Practice (when it has an audit key).
DEFAULT_CHECKPOINT_EVERY = 100
#: Attended sessions between scheduled progress reviews (see :class:`FeedbackConfig`).
DEFAULT_REVIEW_EVERY = FeedbackConfig().review_every

_C = COMMANDS
#: Parameters of a facade command method that are not the command's inputs.
_NOT_INPUTS = frozenset({"self", "actor", "episode_id", "idempotency_key", "expected_version"})


@functools.cache
def _defaults(command: str) -> dict[str, Any]:
    """The defaults of the facade method ``command``'s inputs (what a call that leaves one out passes)."""
    parameters = inspect.signature(getattr(Practice, command)).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in _NOT_INPUTS and p.default is not p.empty}


#: The exports :meth:`Practice.export_record` serves (each audited as ``export-<kind>``).
EXPORT_KINDS = ("fhir", "fhir-bulk", "csv")
#: The kind of :meth:`Practice.measure_definitions` read a host's own report makes, and its audit action
#: (the library's reports take them with their guarded read: ``Timeline.measure_definitions``).
REPORT_KIND = "report"
REPORT_READ = "read-report"


class PracticeOptions(TypedDict, total=False):
    """The keyword options :func:`open_practice` passes on to :class:`Practice`, each as its constructor
    documents it: typed, so that a type checker catches a misspelt or mistyped option in the host's code."""

    clock: Callable[[], datetime] | None
    ids: Callable[[str], str] | None
    review_every: int | None
    conflict_retries: int
    policy: AccessPolicy | None
    audit_key: bytes | None
    checkpoint_every: int
    cipher: encryption.FieldCipher | None
    feedback: FeedbackConfig | None
    subscriptions: Subscriptions | None
    dispatch_policy: DispatchPolicy | None
    time_zone: str | ZoneInfo
    clinic_time_zones: Mapping[str, str | ZoneInfo] | None
    requests: RequestConfig | None
    protocols: Mapping[str, MeasurementProtocol | str] | None
    default_protocol: MeasurementProtocol | str | None


class Practice:
    """One practice's records in one store. Create it with :func:`open_practice`; close it when done
    (or use it as a context manager). Safe to share between threads."""

    def __init__(
        self,
        store: Store,
        *,
        plugins: PluginHost | None = None,
        clock: Callable[[], datetime] | None = None,
        ids: Callable[[str], str] | None = None,
        review_every: int | None = None,
        conflict_retries: int = DEFAULT_CONFLICT_RETRIES,
        policy: AccessPolicy | None = None,
        audit_key: bytes | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        cipher: encryption.FieldCipher | None = None,
        feedback: FeedbackConfig | None = None,
        subscriptions: Subscriptions | None = None,
        dispatch_policy: DispatchPolicy | None = None,
        time_zone: str | ZoneInfo = "UTC",
        clinic_time_zones: Mapping[str, str | ZoneInfo] | None = None,
        requests: RequestConfig | None = None,
        protocols: Mapping[str, MeasurementProtocol | str] | None = None,
        default_protocol: MeasurementProtocol | str | None = None,
    ) -> None:
        """
        :param store: the store to write to, closed with the practice (:func:`open_practice` opens one from a
            path or location, and leaves a store object it is handed open).
        :param plugins: the plugin host (measures, stores, alert rules, channels); the process-wide one by
            default.
        :param review_every: attended sessions between scheduled progress reviews (1 to 1000); overrides
            ``feedback.review_every``.
        :param conflict_retries: how many times a command is decided again after a concurrent writer moved
            its episode on (0 to 100), before :class:`~alliancekit.errors.ConflictError` is raised.
        :param policy: decides every call (see :mod:`alliancekit.security.policy`); by default the policy a
            plugin supplies through ``alliancekit_access_policy``, else the default policy.
        :param audit_key: the host-held HMAC key for checkpoints (at least 32 bytes); without it no
            checkpoints are written and cutting the audit log's tail goes unnoticed.
        :param checkpoint_every: audit entries (written by this Practice) between checkpoints.
        :param cipher: encrypts free text at rest (:class:`alliancekit.security.encryption.FieldCipher`).
        :param clock: returns the current time as a timezone-aware ``datetime`` (a naive one is refused, as
            is one outside 1900-2199 or with a UTC offset that is not whole minutes of at most 14 hours).
        :param ids: makes the id of each new record from its kind (``"session"``); each id it makes is
            checked as every id is (non-empty printable text of at most 200 characters), and one that
            is not is refused (:class:`~alliancekit.errors.ValidationError` for ``ids``) before it is
            written. Random ids by default.
        :param feedback: the alert rules' thresholds, the review cadence and the expected-response settings
            (:class:`~alliancekit.feedback.config.FeedbackConfig`); its defaults by default.
        :param subscriptions: which notification channels receive which kinds of message
            (:class:`~alliancekit.notify.outbox.Subscriptions`); by default every channel its own kinds.
        :param dispatch_policy: how hard and how fast the outbox dispatcher tries
            (:class:`~alliancekit.notify.dispatcher.DispatchPolicy`).
        :param time_zone: the IANA time zone (``"Europe/Berlin"``) of the practice's clinics: a clinic's
            "today" (the default date of a command, days since a session, the report's date) and the days
            of an audit query are its calendar days. Times are stored in UTC whatever the zone.
        :param clinic_time_zones: a clinic's own zone by clinic id, where it differs from ``time_zone``.
        :param requests: how administration requests and kiosk codes are made (link template, expiry,
            reminder, kiosk limits, each clinic's crisis information); see
            :class:`~alliancekit.requests.RequestConfig`.
        :param protocols: each clinic's measurement protocol by clinic id: a
            :class:`~alliancekit.protocols.MeasurementProtocol` or the name of one a plugin registered
            (``"fit"``); an episode may have its own (:meth:`set_protocol`).
        :param default_protocol: the protocol of the clinics ``protocols`` does not name (none by default:
            nothing is due and nothing missed).
        """
        self._closed = True  # until fully built: a failed constructor leaves nothing to warn about
        dispatching = check_optional_instance("dispatch_policy", dispatch_policy, DispatchPolicy)
        self._s: Services = build_services(
            store,
            plugins=plugins if plugins is not None else get_plugin_host(),
            clock=clock,
            ids=ids,
            review_every=review_every,
            feedback=feedback,
            policy=policy,
            audit_key=audit_key,
            checkpoint_every=checkpoint_every,
            cipher=cipher,
            subscriptions=subscriptions,
            time_zone=time_zone,
            clinic_time_zones=clinic_time_zones,
            requests=requests,
            protocols=protocols,
            default_protocol=default_protocol,
        )
        self._runner = Runner(self._s, check_int("conflict_retries", conflict_retries, lo=0, hi=100))
        self._flows = RequestFlows(self._s, self._runner)
        self._views = Views(self._s)
        self.dispatch_policy = dispatching or DispatchPolicy()
        self._dispatcher: Dispatcher | None = None
        self._lock = threading.Lock()
        self._batches: weakref.WeakSet[Batch] = weakref.WeakSet()  # made here, to end at the close
        self._closed = False
        # Whether ``close()`` closes the store too: not when the host handed ``open_practice`` a store it
        # opened itself, which it shares between practices (one per request, a view per clinic).
        self._closes_store = True

    # -- lifecycle --------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Practice({self._s.store!r}{', closed' if self._closed else ''})"

    def __enter__(self) -> Practice:
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Seal the audit log (with an audit key) and close the store, unless the store was given to
        :func:`open_practice` as an object: that one stays open for its owner to close. Closing twice is
        harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            for batch in list(self._batches):
                batch._released()  # noqa: SLF001 - its commands dropped, the entries of its reads written
            if self._s.guard.pending:
                self._s.guard.seal()
        finally:
            if self._closes_store:
                self._s.store.close()

    def back_up(
        self, actor: Actor, target: str | os.PathLike[str], *, check: Callable[[str], None] | None = None
    ) -> None:
        """Write a consistent copy of the whole store to the file ``target``, published whole or not at all:
        the host's file-level backup (every clinic's records; free text stays encrypted under the practice's
        keys). It is decided on every clinic whose records the store holds (an episode, a command, an audit
        entry of theirs): an administrator may back up a store whose records are all their own clinic's,
        the system actor any store. It is audited (``back-up``) before the copy is taken, in the log of
        every clinic the copy holds (so each clinic's log shows its records were copied, and the copy holds
        the entry of its own making), so it needs a practice open for writing; a refusal is audited in the
        actor's clinic. The one exception is a practice opened read-only on a file an older release wrote
        (:attr:`schema_versions`): it is copied as it stands, at its own schema version, and not audited,
        since writing the entry would upgrade the file the copy is taken to keep.

        The SQLite store copies with SQLite's online backup API (one snapshot; writers carry on), owner-only
        (mode 0600), checks the copy's structure, then calls ``check(staged_copy)`` (raise to refuse it)
        before renaming it onto ``target``; see :meth:`alliancekit.store.sqlite.SQLiteStore.back_up`. A
        store without a backup of its own (PostgreSQL: use ``pg_dump`` or base backups) raises
        :class:`~alliancekit.errors.StoreError`."""
        self._open()
        self._read.back_up(actor, target, check)

    def discard(self) -> bool:
        """Close the practice, removing the store its opening created if the store can (PostgreSQL: the
        schema it made, or the tables it made in a schema that held none): for a command cut short before
        its practice is whole, such as ``alliancekit demo``. ``False`` (closed all the same) when nothing
        was removed: the opening created nothing, or the store cannot remove itself (SQLite: delete the
        file)."""
        self._open()
        discard = getattr(self._s.store, "discard_created", None)
        try:
            removed = bool(discard()) if callable(discard) else False
        except BaseException:
            with self._lock:
                self._closed = True
            self._s.store.close()  # not sealed: the log may be half gone
            raise
        if not removed:
            self.close()
            return False
        with self._lock:
            self._closed = True
        self._s.store.close()  # nothing left to seal
        return True

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2, source=self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: every call but this one is then refused (``PracticeClosed``)."""
        return self._closed

    def _open(self) -> Services:
        if self._closed:
            raise PracticeClosed()
        return self._s

    @property
    def _read(self) -> Views:
        self._open()
        return self._views

    def _runner_open(self) -> Runner:
        self._open()
        return self._runner

    def _recorded(self, name: str, actor: object, episode_id: object, /, **args: Any) -> Recorded:
        return cast(Recorded, self._run(name, actor, episode_id, **args))

    def _named(self, name: str, actor: object, episode_id: object, /, **args: Any) -> RecordedWithId:
        return cast(RecordedWithId, self._run(name, actor, episode_id, **args))

    def _started(self, name: str, actor: object, episode_id: object, /, **args: Any) -> str:
        return cast(str, self._run(name, actor, episode_id, **args))

    def _goal_ids(self, name: str, actor: object, episode_id: object, /, **args: Any) -> list[str]:
        return cast(list[str], self._run(name, actor, episode_id, **args))

    def _run(self, name: str, actor: object, episode_id: object, /, **args: Any) -> Any:
        self._open()
        key, expected = args.pop("idempotency_key", None), args.pop("expected_version", None)
        return self._runner.run(
            _C[name], actor, episode_id, args, idempotency_key=key, expected_version=expected
        )

    # -- what the host configured -----------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store this practice writes to: the host's to back up, migrate and close.

        Reading it directly bypasses the access policy, the lockbox and the audit; nothing in the library
        does (a test enforces it), and a host should not either.
        """
        return self._s.store

    @property
    def plugins(self) -> PluginHost:
        """The plugin host the practice was opened with (its measures, stores, rules and channels)."""
        return self._s.plugins

    @property
    def feedback(self) -> FeedbackConfig:
        """The feedback settings: review cadence and alert thresholds."""
        return self._s.feedback

    @property
    def review_every(self) -> int:
        """Attended sessions between scheduled progress reviews."""
        return self._s.feedback.review_every

    @property
    def conflict_retries(self) -> int:
        """How many times a command is decided again after a concurrent writer moved its episode on."""
        return self._runner.conflict_retries

    @conflict_retries.setter
    def conflict_retries(self, value: int) -> None:
        self._runner.conflict_retries = check_int("conflict_retries", value, lo=0, hi=100)

    @property
    def policy(self) -> AccessPolicy:
        """The access policy that decides every call."""
        return self._s.guard.policy

    @property
    def cipher(self) -> encryption.FieldCipher | None:
        """What encrypts free text at rest, or ``None`` when it is stored in clear."""
        return self._s.codec.cipher

    @property
    def expectations(self) -> Expectations:
        """The expected-response service of this practice."""
        return self._s.expectations

    @property
    def subscriptions(self) -> Subscriptions:
        """Which channels receive which message kinds (see :class:`~alliancekit.notify.Subscriptions`)."""
        return self._s.subscriptions

    def now(self) -> datetime:
        """The current instant by the practice's clock (``clock=``), in UTC: the time events, audit entries
        and exports (a Bundle's ``timestamp``, a bulk export's ``transactionTime``) are stamped with."""
        return self._s.clock()

    @property
    def today(self) -> date:
        """Today by the practice's clock, in the practice's ``time_zone``."""
        return self._s.today(None)

    def clinic_today(self, clinic_id: str) -> date:
        """Today by the practice's clock in the clinic's time zone (reports use it for "days since the last
        session"; commands for a date not given)."""
        return self._s.today(check_clinic("clinic_id", clinic_id))

    @property
    def _requests(self) -> RequestFlows:
        self._open()
        return self._flows

    # -- commands: each one row of alliancekit.core.command_table ---------------------------------------

    def start_episode(
        self,
        actor: Actor,
        *,
        client_ref: str,
        clinician_id: str,
        opened_on: date,
        population: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Open an episode of care in the consultation stage; returns the new episode's id.

        ``client_ref`` is the host's opaque reference for the client (never a name). ``population`` names
        the norms the episode's scores are read against (``"child"``, ``"adolescent"``): one that some
        registered measure's norms declare, else a :class:`~alliancekit.errors.ValidationError` on
        ``population`` (rule ``declared-population``). A measure that does not declare it is read against
        its default population; ``None`` (the default) reads every measure against its default.
        """
        return self._started(
            "start_episode",
            actor,
            None,
            client_ref=client_ref,
            clinician_id=clinician_id,
            opened_on=opened_on,
            population=population,
            idempotency_key=idempotency_key,
        )

    def record_consultation(
        self,
        actor: Actor,
        episode_id: str,
        consultation: Consultation,
        *,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Record the consultation: concerns, questions, preferences, modality and consent."""
        return self._recorded(
            "record_consultation",
            actor,
            episode_id,
            consultation=consultation,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def decide_fit(
        self,
        actor: Actor,
        episode_id: str,
        decision: FitDecision,
        *,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Proceed (on to goal setting), refer elsewhere, or not proceed (both close the episode)."""
        return self._recorded(
            "decide_fit",
            actor,
            episode_id,
            decision=decision,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def agree_goals(
        self,
        actor: Actor,
        episode_id: str,
        goals: Sequence[GoalDraft],
        *,
        agreed_on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> list[str]:
        """Record goals agreed with the client; the first agreement starts therapy. Returns goal ids."""
        return self._goal_ids(
            "agree_goals",
            actor,
            episode_id,
            goals=goals,
            agreed_on=agreed_on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def revise_goal(
        self,
        actor: Actor,
        episode_id: str,
        revision: GoalRevision,
        *,
        revised_on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Revise a goal's wording, tasks or status; earlier versions stay in the timeline."""
        return self._recorded(
            "revise_goal",
            actor,
            episode_id,
            revision=revision,
            revised_on=revised_on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def record_session(
        self,
        actor: Actor,
        episode_id: str,
        session: Session,
        *,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Record a session, with any measures given in it (each validated and scored on the way in).

        The session record is *signed* as recorded: it never changes. Later changes are corrections
        (:meth:`correct_session`) and addenda (:meth:`add_addendum`) that point at it, and the client may
        attach a statement of disagreement.
        """
        return self._named(
            "record_session",
            actor,
            episode_id,
            session=session,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def correct_session(
        self,
        actor: Actor,
        episode_id: str,
        session_id: str,
        session: Session,
        *,
        reason: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Correct a recorded session. The original stays in the timeline; the correction points at it."""
        return self._named(
            "correct_session",
            actor,
            episode_id,
            session_id=session_id,
            session=session,
            reason=reason,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def record_review(
        self,
        actor: Actor,
        episode_id: str,
        review: Review,
        *,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Record a progress review. A review when none was due is kept, marked unscheduled."""
        return self._named(
            "record_review",
            actor,
            episode_id,
            review=review,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def note_rupture(
        self,
        actor: Actor,
        episode_id: str,
        note: RuptureNote,
        *,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Note a rupture in the alliance (kind, markers, likely cause, any repair already tried)."""
        return self._named(
            "note_rupture",
            actor,
            episode_id,
            note=note,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def record_repair(
        self,
        actor: Actor,
        episode_id: str,
        rupture_id: str,
        attempt: RepairAttempt,
        *,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Record an attempt to repair an open rupture, and whether it resolved it."""
        return self._named(
            "record_repair",
            actor,
            episode_id,
            rupture_id=rupture_id,
            attempt=attempt,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def put_on_hold(
        self,
        actor: Actor,
        episode_id: str,
        *,
        on: date,
        reason: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Pause an episode (illness, travel, ...); sessions are refused until it is resumed."""
        return self._recorded(
            "put_on_hold",
            actor,
            episode_id,
            on=on,
            reason=reason,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def resume(
        self,
        actor: Actor,
        episode_id: str,
        *,
        on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Resume an episode on hold, in the stage it was in before."""
        return self._recorded(
            "resume",
            actor,
            episode_id,
            on=on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def transfer(
        self,
        actor: Actor,
        episode_id: str,
        *,
        to_clinician_id: str,
        on: date,
        reason: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Make another clinician the clinician of record."""
        return self._recorded(
            "transfer",
            actor,
            episode_id,
            to_clinician_id=to_clinician_id,
            on=on,
            reason=reason,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def plan_ending(
        self,
        actor: Actor,
        episode_id: str,
        *,
        on: date,
        target_date: date | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Begin a planned ending: the episode moves to the ending stage."""
        return self._recorded(
            "plan_ending",
            actor,
            episode_id,
            on=on,
            target_date=target_date,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def close_episode(
        self,
        actor: Actor,
        episode_id: str,
        ending: Ending,
        *,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Close the episode with its ending (a planned ending needs a maintenance plan or a reason).

        Alerts still open are resolved in the same commit, each with the note "resolved when the episode
        closed" (:data:`alliancekit.lifecycle.rules.CLOSING_NOTE`): a closed episode has no open alerts.
        """
        return self._recorded(
            "close_episode",
            actor,
            episode_id,
            ending=ending,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def acknowledge_alert(
        self,
        actor: Actor,
        episode_id: str,
        alert_id: str,
        *,
        on: date | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Acknowledge an open alert: the clinician of record or a supervisor of the clinic has seen it."""
        return self._named(
            "acknowledge_alert",
            actor,
            episode_id,
            alert_id=alert_id,
            on=on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def resolve_alert(
        self,
        actor: Actor,
        episode_id: str,
        alert_id: str,
        *,
        note: str,
        on: date | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Resolve an open alert with a note saying what was done (acknowledged or not)."""
        return self._named(
            "resolve_alert",
            actor,
            episode_id,
            alert_id=alert_id,
            note=note,
            on=on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def add_participant(
        self,
        actor: Actor,
        episode_id: str,
        participant: Participant,
        *,
        added_on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Add a client to the episode (a partner, a parent, a child), with their own host reference, role
        and consent. The client the episode was opened for stays its identified client."""
        return self._recorded(
            "add_participant",
            actor,
            episode_id,
            participant=participant,
            added_on=added_on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def join_group(
        self,
        actor: Actor,
        episode_id: str,
        *,
        group_id: str,
        facilitator_ids: Sequence[str],
        joined_on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Record that the episode's client joined a therapy group run by one or two facilitators (who
        may then record the group's sessions in this episode)."""
        return self._recorded(
            "join_group",
            actor,
            episode_id,
            group_id=group_id,
            facilitator_ids=facilitator_ids,
            joined_on=joined_on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def record_group_session(
        self, actor: Actor, group_id: str, session: GroupSession, *, idempotency_key: str | None = None
    ) -> GroupSessionRecorded:
        """Record a group session once: each member's episode gets its part (attendance, measures), after
        every member is checked to belong to the group (see :mod:`alliancekit.core.groups`)."""
        return record_group_session(self._runner_open(), actor, group_id, session, idempotency_key)

    def record_process_note(
        self,
        actor: Actor,
        episode_id: str,
        *,
        written_on: date,
        text: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Record a private process note: readable by its author only (:meth:`process_notes`), never in the
        timeline, an export, a report, a notification, the caseload or the client's view."""
        return self._named(
            "record_process_note",
            actor,
            episode_id,
            written_on=written_on,
            text=text,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def add_addendum(
        self,
        actor: Actor,
        episode_id: str,
        session_id: str,
        *,
        text: str,
        reason: str,
        added_on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Add to a signed session record without changing it: the addendum points at the original."""
        return self._named(
            "add_addendum",
            actor,
            episode_id,
            session_id=session_id,
            text=text,
            reason=reason,
            added_on=added_on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def attach_disagreement(
        self,
        actor: Actor,
        episode_id: str,
        target_event_id: str,
        *,
        statement: str,
        received_on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Attach the client's statement of disagreement to a record (an event of the episode's timeline).

        The client may do this themselves, or their clinician on their behalf. The record is not changed.
        """
        return self._named(
            "attach_disagreement",
            actor,
            episode_id,
            target_event_id=target_event_id,
            statement=statement,
            received_on=received_on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def set_lockbox(
        self,
        actor: Actor,
        episode_id: str,
        *,
        scope: str,
        classes: Sequence[str] = (),
        event_ids: Sequence[str] = (),
        recipients: Sequence[str] = (),
        on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Record the client's directive to withhold the ``record``, some ``class`` es or some ``item`` s
        (event ids) from sharing: from everyone, or only from ``recipients``. Returns the directive's id."""
        return self._named(
            "set_lockbox",
            actor,
            episode_id,
            scope=scope,
            classes=classes,
            event_ids=event_ids,
            recipients=recipients,
            on=on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def lift_lockbox(
        self,
        actor: Actor,
        episode_id: str,
        directive_id: str,
        *,
        on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> RecordedWithId:
        """Lift a lockbox directive: what it withheld is shared again from now on."""
        return self._named(
            "lift_lockbox",
            actor,
            episode_id,
            directive_id=directive_id,
            on=on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def change_population(
        self,
        actor: Actor,
        episode_id: str,
        population: str | None,
        *,
        on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Read the open episode's scores against the norms of ``population`` from now on (a client turning
        13: ``"adolescent"``; ``None``: each measure's default). It must be one some registered measure's
        norms declare (rule ``declared-population``) and not the one in force (rule ``same-population``).
        Every score of the episode, the earlier ones too, is then read against it; what each score recorded
        (its clinical flag) and the alerts already raised stay as they were."""
        return self._recorded(
            "change_population",
            actor,
            episode_id,
            population=population,
            on=on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def change_measures_consent(
        self,
        actor: Actor,
        episode_id: str,
        measures: bool,
        *,
        on: date,
        participant: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Record that the client, or another participant (``participant``, their reference), gave
        (``measures=True``) or withdrew (``False``) their consent to measures on ``on``. Given, a measure
        about them is taken on and after ``on``, never dated before it; withdrawn, none is taken from then
        on (rule ``consent-measures``), and what was recorded before stays. The client's is changed after
        the consultation (rule ``consultation-missing`` before it; not dated before it), another
        participant's after they joined (one who does not take part: ``participant-not-in-episode``); never
        dated before the last change (``date-order``), nor to the consent in force (``same-consent``)."""
        return self._recorded(
            "change_measures_consent",
            actor,
            episode_id,
            measures=measures,
            on=on,
            participant=participant,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    def set_protocol(
        self,
        actor: Actor,
        episode_id: str,
        protocol: MeasurementProtocol | str | None,
        *,
        on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Give the episode its own measurement protocol (a protocol or a registered name) in place of its
        clinic's, from now on; ``None`` returns it to the clinic's."""
        return self._recorded(
            "set_protocol",
            actor,
            episode_id,
            protocol=protocol,
            on=on,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    # -- measures the client fills in (alliancekit.core.requests) ---------------------------------------

    def request_administration(
        self,
        actor: Actor,
        episode_id: str,
        *,
        measure: str,
        point: RequestPointValue | RequestPoint = "start",
        session_id: str | None = None,
        language: str | None = None,
        expires_in: timedelta | None = None,
        remind_after: timedelta | None = None,
        key: str | None = None,
    ) -> AdministrationRequest:
        """Ask the episode's client to fill ``measure`` in themselves, through a single-use link that
        expires (by default after 4 days, with a reminder after 2: durations, 96 and 48 hours, whatever
        clock change falls in between); the link goes out through the outbox (kinds
        ``administration-request`` and ``administration-reminder``) when the practice has a link template.
        The token is returned once and stored only as a hash."""
        return self._requests.request(
            actor,
            episode_id,
            key,
            measure=measure,
            point=point,
            session_id=session_id,
            language=language,
            expires_in=expires_in,
            remind_after=remind_after,
        )

    def kiosk_code(
        self,
        actor: Actor,
        episode_id: str,
        *,
        measure: str,
        point: RequestPointValue | RequestPoint = "start",
        session_id: str | None = None,
        language: str | None = None,
    ) -> KioskCode:
        """A short code the client enters on a clinic tablet to fill ``measure`` in, valid today (the
        clinic's day) only, once."""
        return self._requests.kiosk_code(
            actor, episode_id, None, measure=measure, point=point, session_id=session_id, language=language
        )

    def revoke_request(
        self, actor: Actor, episode_id: str, request_id: str, *, idempotency_key: str | None = None
    ) -> RecordedWithId:
        """Make a request (or kiosk code) unusable; its pending reminder is not sent."""
        return self._named(
            "revoke_request", actor, episode_id, request_id=request_id, idempotency_key=idempotency_key
        )

    def open_request(self, token: str, *, language: str | None = None) -> RequestForm:
        """The questionnaire a request's token opens, in ``language`` (else the request's). Audited as the
        client's; a forged, expired, revoked or used token is :class:`~alliancekit.errors.InvalidToken`
        (audited once in the request's clinic when the token names a request; a forged one writes nothing)."""
        return self._requests.open(token, language)

    def redeem_kiosk_code(
        self, clinic_id: str, code: str, *, source: str, language: str | None = None
    ) -> RequestForm:
        """Exchange a kiosk code entered on a tablet for the request's form with a one-use ``token``.

        ``source`` names where the attempt came from (the tablet, its address): wrong codes are counted per
        clinic and source and audited; past the limit it is :class:`~alliancekit.errors.TooManyAttempts`.
        """
        return self._requests.redeem(clinic_id, code, source, language)

    def submit_response(
        self,
        token: str,
        *,
        answers: Mapping[str, Any] | str | None = None,
        questionnaire_response: Mapping[str, Any] | str | None = None,
        language: str | None = None,
    ) -> Submission:
        """Record the client's answers (plain answers or a FHIR QuestionnaireResponse, data or JSON text)
        through a request's token: validated, scored, recorded in the episode with any alerts, and the token
        used up, all in one commit. The client is the actor. When a risk item is endorsed the clinician is
        notified at once (an urgent alert through the outbox) and the result asks the host to show the
        clinic's crisis information."""
        return self._requests.submit(token, answers, questionnaire_response, language)

    def record_client_response(
        self,
        actor: Actor,
        episode_id: str,
        administration: Administration,
        *,
        responded_at: datetime,
        session_id: str | None = None,
        point: RequestPointValue | RequestPoint | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Recorded:
        """Record a measure the client filled in elsewhere (on paper, in another system) at
        ``responded_at``, in ``session_id`` or between sessions: scored, and treated by alerts, due measures
        and reports like one they answered through a link. ``point`` defaults from the timing (``start``;
        ``end`` in a session, ``between`` outside one)."""
        return self._recorded(
            "record_client_response",
            actor,
            episode_id,
            administration=administration,
            responded_at=responded_at,
            session_id=session_id,
            point=point,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    # -- queries: each a view of alliancekit.core.views --------------------------------------------------

    def episode(self, actor: Actor, episode_id: str) -> EpisodeState:
        """The episode's current state (one snapshot row). For anyone but the treating clinician, under a
        lockbox directive that applies to them: the episode as their timeline shows it (the fold of the events
        it keeps; the frame alone under a whole-record directive), scores and alerts withheld where the
        directives say so (see :func:`alliancekit.security.lockbox.seen_state`). The state is shared and
        read-only, its maps included: copy a map (``dict(state.goals)``) to change it."""
        return self._read.episode(actor, episode_id)

    def alerts(self, actor: Actor, episode_id: str) -> dict[str, AlertState]:
        """The episode's open alerts (raised or acknowledged) by id; resolved ones are in the timeline."""
        return self._read.alerts(actor, episode_id)

    def due_measures(
        self, actor: Actor, episode_id: str, *, for_next_session: bool = False
    ) -> tuple[DueMeasure, ...]:
        """The measures the episode's measurement protocol makes due on the clinic's day (``now``), or at
        its next session; each says whether an earlier occasion was missed (see
        :mod:`alliancekit.protocols.schedule`). For a reader under the client's lockbox, from what their
        timeline shows (as :meth:`episode`)."""
        return self._read.due_measures(actor, episode_id, for_next_session=for_next_session)

    def timeline(self, actor: Actor, episode_id: str) -> Timeline:
        """Every event of the episode in order, with who recorded it and when.

        Process notes are never in it. For anyone but the clinician of record acting for treatment and the
        client reading their own record, the client's lockbox applies, and ``Timeline.withheld`` says that
        something was left out; a participant of an episode with several reads it without what is another
        participant's, as their :meth:`client_view` (the default policy lets no client read it).
        ``Timeline.measure_definitions()`` reads the measure definitions stored with the data (what the
        progress chart draws a measure by once its plugin is gone) under this read's audit entry.
        """
        return self._read.timeline(actor, episode_id)

    def rebuild_state(self, actor: Actor, episode_id: str) -> EpisodeState:
        """The state folded from the stored events, ignoring the snapshot (checks and repairs)."""
        return self._read.rebuild_state(actor, episode_id)

    def session_history(self, actor: Actor, episode_id: str, session_id: str) -> SessionHistory:
        """A session as signed, with its corrections, addenda and the client's statements of disagreement,
        from the entries the reader's :meth:`timeline` shows."""
        return self._read.session_history(actor, episode_id, session_id)

    def process_notes(self, actor: Actor, episode_id: str) -> list[ProcessNote]:
        """The process notes ``actor`` wrote in this episode, oldest first (nobody else's, ever)."""
        return self._read.process_notes(actor, episode_id)

    def client_view(self, actor: Actor, episode_id: str) -> ClientView:
        """The client-facing record: agreed goals as they stand, scores over time (the sessions' and those of
        the measures the client answered themselves), the maintenance plan."""
        return self._read.client_view(actor, episode_id)

    def shared_record(
        self,
        actor: Actor,
        episode_id: str,
        *,
        recipient: str | None = None,
        override_reason: str | None = None,
    ) -> SharedRecord:
        """The record as exported or shared: process notes never, the lockbox honoured for ``recipient``
        (with none named, every directive applies, whomever it withholds from: where it goes is unknown).
        The audit entry records the recipient (``(unnamed)`` when none is named); a recipient's id cannot
        be in parentheses (``recipient: reserved``).

        ``override_reason`` overrides the lockbox (the policy decides who may; the override and its reason
        are audited).
        """
        return self._read.shared_record(
            actor, episode_id, recipient=recipient, override_reason=override_reason
        )

    def export_record(
        self,
        actor: Actor,
        episode_id: str,
        *,
        purpose: Purpose | None = None,
        kind: str = "fhir",
        recipient: str | None = None,
    ) -> SharedRecord:
        """One episode's record for an export: decided and shared like :meth:`shared_record` (the lockbox
        always applies, for ``recipient``), audited as ``export-<kind>`` with the client's reference,
        ``purpose`` and the recipient. With no recipient named, every directive applies, whomever it
        withholds from, and the entry records ``(unnamed)``.

        The FHIR export (:mod:`alliancekit.fhir`) reads every episode through here.
        """
        return self._read.shared_record(
            actor, episode_id, recipient=recipient, action=_export_action(kind, purpose), purpose=purpose
        )

    def measure_definitions(
        self,
        actor: Actor,
        *,
        purpose: Purpose | None = None,
        kind: str = "fhir",
        recipient: str | None = None,
    ) -> list[Measure]:
        """The measure definitions stored with the data, as measures: what an export (and a host's own
        report, ``kind="report"``) describes a measure by once its plugin is removed. Every definition an
        administration used since the store kept them (an upgraded store also holds those registered when it
        was upgraded). Audited as ``export-<kind>`` (``read-report`` for the report) with ``purpose`` and the
        export's ``recipient`` (``(unnamed)`` when none is named); they hold no client data. The library's
        reports take them with the guarded read they make first, under its entry instead
        (:meth:`timeline`, :meth:`closed_outcomes`).
        """
        return self._read.measure_definitions(
            actor, action=_definitions_action(kind, purpose), purpose=purpose, recipient=recipient
        )

    def clinics(self, *, every_record: bool = False) -> list[str]:
        """The ids of the clinics with episodes in the store (no client data; for choosing a clinic). With
        ``every_record``, of the clinics with any record in it (an episode, a command, an audit entry):
        whose records a copy of the store holds, which decides who may back it up (:meth:`back_up`)."""
        return self._read.clinics(every_record)

    @property
    def clinic_scope(self) -> str | None:
        """The one clinic the store acts for when it is scoped to one (the PostgreSQL store's ``?clinic=``,
        which refuses every other clinic's rows), else ``None``: what the store is, not what it holds."""
        scope = getattr(self._s.store, "clinic_scope", None)
        return scope if isinstance(scope, str) and scope else None

    @property
    def schema_versions(self) -> tuple[int, int] | None:
        """The store's schema version and this alliancekit's, for a store numbered so (SQLite), else
        ``None``. The first is lower only for a practice opened read-only on a file an older release wrote
        (opening it for writing upgrades it first): what :meth:`back_up` copies as it stands."""
        return self._read.schema_versions()

    def episode_ids(self, actor: Actor) -> list[str]:
        """The ids of every episode of the actor's clinic (what a supervisor's or an export's walk visits).

        Decided and audited as a caseload read; the ids carry nothing of the clients.
        """
        return self._read.episode_ids(actor)

    def break_glass(self, actor: Actor, episode_id: str, *, reason: str) -> Timeline:
        """An emergency read of an episode outside one's caseload: needs ``Purpose.EMERGENCY`` and a
        reason, and is always audited (with the reason). The client's lockbox still applies: the entries
        are those the reader's :meth:`timeline` shows."""
        return self._read.break_glass(actor, episode_id, reason=reason)

    def caseload(
        self, actor: Actor, *, clinician_id: str | None = None, include_closed: bool = False
    ) -> Caseload:
        """The caseload of the actor's clinic, optionally one clinician's, from the projection table.

        A clinician's caseload is their own unless they name another clinician (which the default policy
        refuses). For anyone but the treating clinician, a row whose client's lockbox applies to them says
        what :meth:`episode` says (its events are read: only for those rows), and shows no scores where the
        directives withhold them. An episode whose closing is withheld from them is open to them, in the open
        caseload too. ``Caseload.measure_definitions()`` reads the measure definitions stored with the data
        under this read's audit entry, as :meth:`timeline`'s does (the attention list's measure titles).
        """
        return self._read.caseload(actor, clinician_id=clinician_id, include_closed=include_closed)

    def closed_outcomes(self, actor: Actor) -> ClosedOutcomes:
        """The outcome columns of the actor's clinic's closed episodes (for the practice-outcomes report).

        Under a lockbox applying to the reader, a row is what :meth:`episode` says: left out when the closing
        or the scores are withheld from them. ``ClosedOutcomes.measure_definitions()`` reads the measure
        definitions stored with the data under this read's audit entry, as :meth:`timeline`'s does."""
        return self._read.closed_outcomes(actor)

    @contextlib.contextmanager
    def batched_reads(self) -> Iterator[AuditBatch]:
        """A block whose reads (by this thread) are audited in one transaction per 1,000 entries.

        Each read is decided and its entry made as always, but the entries are held and written when 1,000
        are held, by ``flush()`` of the batch yielded, and when the block ends, which returns (or raises)
        only once every entry is durable. Reports and exports read through one: what they build leaves the
        library only after the block, so no data leaves before its audit entry is durable. A host that
        hands data out from inside the block gives that up.
        """
        with self._open().guard.batched() as batch:
            yield batch

    def batch(
        self, *, size: int = 500, on_commit: Callable[[list[Recorded | str | list[str]]], None] | None = None
    ) -> Batch:
        """A block whose commands are committed together, one store transaction per ``size`` commands.

        Use it as ``with practice.batch() as batch:`` and call the facade's command methods on ``batch``:
        each is decided, scored, alerted on and audited as here, on the episode's state as the batch's
        earlier commands left it, and raises at the call when refused (holding nothing). Each transaction is
        all or nothing, and ``on_commit`` is called with its results in order once it is durable (a list:
        each command's :class:`Recorded`, ``start_episode``'s episode id, ``agree_goals``'s goal ids); the
        rest is committed when the block ends (nothing more when it ends with an error). A read-only practice
        refuses it (:class:`~alliancekit.errors.StoreError`). See the embedding guide.
        """
        from alliancekit.batch import Batch  # made of this class's own methods, so it imports this module

        runner = self._runner_open()
        if getattr(self._s.store, "read_only", False):
            # A batch answers (reads, a keyed repeat's first result) before its audit entries are written,
            # which a read-only store never would: refused as the facade refuses a read it cannot audit.
            raise StoreError("the store was opened read-only: a batch writes, and writes are refused")
        batch = Batch(runner, size=size, on_commit=on_commit, practice=self)
        self._batches.add(batch)
        return batch

    # -- the audit log and the record's integrity ---------------------------------------------------------

    def audit_entries(
        self,
        actor: Actor,
        *,
        client_ref: str | None = None,
        actor_id: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[AuditRecord]:
        """Audit entries about one client, by one actor, or in a period (``since``/``until`` inclusive).

        A stated reason (``detail`` of a break-glass read or a lockbox override) is stored encrypted when the
        practice has a cipher; it is returned decrypted, or as
        :data:`~alliancekit.security.encryption.REDACTED` without the key. The entry's ``hash`` is the
        stored one, over the ciphertext.

        :raises ~alliancekit.errors.DecryptionError: a stored reason was altered or moved.
        """
        return self._read.audit_entries(
            actor, client_ref=client_ref, actor_id=actor_id, since=since, until=until
        )

    def refit_expectations(self, actor: Actor) -> ExpectationFit:
        """Fit the expected-response curves from the closed episodes now (an administrator or the system
        actor, at start-up and on a schedule); recording a session never refits. Returns the fit's report."""
        return self._read.refit_expectations(actor)

    def mark_demo(self, actor: Actor) -> None:
        """Mark this practice as a demo (an administrator or the system actor): ``alliancekit demo``
        replaces only a database that carries the mark. Audited."""
        self._read.mark_demo(actor)

    def import_checkpoint(self, actor: Actor, source: str) -> ImportCheckpoint | None:
        """Where the last import of ``source`` into the actor's clinic got to (an administrator or the system
        actor; see ``alliancekit import``); ``None`` before its first committed unit."""
        return self._read.import_checkpoint(actor, source)

    def save_import_checkpoint(self, actor: Actor, source: str, checkpoint: ImportCheckpoint) -> None:
        """Save where an import of ``source`` got to, after the unit it names is committed. Audited."""
        self._read.save_import_checkpoint(actor, source, checkpoint)

    def imported_command(
        self,
        actor: Actor,
        command: str,
        args: Mapping[str, Any],
        *,
        idempotency_key: str,
        episode_id: str | None = None,
        any_request: bool = False,
    ) -> str | None:
        """Whether the keyed ``command`` (a facade command's name, with the arguments it would be called
        with, and its episode but for ``start_episode``) is already stored, writing nothing: what an import's
        dry run asks of a practice opened read-only. Returns the episode the same request wrote under
        ``idempotency_key``, ``None`` when the key is unused; raises
        :class:`~alliancekit.errors.IdempotencyKeyReused` when the key holds another request (the command
        would be refused). With ``any_request`` (a command on ``episode_id``; ``args`` are not read), whether
        the key holds a request of that command on that episode, whatever its arguments: what an import
        asks of a step whose arguments it learns only by reading the episode (an alert's id); no more than
        its maker, or whoever may make the command, could learn anyway. Decided as the command itself is:
        whether a key holds a request confirms or not a guess at the record, so only whoever the policy lets
        make the command (the clinician an import writes as), or who made it, is answered; anyone else gets
        :class:`~alliancekit.errors.AccessDenied`, audited (on a practice opened read-only, which can write
        no entry, raised without one: it answers nothing). An answer is not audited (an episode id at
        most); an ``episode_id`` that names no episode, or another clinic's, is audited as not found and
        raises :class:`~alliancekit.errors.NotFoundError`, as every call naming an episode does."""
        name = check_ref("command", command)
        spec = _C.get(name)
        if spec is None or spec.returns is Returns.OWN:
            raise ValidationError("command", "enum", "a facade command that takes an idempotency key")
        if not isinstance(args, Mapping):
            raise ValidationError("args", "type", "a mapping of the command's arguments expected")
        # the arguments left out are the facade method's defaults, as a call of it would hash them
        return self._runner_open().stored(
            spec,
            actor,
            episode_id,
            {**_defaults(name), **args},
            idempotency_key,
            any_request=check_bool("any_request", any_request),
        )

    def is_demo(self) -> bool:
        """Whether :meth:`mark_demo` marked this practice (no client data; not audited, like :meth:`clinics`;
        ``False`` on a read-only open of a database from before practice metadata was kept)."""
        return self._read.is_demo()

    def audit_checkpoint(self, actor: Actor) -> AuditCheckpoint | None:
        """Seal the actor's clinic's audit log now; returns its checkpoint (``None`` without an audit key).

        Each clinic's audit log is chained and sealed on its own (the checkpoint's ``chain`` names the
        clinic on a store that keeps several clinics' logs). Keep the returned checkpoint outside the
        database to detect a tail cut together with its checkpoints (pass it to :meth:`verify` of the same
        clinic as ``expected_head``).
        """
        return self._read.audit_checkpoint(actor)

    def verify(
        self,
        actor: Actor,
        *,
        expected_head: AuditCheckpoint | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> IntegrityReport:
        """Verify the actor's clinic's record: event chains, snapshots, projections, audit chains, seals.

        Returns an :class:`~alliancekit.integrity.verify.IntegrityReport` naming the first bad entry of each
        check. It counts and names the actor's clinic's episodes and audit entries only, and checks
        the clinic's own audit chains and checkpoints (the builtin stores and PostgreSQL keep them per
        clinic), so a break in another clinic's chains is not in its report. The chains an SQLite file
        upgraded from before chains per clinic kept shared are checked whole and named by position
        only (``shared_audit``): a break in them breaks every clinic's report. On a store scoped to
        one clinic (PostgreSQL) the report of another clinic's administrator is empty, as that store's
        caseload is for them: nothing of the store's clinic, not even a chain position. It writes
        nothing, not even an audit entry of its own (it returns no record content and must run on a
        read-only store); only a refusal (no actor, or the policy's) is audited.

        ``progress`` is called as ``progress(done, total)`` after each of the clinic's episodes is checked:
        ``done`` from 1 to ``total``, the report's ``episodes`` (another clinic's in the same file are
        passed over uncounted). It is not called when the clinic has no episode.
        """
        return self._read.verify(actor, expected_head=expected_head, progress=progress)

    def verify_audit(self, actor: Actor, *, expected_head: AuditCheckpoint | None = None) -> IntegrityReport:
        """The same as :meth:`verify` (kept for callers of the first release)."""
        return self.verify(actor, expected_head=expected_head)

    def rotate_encryption(
        self, actor: Actor, *, batch_size: int = 200, progress: Callable[[int], None] | None = None
    ) -> RotationReport:
        """Re-encrypt every free-text field of the record under the cipher's primary key.

        Safe to interrupt: each batch is committed on its own, and running it again carries on where it
        stopped (fields already under the primary key are left alone). Audit entries' stated reasons are
        never rewritten (the log is append-only): the report counts the fields rewritten and, by key id,
        the reasons left under other keys, which must stay in the keyring for those reasons to be read.
        """
        return self._read.rotate_encryption(actor, batch_size=batch_size, progress=progress)

    # -- notifications: the host's delivery worker (outbox rows only, never clinical content) -------------

    def dispatcher(self) -> Dispatcher:
        """This practice's outbox dispatcher (one per Practice, created on first use)."""
        s = self._open()
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(
                s.store, s.plugins.notifiers(), policy=self.dispatch_policy, clock=s.clock
            )
        return self._dispatcher

    def dispatch_pending(self, *, limit: int | None = None) -> DispatchSummary:
        """Deliver the outbox messages due now to their channels; returns what happened.

        Safe to call from several processes at once (each message is leased to one dispatcher). A failing
        or hanging channel only delays its own messages; see :mod:`alliancekit.notify.dispatcher`.
        """
        limit = check_optional_int("limit", limit, lo=1, hi=1_000_000)
        return self.dispatcher().dispatch_pending(limit=limit)

    def run_dispatcher(self, stop_event: threading.Event, poll_interval: float = 5.0) -> DispatchSummary:
        """Dispatch until ``stop_event`` is set (a host's worker thread or process); returns the totals."""
        stop_event = check_instance("stop_event", stop_event, threading.Event)
        poll_interval = check_number("poll_interval", poll_interval, lo=0.001, hi=3600)
        return self.dispatcher().run(stop_event, poll_interval)

    def outbox_status(self) -> OutboxStatus:
        """Outbox messages by state (pending, delivered, dead), when the oldest pending one was written and
        when the first pending one is due (``next_due_at``)."""
        return self._open().reader.outbox_status()

    def outbox_records(
        self, state: OutboxState | None = None, *, limit: int = 1000, after: str | None = None
    ) -> list[OutboxRecord]:
        """Outbox messages (in one state, or all, of every clinic), oldest first. ``after`` (the last message
        id of a page) gives the next page.

        A worker call: no actor, no audit entry, so each body holds references and codes only. A request's
        link carries the client's token and is left out (``has_link`` in the body says there was one); only
        the dispatcher hands it to the channel. See :func:`alliancekit.notify.outbox.shown_record`.
        """
        state = check_optional_choice("state", state, OutboxState)
        limit = check_int("limit", limit, lo=1, hi=1_000_000)
        if after is not None:
            check_ref("after", after)
        return [shown_record(r) for r in self._open().reader.outbox_records(state, limit, after)]

    def retry_message(self, message_id: str) -> bool:
        """Put a dead message back to pending, due now; False when there is no dead message with that id."""
        s = self._open()
        check_ref("message_id", message_id)
        return s.store.outbox_requeue(message_id, s.clock())


def practice_file(location: str | os.PathLike[str]) -> Path | None:
    """The file an SQLite practice location names (a path, ``sqlite:path`` or ``sqlite:///abs/path``);
    ``None`` for a location of another scheme. Names a file only: it opens nothing."""
    return sqlite_file(location)


def shown_location(location: str | os.PathLike[str]) -> str:
    """A practice location as a message may show it: a URL without its password (in its user part or its
    query: ``password``, ``sslpassword``, ``sslkey``), a path as it is. What :attr:`StoreError.location
    <alliancekit.errors.StoreError.location>` holds for a store at a URL. Opens nothing."""
    return _shown_location(location)


def practice_files(path: Path) -> tuple[Path, ...]:
    """An SQLite practice's file and the files kept beside it (journals, the writers' lock): what removing
    the practice removes. Names files only: it opens nothing."""
    return database_files(path)


def practice_journal(path: Path) -> Path | None:
    """A ``-wal`` or ``-journal`` file beside the SQLite file ``path`` (a practice in use, or not closed
    cleanly), else ``None``: SQLite would apply it to whatever database is next opened there. Names files
    only: it opens nothing."""
    return journal_beside(path)


def remove_practice_files(path: Path) -> None:
    """Remove an SQLite practice's files that this user made (a file another user left beside it, such as
    a planted ``-wal``, stays: it is theirs); a file that cannot be removed is left. For a practice the
    caller made and is abandoning (a demo or an import cut short)."""
    for file in practice_files(path):
        with contextlib.suppress(OSError):
            if private_files.owned_by_me(file):
                file.unlink()


def practice_in_memory(location: str | os.PathLike[str]) -> bool:
    """Whether a location keeps its practice in this process's memory (``memory:``, SQLite's
    ``:memory:``): gone when the process ends. Names a kind of location only: it opens nothing."""
    path = sqlite_file(location)
    return split_location(location)[0] == "memory" or (path is not None and str(path) == ":memory:")


def _definitions_action(kind: str, purpose: Purpose | None) -> str:
    """The audit action of a read of the stored measure definitions for ``kind``: an export's, or the
    report's (its inputs checked alike; a wrong kind is refused naming every kind taken)."""
    if kind == REPORT_KIND:
        _export_action(EXPORT_KINDS[0], purpose)
        return REPORT_READ
    if kind not in EXPORT_KINDS:
        raise ValidationError("kind", "enum", ", ".join((*EXPORT_KINDS, REPORT_KIND)))
    return _export_action(kind, purpose)


def _export_action(kind: str, purpose: Purpose | None) -> str:
    """The audit action of a read made for an export of ``kind`` (its inputs checked)."""
    if kind not in EXPORT_KINDS:
        raise ValidationError("kind", "enum", ", ".join(EXPORT_KINDS))
    if purpose is not None and not isinstance(purpose, Purpose):
        raise ValidationError("purpose", "type", "Purpose expected")
    return f"export-{kind}"


def open_practice(
    location: str | os.PathLike[str] | Store,
    *,
    plugins: PluginHost | None = None,
    read_only: bool = False,
    create: bool = True,
    **options: Unpack[PracticeOptions],
) -> Practice:
    """Open a practice on a store.

    :param location: a :class:`~alliancekit.store.Store`, a path (an SQLite file, created if missing), or a
        location string with a scheme registered by a store plugin (``memory:``, ``sqlite:/path``,
        ``postgresql://...``). A store given as an object stays open when the practice closes: the caller
        opened it and closes it (so that practices opened per request can share one store and its pool).
    :param plugins: the plugin host to use; the process-wide one by default.
    :param read_only: open an existing store without ever creating, migrating or changing it (a missing,
        empty or foreign database is an error; every write is refused). For verification and inspection.
    :param create: with ``False``, open an existing store for writing but never create one: a missing,
        empty or foreign database is :class:`~alliancekit.errors.NotAnAlliancekitStore`, as read-only.
    :param options: passed to :class:`Practice` (see :class:`PracticeOptions`).
    """
    host = check_instance("plugins", plugins, PluginHost) if plugins is not None else get_plugin_host()
    if isinstance(location, str | os.PathLike):
        made = _new_database(location)
        try:
            store = host.stores().open(
                location, read_only=check_bool("read_only", read_only), create=check_bool("create", create)
            )
        except BaseException:
            _remove_new(made)  # a full disk while the schema was made: no empty file left behind
            raise
    elif isinstance(location, Store):
        practice = Practice(location, plugins=host, **options)
        practice._closes_store = False  # noqa: SLF001 - the caller opened the store, and closes it
        return practice
    else:
        raise ValidationError("location", "type", "a path, a location string or a Store")
    try:
        return Practice(store, plugins=host, **options)
    except BaseException:
        store.close()  # opened here for a practice that was refused (a bad option): not left open
        _remove_new(made)  # nor left behind, made empty by a call that wrote nothing
        raise


def _remove_new(made: tuple[Path, ...]) -> None:
    """Remove the files an open that failed had created (never one that was there before it: a side file
    another user planted, say). A file that cannot be removed is left: the open's own error is the one
    raised."""
    for file in made:
        with contextlib.suppress(OSError):
            file.unlink()


def _new_database(location: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The files opening ``location`` is about to create: an SQLite file that is not there yet, with those of
    its side files that are not there either (none: another kind of store, or a file that exists already)."""
    try:
        path = sqlite_file(location)
    except ValidationError:  # the store's opener says so, in its own words
        return ()
    if path is None or str(path) == ":memory:" or "\x00" in str(path):  # the store refuses a NUL: no file
        return ()
    return () if path.exists() else tuple(file for file in practice_files(path) if not file.exists())
