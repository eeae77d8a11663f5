"""The ``alliancekit_expectation_model`` hook is told the episode's norm population (its ``population``
argument), through real plugins registered in a plugin host: a plugin can give children a model of their
own and leave adults to the builtin expectations; a plugin whose hook does not name the argument is asked
as before and serves every population."""

from __future__ import annotations

from pathlib import Path

from alliancekit import hookimpl
from alliancekit.feedback import Expectation
from alliancekit.measures.definition import Measure
from alliancekit.plugins.manager import make_plugin_host

from .conftest import make_clinic, ors


class HighBarModel:
    """Expects every ORS client at 30-34 from the second session on, red below 20."""

    def expect(self, measure: Measure, intake: float, session: int) -> Expectation | None:
        return Expectation(session, 32, 30, 34, 20, True, "high-bar")


class ChildrenOnly:
    """A model for children's ORS, nothing for anyone else; remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    @hookimpl
    def alliancekit_expectation_model(self, measure: Measure, population: str | None) -> HighBarModel | None:
        self.asked.append((measure.id, population))
        return HighBarModel() if (measure.id, population) == ("ors", "child") else None


class EveryPopulation:
    """A hook written before the population argument: it names only the measure."""

    @hookimpl
    def alliancekit_expectation_model(self, measure: Measure) -> HighBarModel | None:
        return HighBarModel() if measure.id == "ors" else None


def test_the_hook_receives_the_episodes_population_and_may_answer_for_one_population(tmp_path: Path) -> None:
    plugin = ChildrenOnly()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    c = make_clinic(tmp_path, plugins=host)
    child, grown = c.episode(population="child"), c.episode()
    for ep in (child, grown):
        c.session(ep, ors(28))
        c.session(ep, ors(29))  # below the plugin's 30; level for an adult's norms (28 is not clinical)

    assert ("ors", "child") in plugin.asked
    assert ("ors", None) in plugin.asked
    assert c.rules_raised(child) == ["outcome-below-expected"]  # the plugin's model, for the child
    assert c.rules_raised(grown) == []  # the builtin expectation, for the episode naming no population
    ors_measure = host.measures().get("ors")
    assert c.p.expectations.expect(ors_measure, 18, 3, population="child").source == "high-bar"  # type: ignore[union-attr]
    for other in (None, "adult", "adolescent"):
        found = c.p.expectations.expect(ors_measure, 18, 3, population=other)
        assert found is not None
        assert found.source == "norms"
    assert ("ors", "adolescent") in plugin.asked
    c.p.close()


def test_a_hook_that_does_not_name_the_population_serves_every_population(tmp_path: Path) -> None:
    host = make_plugin_host(load_entry_points=False, extra_plugins=[EveryPopulation()])
    c = make_clinic(tmp_path, plugins=host)
    child, grown = c.episode(population="child"), c.episode()
    for ep in (child, grown):
        c.session(ep, ors(28))
        c.session(ep, ors(29))
    assert c.rules_raised(child) == ["outcome-below-expected"]
    assert c.rules_raised(grown) == ["outcome-below-expected"]
    for population in (None, "child", "adult"):
        found = c.p.expectations.expect(host.measures().get("ors"), 18, 3, population=population)
        assert found is not None
        assert found.source == "high-bar"
    c.p.close()
