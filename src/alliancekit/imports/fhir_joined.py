"""A FHIR source's resources joined to the episode they belong to, kept on disk, read one episode at a time.

An episode's resources live in several files and refer to each other (an Encounter names its episode, a
QuestionnaireResponse its Encounter, a score Observation its QuestionnaireResponse, a Provenance what it
made), in any order. :class:`Joined` files where each resource is (its
:data:`~alliancekit.imports.fhir_json.Place`), never the resource, under the id it is found by, in
:class:`~alliancekit.store.scratch.ScratchLists` (a private temporary SQLite database with hashed keys, a
bounded page cache in memory): reading an episode reads its resources again from the source. Memory holds
one episode's resources at a time, however large the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from alliancekit.imports.fhir_files import SourcePlaces
from alliancekit.imports.fhir_json import Place, Resource
from alliancekit.imports.fhir_records import Linked
from alliancekit.imports.fhir_scores import score_value
from alliancekit.store.scratch import Item, ScratchLists

#: The lists the join keeps (``ScratchLists`` names), and what each is keyed by.
EPISODES = "episodes"  # (): the EpisodeOfCare resources, in source order
KNOWN = "known"  # (episode id,): an EpisodeOfCare of the source (or refused before it was read)
LABELLED = "labelled"  # (episode id,): an EpisodeOfCare labelled REDACTED
PATIENTS = "patients"  # (client reference,) or () for none: the EpisodeOfCare of that patient
ENCOUNTERS = "encounters"  # (episode id,)
RESPONSES = "responses"  # (encounter id,): the QuestionnaireResponses of a session
CLIENT_RESPONSES = "client-responses"  # (episode id,)
OBSERVATIONS = "observations"  # (observation id,)
SCORES = "scores"  # (response id,): score Observations, with their score's key and whether a total
LINKED = "linked"  # (episode id,): Goal, Flag, review, rupture, repair, CarePlan, Consent, with its bucket
UNNAMED = "unnamed"  # (): resources that name no episode, with their bucket
URLS = "urls"  # (full URL,): a Bundle entry's resource type and id
URLS_OF = "urls-of"  # ("Type/id",): the full URLs naming it

#: The order in which a linked episode's first resource is looked for, to name it in an error.
FIRST_LINKED = ("goals", "reviews", "ruptures", "flags", "consents")


def _place(item: Item) -> Place:
    return cast(Place, tuple(item[:6]))


class FullUrls:
    """The full URLs of the source's Bundle entries (``fullUrl`` -> (resource type, id)), on disk."""

    def __init__(self, scratch: ScratchLists) -> None:
        self._scratch = scratch
        self.any = False
        """Whether the source has any (an NDJSON export has none: nothing to look up)."""
        self._last: tuple[str, tuple[str, str] | None] | None = None

    def add(self, url: str, rtype: str, rid: str) -> None:
        self.any = True
        self._last = None
        self._scratch.append(URLS, (url,), (rtype, rid))
        self._scratch.append(URLS_OF, (f"{rtype}/{rid}",), (url,))

    def _get(self, url: str) -> tuple[str, str] | None:
        if not self.any:
            return None
        if self._last is None or self._last[0] != url:
            found = self._scratch.last(URLS, (url,))
            self._last = (url, None if found is None else (str(found[0]), str(found[1])))
        return self._last[1]

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and self._get(url) is not None

    def __getitem__(self, url: str) -> tuple[str, str]:
        found = self._get(url)
        if found is None:
            raise KeyError(url)
        return found

    def naming(self, target: str) -> list[str]:
        """The full URLs that name ``target`` (``Type/id``) now."""
        if not self.any:
            return []
        rtype, _, rid = target.partition("/")
        urls = dict.fromkeys(str(item[0]) for item in self._scratch.items(URLS_OF, (target,)))
        return [url for url in urls if self._get(url) == (rtype, rid)]


class Joined:
    """The source's resources, joined to the episode they belong to (places on disk)."""

    def __init__(self, scratch: ScratchLists, places: SourcePlaces) -> None:
        self.scratch, self.places = scratch, places
        self.urls = FullUrls(scratch)
        self.any_labelled = False
        """Whether any EpisodeOfCare is labelled ``REDACTED``."""
        self.any_unnamed = False

    # -- filing, while the source is read -----------------------------------------------------------------

    def add_episode(self, res: Resource, client: str | None, labelled: bool) -> None:
        place = self._at(res)
        self.scratch.append(EPISODES, (), place)
        self.known(res.data["id"])
        self.scratch.append(PATIENTS, () if client is None else (client,), place)
        if labelled:
            self.any_labelled = True
            self.scratch.append(LABELLED, (res.data["id"],), ())

    def known(self, episode: str) -> None:
        """``episode`` is an episode of the source: what refers to it refers to something."""
        self.scratch.append(KNOWN, (episode,), ())

    def add(self, name: str, key: str, res: Resource, *extra: str | int | None) -> None:
        """File ``res`` under ``key`` in the list ``name`` (:data:`ENCOUNTERS`, ...)."""
        self.scratch.append(name, (key,), (*self._at(res), *extra))

    def link(self, episode: str, bucket: str, res: Resource) -> None:
        """File ``res`` among the records of ``episode`` besides its encounters (:class:`Linked`)."""
        self.add(LINKED, episode, res, bucket)

    def unnamed(self, res: Resource, bucket: str) -> None:
        self.any_unnamed = True
        self.scratch.append(UNNAMED, (), (*self._at(res), bucket))

    @staticmethod
    def _at(res: Resource) -> Place:
        if res.at is None:  # pragma: no cover - every resource read carries its place
            raise ValueError("a resource without its place in the source")
        return res.at

    # -- reading, one episode at a time -------------------------------------------------------------------

    def load(self, item: Item) -> Resource:
        return self.places.load(_place(item))

    def _loaded(self, name: str, key: str) -> list[Resource]:
        return [self.load(item) for item in self.scratch.items(name, (key,))]

    def episodes(self) -> Iterator[Resource]:
        """The EpisodeOfCare resources, in source order, read one at a time."""
        for item in self.scratch.each(EPISODES):
            yield self.load(item)

    def unnamed_resources(self) -> Iterator[tuple[Resource, str]]:
        for item in self.scratch.each(UNNAMED):
            yield self.load(item), str(item[6])

    def episodes_of(self, client: str | None) -> list[str]:
        """The ids of the EpisodeOfCare resources whose patient is ``client``."""
        return [
            self.load(i).data["id"] for i in self.scratch.items(PATIENTS, () if client is None else (client,))
        ]

    def encounters(self, episode: str) -> list[Resource]:
        return self._loaded(ENCOUNTERS, episode)

    def responses(self, encounter: str) -> list[Resource]:
        return self._loaded(RESPONSES, encounter)

    def client_responses(self, episode: str) -> list[Resource]:
        return self._loaded(CLIENT_RESPONSES, episode)

    def linked(self, episode: str) -> Linked:
        found = Linked()
        for item in self.scratch.items(LINKED, (episode,)):
            getattr(found, str(item[6])).append(self.load(item))
        return found

    def get(self, observation: str) -> Resource | None:
        """The Observation of id ``observation`` (the last of that id in the source)."""
        found = self.scratch.last(OBSERVATIONS, (observation,))
        return None if found is None else self.load(found)

    def scores(self, response: str) -> list[tuple[str, float, Resource, bool]]:
        """The score Observations of ``response``: each one's score key, value, resource and whether it is a
        total, in source order."""
        out = []
        for item in self.scratch.items(SCORES, (response,)):
            res = self.load(item)
            value = score_value(res.data)  # a number: filed only if so
            out.append((str(item[6]), float(cast(float, value)), res, bool(item[7])))
        return out

    def withheld(self, episode: str, notice: bool) -> bool:
        """Whether the source says records of ``episode`` were withheld: its EpisodeOfCare's label, when the
        source labels any (an export before the label, with only ``notice`` for the whole source, says it
        of every episode)."""
        return self.scratch.has(LABELLED, (episode,)) if self.any_labelled else notice

    def unknown(self, name: str) -> Iterator[list[Resource]]:
        """For each episode that the list ``name`` files resources under and the source does not have, in
        the order first filed, the places of what it files (read again)."""
        for items in self.scratch.keys_without(name, KNOWN):
            yield [self.load(item) for item in items]

    def unknown_linked(self) -> Iterator[Resource]:
        """For each episode that Goals, reviews, ruptures, Flags or Consents name and the source does not
        have, the first of them (Goals first, then reviews, ruptures, Flags, Consents)."""
        for items in self.scratch.keys_without(LINKED, KNOWN):
            for bucket in FIRST_LINKED:
                first = next((item for item in items if item[6] == bucket), None)
                if first is not None:
                    yield self.load(first)
                    break


class Totals:
    """The total each QuestionnaireResponse's score Observation gives (the last, when several do)."""

    def __init__(self, joined: Joined) -> None:
        self.joined = joined

    def get(self, response: str, default: Any = None) -> Any:
        found = [value for _, value, _, total in self.joined.scores(response) if total]
        return found[-1] if found else default
