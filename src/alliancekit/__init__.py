"""alliancekit: feedback-informed psychotherapy care for practice-management software.

The public face: :func:`open_practice` returns a :class:`Practice`, the one facade a host calls, and every
type its methods take or return is importable from here. Errors live in :mod:`alliancekit.errors`, the
domain's vocabularies in :mod:`alliancekit.domain`; everything under ``alliancekit.core`` is internal.
"""

# The package imports nothing Python has not loaded already (not even ``typing``): the ``alliancekit``
# command's Ctrl-C handling starts once this package and its entry module have loaded (see
# :mod:`alliancekit.cli.main`), and whatever they import runs before it. Type checkers read the block below
# (they take any name ``TYPE_CHECKING`` as true); at run time every public name is imported on first use.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import typing

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
    from alliancekit.practice import Practice, PracticeOptions, open_practice
    from alliancekit.protocols import DueMeasure, MeasurementProtocol, ScheduleEntry
    from alliancekit.requests import AdministrationRequest, KioskCode, RequestConfig, RequestForm, Submission
    from alliancekit.security.encryption import FieldCipher, Keyring, RotationReport
    from alliancekit.security.policy import AccessPolicy, AccessRequest, Decision
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
        CaseloadRow,
        ClosedOutcome,
        OutboxRecord,
        OutboxState,
        OutboxStatus,
        ShardHead,
        Store,
    )

del TYPE_CHECKING

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
    "Caseload",
    "CaseloadRow",
    "ClientView",
    "ClosedOutcome",
    "ClosedOutcomes",
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
    "PracticeOptions",
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
    "RotationReport",
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

#: Where each public name is defined: imported on first use (PEP 562), so that ``import alliancekit`` is quick
#: and the ``alliancekit`` command can start its own Ctrl-C handling before the heavy imports (see
#: :mod:`alliancekit.cli.main`).
_DEFINED_IN = {
    "__version__": "alliancekit._version",
    "AccessPolicy": "alliancekit.security.policy",
    "AccessRequest": "alliancekit.security.policy",
    "Actor": "alliancekit.domain",
    "Administration": "alliancekit.domain",
    "AdministrationRequest": "alliancekit.requests",
    "AlertState": "alliancekit.lifecycle.state",
    "AuditBatch": "alliancekit.store.group_commit",
    "AuditCheckpoint": "alliancekit.store.protocol",
    "AuditRecord": "alliancekit.store.protocol",
    "BandFit": "alliancekit.feedback.expectation",
    "Batch": "alliancekit.batch",
    "Caseload": "alliancekit.security.views",
    "CaseloadRow": "alliancekit.store.protocol",
    "ClientView": "alliancekit.security.views",
    "ClosedOutcome": "alliancekit.store.protocol",
    "ClosedOutcomes": "alliancekit.security.views",
    "Consent": "alliancekit.domain",
    "Consultation": "alliancekit.domain",
    "Decision": "alliancekit.security.policy",
    "DispatchPolicy": "alliancekit.notify.dispatcher",
    "DispatchSummary": "alliancekit.notify.dispatcher",
    "Dispatcher": "alliancekit.notify.dispatcher",
    "DueMeasure": "alliancekit.protocols",
    "Ending": "alliancekit.domain",
    "EpisodeState": "alliancekit.lifecycle.state",
    "ExpectationFit": "alliancekit.feedback.expectation",
    "Expectations": "alliancekit.feedback.expectation",
    "FeedbackConfig": "alliancekit.feedback.config",
    "FieldCipher": "alliancekit.security.encryption",
    "Finding": "alliancekit.integrity.verify",
    "FitDecision": "alliancekit.domain",
    "GoalDraft": "alliancekit.domain",
    "GoalProgressNote": "alliancekit.domain",
    "GoalRevision": "alliancekit.domain",
    "GroupSession": "alliancekit.domain",
    "GroupSessionRecorded": "alliancekit.core.groups",
    "ImportCheckpoint": "alliancekit.imports",
    "IntegrityReport": "alliancekit.integrity.verify",
    "Keyring": "alliancekit.security.encryption",
    "KioskCode": "alliancekit.requests",
    "MaintenancePlan": "alliancekit.domain",
    "Measure": "alliancekit.measures.definition",
    "MeasurementProtocol": "alliancekit.protocols",
    "MemberAttendance": "alliancekit.domain",
    "OutboxRecord": "alliancekit.store.protocol",
    "OutboxState": "alliancekit.store.protocol",
    "OutboxStatus": "alliancekit.store.protocol",
    "Participant": "alliancekit.domain",
    "ParticipantRole": "alliancekit.domain",
    "PluginHost": "alliancekit.plugins.manager",
    "Practice": "alliancekit.practice",
    "PracticeOptions": "alliancekit.practice",
    "Preferences": "alliancekit.domain",
    "ProcessNote": "alliancekit.security.views",
    "Purpose": "alliancekit.domain",
    "Rater": "alliancekit.domain",
    "Recorded": "alliancekit.core.runner",
    "RecordedWithId": "alliancekit.core.runner",
    "RepairAttempt": "alliancekit.domain",
    "RequestConfig": "alliancekit.requests",
    "RequestForm": "alliancekit.requests",
    "RequestPoint": "alliancekit.domain",
    "Review": "alliancekit.domain",
    "Role": "alliancekit.domain",
    "RotationReport": "alliancekit.security.encryption",
    "RuptureNote": "alliancekit.domain",
    "ScheduleEntry": "alliancekit.protocols",
    "Session": "alliancekit.domain",
    "SessionHistory": "alliancekit.security.views",
    "ShardHead": "alliancekit.store.protocol",
    "SharedRecord": "alliancekit.security.views",
    "Store": "alliancekit.store.protocol",
    "Submission": "alliancekit.requests",
    "Subscriptions": "alliancekit.notify.outbox",
    "Timeline": "alliancekit.security.views",
    "TimelineEntry": "alliancekit.security.views",
    "hookimpl": "alliancekit.plugins.hookspecs",
    "open_practice": "alliancekit.practice",
}


def __getattr__(name: str) -> "typing.Any":
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found here from now on, without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
