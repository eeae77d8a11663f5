"""A plugin registering a broken measure definition: refused when the registry is built, by an error naming
the plugin, the JSON path, the rule and how to mend it; the same through an installed entry point."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from alliancekit import hookimpl
from alliancekit.errors import MeasureDefinitionError, PluginError
from alliancekit.plugins.manager import make_plugin_host

#: A small, valid, synthetic definition (3 items scored 1-5, three bands), changed by each case below.
DEFINITION: dict[str, Any] = {
    "id": "probe",
    "version": "1.0",
    "title": "Synthetic probe scale",
    "kind": "symptom",
    "direction": "higher-is-worse",
    "licence": {"notice": "Synthetic.", "item_text": False, "cite": {"ref": "synthetic"}},
    "references": {"synthetic": "A synthetic reference."},
    "source": {"ref": "synthetic"},
    "items": [{"key": f"q{i}", "label": f"Item {i}", "min": 1, "max": 5, "step": 1} for i in (1, 2, 3)],
    "scoring": {"method": "sum", "reverse_keyed": [], "missing": {"policy": "refuse"}},
    "range": {"min": 3, "max": 15},
    "bands": {
        "cite": {"ref": "synthetic"},
        "bands": [
            {"key": "low", "label": "Low", "min": 3, "max": 7},
            {"key": "mid", "label": "Mid", "min": 8, "max": 11},
            {"key": "high", "label": "High", "min": 12, "max": 15},
        ],
    },
    "examples": [{"answers": {"q1": 2, "q2": 2, "q3": 2}, "total": 6, "band": "low"}],
}


def changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    definition = copy.deepcopy(DEFINITION)
    change(definition)
    return definition


def plugin_registering(definition: Any, name: str = "brokenplug") -> types.ModuleType:
    plugin = types.ModuleType(name)

    @hookimpl
    def alliancekit_register_measures(register: Any) -> None:
        register(definition)

    plugin.alliancekit_register_measures = alliancekit_register_measures  # type: ignore[attr-defined]
    return plugin


def test_the_valid_definition_registers() -> None:
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(DEFINITION)])
    assert host.measures().supplier("probe", "1.0") == "brokenplug"


class Frozen(Mapping[str, Any]):
    """A read-only mapping that is neither a dict nor a MappingProxyType."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _proxied(value: Any) -> Any:
    """``value`` with every object, at any depth, a MappingProxyType."""
    if isinstance(value, dict):
        return types.MappingProxyType({key: _proxied(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_proxied(item) for item in value]
    return value


@pytest.mark.parametrize(
    "wrap",
    [types.MappingProxyType, _proxied, Frozen],
    ids=["a MappingProxyType", "proxies at every depth", "a Mapping of its own"],
)
def test_a_definition_in_any_mapping_registers_as_plain_json(wrap: Callable[[Any], Any]) -> None:
    # Before: refused as "$: type (must be an object)", though the hook takes a mapping.
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(wrap(DEFINITION))])
    measure = host.measures().get("probe", "1.0")
    assert json.loads(json.dumps(measure.definition)) == DEFINITION
    assert host.measures().score("probe", "1.0", {"q1": 5, "q2": 5, "q3": 5}).total == 15


def test_a_mapping_still_has_to_be_a_valid_definition() -> None:
    broken = _proxied(changed(lambda d: d.pop("items")))
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(broken)])
    with pytest.raises(MeasureDefinitionError) as caught:
        host.measures()
    assert (caught.value.field, caught.value.rule, caught.value.plugin) == ("$", "required", "brokenplug")


CASES: list[tuple[str, Callable[[dict[str, Any]], object], str, str, str]] = [
    # name, change, field, rule, what the message says about the rule
    ("no items", lambda d: d.pop("items"), "$", "required", "missing items"),
    (
        "reverse-keyed item missing",
        lambda d: d["scoring"].update(reverse_keyed=["q9"], reverse_keyed_cite={"ref": "synthetic"}),
        "$.scoring.reverse_keyed[0]",
        "item",
        "no item with that key",
    ),
    (
        "subscale item missing",
        lambda d: d["scoring"].update(subscales=[{"key": "s", "label": "S", "items": ["q1", "q9"]}]),
        "$.scoring.subscales[0].items[1]",
        "item",
        "no item with that key",
    ),
    (
        "bands overlap",
        lambda d: d["bands"]["bands"][1].update(min=7),
        "$.bands.bands[1].min",
        "overlap",
        "meet",
    ),
    ("bands gap", lambda d: d["bands"]["bands"][1].update(min=9), "$.bands.bands[1].min", "gap", "meet"),
    (
        "bands descending",
        lambda d: d["bands"]["bands"].reverse(),
        "$.bands.bands[0].min",
        "coverage",
        "start",
    ),
    (
        "item range inverted",
        lambda d: d["items"][0].update(min=5, max=1),
        "$.items[0].max",
        "range",
        "greater",
    ),
    ("duplicate item key", lambda d: d["items"][1].update(key="q1"), "$.items[1].key", "unique", "unique"),
    ("version not numeric", lambda d: d.update(version="v1"), "$.version", "pattern", "must match"),
    ("version leading zero", lambda d: d.update(version="01.0"), "$.version", "pattern", "must match"),
    (
        "cutoff rule unknown",
        lambda d: d.update(
            norms=[
                {
                    "population": "p",
                    "default": True,
                    "clinical_cutoff": {"value": 8, "clinical_if": "over", "cite": {"ref": "synthetic"}},
                }
            ]
        ),
        "$.norms[0].clinical_cutoff.clinical_if",
        "enum",
        'one of "below", "at-or-below", "above", "at-or-above"',
    ),
    (
        "risk threshold above the item",
        lambda d: d.update(risk_items=[{"item": "q1", "threshold": 6, "cite": {"ref": "synthetic"}}]),
        "$.risk_items[0].threshold",
        "range",
        "above the item's minimum and at most its maximum",
    ),
    (
        "two risk rules for one item",
        lambda d: d.update(
            risk_items=[{"item": "q1", "threshold": t, "cite": {"ref": "synthetic"}} for t in (2, 4)]
        ),
        "$.risk_items[1].item",
        "unique",
        "one risk rule per item",
    ),
    ("too many items", lambda d: d.update(items=d["items"] * 200), "$.items", "maxItems", "at most 500"),
    (  # the Observation of the total carries one code: the second was dropped without a word
        "two total codes",
        lambda d: d.update(
            codes=[
                {"system": "http://loinc.org", "code": "1-8", "target": "panel"},
                {"system": "http://loinc.org", "code": "2-6", "target": "total"},
                {"system": "http://loinc.org", "code": "3-4", "target": "item", "item": "q1"},
                {"system": "http://snomed.info/sct", "code": "4", "target": "total"},
            ]
        ),
        "$.codes[3].target",
        "unique",
        "one total code per measure",
    ),
    # the examples are scored when the definition registers (one point off each way, and the band)
    (
        "example total one under",
        lambda d: d["examples"][0].update(total=5),
        "$.examples[0].total",
        "example",
        "scored total differs",
    ),
    (
        "example total one over",
        lambda d: d["examples"][0].update(total=7),
        "$.examples[0].total",
        "example",
        "scored total differs",
    ),
    (
        "example band",
        lambda d: d["examples"][0].update(band="mid"),
        "$.examples[0].band",
        "example",
        "scored band differs",
    ),
    (
        "scoring that disagrees with the examples",
        lambda d: d["scoring"].update(reverse_keyed=["q1"], reverse_keyed_cite={"ref": "synthetic"}),
        "$.examples[0].total",
        "example",
        "scored total differs",
    ),
    # a response schema's $ref must resolve locally when registered: else every client's answers were
    # refused at the first recording (a ResponseError blaming the response), or, with examples, the
    # refusal named $.examples[0].answers instead of the reference
    (
        "response schema refers to a URL, no examples",
        lambda d: d.update(response_schema={"$ref": "https://example.invalid/r.json"}, examples=[]),
        "$.response_schema.$ref",
        "$ref",
        "refers to a schema that is not available",
    ),
    (
        "response schema refers to a URL",
        lambda d: d.update(response_schema={"$ref": "https://example.invalid/r.json"}),
        "$.response_schema.$ref",
        "$ref",
        "nothing is fetched",
    ),
    (
        "response schema refers to a missing $defs entry",
        lambda d: d.update(
            examples=[],
            response_schema={
                "type": "object",
                "properties": {"answers": {"allOf": [{"$ref": "#/$defs/answer"}]}},
                "$defs": {"answers": {"type": "object"}},
            },
        ),
        "$.response_schema.properties.answers.allOf[0].$ref",
        "$ref",
        "refers to a schema that is not available",
    ),
]


@pytest.mark.parametrize(
    ("change", "field", "rule", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_broken_definition_names_the_plugin_the_field_the_rule_and_the_fix(
    change: Callable[[dict[str, Any]], object], field: str, rule: str, says: str
) -> None:
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(changed(change))])
    with pytest.raises(MeasureDefinitionError) as caught:
        host.measures()
    error = caught.value
    assert (error.plugin, error.field, error.rule) == ("brokenplug", field, rule)
    message = str(error)
    assert message.startswith(
        f"plugin 'brokenplug' registered an invalid measure definition: {field}: {rule}"
    )
    assert says in message
    assert "alliancekit measures check" in message


def test_one_total_code_beside_panel_and_item_codes_registers() -> None:
    codes = [
        {"system": "http://loinc.org", "code": "1-8", "target": "panel"},
        {"system": "http://loinc.org", "code": "2-6", "target": "total"},
        {"system": "http://loinc.org", "code": "3-4", "target": "item", "item": "q1"},
        {"system": "http://loinc.org", "code": "5-1", "target": "item", "item": "q1"},
    ]
    definition = changed(lambda d: d.update(codes=codes))
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(definition)])
    measure = host.measures().get("probe", "1.0")
    assert [(c.code, c.target.value) for c in measure.codes] == [
        ("1-8", "panel"),
        ("2-6", "total"),
        ("3-4", "item"),
        ("5-1", "item"),
    ]


def test_a_response_schema_referring_to_itself_and_to_alliancekit_schemas_registers() -> None:
    schema = {
        "$id": "https://probe.example/probe-1.0.response.schema.json",
        "type": "object",
        "required": ["answers"],
        "properties": {
            "answers": {"$ref": "#/$defs/answers"},
            "note": {"const": {"$ref": "https://example.invalid/data-not-a-reference"}},
            "definition": {"$ref": "https://alliancekit.org/schemas/measure-definition.schema.json"},
        },
        "$defs": {"answers": {"$ref": "#item-map"}, "map": {"$anchor": "item-map", "type": "object"}},
    }
    definition = changed(lambda d: d.update(response_schema=schema))
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(definition)])
    assert host.measures().score("probe", "1.0", {"q1": 2, "q2": 2, "q3": 2}).total == 6


def test_a_leading_zero_version_cannot_stand_beside_the_same_version() -> None:
    # 01.0 and 1.0 sort as one version: both registered, "the latest" would be whichever came first.
    ors = dict(make_plugin_host(load_entry_points=False).measures().get("ors", "1.0").definition)
    impostor = json.loads(json.dumps(ors))
    impostor["version"] = "01.0"
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(impostor)])
    with pytest.raises(MeasureDefinitionError) as caught:
        host.measures()
    assert (caught.value.field, caught.value.rule) == ("$.version", "pattern")


def test_a_clash_with_a_builtin_names_both_plugins_and_the_way_out() -> None:
    ors = json.loads(json.dumps(make_plugin_host(load_entry_points=False).measures().get("ors").definition))
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(ors)])
    with pytest.raises(PluginError) as caught:
        host.measures()
    assert str(caught.value) == (
        "measure ors version 1.0 registered by both 'alliancekit.measures.builtin' and 'brokenplug': "
        "a changed definition needs a new version, another measure another id"
    )


def test_the_error_pickles_with_the_plugin_named() -> None:
    import pickle

    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering([1, 2])])
    with pytest.raises(MeasureDefinitionError) as caught:
        host.measures()
    copied = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - made just above
    assert (copied.plugin, copied.field, str(copied)) == ("brokenplug", "$", str(caught.value))


# -- installed through an entry point, as the guide publishes one ----------------------------------------


def install(site: Path, name: str, definition: dict[str, Any]) -> None:
    """A distribution on ``site`` as pip lays one out: the module, and its dist-info with the entry point."""
    package = site / f"alliancekit_measure_{name}"
    package.mkdir()
    (package / "definition.json").write_text(json.dumps(definition), encoding="utf-8")
    (package / "__init__.py").write_text(
        "import json\n"
        "from importlib.resources import files\n\n"
        "import alliancekit\n\n\n"
        "@alliancekit.hookimpl\n"
        "def alliancekit_register_measures(register):\n"
        '    register(json.loads((files(__name__) / "definition.json").read_text("utf-8")))\n',
        encoding="utf-8",
    )
    info = site / f"alliancekit_measure_{name}-0.1.0.dist-info"
    info.mkdir()
    metadata = f"Metadata-Version: 2.1\nName: alliancekit-measure-{name}\nVersion: 0.1.0\n"
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(f"[alliancekit]\n{name} = alliancekit_measure_{name}\n")
    (info / "RECORD").write_text("")


def cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ALLIANCEKIT_PLUGINS="brokenplug")
    env.pop("ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD", None)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *sys.path])
    return subprocess.run(
        [sys.executable, "-m", "alliancekit", *args], capture_output=True, text=True, env=env, check=False
    )


def test_the_cli_with_an_installed_broken_measure_plugin(tmp_path: Path) -> None:
    install(tmp_path, "brokenplug", changed(lambda d: d["items"][1].update(key="q1")))
    listed = cli(tmp_path, "plugins")
    assert listed.returncode == 0  # listing plugins builds no registry: the broken one is shown
    assert "brokenplug  (alliancekit-measure-brokenplug 0.1.0)" in listed.stdout
    for args in (["measures", "list"], ["measures", "show", "ors"]):
        failed = cli(tmp_path, *args)
        assert (failed.returncode, failed.stdout) == (2, "")
        assert failed.stderr.startswith(
            "alliancekit: error: plugin 'brokenplug' registered an invalid measure definition: "
            "$.items[1].key: unique (item keys must be unique); fix the definition"
        )
        assert "Traceback" not in failed.stderr


# -- a huge definition: the bound a definition file has, for the data a plugin hands over -----------------

MAX_BYTES = 1024 * 1024


def of_size(size: int) -> dict[str, Any]:
    """The valid definition padded with references to exactly ``size`` bytes of compact UTF-8 JSON."""
    definition = copy.deepcopy(DEFINITION)

    def encoded() -> int:
        return len(json.dumps(definition, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    n = 0
    while encoded() + 1900 + 20 < size:  # each reference at most 2,000 characters
        definition["references"][f"pad{n}"] = "x" * 1900
        n += 1
    definition["references"][f"pad{n}"] = ""
    definition["references"][f"pad{n}"] = "x" * (size - encoded())
    assert encoded() == size
    return definition


def test_a_definition_at_the_size_bound_registers() -> None:
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin_registering(of_size(MAX_BYTES))])
    assert ("probe", "1.0") in host.measures()


def test_a_definition_one_byte_over_the_size_bound_is_refused_before_it_is_checked() -> None:
    # Before: accepted whatever its size (11 MB took seconds at every start), where a file one byte over
    # 1 MiB is refused by `alliancekit measures check`.
    host = make_plugin_host(
        load_entry_points=False, extra_plugins=[plugin_registering(of_size(MAX_BYTES + 1))]
    )
    with pytest.raises(MeasureDefinitionError) as caught:
        host.measures()
    assert (caught.value.plugin, caught.value.field, caught.value.rule) == ("brokenplug", "$", "maxBytes")
    assert "larger than 1048576 bytes" in str(caught.value)
