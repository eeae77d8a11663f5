"""The builtin measures plugin: ORS, SRS, WAI-SR, PHQ-9, GAD-7, CORE-10, the Child ORS and the Group SRS.

Registered by the plugin manager exactly like an external plugin. The definitions are data files in
``alliancekit/measures/definitions/``, validated against the meta-schema when they are registered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from alliancekit.measures.registry import MeasureRegistrar
from alliancekit.plugins.hookspecs import hookimpl

BUILTIN_MEASURES: tuple[str, ...] = (
    "ors-1.0",
    "srs-1.0",
    "wai-sr-1.0",
    "phq-9-1.0",
    "gad-7-1.0",
    "gad-7-1.1",
    "gad-7-1.2",
    "core-10-1.0",
    "cors-1.0",
    "gsrs-1.0",
)


def load_builtin_definition(name: str) -> Mapping[str, Any]:
    """The builtin definition ``name`` (``"<id>-<version>"``) as a mapping."""
    text = (files("alliancekit.measures") / "definitions" / f"{name}.json").read_text("utf-8")
    definition: Mapping[str, Any] = json.loads(text)
    return definition


@hookimpl
def alliancekit_register_measures(register: MeasureRegistrar) -> None:
    for name in BUILTIN_MEASURES:
        register(load_builtin_definition(name))
