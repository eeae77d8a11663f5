"""What every mapper, filter and integrator hook is told about the export in progress."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.vocab import Purpose
from alliancekit.errors import PluginCall, PluginError, ValidationError
from alliancekit.fhir.identity import FhirIdentity
from alliancekit.fhir.output_check import BUILTIN, json_object

#: The purposes an export may be made for; each is also a purpose-of-use label on the Bundle.
EXPORT_PURPOSES: dict[Purpose, str] = {
    Purpose.TREATMENT: "TREAT",
    Purpose.CLIENT_ACCESS: "PATRQT",
    Purpose.QUALITY_IMPROVEMENT: "HQUALIMP",
}


#: An absolute URI (RFC 3986): a scheme, a colon, then no whitespace. Neither query nor fragment: the
#: default identity appends ``/client`` (``:client`` to a URN), which would end up inside them.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s?#]+\Z")


def _check_system(_instance: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    check_identifier_system(value)


def check_identifier_system(value: object) -> None:
    """Refuse an identifier system base (``--identifier-system``, of an export or an import) that is not
    an absolute URI without query or fragment; ``None`` (the placeholder systems) passes."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError("identifier_system", "type", "text expected")
    if not (_ABSOLUTE_URI.match(value) and value.isprintable() and _has_host(value)):
        raise ValidationError(
            "identifier_system",
            "absolute-uri",
            "an absolute URI (scheme:...) without spaces, query or fragment",
        )


def _has_host(uri: str) -> bool:
    """Whether an http(s) URI names a host (``https:///x`` does not); any other scheme has none to name."""
    try:
        parts = urlsplit(uri)
        return parts.scheme.lower() not in ("http", "https") or bool(parts.hostname)
    except ValueError:  # a malformed authority, such as an unclosed IPv6 bracket
        return False


@attrs.frozen
class ExportOptions:
    """The host's settings for an export.

    :param identifier_system: base URL (or URN) of the host's identifier systems, an absolute URI without
        query or fragment (else :class:`~alliancekit.errors.ValidationError`, rule ``absolute-uri``); the
        default identity makes ``<base>/client``, ``<base>/practitioner``, ``<base>/organization`` and
        ``<base>/device``.
    :param include_text: put free text (goal wording, maintenance-plan entries, rupture notes) in the
        resources. ``None`` means: for treatment and client access, not for quality improvement (minimum
        necessary).
    """

    identifier_system: str | None = attrs.field(default=None, validator=_check_system)
    include_text: bool | None = None


@attrs.frozen
class ExportContext:
    """One export: who asked and why, for which clinic and episode, and the host's identity mapping."""

    actor: Actor
    purpose: Purpose
    identity: FhirIdentity
    options: ExportOptions
    measures: Any
    """The :class:`~alliancekit.measures.registry.MeasureRegistry` (Questionnaires, LOINC codes)."""
    clinic_id: str
    episode_id: str | None = None
    state: Any = None
    """The episode's :class:`~alliancekit.lifecycle.state.EpisodeState` while one is being exported."""
    identity_supplier: str | None = None
    """The plugin that supplied ``identity``: named when its ``reference`` raises."""

    @property
    def include_text(self) -> bool:
        if self.options.include_text is not None:
            return self.options.include_text
        return self.purpose is not Purpose.QUALITY_IMPROVEMENT

    def ref(self, kind: str, local_id: str) -> dict[str, Any]:
        """A reference to a party through the host's identity mapping."""
        what = f"fhir identity reference for {kind}"
        with PluginCall(what, self.identity_supplier):
            found: object = self.identity.reference(kind, local_id)
        if self.identity_supplier != BUILTIN and not json_object(found):  # else written as it is
            raise PluginError.wrong_answer(what, self.identity_supplier, "a FHIR Reference (a JSON object)")
        return found  # type: ignore[return-value] # checked just above

    @property
    def client(self) -> dict[str, Any]:
        return self.ref("client", self.state.client_ref)

    def party(self, client_ref: str | None) -> dict[str, Any]:
        """The identified client (``None`` or their reference) as the Patient, anyone else of the episode
        (another participant, a collateral rater) as a RelatedPerson."""
        if client_ref is None or client_ref == self.state.client_ref:
            return self.client
        return self.ref("participant", client_ref)


def check_purpose(purpose: Purpose | str) -> Purpose:
    try:
        value = Purpose(purpose)
    except ValueError:
        raise ValidationError(
            "purpose", "export-purpose", "treatment, client-access or quality-improvement"
        ) from None
    if value not in EXPORT_PURPOSES:
        raise ValidationError("purpose", "export-purpose", "treatment, client-access or quality-improvement")
    return value
