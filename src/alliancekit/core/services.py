"""What one practice's guarded path is made of, built once by :func:`build_services`.

The facade holds one :class:`Services`; the runner and the views receive it. Nothing here is public.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import attrs

from alliancekit.core.guard import Guard
from alliancekit.domain.checks import (
    check_aware_datetime,
    check_clinic,
    check_instance,
    check_int,
    check_optional_bytes,
    check_optional_instance,
    check_ref,
    check_time_zone,
)
from alliancekit.domain.records import Administration
from alliancekit.errors import UnknownMeasure, ValidationError
from alliancekit.events.codec import Codec
from alliancekit.events.types import Event, RecordedScore
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.feedback.expectation import FIT_KEY, Expectations, Outcome
from alliancekit.feedback.rules import AlertRule, alert_rules
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.measures.definition import Measure, MeasureKind
from alliancekit.measures.stored import StoredMeasures
from alliancekit.notify.outbox import Subscriptions
from alliancekit.plugins.manager import PluginHost
from alliancekit.projections import caseload_row
from alliancekit.protocols.definition import MeasurementProtocol
from alliancekit.protocols.registry import resolve_protocol
from alliancekit.requests.config import RequestConfig
from alliancekit.security.encryption import FieldCipher
from alliancekit.security.policy import AccessPolicy, supplied_policy
from alliancekit.store.definitions import load_stored
from alliancekit.store.protocol import CaseloadRow, Store, StoredEvent
from alliancekit.store.reader import RecordReader


def random_id(kind: str) -> str:
    """A random (version 4) UUID as 32 hex digits, without building a UUID object (on every write)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


@attrs.define
class Services:
    """The parts of one practice, shared by its runner and views."""

    store: Store
    reader: RecordReader
    codec: Codec
    guard: Guard
    plugins: PluginHost
    clock: Callable[[], datetime]
    ids: Callable[[str], str]
    feedback: FeedbackConfig
    time_zone: ZoneInfo = attrs.field(factory=lambda: ZoneInfo("UTC"))
    clinic_time_zones: Mapping[str, ZoneInfo] = attrs.field(factory=dict)
    expectations: Expectations = attrs.field(init=False)
    subscriptions_given: Subscriptions | None = None
    requests: RequestConfig = attrs.field(factory=RequestConfig)
    """How administration requests and kiosk codes are made (expiry, reminder, link, limits)."""
    measure_cache: dict[object, object] = attrs.field(factory=dict)
    _rules: tuple[AlertRule, ...] | None = None
    _rule_suppliers: Mapping[str, str] | None = None
    _outcome_kind: dict[str, bool] = attrs.field(factory=dict)
    _subscriptions: Subscriptions | None = None
    clinic_protocols: Mapping[str, MeasurementProtocol] = attrs.field(factory=dict)
    default_protocol: MeasurementProtocol | None = None

    def __attrs_post_init__(self) -> None:
        self.expectations = Expectations(
            self.plugins,
            self.feedback,
            self.closed_outcomes,
            self.clock,
            lambda: self.reader.load_meta(FIT_KEY),
        )

    def zone(self, clinic_id: str | None) -> ZoneInfo:
        """The clinic's time zone: its own, else the practice's (``None``: the practice's)."""
        own = None if clinic_id is None else self.clinic_time_zones.get(clinic_id)
        return own or self.time_zone

    def today(self, clinic_id: str | None) -> date:
        """The clinic's calendar date now (a day ends at the clinic's midnight, not UTC's)."""
        return self.clock().astimezone(self.zone(clinic_id)).date()

    @property
    def subscriptions(self) -> Subscriptions:
        if self.subscriptions_given is not None:
            return self.subscriptions_given
        if self._subscriptions is None:
            self._subscriptions = self.plugins.notifiers().default_subscriptions()
        return self._subscriptions

    def rules(self) -> tuple[AlertRule, ...]:
        if self._rules is None:
            self._rules = tuple(alert_rules(self.plugins))
        return self._rules

    def rule_suppliers(self) -> Mapping[str, str]:
        """Rule id -> the plugin that registered it."""
        if self._rule_suppliers is None:
            registry = alert_rules(self.plugins)
            self._rule_suppliers = {rule.id: registry.supplier(rule.id) for rule in registry}
        return self._rule_suppliers

    def score(
        self,
        administrations: Iterable[Administration],
        client_ref: str | None = None,
        population: str | None = None,
    ) -> tuple[RecordedScore, ...]:
        """Each administration scored, its rater checked against the measure; a score about the identified
        client (``client_ref``) is recorded as about ``None``, as a single-client episode records it. Its
        clinical flag is read against the episode's norm ``population`` (``Measure.norm_for``)."""
        registry = self.plugins.measures()
        scores = []
        for i, admin in enumerate(administrations):
            if admin.answers and admin.total is not None:
                raise ValidationError(
                    f"session.administrations[{i}].total",
                    "total-or-answers",
                    "a total-only administration has no answers (give the answers or the total)",
                )
            try:
                if admin.total is None:
                    score = registry.score(admin.measure_id, admin.version, admin.answers)
                else:
                    score = registry.score_total(admin.measure_id, admin.version, admin.total)
                measure = registry.get(admin.measure_id, admin.version)
            except UnknownMeasure as exc:
                raise self.unknown_measure(exc, admin.measure_id, admin.version) from None
            allowed = measure.raters
            if admin.rater not in allowed:
                raise ValidationError(
                    f"session.administrations[{i}].rater",
                    "rater-not-allowed",
                    "this measure is completed by: " + ", ".join(sorted(allowed)),
                )
            scores.append(
                RecordedScore(
                    score.measure_id,
                    score.version,
                    score.total,
                    dict(score.subscales),
                    score.band,
                    score.clinical if population is None else measure.is_clinical(score.total, population),
                    tuple(score.risk_items),
                    None if admin.about == client_ref else admin.about,
                    admin.rater,
                )
            )
        return tuple(scores)

    def unknown_measure(
        self, error: UnknownMeasure, measure_id: str, version: str | None = None
    ) -> UnknownMeasure:
        """``error``, saying the measure's plugin is not installed when no version of it is registered and
        the store holds a definition of it (what its administrations used). Read on this error path only:
        a command that scores reads no definitions."""
        if any(registered == measure_id for registered, _ in self.plugins.measures()):
            return error  # the plugin is installed: the version is wrong
        if not any(kept.measure_id == measure_id for kept in self.reader.measure_definitions()):
            return error
        return UnknownMeasure(measure_id, version, stored=True)

    def installed_measure(self, measure_id: str, version: str | None = None) -> Measure:
        """The registered measure a new administration (a request, a kiosk code, the client's answers)
        uses: a measure whose plugin is gone is described by its stored definition only for the history,
        so it is :class:`~alliancekit.errors.UnknownMeasure` naming the measure, saying when its plugin is
        not installed (:meth:`unknown_measure`), raised before anything is written."""
        try:
            found: Measure = self.plugins.measures().get(measure_id, version)
        except UnknownMeasure as exc:
            raise self.unknown_measure(exc, measure_id, version) from None
        return found

    def stored_measures(self) -> list[Measure]:
        """The measure definitions stored with the data, loaded as the registry loads a plugin's, and not
        audited: only for a call already decided and audited, whose one entry covers them (published
        instruments, no client data), so that call costs no entry more."""
        return [load_stored(stored) for stored in self.reader.measure_definitions()]

    def described_measures(self) -> StoredMeasures:
        """The installed measures, falling back to :meth:`stored_measures` (read at most once, and only when
        a lookup needs them) for one decided and audited call: a refit, a command's review record, its alert
        rules and its caseload row (:meth:`is_outcome`)."""
        return StoredMeasures(self.plugins.measures(), self.stored_measures)

    def is_outcome(self, measure_id: str) -> bool:
        """Whether a measure is an outcome measure (what the caseload row's primary outcome is chosen
        among): by its installed plugin's latest version, else by its latest definition stored with the
        data, as the reports decide it, so a row does not change when the plugin is removed. The stored
        definitions are read only for a measure no plugin registers, within the decided and audited
        command or read that projects the row (published instruments: no entry of their own). A measure
        neither registered nor stored is not one, and is looked up again next time (a definition another
        process stores since is then read)."""
        known = self._outcome_kind.get(measure_id)
        if known is None:
            measure = self.described_measures().latest(measure_id)
            if measure is None:
                return False
            known = measure.kind is MeasureKind.OUTCOME
            self._outcome_kind[measure_id] = known
        return known

    def protocol_for(self, state: EpisodeState) -> MeasurementProtocol | None:
        """The measurement protocol the episode follows: its own, else its clinic's, else the default."""
        if state.protocol is not None:
            return state.protocol
        return self.clinic_protocols.get(state.clinic_id, self.default_protocol)

    def fold_json(
        self, events: Sequence[StoredEvent], decode: Callable[[StoredEvent], Event] | None = None
    ) -> str:
        """The snapshot JSON folded from an episode's stored events (what verification expects), each
        decoded by ``decode`` (the codec's when not given)."""
        return self.codec.encode_state(self.reader.fold(list(events), decode))

    def caseload_row(self, state: EpisodeState) -> CaseloadRow:
        """The caseload row ``state`` is stored as (the runner's projection; a reader's view alike)."""
        return caseload_row(
            state,
            review_every=self.feedback.review_every,
            is_outcome=self.is_outcome,
            protocol=self.protocol_for(state),
        )

    def project(self, state_json: str) -> CaseloadRow:
        """The caseload row a snapshot projects to (what verification expects of the stored row)."""
        state = self.codec.decode_state(state_json)
        if state is None:
            state = self.codec.decode_legacy_state(state_json)
        # without the protocol: the missed measures depend on the host's configuration, and verification
        # leaves them out of its comparison (alliancekit.integrity.verify)
        return caseload_row(state, review_every=self.feedback.review_every, is_outcome=self.is_outcome)

    def closed_outcomes(self) -> list[Outcome]:
        """Closed episodes' intake and final outcome totals, from the caseload projection (no events).

        Feeds the expected-response fit, which is a statistical model over the practice: its curves carry
        no record of any one client, so this internal read is not a client read to audit.
        """
        return [
            Outcome(
                row.outcome_measure,
                row.first_outcome,
                row.latest_outcome,
                row.outcome_sessions,
                row.population,
            )
            for row in self.reader.closed_outcomes(None)
            if row.ending_reason is not None
            and row.outcome_measure is not None
            and row.first_outcome is not None
            and row.latest_outcome is not None
            and row.outcome_sessions is not None
        ]


def build_services(
    store: object,
    *,
    plugins: object,
    clock: object,
    ids: object,
    review_every: object,
    feedback: object,
    policy: object,
    audit_key: object,
    checkpoint_every: object,
    cipher: object,
    subscriptions: object,
    time_zone: object = "UTC",
    clinic_time_zones: object = None,
    requests: object = None,
    protocols: object = None,
    default_protocol: object = None,
) -> Services:
    """The parts of one practice, from the options a host passed to :class:`~alliancekit.Practice` (each
    checked here: a wrong option is a :class:`~alliancekit.errors.ValidationError` naming it)."""
    store = check_instance("store", store, Store)  # type: ignore[type-abstract]
    plugins = check_instance("plugins", plugins, PluginHost)
    config = check_optional_instance("feedback", feedback, FeedbackConfig) or FeedbackConfig()
    if review_every is not None:
        config = attrs.evolve(config, review_every=check_int("review_every", review_every, lo=1, hi=1000))
    key = check_optional_bytes("audit_key", audit_key, min_len=32, max_len=4096)
    every = check_int("checkpoint_every", checkpoint_every, lo=1, hi=1_000_000)
    codec = Codec(check_optional_instance("cipher", cipher, FieldCipher))
    reader = RecordReader(store, codec)
    now = _utc(_function("clock", clock)) if clock is not None else (lambda: datetime.now(UTC))
    new_id = _checked_ids(_function("ids", ids)) if ids is not None else random_id
    if policy is not None and not isinstance(policy, AccessPolicy):
        raise ValidationError("policy", "type", "an AccessPolicy (an object with decide(request))")
    chosen, supplier = (policy, None) if policy is not None else supplied_policy(plugins)
    guard = Guard(
        store,
        reader,
        chosen,
        clock=now,
        ids=new_id,
        audit_key=key,
        checkpoint_every=every,
        policy_supplier=supplier,
        cipher=codec.cipher,
    )
    return Services(
        store=store,
        reader=reader,
        codec=codec,
        guard=guard,
        plugins=plugins,
        clock=now,
        ids=new_id,
        feedback=config,
        time_zone=check_time_zone("time_zone", time_zone),
        clinic_time_zones=_clinic_zones(clinic_time_zones),
        subscriptions_given=check_optional_instance("subscriptions", subscriptions, Subscriptions),
        requests=check_optional_instance("requests", requests, RequestConfig) or RequestConfig(),
        clinic_protocols=_clinic_protocols(protocols, plugins),
        default_protocol=None
        if default_protocol is None
        else resolve_protocol("default_protocol", default_protocol, plugins),
    )


def _clinic_protocols(value: object, plugins: PluginHost) -> dict[str, MeasurementProtocol]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("protocols", "type", "a mapping of clinic id to a protocol or its name")
    return {
        check_clinic("protocols", clinic): resolve_protocol(f"protocols.{clinic}", protocol, plugins)
        for clinic, protocol in value.items()
    }


def _clinic_zones(value: object) -> dict[str, ZoneInfo]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("clinic_time_zones", "type", "a mapping of clinic id to IANA time zone name")
    return {
        check_clinic("clinic_time_zones", clinic): check_time_zone(f"clinic_time_zones.{clinic}", zone)
        for clinic, zone in value.items()
    }


def _function(field: str, value: object) -> Callable[..., object]:
    if not callable(value):
        raise ValidationError(field, "type", "a function")
    return value


def _checked_ids(ids: Callable[..., object]) -> Callable[[str], str]:
    """The host's id maker, each id checked as any id is: one it made wrong (not text, empty, too long, NUL)
    is refused before anything holding it is written."""

    def new_id(kind: str) -> str:
        return check_ref("ids", ids(kind))

    return new_id


def _utc(clock: Callable[..., object]) -> Callable[[], datetime]:
    """The host's clock, in UTC: event and audit times are hashed as ISO text, and a store may return them
    in another zone (PostgreSQL gives UTC), so they are kept in one."""

    def now() -> datetime:
        return check_aware_datetime("clock", clock()).astimezone(UTC)

    return now
