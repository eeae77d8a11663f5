"""Measurement protocols: which measure is due when, per clinic, per episode, and from plugins."""

from alliancekit.protocols.definition import DueMeasure, MeasurementProtocol, ScheduleEntry, When

__all__ = ["DueMeasure", "MeasurementProtocol", "ScheduleEntry", "When"]
