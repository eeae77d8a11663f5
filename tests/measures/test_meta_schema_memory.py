"""A definition that passed the meta-schema is not checked against it again (every plugin host registers
the builtin measures anew, and the check was most of what that cost), and the memory of passes never lets
through what the check refuses."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from alliancekit.errors import MeasureDefinitionError
from alliancekit.measures import validation
from alliancekit.measures.builtin import load_builtin_definition


def _no_second_check() -> Any:
    raise AssertionError("the meta-schema was consulted again")


def test_an_equal_definition_is_not_checked_against_the_meta_schema_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validation.check_against_meta_schema(copy.deepcopy(load_builtin_definition("ors-1.0")))
    monkeypatch.setattr(validation, "_meta_validator", _no_second_check)
    validation.check_against_meta_schema(copy.deepcopy(load_builtin_definition("ors-1.0")))


def _tuple_items(definition: dict[str, Any]) -> None:
    definition["items"] = tuple(definition["items"])  # the same JSON encoding, but not an array


def _wrong_kind(definition: dict[str, Any]) -> None:
    definition["kind"] = "no-such-kind"


@pytest.mark.parametrize(
    ("change", "where"),
    [(_tuple_items, "$.items: type"), (_wrong_kind, "$.kind: enum")],
)
def test_a_definition_unlike_one_that_passed_is_still_refused(
    change: Callable[[dict[str, Any]], None], where: str
) -> None:
    validation.check_against_meta_schema(copy.deepcopy(load_builtin_definition("ors-1.0")))
    changed = copy.deepcopy(dict(load_builtin_definition("ors-1.0")))
    change(changed)
    with pytest.raises(MeasureDefinitionError, match="^" + re.escape(where)):
        validation.check_against_meta_schema(changed)
    with pytest.raises(MeasureDefinitionError, match="^" + re.escape(where)):
        validation.check_against_meta_schema(changed)  # refused again: a refusal is not remembered as a pass
