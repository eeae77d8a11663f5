"""alliancekit: feedback-informed psychotherapy care for practice-management software.

The public face: :func:`open_practice` returns a :class:`Practice`, the one facade a host calls, and every
type its methods take or return is importable from here. Errors live in :mod:`alliancekit.errors`, the
domain's vocabularies in :mod:`alliancekit.domain`; everything under ``alliancekit.core`` is internal.
"""

import logging

from alliancekit._version import __version__
from alliancekit.batch import Batch
from alliancekit.core.groups import GroupSessionRecorded
from alliancekit.core.runner import Recorded, RecordedWithId
from alliancekit.domain import (
    Actor,
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
    ParticipantRole,
    Preferences,
    Purpose,
    Rater,
    RepairAttempt,
    RequestPoint,
    Review,
    Role,
    RuptureNote,
    Session,
)
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.feedback.expectation import BandFit, ExpectationFit, Expectations
from alliancekit.imports import ImportCheckpoint
from alliancekit.integrity.verify import Finding, IntegrityReport
from alliancekit.lifecycle.state import AlertState, EpisodeState
from alliancekit.measures.definition import Measure
from alliancekit.notify.dispatcher import Dispatcher, DispatchPolicy, DispatchSummary
from alliancekit.notify.outbox import Subscriptions
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.plugins.manager import PluginHost
from alliancekit.practice import Practice, open_practice
from alliancekit.protocols import DueMeasure, MeasurementProtocol, ScheduleEntry
from alliancekit.requests import AdministrationRequest, KioskCode, RequestConfig, RequestForm, Submission
from alliancekit.security.encryption import FieldCipher, Keyring
from alliancekit.security.policy import AccessPolicy, AccessRequest, Decision
from alliancekit.security.views import (
    ClientView,
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
    CaseloadRow,
    ClosedOutcome,
    OutboxRecord,
    OutboxState,
    OutboxStatus,
    ShardHead,
    Store,
)

# A library leaves logging to its host: without this, Python's last-resort handler prints the library's
# warnings to the stderr of a host that configured no logging.
logging.getLogger("alliancekit").addHandler(logging.NullHandler())

__all__ = [
    "AccessPolicy",
    "AccessRequest",
    "Actor",
    "Administration",
    "AdministrationRequest",
    "AlertState",
    "AuditBatch",
    "Batch",
    "AuditCheckpoint",
    "AuditRecord",
    "BandFit",
    "CaseloadRow",
    "ClientView",
    "ClosedOutcome",
    "Consent",
    "Consultation",
    "Decision",
    "DispatchPolicy",
    "DispatchSummary",
    "Dispatcher",
    "DueMeasure",
    "Ending",
    "EpisodeState",
    "ExpectationFit",
    "Expectations",
    "FeedbackConfig",
    "FieldCipher",
    "Finding",
    "FitDecision",
    "GoalDraft",
    "GoalProgressNote",
    "GoalRevision",
    "GroupSession",
    "GroupSessionRecorded",
    "ImportCheckpoint",
    "IntegrityReport",
    "Keyring",
    "KioskCode",
    "MaintenancePlan",
    "Measure",
    "MeasurementProtocol",
    "MemberAttendance",
    "OutboxRecord",
    "OutboxState",
    "OutboxStatus",
    "Participant",
    "ParticipantRole",
    "PluginHost",
    "Practice",
    "Preferences",
    "ProcessNote",
    "Purpose",
    "Rater",
    "Recorded",
    "RecordedWithId",
    "RepairAttempt",
    "RequestConfig",
    "RequestForm",
    "RequestPoint",
    "Review",
    "Role",
    "RuptureNote",
    "ScheduleEntry",
    "Session",
    "SessionHistory",
    "ShardHead",
    "SharedRecord",
    "Store",
    "Submission",
    "Subscriptions",
    "Timeline",
    "TimelineEntry",
    "__version__",
    "hookimpl",
    "open_practice",
]
