"""Resource ids stay what they were: the derivation is uuid5, whatever computes it."""

from __future__ import annotations

import uuid

import pytest

from alliancekit.fhir import ids


@pytest.mark.parametrize(
    ("resource_type", "parts"),
    [
        ("EpisodeOfCare", ("0f6d1c2e3b7a",)),
        ("Encounter", ("episode-1", "session-2")),
        ("Goal", ("é-ü-∑", "goal")),
        ("Observation", ("x" * 500, 3, None)),
        ("Provenance", ()),
    ],
)
def test_resource_ids_are_the_uuid5_of_their_name(resource_type: str, parts: tuple[object, ...]) -> None:
    name = "/".join((resource_type, *map(str, parts)))
    expected = str(uuid.uuid5(uuid.UUID("0f6d1c2e-3b7a-5c4d-8e9f-a11a9cef1e80"), name))
    assert ids.resource_id(resource_type, *parts) == expected
    assert ids.resource_id(resource_type, *parts) == expected  # the cached answer too


def test_different_names_give_different_ids() -> None:
    assert ids.resource_id("Encounter", "a", "b") != ids.resource_id("Encounter", "a", "c")
    assert ids.resource_id("Encounter", "a") != ids.resource_id("Goal", "a")
