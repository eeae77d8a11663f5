"""A keyed command's record ids stay what they were: the uuid5 of its clinic, command, key and record."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.core.runner import _ID_NAMESPACE, _uuid5_hex
from alliancekit.domain import Actor, Role


@pytest.mark.parametrize("name", ["", "c\x1fstart-episode\x1fk\x1fepisode\x1f0", "é-ü-∑", "x" * 5000])
def test_derived_ids_are_the_uuid5_hex_of_their_name(name: str) -> None:
    assert _uuid5_hex(name) == uuid.uuid5(_ID_NAMESPACE, name).hex


def test_a_name_that_is_not_utf8_is_refused_as_uuid5_refuses_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        uuid.uuid5(_ID_NAMESPACE, "\udc80")
    with pytest.raises(UnicodeEncodeError):
        _uuid5_hex("\udc80")


def test_a_keyed_episode_is_named_from_its_key(tmp_path: Path) -> None:
    actor = Actor("clin-1", Role.CLINICIAN, "clinic-a")
    with open_practice(str(tmp_path / "p.sqlite")) as practice:
        episode = practice.start_episode(
            actor,
            client_ref="client-1",
            clinician_id="clin-1",
            opened_on=date(2024, 1, 8),
            idempotency_key="k-1",
        )
    scope = "clinic-a\x1fstart-episode\x1fk-1\x1fepisode\x1f0"
    assert episode == uuid.uuid5(_ID_NAMESPACE, scope).hex
