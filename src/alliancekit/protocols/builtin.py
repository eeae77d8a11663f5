"""The builtin protocols plugin, registered by the plugin manager exactly like an external plugin.

``fit``: feedback-informed treatment as the measures' authors give them: the ORS at the start of every
session (Miller, Duncan, Brown, Sparks & Claud, 2003, J. Brief Therapy 2(2), 91-100) and the SRS at its
end (Duncan, Miller, Sparks, Claud, Reynolds, Brown & Johnson, 2003, J. Brief Therapy 3(1), 3-12).
"""

from __future__ import annotations

from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.protocols.definition import MeasurementProtocol, ScheduleEntry, When
from alliancekit.protocols.registry import ProtocolRegistrar

FIT = MeasurementProtocol(
    "fit", (ScheduleEntry("ors", When.SESSION_START), ScheduleEntry("srs", When.SESSION_END))
)

BUILTIN_PROTOCOLS: tuple[MeasurementProtocol, ...] = (FIT,)


@hookimpl
def alliancekit_register_protocols(register: ProtocolRegistrar) -> None:
    for protocol in BUILTIN_PROTOCOLS:
        register(protocol)
