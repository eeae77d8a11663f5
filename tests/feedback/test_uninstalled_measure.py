"""Recording an administration of a measure whose plugin is gone: refused with ``UnknownMeasure``, whose
message says the plugin is not installed when the store holds a definition of the measure (administrations
used it), and says only that the measure is unknown otherwise. Real SQLite files, the K10 plugin registered
through the host and then left out."""

from __future__ import annotations

from pathlib import Path

import alliancekit_measure_k10
import pytest

from alliancekit import open_practice
from alliancekit.domain import Administration, AdministrationTiming
from alliancekit.errors import UnknownMeasure
from alliancekit.plugins import make_plugin_host

from .conftest import CLINICIAN, Clinic, later, make_clinic, ors

K10 = Administration("k10", "1.0", AdministrationTiming.START, total=30)
GONE = (
    "no measure with id k10 version 1.0 (the store holds a definition of k10: the plugin that supplies it "
    "is not installed)"
)


def _without_k10(path: Path) -> Clinic:
    return Clinic(open_practice(path, clock=later, plugins=make_plugin_host(load_entry_points=False)))


def _refused(c: Clinic, ep: str, admin: Administration) -> UnknownMeasure:
    before = len(c.p.timeline(CLINICIAN, ep))
    with pytest.raises(UnknownMeasure) as raised:
        c.session(ep, admin)
    assert len(c.p.timeline(CLINICIAN, ep)) == before  # nothing written
    assert "client-x" not in str(raised.value)
    return raised.value


def test_a_measure_whose_plugin_is_gone_is_refused_naming_the_missing_plugin(tmp_path: Path) -> None:
    """Before, the refusal said only "no measure with id k10 version 1.0", as for a measure never seen."""
    with_k10 = make_plugin_host(load_entry_points=False, extra_plugins=[alliancekit_measure_k10])
    first = make_clinic(tmp_path, plugins=with_k10)
    ep = first.episode()
    first.session(ep, K10)
    first.p.close()
    c = _without_k10(tmp_path / "p.sqlite")
    with c.p:
        refused = _refused(c, ep, K10)
        assert (str(refused), refused.stored, refused.ident) == (GONE, True, "k10 version 1.0")
        # another version of the same measure: its plugin is missing all the same
        other = _refused(c, ep, Administration("k10", "2.0", AdministrationTiming.START, total=30))
        assert str(other) == GONE.replace("version 1.0", "version 2.0")
        # a measure the store has no definition of: unknown, no word of a plugin
        never = _refused(c, ep, Administration("oq-45", "1.0", AdministrationTiming.START, total=30))
        assert (str(never), never.stored) == ("no measure with id oq-45 version 1.0", False)
        # an installed measure's wrong version: its plugin is installed, though the store holds its definition
        c.session(ep, ors(20))
        wrong = _refused(c, ep, Administration("ors", "9.9", AdministrationTiming.START, total=20))
        assert (str(wrong), wrong.stored) == ("no measure with id ors version 9.9", False)


def test_a_measure_never_recorded_is_unknown_only_even_when_others_are_stored(tmp_path: Path) -> None:
    """The boundary: the same file and measure, but no administration of K10 ever stored its definition."""
    first = make_clinic(tmp_path)
    ep = first.episode()
    first.session(ep, ors(20))
    first.p.close()
    c = _without_k10(tmp_path / "p.sqlite")
    with c.p:
        refused = _refused(c, ep, K10)
        assert (str(refused), refused.stored) == ("no measure with id k10 version 1.0", False)
