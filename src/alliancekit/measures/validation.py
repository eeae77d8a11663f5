"""Validating definitions and responses: bounded JSON, the meta-schema, response schemas, compiled validators.

Two engines validate a response, and a test proves they agree:

* the **reference engine** is ``jsonschema`` (2020-12) over the response schema. It checks definitions
  against the meta-schema, validates responses to measures that supply their own schema, and is the yardstick;
* the **compiled engine** is a closure built once per measure from its generated schema's few shapes (an
  object of known keys, each a number or integer within bounds). It does the same checks in plain Python,
  about ten times faster than the prebuilt reference validator, with no extra dependency.

``jsonschema-rs`` would be faster still, but a pure-Python closure already meets the target for these small,
flat documents, so it is not a dependency (see ``docs/guides/writing-a-measure-plugin.md``, "Validation").

Schemas are resolved through a local ``referencing`` registry holding only alliancekit's own schemas; any
other ``$ref`` fails instead of being fetched. Errors name the JSON path and the rule, never the value.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import attrs
import jsonschema
import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT202012

from alliancekit.errors import MeasureDefinitionError, ResponseError, ValidationError
from alliancekit.security.bounded_json import unique_keys, unstorable_rule

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.measures.definition import Measure

#: The answer that marks an item "not applicable" to this client, where the item allows it
#: (``"allows_na": true``). It is not a missing answer: scores list such items in ``not_applicable``.
NOT_APPLICABLE = "na"

META_SCHEMA_ID = "https://alliancekit.org/schemas/measure-definition.schema.json"
RESPONSE_SCHEMA_BASE = "https://alliancekit.org/schemas/measures/"


@attrs.frozen
class Limits:
    """Bounds on a JSON document before and after parsing."""

    max_bytes: int
    max_depth: int
    max_string: int


#: a response is a handful of numbers; anything much bigger is not a response
RESPONSE_LIMITS = Limits(max_bytes=64 * 1024, max_depth=16, max_string=1024)
#: a definition carries references and (for free measures) item text
DEFINITION_LIMITS = Limits(max_bytes=1024 * 1024, max_depth=32, max_string=8 * 1024)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _reject_constant(name: str) -> None:
    raise ValueError("non-finite number")


def load_json(document: bytes | str, limits: Limits, error: type[ValidationError] = ResponseError) -> Any:
    """Parse ``document`` within ``limits``; raise ``error`` (field ``$``) naming the bound that was broken.

    Size is checked before anything else is done, and depth before parsing, so that a hostile document costs
    a bounded amount of work and never reaches the recursive parser.
    """
    size = len(document.encode("utf-8") if isinstance(document, str) else document)
    if size > limits.max_bytes:
        raise error("$", "maxBytes", f"document larger than {limits.max_bytes} bytes")
    if isinstance(document, bytes):
        try:
            text = document.decode("utf-8")
        except UnicodeDecodeError:
            raise error("$", "encoding", "not UTF-8") from None
    else:
        text = document
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limits.max_depth:
                raise error("$", "maxDepth", f"nested deeper than {limits.max_depth}")
        else:
            depth -= 1
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=unique_keys)
    except ValidationError as exc:  # a key named twice: JSON leaves its meaning open
        raise error("$", exc.rule, exc.detail) from None
    except (ValueError, RecursionError) as exc:
        # json's message quotes the document around the fault: keep only the position
        pos = getattr(exc, "pos", None)
        raise error(
            "$", "json", "not valid JSON" + (f" at character {pos}" if pos is not None else "")
        ) from None
    _check_strings(data, limits.max_string, "$", error)
    return data


def _check_strings(value: Any, limit: int, path: str, error: type[ValidationError]) -> None:
    """Refuse strings and keys that are too long or hold what no store keeps (called on data whose depth
    is already bounded)."""
    if isinstance(value, str):
        if len(value) > limit:
            raise error(path, "maxLength", f"string longer than {limit} characters")
        if (unstorable := unstorable_rule(value)) is not None:
            raise error(path, *unstorable)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                continue  # not JSON: the meta-schema's check names it
            if len(key) > limit:
                raise error(path, "maxLength", f"key longer than {limit} characters")
            if (unstorable := unstorable_rule(key)) is not None:
                raise error(path, *unstorable)
            _check_strings(item, limit, f"{path}.{key}", error)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_strings(item, limit, f"{path}[{i}]", error)


def _check_depth(value: Any, limit: int) -> None:
    """Refuse data nested deeper than ``limit``, walking without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, Mapping | list | tuple):
            continue
        if depth > limit:
            raise MeasureDefinitionError("$", "maxDepth", f"nested deeper than {limit}")
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, Mapping) else item))


# ------------------------------------------------------------------------------------ schemas and registry


def _schemas_dir() -> Any:
    return files("alliancekit") / "schemas"


@cache
def meta_schema() -> Mapping[str, Any]:
    """The measure-definition meta-schema shipped in ``schemas/``."""
    loaded: Mapping[str, Any] = json.loads(
        (_schemas_dir() / "measure-definition.schema.json").read_text("utf-8")
    )
    return loaded


def _no_remote(uri: str) -> referencing.Resource[Any]:
    # Never fetch: a definition or response schema may only refer to alliancekit's own schemas.
    raise referencing.exceptions.NoSuchResource(uri)


def local_registry(extra: Iterable[Mapping[str, Any]] = ()) -> referencing.Registry[Any]:
    """A ``referencing`` registry of alliancekit's schemas (and ``extra``), refusing every other URI."""
    resources = [meta_schema(), *extra]
    registry: referencing.Registry[Any] = referencing.Registry(retrieve=_no_remote)  # type: ignore[call-arg]
    return registry.with_resources(
        (schema["$id"], DRAFT202012.create_resource(schema)) for schema in resources if "$id" in schema
    )


@cache
def _meta_validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(meta_schema(), registry=local_registry())


def _json_path(error: jsonschema.ValidationError) -> str:
    return str(error.json_path)


def _first_error(
    validator: jsonschema.protocols.Validator, instance: Any
) -> jsonschema.ValidationError | None:
    # best_match picks the most relevant of the errors in a stable way; it reads only paths and keywords
    error: jsonschema.ValidationError | None = jsonschema.exceptions.best_match(
        validator.iter_errors(instance)
    )
    return error


#: A JSON Schema type as a sentence names it ("must be a number", as the compiled validator says it).
_TYPES = {
    "number": "a number",
    "integer": "a whole number",
    "string": "a string",
    "object": "an object",
    "array": "a list",
    "boolean": "true or false",
}


#: What the meta-schema's keyword asks for, said from the schema's own value (never the definition's).
_META_RULES: dict[str, Callable[[Any], str]] = {
    "enum": lambda allowed: "one of " + ", ".join(json.dumps(v) for v in allowed),
    "const": lambda wanted: f"must be {json.dumps(wanted)}",
    "type": lambda kind: (
        "must be " + " or ".join(_TYPES.get(k, k) for k in ([kind] if isinstance(kind, str) else kind))
    ),
    "pattern": lambda pattern: f"must match {pattern}",
    "minimum": lambda bound: f"at least {bound}",
    "maximum": lambda bound: f"at most {bound}",
    "exclusiveMinimum": lambda bound: f"above {bound}",
    "exclusiveMaximum": lambda bound: f"below {bound}",
    "minLength": lambda bound: f"at least {bound} characters",
    "maxLength": lambda bound: f"at most {bound} characters",
    "minItems": lambda bound: f"at least {_entries(bound)}",
    "maxItems": lambda bound: f"at most {_entries(bound)}",
    "minProperties": lambda bound: f"at least {_entries(bound)}",
    "maxProperties": lambda bound: f"at most {_entries(bound)}",
    "additionalProperties": lambda _: "a property the format does not define: check its spelling",
    "uniqueItems": lambda _: "entries must be unique",
    "anyOf": lambda forms: _forms(forms),
    "oneOf": lambda forms: _forms(forms),
}


def _forms(forms: Any) -> str:
    """The forms an ``anyOf``/``oneOf`` allows, each said by its ``type``, ``const`` or ``enum`` (``a number
    or null, or "na"``), or how many there are when one is more than that."""
    said: list[str] = []
    for form in forms if isinstance(forms, list) else ():
        if not isinstance(form, Mapping) or len(form) != 1:
            break
        ((keyword, value),) = form.items()
        if keyword not in ("type", "const", "enum"):
            break
        said.append(_META_RULES[keyword](value).removeprefix("must be "))
    else:
        if said:
            return "must be " + ", or ".join(said)
    count = len(forms) if isinstance(forms, list) else 0
    return f"matches none of the {count} forms allowed here"


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count} entries"


def _meta_detail(error: jsonschema.ValidationError | jsonschema.SchemaError) -> str:
    """How to mend a meta-schema failure, from the schema alone (a definition is refused by path and rule,
    never by its value)."""
    if error.validator == "required" and isinstance(error.instance, Mapping):
        required: list[str] = error.validator_value  # type: ignore[assignment] # the keyword is set here
        absent = [name for name in required if name not in error.instance]
        return "missing " + ", ".join(absent)
    say = _META_RULES.get(str(error.validator))
    return "" if say is None else say(error.validator_value)


#: How a property of the format is named: an unexpected one is named in the path only when it reads as one
#: (a misspelt ``refrences``), else ``?`` (a key of another shape may be anything).
_PROPERTY_NAME = re.compile(r"[A-Za-z$_][A-Za-z0-9_-]{0,63}")


def _meta_path(error: jsonschema.ValidationError) -> str:
    """The path of a meta-schema failure; for an unexpected property, the property's own path, since the
    object's path alone leaves the author to find which of its keys the format does not define."""
    at = _json_path(error)
    if error.validator != "additionalProperties" or not isinstance(error.instance, Mapping):
        return at
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    for name in error.instance:
        if name in known or any(re.search(p, str(name)) for p in patterns):
            continue
        return f"{at}.{name if _PROPERTY_NAME.fullmatch(str(name)) else '?'}"
    return at


def check_against_meta_schema(definition: Any) -> Mapping[str, Any]:
    """Raise :class:`MeasureDefinitionError` (JSON path, keyword) if ``definition`` fails the meta-schema;
    return it with every mapping in it a plain ``dict`` (what was checked, and what to keep)."""
    if not isinstance(definition, Mapping):
        raise MeasureDefinitionError("$", "type", "a definition is a JSON object")
    # A plugin hands data, not text, so load_json's depth check never saw it; the validator recurses.
    _check_depth(definition, DEFINITION_LIMITS.max_depth)
    # Any mapping is a JSON object to the hook's contract, but only a dict is one to jsonschema (and to
    # json.dumps): a read-only MappingProxyType would be refused as "$: type". Bounded by the depth check.
    plain: dict[str, Any] = _dicts(definition)
    definition = plain
    _check_strings(definition, DEFINITION_LIMITS.max_string, "$", MeasureDefinitionError)
    # The bound a definition file has (load_json), for the data a plugin hands over: else a plugin's huge
    # definition costs seconds at every start and is stored with the data, where a file like it is refused.
    encoded = json.dumps(definition, ensure_ascii=False, separators=(",", ":"), default=lambda _: None)
    if len(encoded.encode("utf-8")) > DEFINITION_LIMITS.max_bytes:
        raise MeasureDefinitionError(
            "$", "maxBytes", f"definition larger than {DEFINITION_LIMITS.max_bytes} bytes as JSON"
        )
    # Every plugin host registers the same definitions again (the builtin ones at least), and the
    # meta-schema check was most of what building its measures cost; plain JSON is judged by its encoding.
    digest = hashlib.sha256(encoded.encode("utf-8")).digest() if _plain_json(definition) else None
    if digest is not None and digest in _PASSED:
        return plain
    error = _first_error(_meta_validator(), definition)
    if error is not None:
        raise MeasureDefinitionError(_meta_path(error), str(error.validator), _meta_detail(error))
    custom = definition.get("response_schema")
    if custom is not None:
        try:
            jsonschema.Draft202012Validator.check_schema(custom)
        except jsonschema.SchemaError as exc:
            raise MeasureDefinitionError(
                "$.response_schema" + exc.json_path[1:], str(exc.validator), _meta_detail(exc)
            ) from None
        _check_references(custom)
    if digest is not None:
        with _passed_lock:
            if len(_PASSED) >= _PASSED_MAX:  # bounded: a host that makes definitions up as it goes
                _PASSED.clear()
            _PASSED.add(digest)
    return plain


def _dicts(value: Any) -> Any:
    """``value`` with every mapping (at any depth, in lists too) a ``dict``; anything else as it is."""
    if isinstance(value, Mapping):
        return {key: _dicts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dicts(item) for item in value]
    return value


def meta_schema_problems(definition: Any) -> tuple[MeasureDefinitionError, ...]:
    """Every meta-schema failure of ``definition`` (parsed JSON), not only the one
    :func:`check_against_meta_schema` refuses it for: each by JSON path, keyword and a detail said from the
    meta-schema, never the definition's value, in the meta-schema's order, each once. For a failure among
    alternatives (``oneOf``), the most relevant of its causes, as that check picks it."""
    listed: dict[tuple[str, str, str], None] = {}
    for failure in _meta_validator().iter_errors(definition):
        error = jsonschema.exceptions.best_match([failure]) or failure
        listed.setdefault((_meta_path(error), str(error.validator), _meta_detail(error)), None)
    return tuple(MeasureDefinitionError(*problem) for problem in listed)


#: Keywords whose values are data, not subschemas: a ``"$ref"`` key inside them refers to nothing.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def _check_references(schema: Any) -> None:
    """Refuse a response schema with a ``$ref`` that does not resolve locally (another URL, a ``$defs``
    entry that is not there), at ``$.response_schema...$ref``, rule ``$ref``: left to the first response,
    it would refuse every client's answers as if they were wrong, long after the plugin registered."""
    if not isinstance(schema, Mapping):
        return  # a boolean schema refers to nothing
    resolver = local_registry([schema]).resolver_with_root(DRAFT202012.create_resource(schema))
    pending: list[tuple[Any, str, Any]] = [(schema, "$.response_schema", resolver)]
    while pending:
        node, path, scope = pending.pop()
        if isinstance(node, Mapping):
            if isinstance(node.get("$id"), str):
                scope = scope.in_subresource(DRAFT202012.create_resource(node))
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    scope.lookup(ref)
                except referencing.exceptions.Unresolvable:
                    raise MeasureDefinitionError(
                        f"{path}.$ref",
                        "$ref",
                        "refers to a schema that is not available: a response schema may refer only to "
                        "itself and alliancekit's own schemas, and nothing is fetched",
                    ) from None
            pending.extend(
                (value, f"{path}.{key}", scope)
                for key, value in node.items()
                if key not in _DATA_KEYWORDS and isinstance(value, Mapping | list)
            )
        elif isinstance(node, list):
            pending.extend((value, f"{path}[{i}]", scope) for i, value in enumerate(node))


#: SHA-256 digests of the JSON encodings of definitions that passed :func:`check_against_meta_schema`.
_PASSED: set[bytes] = set()
_PASSED_MAX = 1024
_passed_lock = threading.Lock()


def _plain_json(value: Any) -> bool:
    """Only JSON's own types (no subclass, no tuple, string keys only): then the encoding says everything the
    validator would see. A tuple encodes as an array but is not one to the validator; an object the
    encoding makes ``null`` is not ``null`` to it."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _plain_json(item) for key, item in value.items())
    if kind is list:
        return all(_plain_json(item) for item in value)
    return kind in (str, int, float, bool) or value is None


# ------------------------------------------------------------------------------------- response schemas


def response_schema_id(measure_id: str, version: str) -> str:
    return f"{RESPONSE_SCHEMA_BASE}{measure_id}-{version}.response.schema.json"


def generate_response_schema(measure: Measure) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one response to ``measure``, generated from its definition."""
    nullable = measure.max_missing > 0
    properties: dict[str, Any] = {}
    for item in measure.items:
        kind = "integer" if item.integral else "number"
        prop: dict[str, Any] = {
            "title": item.label,
            "type": [kind, "null"] if nullable else kind,
            "minimum": item.min,
            "maximum": item.max,
        }
        if item.allows_na:  # a number in range, null (missing), or the one string "na"
            prop["type"] = [kind, "null", "string"]
            prop["if"], prop["then"] = {"type": "string"}, {"const": NOT_APPLICABLE}
        properties[item.key] = prop
    answers: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        # with prorating an item may be absent or null; the count of missing items is a scoring rule
        "required": [] if nullable else list(measure.item_keys),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": response_schema_id(measure.id, measure.version),
        "title": f"{measure.title} ({measure.id} {measure.version}) response",
        "description": "Generated from the measure definition by alliancekit; do not edit.",
        "type": "object",
        "additionalProperties": False,
        "required": ["answers"],
        "properties": {
            "measure": {"const": measure.id},
            "version": {"const": measure.version},
            "answers": {"$ref": "#/$defs/answers"},
        },
        "$defs": {"answers": answers},
    }


def response_schema(measure: Measure) -> Mapping[str, Any]:
    """The measure's own response schema if its definition supplies one, else the generated one."""
    custom: Mapping[str, Any] | None = measure.definition.get("response_schema")
    return custom if custom is not None else generate_response_schema(measure)


def reference_validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A prebuilt ``jsonschema`` validator for ``schema``, resolving only local references."""
    return jsonschema.Draft202012Validator(schema, registry=local_registry([schema]))


def reference_validate(validator: jsonschema.protocols.Validator, document: Any) -> None:
    """Validate with the reference engine; raise :class:`ResponseError` with the path and keyword."""
    try:
        error = _first_error(validator, document)
    except referencing.exceptions.Unresolvable:
        raise ResponseError(
            "$", "$ref", "the response schema refers to a schema that is not available"
        ) from None
    if error is not None:
        raise ResponseError(_json_path(error), str(error.validator))


def response_problems(validator: jsonschema.protocols.Validator, document: Any) -> tuple[ResponseError, ...]:
    """Every way ``document`` fails the response schema (empty when it passes), by the reference engine:
    each a :class:`ResponseError` with its JSON path, keyword and a detail said from the schema, never the
    value. The order is the schema's (the measure's items in the definition's order), whatever the order of
    the document's keys; a problem jsonschema reports twice (``required``, once per absent item) is listed
    once, its detail naming every absent item."""
    listed: dict[tuple[str, str, str], None] = {}
    try:
        for error in validator.iter_errors(document):
            listed.setdefault((_json_path(error), str(error.validator), _response_detail(error)), None)
    except referencing.exceptions.Unresolvable:
        return (ResponseError("$", "$ref", "the response schema refers to a schema that is not available"),)
    return tuple(ResponseError(*problem) for problem in listed)


def _response_detail(error: jsonschema.ValidationError) -> str:
    """A response failure's detail: bounds said as the compiled engine says them, the rest from the schema."""
    bound = error.validator_value
    if error.validator == "required" and isinstance(error.instance, Mapping) and isinstance(bound, list):
        absent = [str(name) for name in bound if name not in error.instance]  # the schema's names
        if len(absent) == 1:
            return f"item {absent[0]} is missing"  # as the compiled engine says it
        return f"items {', '.join(absent)} are missing"
    if error.validator in ("minimum", "maximum") and type(bound) in (int, float):
        return (_at_least if error.validator == "minimum" else _at_most)(float(bound))  # type: ignore[arg-type]
    return _meta_detail(error)


# ---------------------------------------------------------------------------------- the compiled engine

AnswersValidator = Callable[[Any], None]


def compile_answers_validator(measure: Measure) -> AnswersValidator:
    """Build the fast validator of an ``answers`` object, equivalent to the generated schema's ``answers``.

    Raises :class:`ResponseError` with the same JSON paths and keywords the reference engine reports.
    """
    nullable = measure.max_missing > 0
    specs = tuple(
        (item.key, float(item.min), float(item.max), item.integral, f"$.answers.{item.key}", item.allows_na)
        for item in measure.items
    )
    keys = frozenset(measure.item_keys)
    n_items = len(specs)

    def validate(answers: Any) -> None:
        if not isinstance(answers, (dict, Mapping)):  # a dict (a FrozenMap too) is found before the ABC
            raise ResponseError("$.answers", "type", "answers must be an object")
        if len(answers) != n_items or answers.keys() != keys:
            if not answers.keys() <= keys:
                raise ResponseError("$.answers", "additionalProperties", "an answer for an unknown item")
            if not nullable:
                missing = next(k for k, *_ in specs if k not in answers)
                raise ResponseError("$.answers", "required", f"item {missing} is missing")
        for key, lo, hi, integral, path, allows_na in specs:
            value: Any = answers.get(key)
            kind = type(value)
            if kind is int or kind is float:
                if integral and kind is float and not value.is_integer():
                    raise ResponseError(path, "type", "must be a whole number")
                if value < lo:
                    raise ResponseError(path, "minimum", _at_least(lo))
                if value > hi:
                    raise ResponseError(path, "maximum", _at_most(hi))
                if kind is float and math.isnan(value):  # NaN passes both bounds; JSON cannot carry it
                    raise ResponseError(path, "type", "must be a finite number")
            elif value is None and nullable:
                continue
            elif kind is not bool and isinstance(value, int | float):
                # subclasses of int/float (enums, numpy scalars) are numbers too, checked the slow way
                check_number(value, lo, hi, integral, path)
            elif allows_na and isinstance(value, str):
                if value != NOT_APPLICABLE:
                    raise ResponseError(path, "const", f'a number or "{NOT_APPLICABLE}" (not applicable)')
            else:
                if value is None and key not in answers:
                    raise ResponseError("$.answers", "required", f"item {key} is missing")
                if value is None:  # null is a missing answer, which this measure's rule refuses
                    raise ResponseError(path, "type", _UNANSWERED)
                expected = "must be an integer" if integral else "must be a number"
                if value == NOT_APPLICABLE:
                    expected += " (this item does not allow N/A)"
                raise ResponseError(path, "type", expected)

    return validate


def check_number(value: float, lo: float, hi: float, integral: bool, path: str) -> None:
    if not math.isfinite(value):
        raise ResponseError(path, "type", "must be a finite number")
    if integral and not float(value).is_integer():
        raise ResponseError(path, "type", "must be a whole number")
    if value < lo:
        raise ResponseError(path, "minimum", _at_least(lo))
    if value > hi:
        raise ResponseError(path, "maximum", _at_most(hi))


# The bounds are the measure's, never the answer, so saying them echoes nothing a client gave.
def _at_least(bound: float) -> str:
    return f"at least {_bound(bound)}"


def _at_most(bound: float) -> str:
    return f"at most {_bound(bound)}"


def _bound(bound: float) -> str:
    # a definition's numbers carry at most six decimal places, so this is exact (":g" would round 10.123456)
    return f"{bound:.6f}".rstrip("0").rstrip(".")


#: A null answer where the measure's missing-data rule refuses missing answers (the reference engine calls
#: it ``type`` too, since the generated schema then allows numbers only).
_UNANSWERED = "an answer is required: the measure's missing-data rule refuses missing answers"


DocumentValidator = Callable[[Any], Mapping[str, Any]]


def compile_document_validator(measure: Measure, answers_validator: AnswersValidator) -> DocumentValidator:
    """The fast validator of a whole response document; returns its ``answers``."""
    allowed = frozenset(("measure", "version", "answers"))

    def validate(document: Any) -> Mapping[str, Any]:
        if not isinstance(document, dict):
            raise ResponseError("$", "type", "a response is a JSON object")
        if not document.keys() <= allowed:
            raise ResponseError("$", "additionalProperties", "unknown top-level field")
        if "measure" in document and document["measure"] != measure.id:
            raise ResponseError("$.measure", "const", "response is for another measure")
        if "version" in document and document["version"] != measure.version:
            raise ResponseError("$.version", "const", "response is for another version")
        if "answers" not in document:
            raise ResponseError("$", "required", "answers is missing")
        answers = document["answers"]
        if type(answers) is not dict:
            raise ResponseError("$.answers", "type", "answers must be an object")
        answers_validator(answers)
        return answers

    return validate
