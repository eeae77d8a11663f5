"""JSON Schemas (2020-12) for the event payloads, generated from the attrs classes in :mod:`.types`.

Integrators validate our events against the schema files committed under ``schemas/events/``
(``<type>.v<version>.schema.json``, listed in ``index.json``); the package ships them and
:func:`load_event_schema` reads them. The files are generated, never edited by hand:

    python -m alliancekit.events.schemas --write

A test fails when the committed files and the generator disagree. Files of older event versions are never
deleted by the generator: events stored under an old version must still validate against its schema.

Mapping from annotations: ``str``/``int``/``float``/``bool`` to their JSON types, enums to an ``enum`` of
their values, ``date`` to a string of format ``date`` (``datetime``: ``date-time``), ``tuple[X, ...]`` to
an array, ``Mapping[str, X]`` to an object of X, ``X | None`` to ``anyOf`` with null, nested attrs classes
to local ``$defs`` referenced with ``$ref``. Every object is closed (``additionalProperties: false``, as the
converter forbids extra keys) and requires exactly the fields without a default. Class and attribute
docstrings become descriptions.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
import textwrap
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from itertools import pairwise
from pathlib import Path
from typing import Any

import attrs

from alliancekit.errors import NotFoundError, ValidationError
from alliancekit.events import converter
from alliancekit.events.types import EVENT_TYPES, Event

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://alliancekit.dev/schemas/events/"
INDEX_FILE = "index.json"

JsonSchema = dict[str, Any]


def schema_file_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.schema.json"


# -------------------------------------------------------------------------------------------- generation


def event_schema(cls: type[Event]) -> JsonSchema:
    """The JSON Schema of ``cls``'s payload, as :func:`converter.unstructure` produces it."""
    defs: dict[str, JsonSchema] = {}
    body = _object_schema(cls, defs)
    schema: JsonSchema = {
        "$schema": DIALECT,
        "$id": ID_BASE + schema_file_name(cls.TYPE, cls.VERSION),
        "title": f"{cls.TYPE} v{cls.VERSION}",
    }
    schema.update(body)
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def all_schemas() -> dict[str, JsonSchema]:
    """File name -> schema for every current event type, in a stable order."""
    return {
        schema_file_name(cls.TYPE, cls.VERSION): event_schema(cls)
        for cls in sorted(EVENT_TYPES.values(), key=lambda c: c.TYPE)
    }


def index() -> JsonSchema:
    """The list of event types and their schema files, for integrators (written as ``index.json``)."""
    return {
        "description": "alliancekit event payload schemas (JSON Schema 2020-12), one per type and version.",
        "events": [
            {
                "type": cls.TYPE,
                "version": cls.VERSION,
                "file": schema_file_name(cls.TYPE, cls.VERSION),
                "$id": ID_BASE + schema_file_name(cls.TYPE, cls.VERSION),
                **({"description": doc} if (doc := _class_doc(cls)) else {}),
            }
            for cls in sorted(EVENT_TYPES.values(), key=lambda c: c.TYPE)
        ],
    }


def render(document: JsonSchema) -> str:
    """The exact text committed for ``document`` (stable, so the drift test can compare strings)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated_files() -> dict[str, str]:
    """File name -> text of every generated file (schemas and the index)."""
    out = {name: render(schema) for name, schema in all_schemas().items()}
    out[INDEX_FILE] = render(index())
    return out


def _object_schema(cls: type, defs: dict[str, JsonSchema]) -> JsonSchema:
    hints = typing.get_type_hints(cls)
    docs = _field_docs(cls)
    properties: dict[str, JsonSchema] = {}
    required = []
    for field in attrs.fields(cls):
        prop = _type_schema(hints[field.name], defs)
        if field.name in docs:
            prop = {"description": docs[field.name], **prop}
        default = field.default
        if default is attrs.NOTHING:
            required.append(field.name)
        else:
            value = default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]
            prop["default"] = converter.unstructure(value)
        properties[field.name] = prop
    schema: JsonSchema = {"type": "object"}
    if doc := _class_doc(cls):
        schema["description"] = doc
    schema["properties"] = properties
    schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _type_schema(tp: Any, defs: dict[str, JsonSchema]) -> JsonSchema:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        options = [_type_schema(a, defs) for a in args if a is not type(None)]
        if type(None) in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}
    if tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"type": "string", "enum": [member.value for member in tp]}
    if tp is bool:  # before int: bool is a subclass of int in Python, not in JSON
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is datetime:  # before date: datetime is a subclass of date
        return {"type": "string", "format": "date-time"}
    if tp is date:
        return {"type": "string", "format": "date"}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _type_schema(args[0], defs)}
        return {  # a fixed-length tuple (none today), for completeness
            "type": "array",
            "prefixItems": [_type_schema(a, defs) for a in args],
            "items": False,
        }
    if origin in (Mapping, dict) and args and args[0] is str:
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs)}
    if isinstance(tp, type) and attrs.has(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder first: a recursive class must not recurse forever
            defs[name] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema mapping for {tp!r}")  # pragma: no cover - programming error


def _class_doc(cls: type) -> str | None:
    # attrs classes inherit object's docstring machinery: only a docstring written on the class counts.
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else None


@cache
def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string right after a field's annotation), read from the class source."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # pragma: no cover - no source available (frozen app)
        return {}
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, ast.ClassDef):  # pragma: no cover
        return {}
    docs: dict[str, str] = {}
    for statement, following in pairwise(node.body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


# ----------------------------------------------------------------------------------------------- loading


def schema_directory() -> Traversable:
    """The shipped ``schemas/events`` directory (inside the wheel, or the repository's via the symlink)."""
    return files("alliancekit") / "schemas" / "events"


def load_event_schema(event_type: str, version: int) -> JsonSchema:
    """The committed JSON Schema of ``event_type`` at ``version``.

    :raises ValidationError: ``event_type`` is not an event type (checked before any file is opened, so a
        name can never point outside the schema directory).
    :raises NotFoundError: there is no schema for that version.
    """
    if event_type not in EVENT_TYPES:
        raise ValidationError("type", "unknown-event-type")
    if type(version) is not int or version < 1:  # bool is an int subclass: refused too
        raise ValidationError("version", "type", "a positive whole number")
    resource = schema_directory() / schema_file_name(event_type, version)
    if not resource.is_file():
        raise NotFoundError("event schema", f"{event_type} v{version}", named=True)
    loaded: JsonSchema = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


# ----------------------------------------------------------------------------------------------- writing


def write(directory: Path) -> list[str]:
    """Write every generated file into ``directory``; returns the names of the files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in generated_files().items():
        target = directory / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def drift(directory: Path) -> list[str]:
    """Names of generated files that are missing from ``directory`` or differ from the generator."""
    out = []
    for name, text in generated_files().items():
        target = directory / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alliancekit.events.schemas", description="Generate the event JSON Schemas."
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the schema files")
    mode.add_argument("--check", action="store_true", help="exit 1 if the committed files drift")
    parser.add_argument(
        "--dir", type=Path, default=None, help="target directory (default: the package's schemas/events)"
    )
    args = parser.parse_args(argv)
    directory = (args.dir or Path(str(schema_directory()))).resolve()
    if args.write:
        changed = write(directory)
        # A developer script: it prints file names, never data.
        report = f"{len(changed)} file(s) written in {directory}" + "".join(f"\n  {n}" for n in changed)
        print(report)  # noqa: T201
        return 0
    stale = drift(directory)
    for name in stale:
        print(f"out of date: {name}", file=sys.stderr)  # noqa: T201 - as above
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
