"""Every hook alliancekit calls, in one module, grouped by the part of the library that calls it.

Plugins implement these with :data:`hookimpl` (``import alliancekit; @alliancekit.hookimpl``). Two rules
learned from pluggy-based projects:

* never give a hook implementation's arguments default values: pluggy passes arguments by name and
  silently ignores defaults;
* registration hooks receive a ``register`` callback instead of returning values, so that the host knows
  which plugin supplied each store, measure, rule or channel and can report clashes by name. Call it while
  the hook runs: a ``register`` called after the hook returned, or a registration hook returning anything
  but ``None``, is a :class:`~alliancekit.errors.PluginError` naming the plugin.

Hook names all start with ``alliancekit_``. A hook marked *firstresult* stops at the first implementation
that returns something other than ``None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from typing import Any

    from alliancekit.feedback.expectation import ExpectationModel
    from alliancekit.feedback.rules import AlertRuleRegistrar
    from alliancekit.fhir.context import ExportContext, ExportOptions
    from alliancekit.fhir.identity import FhirIdentity
    from alliancekit.fhir.mappers import MapperRegistrar
    from alliancekit.fhir.privacy import Withhold
    from alliancekit.measures.definition import Measure
    from alliancekit.measures.registry import MeasureRegistrar
    from alliancekit.notify.channels import ChannelRegistrar
    from alliancekit.protocols.registry import ProtocolRegistrar
    from alliancekit.security.policy import AccessPolicy
    from alliancekit.store.registry import StoreRegistrar

PROJECT = "alliancekit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------- storage


@hookspec
def alliancekit_register_stores(register: StoreRegistrar) -> None:
    """Register storage backends.

    Called once, the first time a practice is opened from a location string.

    :param register: call ``register(scheme, opener)`` for each backend. ``scheme`` is the part of a
        location before ``:`` (``"sqlite"``, ``"memory"``, ``"postgresql"``): an identifier of two or more
        characters (letters, digits and underscores; no hyphen), since a location with any other prefix is
        read as an SQLite file path. ``opener(location, *, read_only=False)`` takes the whole location
        string (and, optionally, ``create``: see :class:`alliancekit.store.registry.StoreOpener`) and
        returns an object satisfying :class:`alliancekit.store.Store` (anything else fails the open with a
        :class:`~alliancekit.errors.PluginError` naming the plugin). A scheme no location can name, or an
        opener that cannot be called that way, is refused when registered with a ``PluginError`` naming
        the plugin.
        Registering a scheme another plugin already registered raises :class:`~alliancekit.errors.PluginError`
        naming both plugins.
    :return: nothing; registrations go through ``register``.
    """


# -------------------------------------------------------------------------------------------- measures


@hookspec
def alliancekit_register_measures(register: MeasureRegistrar) -> None:
    """Register outcome, alliance and symptom measures.

    Called once, when the measure registry is first needed.

    :param register: call ``register(definition)`` for each measure, where ``definition`` is a mapping in
        the measure-definition format (``schemas/measure-definition.schema.json``). The definition is
        checked against the meta-schema before it is accepted: a wrong definition raises
        :class:`~alliancekit.errors.PluginMeasureDefinitionError` (both a ``MeasureDefinitionError`` and a
        ``PluginError``) with its JSON path and rule, naming the plugin (``plugin``). Registering an id and
        version another plugin already registered raises :class:`~alliancekit.errors.PluginError` naming
        both.
    :return: nothing; registrations go through ``register``.
    """


@hookspec
def alliancekit_register_protocols(register: ProtocolRegistrar) -> None:
    """Register named measurement protocols: which measure is due when.

    Called once per plugin host, the first time a protocol is looked up by name (a practice opened with
    ``protocols=`` or ``default_protocol=`` naming one, or :meth:`~alliancekit.Practice.set_protocol`).
    A clinic picks a registered protocol by its name; the builtin plugin registers ``fit`` (the ORS at the
    start and the SRS at the end of every session).

    :param register: call ``register(protocol)`` with an :class:`alliancekit.protocols.MeasurementProtocol`
        for each protocol (prefix your own names, ``myclinic.intake-and-review``). Its measures are checked
        against the registered measures when a practice uses it (an unknown measure is a
        :class:`~alliancekit.errors.ValidationError`). Registering a name another plugin already
        registered raises :class:`~alliancekit.errors.PluginError` naming both plugins.
    :return: nothing; registrations go through ``register``.
    """


# ------------------------------------------------------------------------------------------- security


@hookspec(firstresult=True)
def alliancekit_access_policy() -> AccessPolicy | None:
    """Supply the access policy that decides every call of a :class:`~alliancekit.Practice`.

    Called once per plugin host, the first time a practice is created; *firstresult*: the first plugin
    that returns a policy wins, and with none the :class:`~alliancekit.security.policy.DefaultPolicy`
    decides. A host can still pass ``Practice(..., policy=...)``, which takes precedence.

    The hook has no parameters.

    :return: an object with a ``decide(request: AccessRequest) -> Decision`` method
        (:class:`alliancekit.security.policy.AccessPolicy`), or ``None`` to leave the choice to other
        plugins. ``decide`` sees the actor, the action, the record's type and id and the episode's state
        (never free text); a refusal's ``reason`` must be a fixed phrase, as it goes into the exception.
        Returning something without ``decide`` raises :class:`~alliancekit.errors.PluginError`.
    """


# -------------------------------------------------------------------------------------------- feedback


@hookspec
def alliancekit_register_alert_rules(register: AlertRuleRegistrar) -> None:
    """Register alert rules of the feedback engine.

    Called once per plugin host, the first time a command is evaluated for alerts. Rules run after every
    command, in registration order (builtins first), inside the command's transaction: keep them fast and
    pure (no I/O), and let them look only at the :class:`~alliancekit.feedback.rules.RuleContext`.

    :param register: call ``register(rule)`` with an :class:`alliancekit.feedback.AlertRule` for each
        rule: an id (prefix your own, ``myclinic.long-wait``), a severity (info, amber, red, urgent), a fixed
        plain-language message (``{measure}`` is replaced by the measure's title; never client words or
        scores) and a ``check(context)`` returning the measure ids it fires for (``None`` for the episode),
        or :class:`alliancekit.feedback.Target` values naming the participant too, in an episode with several
        (see the guide on couples, families and groups); any other value, or a single string, fails the
        command with a :class:`~alliancekit.errors.PluginError` naming the rule.
        Registering an id another plugin already registered raises
        :class:`~alliancekit.errors.PluginError` naming both plugins. A check that raises anything but an
        :class:`~alliancekit.errors.AlliancekitError` fails the command with a ``PluginError`` naming the
        rule (nothing is written), so a broken rule cannot silently drop alerts.
    :return: nothing; registrations go through ``register``.
    """


@hookspec(firstresult=True)
def alliancekit_expectation_model(measure: Measure, population: str | None) -> ExpectationModel | None:
    """Supply the expected-treatment-response model for a measure, for an episode's norm population.

    *firstresult*: called once per measure, version and population per plugin host; the first plugin that
    returns a model supplies every expectation for that measure and population (plugins registered later
    are asked first, as pluggy does). When every plugin returns ``None`` (the default), the practice's own
    fitted curves are used, with the rational expectation from the measure's norms as the fallback (see
    :mod:`alliancekit.feedback.expectation`). A model may still answer ``None`` for one client, which
    falls back the same way.

    :param measure: the registered :class:`~alliancekit.measures.definition.Measure` (its ``definition``
        is read-only: it is shared by every practice).
    :param population: the norm population the episode was opened with, as it names it (``"child"``;
        ``None``: none named, so each measure's default), not the one ``Measure.norm_for`` falls back to.
        Optional: pluggy passes only the arguments an implementation names, so one written before this
        argument (``alliancekit_expectation_model(measure)``) still works, and its model is asked for
        every population alike. A model for one population answers ``None`` for the others.
    :return: an object with ``expect(measure, intake, session) -> Expectation | None``
        (:class:`~alliancekit.feedback.expectation.ExpectationModel`), or ``None`` to leave the measure to
        the builtin model. An ``expect`` answering anything else fails the command with a
        :class:`~alliancekit.errors.PluginError` naming the plugin, and so does an ``Expectation`` that
        cannot be read for the measure and session asked: another ``session``, a ``higher_is_better``
        other than the measure's direction, an ``expected``, ``low``, ``high`` or ``limit`` that is not a
        finite number, ``low`` above ``high``, or a ``limit`` on the better side of ``expected``.
    """


# ------------------------------------------------------------------------------------------ notifications


@hookspec
def alliancekit_register_notifiers(register: ChannelRegistrar) -> None:
    """Register notification channels (e-mail, webhooks, a host's own pager or chat).

    Called once, when a practice first writes or dispatches outbox messages. A plugin that raises here is
    left out and reported in ``PluginHost.notifiers().problems``; the other plugins still register and the
    host's call goes on (a notification plugin never breaks the host).

    :param register: call ``register(channel)`` for each channel. ``channel`` has a ``name`` (``str``: the
        channel outbox messages are addressed to, e.g. ``"email"``), a method ``deliver(message)`` taking an
        :class:`alliancekit.notify.Notification`, returning ``None`` once delivered and raising on failure
        (called from worker threads under a time limit, so thread-safe), and optionally ``kinds``, the
        message kinds it receives when the host gives no explicit subscriptions
        (:data:`alliancekit.notify.DEFAULT_KINDS` otherwise). A name already registered by another plugin
        is refused (reported in ``problems``, the first registration kept), and so is a channel whose
        ``kinds`` names a kind that does not exist or is one string rather than a collection, or whose
        ``deliver`` cannot be called with the message as its one argument or is ``async`` (it is called from
        a worker thread and not awaited).
    :return: nothing; registrations go through ``register``.
    """


# ------------------------------------------------------------------------------------------- FHIR export


@hookspec(firstresult=True)
def alliancekit_fhir_identity(clinic_id: str, options: ExportOptions) -> FhirIdentity | None:
    """Say how the host's client references, clinicians and organisation appear in FHIR.

    Called once per clinic per export. *firstresult*: the first implementation that returns an identity
    wins; the builtin one (called last) returns :class:`~alliancekit.fhir.identity.SystemIdentity`, which
    makes logical references by identifier in the system ``options.identifier_system`` (the host's
    setting). Nothing about a client beyond what this identity returns is ever put in a resource.

    :param clinic_id: the clinic whose records are being exported.
    :param options: the export's :class:`~alliancekit.fhir.context.ExportOptions`.
    :return: an object with ``reference(kind, local_id) -> dict`` (a FHIR Reference), where ``kind`` is
        ``"client"`` (the episode's ``client_ref``), ``"practitioner"``, ``"organization"`` (the clinic id)
        or ``"device"`` (the system actor); or ``None`` to leave it to the next implementation. A
        ``reference`` answering anything but a JSON object fails the export with a
        :class:`~alliancekit.errors.PluginError` naming the plugin.
    """


@hookspec
def alliancekit_fhir_mappers(register: MapperRegistrar) -> None:
    """Add or replace the FHIR mapping of a record kind.

    Called once, when the first export needs the mappers. The builtin plugin registers the kinds
    ``episode``, ``consultation``, ``session``, ``administration``, ``client-response``, ``goal``,
    ``review``, ``rupture``, ``alert``, ``consent``, ``maintenance-plan``, ``measure`` and ``provenance``
    (see ``docs/guides/fhir.md``).

    :param register: call ``register(kind, mapper)``; ``mapper(record, context)`` returns the list of
        resources (JSON-ready dicts) for one record of that kind. Registering a builtin kind replaces the
        builtin mapping; two plugins registering the same kind raise
        :class:`~alliancekit.errors.PluginError` naming both.
    :return: nothing; registrations go through ``register``.
    """


@hookspec
def alliancekit_fhir_resource(resource: dict[str, Any], record: Any, context: ExportContext) -> None:
    """Refine every resource before it is emitted: identifiers, ``meta.profile``, extensions, codes.

    Called for each resource of each exported record, after the mapping and before the resource is put
    in a Bundle or an NDJSON file. Every implementation is called (most recently registered first), each
    seeing the changes of the ones before, so several integrations compose. Keep the resource valid: the
    export's ``--validate`` checks it against the FHIR R4 schema afterwards. A resource left as anything
    but JSON data with an R4 resource type as ``resourceType`` (one the FHIR R4 schema lists) fails the
    export with a :class:`~alliancekit.errors.PluginError` naming the plugin.

    :param resource: the resource as a JSON-ready dict; change it in place.
    :param record: the record it was made from (``record.KIND`` names its kind; see
        :mod:`alliancekit.fhir.records`).
    :param context: the :class:`~alliancekit.fhir.context.ExportContext` (actor, purpose, episode state,
        identity mapping).
    :return: nothing; the return value is ignored.
    """


@hookspec
def alliancekit_fhir_export_filter(record: Any, context: ExportContext) -> Withhold | None:
    """Decide whether a record may leave in this export: the seam for access policy and lockbox.

    Called once per record before it is mapped (the episode record first: withholding it withholds the
    whole episode). Every implementation is called; if any returns a
    :class:`~alliancekit.fhir.privacy.Withhold`, the record is left out and the export says that
    something was withheld (a ``REDACTED`` security label and an OperationOutcome with the count and the
    reason codes, never the content).

    :param record: the record about to be mapped (``record.KIND``: ``episode``, ``session``, ...).
    :param context: the export's context: ``context.purpose`` (treatment, client access, quality
        improvement), ``context.actor`` and ``context.state`` (the episode).
    :return: ``Withhold(reason)`` to keep the record out, or ``None`` to allow it. Anything else fails the
        export with a :class:`~alliancekit.errors.PluginError` naming the plugin (the record is not let out
        on a guess).
    """
