"""A fast yes-or-no check of a resource against the FHIR R4 JSON Schema's definitions.

jsonschema interprets the schema node by node (a ``$ref`` lookup and a new validator for every element), which
costs more than a millisecond per resource: more than everything else an import does with it. This compiles
each definition, once, into plain Python predicates for the few keywords the R4 schema uses (``$ref``,
``type``, ``properties``, ``additionalProperties``, ``required``, ``items``, ``pattern``, ``enum``, ``const``,
``oneOf``), with jsonschema's draft-06 meaning. It answers only whether a resource is valid:
:class:`~alliancekit.fhir.validate.R4Schema` asks jsonschema for the errors of one that is not, so jsonschema
stays the authority on every error reported. A node with any other keyword (or a value of a form the R4
schema does not use) compiles to "not valid", which sends the resource to jsonschema: the check may be
stricter than jsonschema, never more lenient.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

#: Keywords that say nothing about validity (annotations).
_ANNOTATIONS = frozenset({"description", "discriminator", "id", "$schema", "title"})
_REF = "#/definitions/"
_TYPES: dict[str, Check] = {
    "string": lambda x: isinstance(x, str),
    # JSON numbers as json.loads makes them (a bool is not one); a Decimal or the like goes to jsonschema
    "number": lambda x: type(x) is int or type(x) is float,
    "integer": lambda x: type(x) is int or (type(x) is float and x.is_integer()),
    "boolean": lambda x: isinstance(x, bool),
    "array": lambda x: isinstance(x, list),
    "object": lambda x: isinstance(x, dict),
}


def _never(instance: Any) -> bool:
    return False


def _always(instance: Any) -> bool:
    return True


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda x: first(x) and second(x)
    return lambda x: all(check(x) for check in checks)


def _search(pattern: Any) -> Callable[[str], object] | None:
    try:
        return re.compile(pattern).search
    except (re.error, TypeError):
        return None


def _array_of(each: Check) -> Check:
    return lambda x: isinstance(x, list) and all(map(each, x))


class FastChecks:
    """One compiled predicate per definition of ``definitions``, each built on first use.

    ``replace`` swaps definitions for others (a Bundle's shell checks its entries' resources as objects only).
    """

    def __init__(self, definitions: Mapping[str, Any], replace: Mapping[str, Any] | None = None) -> None:
        self._definitions = {**definitions, **(replace or {})}
        self._compiled: dict[str, Check] = {}
        self._staged: dict[str, Check] = {}
        """Definitions being compiled, published to ``_compiled`` together when the first one asked for is
        done: none is used before all those it refers to are."""
        self._lock = threading.RLock()

    def valid(self, type_name: str, instance: Any) -> bool:
        """Whether ``instance`` is valid under the definition ``type_name`` (``False``: ask jsonschema)."""
        return self.definition(type_name)(instance)

    def definition(self, name: str) -> Check:
        found = self._compiled.get(name)
        if found is not None:
            return found
        with self._lock:  # re-entered: compiling a definition compiles those it refers to
            first = not self._staged
            found = self._compiled.get(name) or self._staged.get(name)
            if found is None:
                if name not in self._definitions:
                    return _never
                # a definition may refer to itself (Extension; Identifier and Reference): until it is
                # compiled, a reference to it goes through a cell that will hold it
                cell: list[Check] = []
                self._staged[name] = lambda x: cell[0](x)
                found = self._staged[name] = self._node(self._definitions[name])
                cell.append(found)
            if first:
                self._compiled.update(self._staged)
                self._staged.clear()
        return found

    def _node(self, node: Any) -> Check:
        if not isinstance(node, Mapping):
            return _never
        if "$ref" in node:  # draft-06: a $ref's siblings are ignored
            ref = node["$ref"]
            named = isinstance(ref, str) and ref.startswith(_REF)
            return self.definition(ref[len(_REF) :]) if named else _never
        keys = node.keys() - _ANNOTATIONS
        # the commonest nodes in one function: the primitives (a string with a pattern), repeated elements
        if keys == {"type", "pattern"} and node["type"] == "string":
            search = _search(node["pattern"])
            return _never if search is None else lambda x: isinstance(x, str) and search(x) is not None
        if keys == {"type", "items"} and node["type"] == "array" and isinstance(node["items"], Mapping):
            return _array_of(self._node(node["items"]))
        checks: list[Check] = []
        # the type first (the cheapest refusal); additionalProperties and required go with properties
        for keyword in sorted(keys - {"additionalProperties", "required"}, key=lambda k: (k != "type", k)):
            made = self._keyword(keyword, node[keyword], node)
            if made is None:
                return _never
            checks.append(made)
        if keys & {"additionalProperties", "required"} and "properties" not in keys:
            made = self._object({}, node)
            if made is None:
                return _never
            checks.append(made)
        return _all(checks)

    def _keyword(self, keyword: str, value: Any, node: Mapping[str, Any]) -> Check | None:
        if keyword == "type":
            return _TYPES.get(value) if isinstance(value, str) else None
        if keyword == "properties":
            return self._object(value, node) if isinstance(value, Mapping) else None
        if keyword == "items":
            if not isinstance(value, Mapping):
                return None  # a list of schemas (tuple validation): not in the R4 schema
            each = self._node(value)
            return lambda x: not isinstance(x, list) or all(map(each, x))
        if keyword == "pattern":
            search = _search(value)
            if search is None:
                return None
            return lambda x: not isinstance(x, str) or search(x) is not None
        if keyword in ("enum", "const"):
            values = [value] if keyword == "const" else value
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                return None  # jsonschema's equality of other values is not reproduced here
            allowed = frozenset(values)
            return lambda x: isinstance(x, str) and x in allowed
        if keyword == "oneOf":
            return self._one_of(value)
        return None

    def _object(self, properties: Mapping[str, Any], node: Mapping[str, Any]) -> Check | None:
        extra = node.get("additionalProperties", True)
        required = node.get("required", [])
        if extra not in (True, False) or not isinstance(required, list):
            return None  # a schema for additional properties: not in the R4 schema
        checks = {name: self._node(sub) for name, sub in properties.items()}
        needed = tuple(required)
        closed = extra is False

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            for name in needed:
                if name not in x:
                    return False
            for name, value in x.items():
                sub = checks.get(name)
                if sub is None:
                    if closed:
                        return False
                elif not sub(value):
                    return False
            return True

        return check

    def _one_of(self, options: Any) -> Check | None:
        """``oneOf``. Over resource types (``ResourceList``), by ``resourceType``: each option requires its
        own constant ``resourceType``, so only the one it names can match (and anything but an object matches
        them all, which is more than one); each type is compiled when first met, not all ~145 up front."""
        if not isinstance(options, list):
            return None
        names = [
            option["$ref"][len(_REF) :]
            for option in options
            if isinstance(option, Mapping) and str(option.get("$ref", "")).startswith(_REF)
        ]
        if len(names) == len(options) > 1 and all(self._typed(name) for name in names):
            types = frozenset(names)

            def dispatch(x: Any) -> bool:
                named = x.get("resourceType") if isinstance(x, dict) else None
                return isinstance(named, str) and named in types and self.definition(named)(x)

            return dispatch
        checks = [self._node(option) for option in options]
        return lambda x: sum(1 for check in checks if check(x)) == 1

    def _typed(self, name: str) -> bool:
        """Whether definition ``name`` requires ``resourceType`` to be the constant ``name``."""
        definition = self._definitions.get(name)
        if not isinstance(definition, Mapping) or "$ref" in definition:
            return False
        constant = definition.get("properties", {}).get("resourceType", {})
        return (
            "resourceType" in definition.get("required", ())
            and "$ref" not in constant
            and constant.get("const") == name
        )
