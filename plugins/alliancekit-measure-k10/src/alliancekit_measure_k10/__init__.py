"""alliancekit plugin registering the Kessler Psychological Distress Scale (K10)."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import alliancekit

DEFINITION = "k10-1.0.json"


def definition() -> dict[str, Any]:
    """The K10 definition in alliancekit's measure-definition format."""
    loaded: dict[str, Any] = json.loads((files(__name__) / DEFINITION).read_text("utf-8"))
    return loaded


@alliancekit.hookimpl
def alliancekit_register_measures(register: Any) -> None:
    register(definition())
