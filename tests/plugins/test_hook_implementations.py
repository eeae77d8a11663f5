"""A hook implementation alliancekit would never call as its author wrote it (a misspelt hook, a parameter
the hook does not pass, a default value, a forgotten ``@hookimpl``) is refused when the plugin is
registered, by a PluginError naming the plugin, its distribution and the hook; not by pluggy's own error,
which the command line took for an internal error."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import hookimpl
from alliancekit.errors import PluginError
from alliancekit.plugins import manager
from alliancekit.plugins.manager import make_plugin_host


def plugin_with(name: str, function: Any, *, marked: bool = True) -> types.ModuleType:
    plugin = types.ModuleType("probeplug")
    setattr(plugin, name, hookimpl(function) if marked else function)
    return plugin


def refusal(plugin: object) -> PluginError:
    with pytest.raises(PluginError) as caught:
        make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    return caught.value


def test_a_misspelt_hook_is_named_with_the_hook_it_resembles() -> None:
    error = refusal(plugin_with("alliancekit_register_measure", lambda register: None))
    assert str(error) == (
        "plugin 'probeplug' implements alliancekit_register_measure, which is not an alliancekit hook (did "
        "you mean alliancekit_register_measures?); fix the plugin (hooks and their parameters: "
        "alliancekit.plugins.hookspecs) or leave it out"
    )
    assert (error.plugin, error.hook) == ("probeplug", "alliancekit_register_measure")


def test_a_parameter_the_hook_does_not_pass_is_named() -> None:
    error = refusal(plugin_with("alliancekit_register_measures", lambda registrar: None))
    assert (
        "implements alliancekit_register_measures with a parameter 'registrar' the hook does not pass "
        in (str(error))
    )
    assert "(it passes: register)" in str(error)
    assert (error.plugin, error.hook) == ("probeplug", "alliancekit_register_measures")


def test_a_parameter_of_a_hook_without_parameters_is_named() -> None:
    error = refusal(plugin_with("alliancekit_access_policy", lambda practice: None))
    assert "with a parameter 'practice' the hook does not pass (it passes: no parameters)" in str(error)


def test_a_default_value_which_pluggy_would_never_fill_is_refused() -> None:
    # pluggy takes a parameter with a default for one it need not pass: register would always be None.
    def alliancekit_register_measures(register: Any = None) -> None:
        return None

    error = refusal(plugin_with("alliancekit_register_measures", alliancekit_register_measures))
    assert "giving its parameter 'register' a default value" in str(error)

    class Methods:  # the same hook as the rules want it, by a method, leaving a parameter out: registers
        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any) -> None:
            return None

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Methods()])
    assert host.implementers("alliancekit_fhir_export_filter")


def test_a_hook_function_without_hookimpl_is_refused() -> None:
    error = refusal(plugin_with("alliancekit_register_measures", lambda register: None, marked=False))
    assert "defines alliancekit_register_measures without @alliancekit.hookimpl" in str(error)


def test_a_plugin_implementing_no_hook_is_refused() -> None:
    """An entry point naming a hook function (or the definition loader) instead of the module holding the
    hooks registered a plugin pluggy never calls: the measure was silently missing ("no measure with id")."""

    @hookimpl
    def alliancekit_register_measures(register: Any) -> None:
        return None

    for plugin in (alliancekit_register_measures, types.ModuleType("probeplug"), object()):
        error = refusal(plugin)
        assert "implements no alliancekit hook (nothing in it is marked @alliancekit.hookimpl" in str(error)
        assert error.hook == "load"


def test_a_class_registered_instead_of_its_instance_is_refused() -> None:
    """Before: registered, then ``failed in alliancekit_register_measures: TypeError`` when pluggy called the
    method without an instance (an entry point naming the class, ``pkg:MyPlugin``)."""

    class MyPlugin:
        @hookimpl
        def alliancekit_register_measures(self, register: Any) -> None:
            return None

    error = refusal(MyPlugin)
    assert str(error) == (
        "plugin 'MyPlugin' is a class whose alliancekit_register_measures is a method: register an instance "
        "of it (MyPlugin()), not the class; an entry point names a module or an instance; fix the plugin "
        "(hooks and their parameters: alliancekit.plugins.hookspecs) or leave it out"
    )
    assert error.hook == "alliancekit_register_measures"
    assert make_plugin_host(load_entry_points=False, extra_plugins=[MyPlugin()]).measures()


@attrs.define(eq=True)
class Unhashable:
    """A plugin class whose ``__eq__`` takes away ``__hash__`` (attrs, like dataclasses, does that)."""

    tag: str = "x"

    @hookimpl
    def alliancekit_register_measures(self, register: Any) -> None:
        return None


@attrs.frozen
class Hashable:
    tag: str = "x"

    @hookimpl
    def alliancekit_register_measures(self, register: Any) -> None:
        return None


def test_an_unhashable_plugin_is_refused_when_registered() -> None:
    """Before: registered, then every hook call failed with a bare ``TypeError: unhashable type`` from
    pluggy (it keeps the plugins in a set), naming no plugin."""

    @hookimpl
    def alliancekit_register_measures(register: Any) -> None:
        return None

    namespace = types.SimpleNamespace(alliancekit_register_measures=alliancekit_register_measures)
    for plugin, name in ((namespace, "types.SimpleNamespace"), (Unhashable(), f"{__name__}.Unhashable")):
        error = refusal(plugin)
        assert str(error).startswith(f"plugin {name!r} cannot be hashed, which pluggy needs of a plugin")
        assert (error.plugin, error.hook) == (name, "load")
    # the same plugin, hashable: registers and is called
    assert make_plugin_host(load_entry_points=False, extra_plugins=[Hashable()]).measures()


def test_an_installed_plugin_with_a_misspelt_hook_is_named_with_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_misspelt(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(manager.DISABLE_AUTOLOAD_ENV, raising=False)
    with pytest.raises(PluginError) as caught:
        manager.make_plugin_host(allow=["misspelt"])
    assert str(caught.value).startswith(
        "plugin 'misspelt' (distribution misspelt-plugin 0.2) implements alliancekit_register_alert_rule, "
        "which is not an alliancekit hook (did you mean alliancekit_register_alert_rules?)"
    )


def test_the_cli_names_the_plugin_rather_than_reporting_an_internal_error(tmp_path: Path) -> None:
    install_misspelt(tmp_path)
    env = dict(os.environ, ALLIANCEKIT_PLUGINS="misspelt")
    env.pop(manager.DISABLE_AUTOLOAD_ENV, None)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])
    done = subprocess.run(
        [sys.executable, "-m", "alliancekit", "plugins"], capture_output=True, text=True, env=env, check=False
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("alliancekit: error: plugin 'misspelt' (distribution misspelt-plugin 0.2)")
    assert "internal error" not in done.stderr


def install_misspelt(site: Path) -> None:
    (site / "misspelt_plugin.py").write_text(
        "import alliancekit\n\n\n@alliancekit.hookimpl\ndef alliancekit_register_alert_rule(register):\n"
        "    pass\n",
        encoding="utf-8",
    )
    info = site / "misspelt_plugin-0.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: misspelt-plugin\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text("[alliancekit]\nmisspelt = misspelt_plugin\n")
