"""The named protocols plugins contribute through ``alliancekit_register_protocols``, and how a protocol
given by name or as a value is resolved and checked against the measures of the practice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from alliancekit.errors import PluginError, ValidationError
from alliancekit.protocols.definition import MeasurementProtocol

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.plugins.manager import PluginHost

#: The ``register`` callback ``alliancekit_register_protocols`` receives: call it with each protocol.
ProtocolRegistrar = Callable[[MeasurementProtocol], None]
_UNKNOWN = "no plugin registered a protocol of that name"


class ProtocolRegistry:
    """Named protocols by name, each with the plugin that supplied it."""

    def __init__(self) -> None:
        self._protocols: dict[str, tuple[MeasurementProtocol, str]] = {}

    def add(self, protocol: object, supplier: str) -> None:
        if not isinstance(protocol, MeasurementProtocol):
            raise PluginError(f"plugin {supplier!r} registered a protocol that is not a MeasurementProtocol")
        known = self._protocols.get(protocol.name)
        if known is not None:
            raise PluginError.clash(f"protocol {protocol.name}", known[1], supplier)
        self._protocols[protocol.name] = (protocol, supplier)

    def get(self, name: str) -> MeasurementProtocol:
        """The protocol named ``name``; an unknown name is a :class:`~alliancekit.errors.ValidationError`."""
        found = self._protocols.get(name)
        if found is None:
            raise ValidationError("protocol", "unknown-protocol", _UNKNOWN)
        return found[0]

    def supplier(self, name: str) -> str:
        self.get(name)
        return self._protocols[name][1]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._protocols))

    def __len__(self) -> int:
        return len(self._protocols)

    def __contains__(self, name: object) -> bool:
        return name in self._protocols


def build_protocol_registry(host: PluginHost) -> ProtocolRegistry:
    """Build the registry from every plugin's ``alliancekit_register_protocols``."""
    registry = ProtocolRegistry()

    def make_register(plugin: str) -> ProtocolRegistrar:
        return lambda protocol: registry.add(protocol, plugin)

    host.call_registration("alliancekit_register_protocols", make_register)
    return registry


def resolve_protocol(field: str, value: object, host: PluginHost) -> MeasurementProtocol:
    """``value`` (a protocol, or the name of a registered one) as a protocol whose every measure is
    registered; otherwise a :class:`~alliancekit.errors.ValidationError` naming ``field``."""
    protocol: MeasurementProtocol
    if isinstance(value, str):
        try:
            protocol = host.protocols().get(value)
        except ValidationError:
            raise ValidationError(field, "unknown-protocol", _UNKNOWN) from None
    elif isinstance(value, MeasurementProtocol):
        protocol = value
    else:
        raise ValidationError(field, "type", "a MeasurementProtocol or the name of a registered one")
    measures: Any = host.measures()
    for i, entry in enumerate(protocol.entries):
        if not any(m == entry.measure for m, _ in measures):
            where = f"{field}.entries[{i}].measure"
            raise ValidationError(where, "unknown-measure", "no such measure is registered")
    return protocol
