"""Any lockbox directive over any history is shared safely: the property behind the hand-picked cases of
``test_lockbox_episode_level`` and ``test_lockbox_matrix``.

Histories come from the FHIR round trip's generator; then one to three directives (any scope, classes,
items drawn from the episode's own timeline, sometimes for named recipients only). For a share with a
recipient, the FHIR Bundle and the research export: nothing raises (the shared state folds the shared
events alone, which must each find what they apply to), nothing a directive names is shared, the shared
state is the fold of the shared entries (``None`` exactly when the opening is withheld), the Bundle names
no event or resource of a withheld entry, and a share no directive applies to is the whole record."""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tests.imports.test_import_fhir_order import CLINIC, Clock
from tests.imports.test_import_fhir_round_trip import HistoryStep, _History, histories

from alliancekit import Actor, Practice, Role, open_practice
from alliancekit.core.views import _withheld_summary
from alliancekit.events.catalog import FRAME, LOCKBOX_CLASSES
from alliancekit.events.types import (
    AlertRaised,
    EpisodeOpened,
    GoalAgreed,
    ReviewRecorded,
    RuptureNoted,
    SessionRecorded,
)
from alliancekit.exports.research import export_research
from alliancekit.fhir import episode_bundle, ids
from alliancekit.fhir.validate import R4Schema
from alliancekit.lifecycle.state import fold, start
from alliancekit.security.lockbox import UNNAMED, summary_withheld

SCHEMA = R4Schema(Path(__file__).parents[1] / "fhir" / "data" / "fhir.r4.schema.json")
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
RECIPIENTS = (None, "hospital-x", "hospital-y")

#: A directive as drawn: scope, classes, items (indices into the episode's timeline), recipients.
Drawn = tuple[str, list[str], list[int], tuple[str, ...]]
directives = st.lists(
    st.tuples(
        st.sampled_from(("item", "item", "item", "item", "class", "class", "class", "class", "record")),
        st.lists(st.sampled_from(sorted(LOCKBOX_CLASSES)), min_size=1, max_size=2, unique=True),
        st.lists(st.integers(0, 10_000), min_size=1, max_size=4),
        st.sampled_from(((), (), ("hospital-x",), ("hospital-x", "hospital-y"))),
    ),
    min_size=1,
    max_size=3,
)
#: A directive as set: scope, classes, event ids, recipients.
Made = tuple[str, frozenset[str], frozenset[str], tuple[str, ...]]


def _set(history: _History, treating: Actor, drawn: Sequence[Drawn]) -> list[Made]:
    """Set the drawn directives; returns each as set (item event ids resolved from the timeline)."""
    p, ep = history.p, history.ep
    timeline = [e.event_id for e in p.timeline(treating, ep)]
    made: list[Made] = []
    for scope, classes, items, recipients in drawn:
        named = frozenset(timeline[i % len(timeline)] for i in items)
        history.clock.now += timedelta(minutes=1)
        p.set_lockbox(
            treating,
            ep,
            scope=scope,
            classes=classes if scope == "class" else (),
            event_ids=sorted(named) if scope == "item" else (),
            recipients=recipients,
            on=history.on,
        )
        made.append((scope, frozenset(classes), named, recipients))
    return made


def _applying(made: Sequence[Made], to: str | None) -> list[Made]:
    # a share naming no recipient may go anywhere: every directive applies to it
    return [d for d in made if not d[3] or to is None or to in d[3]]


def _check_share(p: Practice, ep: str, treating: Actor, made: Sequence[Made], to: str | None) -> None:
    full = list(p.timeline(treating, ep))
    state = p.episode(treating, ep)
    shared = p.shared_record(SUPERVISOR, ep, recipient=to)
    applying = _applying(made, to)
    # an item directive on the frame (the opening, a participant) withholds it only with the whole record
    named = {e for scope, _, items, _ in applying if scope == "item" for e in items} - {
        e.event_id for e in full if e.type in FRAME
    }
    classes = {c for scope, cs, _, _ in applying if scope == "class" for c in cs}
    withheld_types = {t for c in classes for t in LOCKBOX_CLASSES[c]}
    entries = list(shared.entries)
    assert [e.event_id for e in entries if e.event_id in named] == []
    assert [e.type for e in entries if e.type in withheld_types] == []
    if any(scope == "record" for scope, *_ in applying):
        assert entries == []
    kept = {e.event_id for e in entries}
    assert [e.event_id for e in full if e.event_id in kept] == [e.event_id for e in entries]  # stream order
    assert shared.withheld == (len(entries) < len(full))
    if not applying:
        assert (shared.withheld, entries, shared.state) == (False, full, state)
        return
    if not shared.withheld:
        expected = state
    elif entries and isinstance(opened := entries[0].event, EpisodeOpened):
        expected = fold(start(ep, state.clinic_id, opened), (e.event for e in entries[1:]))
    else:
        assert "episode-opened" not in {e.type for e in entries}
        assert shared.state is None
        return
    summary_hidden = summary_withheld(state.lockbox, UNNAMED if to is None else to)
    assert shared.state == (_withheld_summary(expected) if summary_hidden else expected)


def _derived(ep: str, entry: Any) -> set[str]:
    """The event id of a withheld entry and the ids of the FHIR resources made from it (see fhir/ids.py)."""
    found = {
        entry.event_id,
        ids.resource_id("Provenance", ep, entry.event_id),
        ids.resource_id("QuestionnaireResponse", ep, "client-response", entry.event_id),
    }
    match entry.event:
        case SessionRecorded():
            found.add(ids.encounter_id(ep, entry.event.session_id))
            n = len(entry.event.session.administrations)
            found |= {
                ids.resource_id("QuestionnaireResponse", ep, entry.event.session_id, i) for i in range(n)
            }
        case GoalAgreed():
            found.add(ids.goal_id(ep, entry.event.goal_id))
        case ReviewRecorded():
            found.add(ids.resource_id("Observation", ep, "review", entry.event.review_id))
        case RuptureNoted():
            found.add(ids.resource_id("Observation", ep, "rupture", entry.event.rupture_id))
        case AlertRaised():
            found.add(ids.resource_id("Flag", ep, entry.event.alert_id))
    return found


def _check_exports(p: Practice, ep: str, treating: Actor, out: Path) -> None:
    """The exports name no recipient: what any directive withholds (from anyone) is withheld from them."""
    full = list(p.timeline(treating, ep))
    shared = p.shared_record(SUPERVISOR, ep)
    kept = {e.event_id for e in shared.entries}
    # each token with what it is (the withheld entry's type): a failure names what leaked
    forbidden = {token: e.type for e in full if e.event_id not in kept for token in _derived(ep, e)}
    bundle = episode_bundle(p, SUPERVISOR, ep, purpose="quality-improvement")
    assert [str(e) for e in SCHEMA.errors(bundle)] == []
    text = json.dumps(bundle)
    assert sorted(what for token, what in forbidden.items() if token in text) == []
    export_research(p, SUPERVISOR, out, identified=True, episode_ids=[ep])
    with (out / "episodes.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # a whole record withheld has no row; any other, one that says whether something was withheld
    expected = [] if shared.state is None else ["true" if shared.withheld else "false"]
    assert [row["withheld"] for row in rows] == expected


@settings(
    # no shrinking: shrinking a history takes minutes; the failure names what leaked, and the example is whole
    phases=[Phase.explicit, Phase.generate],
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(plan=histories, drawn=directives, to=st.sampled_from(RECIPIENTS))
def test_any_lockbox_over_any_history_is_shared_safely(
    plan: list[HistoryStep], drawn: list[Drawn], to: str | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        clock = Clock()
        with open_practice(Path(folder) / "p.sqlite", clock=clock) as p:
            history = _History(p, clock)
            for step in plan:
                history.step(*step)
            # who treats, asked before any directive: history.actor() reads it as a supervisor, whose summary
            # a directive withholding the transfer would no longer tell it to
            treating = history.actor()
            made = _set(history, treating, drawn)
            _check_share(p, history.ep, treating, made, to)
            _check_exports(p, history.ep, treating, Path(folder) / "out")
