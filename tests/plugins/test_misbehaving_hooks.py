"""Hook implementations (and objects they supply) that return the wrong thing or change what they are given:
the call fails with a PluginError naming the plugin, nothing is written or exported, and a misbehaving
privacy filter never lets a record out."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from tests.plugins.test_raising_plugins import (
    export,
    host_with,
    open_canary_store,
    practice_file,
    record_session,
    written,
)

from alliancekit import hookimpl
from alliancekit.errors import PluginError
from alliancekit.feedback import AlertRule, Expectation
from alliancekit.fhir.privacy import Withhold
from alliancekit.plugins.manager import make_plugin_host

__all__ = ["practice_file"]  # the fixture, used by name
NAN = float("nan")


def plugin(implementation: Any) -> ModuleType:
    module = ModuleType("wrong_plugin")
    module.implementation = implementation  # type: ignore[attr-defined]
    return module


def fails_named(
    drive: Any, implementation: Any, practice_file: tuple[Path, str], tmp_path: Path, *, audit: bool = True
) -> PluginError:
    """Drive the library with the plugin: it must fail naming the plugin and write nothing."""
    path, episode_id = practice_file
    before = written(tmp_path, audit=audit)
    with pytest.raises(PluginError) as caught:
        drive(path, episode_id, host_with(plugin(implementation)))
    assert caught.value.plugin == "wrong_plugin"
    assert str(caught.value).startswith("plugin 'wrong_plugin' ")
    assert written(tmp_path, audit=audit) == before
    return caught.value


# -- the export filter: the privacy seam ------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer", [True, "withhold", Withhold, 0], ids=["True", "a string", "the class", "0"]
)
def test_a_filter_answering_neither_withhold_nor_none_fails_the_export(
    answer: object, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    @hookimpl(specname="alliancekit_fhir_export_filter")
    def implementation(record: Any, context: Any) -> object:
        return answer

    # Before: every answer but a Withhold instance let the record out, as if the filter had allowed it.
    error = fails_named(export, implementation, practice_file, tmp_path, audit=False)
    assert error.hook == "alliancekit_fhir_export_filter"
    assert str(error) == (
        "plugin 'wrong_plugin' returned from alliancekit_fhir_export_filter something other than a Withhold "
        "or None"
    )
    assert not (tmp_path / "export").exists()


def test_a_wrong_filter_is_named_among_right_ones(practice_file: tuple[Path, str]) -> None:
    class Allows:
        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any, context: Any) -> None:
            return None

    class Withholds:
        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any, context: Any) -> Withhold:
            return Withhold("policy")

    @hookimpl(specname="alliancekit_fhir_export_filter")
    def implementation(record: Any, context: Any) -> object:
        return "no"

    path, episode_id = practice_file
    with pytest.raises(PluginError) as caught:
        export(path, episode_id, host_with(Allows(), plugin(implementation), Withholds()))
    assert caught.value.plugin == "wrong_plugin"


# -- an expectation model whose expect answers the wrong type ---------------------------------------------


class Answers:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    def expect(self, measure: Any, intake: float, session: int) -> object:
        return self.answer


@pytest.mark.parametrize("answer", [42, "green", {"expected": 30}], ids=["a number", "a string", "a dict"])
def test_an_expectation_model_answering_the_wrong_type_is_named(
    answer: object, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    @hookimpl(specname="alliancekit_expectation_model")
    def implementation(measure: Any) -> Answers:
        return Answers(answer)

    # Before: the builtin alert rule that read the answer was blamed ('alliancekit.feedback.builtin').
    error = fails_named(record_session, implementation, practice_file, tmp_path)
    assert error.hook == "expectation model for ors"
    assert "something other than an Expectation or None" in str(error)


class Malformed:
    """Answers the model's own sound expectation for ORS (higher is better), with one thing changed."""

    def __init__(self, change: dict[str, Any]) -> None:
        self.change = change

    def expect(self, measure: Any, intake: float, session: int) -> Expectation:
        sound = Expectation(session, intake + 2, intake, intake + 4, intake - 3, True, "malformed")
        return attrs.evolve(sound, **self.change)


MALFORMED = {
    "expected NaN": ({"expected": NAN}, "is not a finite number"),
    "limit infinite": ({"limit": float("-inf")}, "is not a finite number"),
    "low a string": ({"low": "20"}, "is not a finite number"),
    "high a bool": ({"high": True}, "is not a finite number"),
    "direction turned round": ({"higher_is_better": False}, "disagrees with the measure's direction"),
    "another session": ({"session": 99}, "for another session than the one asked for"),
    "limit on the better side": ({"limit": 40.0}, "limit is on the better side of expected"),
    "low above high": ({"low": 35.0, "high": 1.0}, "low is above its high"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_an_expectation_model_answering_an_unusable_expectation_is_named(
    case: str, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    change, says = MALFORMED[case]

    @hookimpl(specname="alliancekit_expectation_model")
    def implementation(measure: Any) -> Malformed:
        return Malformed(change)

    # Before: taken as it was. With an ORS score below the sound expectation, a NaN `expected` still raised
    # outcome-below-expected (a NaN compares false every way, so nothing is green), and the same expectation
    # with its direction turned round raised nothing: the client below expectation went unalerted.
    error = fails_named(record_session, implementation, practice_file, tmp_path)
    assert error.hook == "expectation model for ors"
    assert str(error).startswith(
        "plugin 'wrong_plugin' returned from expectation model for ors an Expectation "
    )
    assert says in str(error)


def test_an_expectation_model_answering_a_sound_expectation_records(
    practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    @hookimpl(specname="alliancekit_expectation_model")
    def implementation(measure: Any) -> Malformed:
        return Malformed({"expected": 25, "low": 24.5, "high": 25.5, "limit": 25})  # ints, limit at expected

    path, episode_id = practice_file
    record_session(path, episode_id, host_with(plugin(implementation)))


# -- an alert rule whose check answers the wrong type -------------------------------------------------------


@pytest.mark.parametrize("answer", ["ors", [5], [("ors",)]], ids=["a string", "a number", "a tuple"])
def test_an_alert_rule_answering_the_wrong_type_records_nothing(
    answer: object, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    @hookimpl(specname="alliancekit_register_alert_rules")
    def implementation(register: Any) -> None:
        register(AlertRule("wrong.answer", "info", "Never shown.", lambda ctx: answer))

    # Before: "ors" raised alerts for measures "o", "r" and "s"; [5] an alert about measure 5.
    error = fails_named(record_session, implementation, practice_file, tmp_path)
    assert error.hook == "alert rule wrong.answer check"
    assert "something other than an iterable of measure ids, None or Target values" in str(error)


# -- a store opener that returns something that is not a store ---------------------------------------------


def test_a_store_opener_returning_no_store_is_named(practice_file: tuple[Path, str], tmp_path: Path) -> None:
    @hookimpl(specname="alliancekit_register_stores")
    def implementation(register: Any) -> None:
        register("canary", lambda location, read_only: "not a store")

    # Before: AttributeError ('str' object has no attribute ...), blamed on nobody.
    error = fails_named(open_canary_store, implementation, practice_file, tmp_path)
    assert error.hook == "store opener for canary"


# -- a hook that changes the measure it is handed ------------------------------------------------------------


def test_a_plugin_cannot_change_a_registered_measures_definition(
    practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    @hookimpl(specname="alliancekit_expectation_model")
    def implementation(measure: Any) -> None:
        measure.definition["items"][0]["max"] = 100

    # Before: the change went through, and every later command refused the measure as stored with other
    # content (MeasureDefinitionChanged), naming no plugin.
    error = fails_named(record_session, implementation, practice_file, tmp_path)
    assert (error.hook, type(error.plugin_exception)) == ("alliancekit_expectation_model", TypeError)


def test_a_read_only_definition_still_reads_and_copies_as_json() -> None:
    definition = make_plugin_host(load_entry_points=False).measures().get("phq-9").definition
    for change in (
        lambda d: d.update(id="x"),
        lambda d: d.pop("id"),
        lambda d: d["items"].append({}),
        lambda d: d["items"][0].__setitem__("max", 9),
        lambda d: d["items"].sort(),
    ):
        with pytest.raises(TypeError):
            change(definition)
    for copied in (copy.deepcopy(definition), pickle.loads(pickle.dumps(definition))):  # noqa: S301
        assert copied == definition
        assert type(copied) is dict
        assert type(copied["items"]) is list
        assert type(copied["items"][0]) is dict
        copied["items"][0]["max"] = 9  # a copy is the caller's own
    assert definition["items"][0]["max"] == 3


# -- FHIR mappers and resource hooks that leave something the export cannot write -------------------------


@pytest.mark.parametrize(
    "made",
    [
        ["Encounter"],
        [{"id": "x"}],
        [{"resourceType": "Basic", "x": {1}}],
        [{"resourceType": "Basic", "x": NAN}],
        [{"resourceType": "NotAType"}],
        [{"resourceType": "Resource"}],
    ],
    ids=["strings", "no resourceType", "a set", "NaN", "no FHIR type", "an abstract type"],
)
def test_a_fhir_mapper_making_no_resources_fails_the_export_named(
    made: list[Any], practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    @hookimpl(specname="alliancekit_fhir_mappers")
    def implementation(register: Any) -> None:
        register("session", lambda record, context: copy.deepcopy(made))

    # Before: a TypeError or KeyError from the NDJSON writer (NaN: a line that is not JSON), naming nobody.
    error = fails_named(export, implementation, practice_file, tmp_path, audit=False)
    assert str(error) == (
        "plugin 'wrong_plugin' returned from fhir mapper for session something other than FHIR resources "
        "(JSON objects whose resourceType is a FHIR type name)"
    )


def test_a_fhir_mapper_making_any_r4_type_exports_it(practice_file: tuple[Path, str]) -> None:
    @hookimpl(specname="alliancekit_fhir_mappers")
    def implementation(register: Any) -> None:
        register("session", lambda record, context: [{"resourceType": "Basic", "id": "b-1"}])

    path, episode_id = practice_file
    export(path, episode_id, host_with(plugin(implementation)))
    assert (path.with_name("export") / "Basic.ndjson").read_text().count('"Basic"') == 1


ESCAPED = "escaped-by-a-plugin"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda resource: resource.clear(),
        lambda resource: resource.update(extension=[object()]),
        lambda resource: resource.update(resourceType=f"../../{ESCAPED}"),
        lambda resource: resource.update(resourceType="NotAType"),
        lambda resource: resource.update(resourceType="encounter"),
    ],
    ids=["cleared", "not JSON", "a path for a type", "no FHIR type", "a type in lower case"],
)
def test_a_resource_hook_spoiling_a_resource_fails_the_export_named_among_others(
    spoil: Any, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    class Tags:
        @hookimpl
        def alliancekit_fhir_resource(self, resource: dict[str, Any], record: Any, context: Any) -> None:
            resource.setdefault("meta", {})["tag"] = [{"code": "synthetic"}]

    @hookimpl(specname="alliancekit_fhir_resource")
    def implementation(resource: dict[str, Any], record: Any, context: Any) -> None:
        if resource["resourceType"] == "Encounter":
            spoil(resource)

    path, episode_id = practice_file
    before = written(tmp_path, audit=False)
    with pytest.raises(PluginError) as caught:
        export(path, episode_id, host_with(Tags(), plugin(implementation), Tags()))
    # Before: KeyError or TypeError naming nobody; a resourceType of ../../x wrote x.ndjson outside the
    # export directory, and the export succeeded.
    assert (caught.value.hook, caught.value.plugin) == ("alliancekit_fhir_resource", "wrong_plugin")
    assert written(tmp_path, audit=False) == before
    assert not [p for p in (tmp_path, *tmp_path.parents[:3]) if (p / f"{ESCAPED}.ndjson").exists()]


class Refers:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    def reference(self, kind: str, local_id: str) -> object:
        return self.answer


@pytest.mark.parametrize(
    "answer", ["Practitioner/x", {"reference": {1}}, None], ids=["a string", "not JSON", "None"]
)
def test_an_identity_answering_no_reference_fails_the_export_named(
    answer: object, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    @hookimpl(specname="alliancekit_fhir_identity")
    def implementation(clinic_id: str, options: Any) -> Refers:
        return Refers(answer)

    # Before: a string or None was exported as the reference (invalid FHIR); a set failed the writer.
    error = fails_named(export, implementation, practice_file, tmp_path, audit=False)
    assert error.hook is not None
    assert error.hook.startswith("fhir identity reference for ")
    assert str(error).endswith("something other than a FHIR Reference (a JSON object)")


def test_an_alert_rule_cannot_drop_the_commands_events(
    practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    def drops(ctx: Any) -> list[str]:
        ctx.events.clear()  # typed Sequence: a plugin without a type checker may still try
        return []

    @hookimpl(specname="alliancekit_register_alert_rules")
    def implementation(register: Any) -> None:
        register(AlertRule("wrong.drops", "info", "Never shown.", drops))

    # Before: the rule saw the runner's own list, and the command committed without the session it recorded.
    error = fails_named(record_session, implementation, practice_file, tmp_path)
    assert (error.hook, type(error.plugin_exception)) == ("alert rule wrong.drops check", AttributeError)


def test_an_alert_rule_cannot_change_the_episodes_state(
    practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    def forgets(ctx: Any) -> list[str]:
        ctx.before.alerts.clear()  # typed Mapping: a plugin without a type checker may still try
        return []

    @hookimpl(specname="alliancekit_register_alert_rules")
    def implementation(register: Any) -> None:
        register(AlertRule("wrong.forgets", "info", "Never shown.", forgets))

    # Before: the rule emptied the state the practice keeps for the episode, and later commands in the
    # process decided on an episode without its open alerts.
    error = fails_named(record_session, implementation, practice_file, tmp_path)
    assert (error.hook, type(error.plugin_exception)) == ("alert rule wrong.forgets check", TypeError)


def _change_answers(ctx: Any) -> list[str]:
    session = next(event.session for event in ctx.events if hasattr(event, "session"))
    session.administrations[0].answers["individually"] = 9.9
    return []


def _change_subscales(ctx: Any) -> list[str]:
    score = next(score for event in ctx.events for score in getattr(event, "scores", ()))
    score.subscales["individually"] = 9.9
    return []


@pytest.mark.parametrize("tamper", [_change_answers, _change_subscales], ids=["answers", "subscales"])
def test_an_alert_rule_cannot_change_the_commands_records(
    tamper: Any, practice_file: tuple[Path, str], tmp_path: Path
) -> None:
    @hookimpl(specname="alliancekit_register_alert_rules")
    def implementation(register: Any) -> None:
        register(AlertRule("wrong.tampers", "info", "Never shown.", tamper))

    # Before: the rule ran between scoring and storing, and the session was stored with an answer of 9.9
    # beside the score of the answers given.
    error = fails_named(record_session, implementation, practice_file, tmp_path)
    assert (error.hook, type(error.plugin_exception)) == ("alert rule wrong.tampers check", TypeError)


def _maps_of(value: Any, path: str) -> Any:
    """Every map reachable through the attrs fields and tuples of ``value``, with its path."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from _maps_of(item, f"{path}[{key!r}]")
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _maps_of(item, f"{path}[{i}]")
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from _maps_of(getattr(value, field.name), f"{path}.{field.name}")


def test_no_map_of_a_registered_measure_can_be_changed() -> None:
    registry = make_plugin_host(load_entry_points=False).measures()
    found = 0
    for measure in (registry.get(measure_id, version) for measure_id, version in registry):
        texts = [measure.text_for(language) for language in measure.languages]
        for path, mapping in _maps_of((measure, *texts), measure.id):
            found += 1
            with pytest.raises(TypeError, match="read-only"):
                mapping["x"] = 1
            assert "x" not in mapping, path
    assert found > 100  # definitions, translations, text, examples' answers
