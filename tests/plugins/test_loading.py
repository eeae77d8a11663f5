"""Plugin loading: lazy, once, and switchable off by the environment."""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from alliancekit.errors import PluginError
from alliancekit.plugins import manager

CANARY = "secret-canary"


def test_importing_alliancekit_scans_no_entry_points() -> None:
    code = (
        "import importlib.metadata as md\n"
        "calls = []\n"
        "real = md.entry_points\n"
        "md.entry_points = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "import alliancekit\n"
        "print(len(calls))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_plugin_host_is_built_once(fresh_plugin_host: None) -> None:
    assert manager.get_plugin_host() is manager.get_plugin_host()


def test_disable_switch_loads_no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    scanned: list[str] = []
    monkeypatch.setattr(manager, "_selected_entry_points", lambda allow: scanned.append("x") or [])
    monkeypatch.setenv(manager.DISABLE_AUTOLOAD_ENV, "1")
    manager.make_plugin_host()
    assert scanned == []
    monkeypatch.delenv(manager.DISABLE_AUTOLOAD_ENV)
    manager.make_plugin_host()
    assert scanned == ["x"]


def test_allow_list_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    monkeypatch.setattr(manager, "_selected_entry_points", lambda allow: seen.append(allow) or [])
    monkeypatch.delenv(manager.DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.setenv(manager.ALLOW_LIST_ENV, "one, two")
    manager.make_plugin_host()
    assert seen == [["one", "two"]]


def test_builtins_are_registered_by_name_like_external_plugins() -> None:
    host = manager.make_plugin_host(load_entry_points=False)
    names = {info.name for info in host.plugin_infos()}
    assert set(manager.BUILTIN_PLUGINS) <= names
    for info in host.plugin_infos():
        assert info.hooks, f"{info.name} implements no hook"


def test_a_plugin_that_fails_to_import_is_named_with_its_distribution_and_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed as pip lays a distribution out: a module whose import fails, and its entry point.
    (tmp_path / "failing_plugin").mkdir()
    (tmp_path / "failing_plugin" / "__init__.py").write_text(f"raise ImportError({CANARY!r})\n")
    info = tmp_path / "failing_plugin-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: failing-plugin\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[alliancekit]\nfailing = failing_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(manager.DISABLE_AUTOLOAD_ENV, raising=False)
    with pytest.raises(PluginError) as caught:
        manager.make_plugin_host(allow=["failing"])
    error = caught.value
    assert str(error) == (
        "plugin 'failing' (distribution failing-plugin 0.3) failed to load: ImportError; fix or uninstall "
        "it, or leave it out (ALLIANCEKIT_PLUGINS lists the plugins to load, "
        "ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD=1 loads none)"
    )
    assert (error.plugin, type(error.plugin_exception)) == ("failing", ImportError)
    # Its message may hold anything: kept for debugging, never in a logged traceback (as for a hook).
    assert CANARY not in "".join(traceback.format_exception(error))
    assert manager.make_plugin_host(allow=["other"]).pm.get_plugin("failing") is None  # left out: no error


#: A plugin module's source with one hook (a plugin implementing none is refused on its own account).
A_HOOK = (
    "import alliancekit\n\n\n@alliancekit.hookimpl\ndef alliancekit_register_protocols(register):\n    pass\n"
)


def install(site: Path, distribution: str, version: str, entry_points: dict[str, str]) -> None:
    """A distribution's dist-info on ``site``, declaring ``entry_points`` (name -> module) in our group."""
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entry_points.items())
    (info / "entry_points.txt").write_text(f"[alliancekit]\n{lines}")


def test_two_distributions_declaring_one_plugin_name_are_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "first_plugin.py").write_text(A_HOOK)
    (tmp_path / "second_plugin.py").write_text(A_HOOK)
    install(tmp_path, "first-dist", "1.0", {"same": "first_plugin"})
    install(tmp_path, "second-dist", "2.0", {"same": "second_plugin"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(manager.DISABLE_AUTOLOAD_ENV, raising=False)
    # Before: the second found was skipped without a word, and its measures (say) were simply missing.
    with pytest.raises(PluginError) as caught:
        manager.make_plugin_host(allow=["same"])
    message = str(caught.value)
    assert message.startswith("plugin name 'same' of distribution ")
    assert "distribution first-dist 1.0" in message
    assert "distribution second-dist 2.0" in message
    assert message.endswith("uninstall one of them, or rename an entry point in the alliancekit group")


def test_an_installed_plugin_taking_a_builtin_name_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "impostor_plugin.py").write_text(A_HOOK)
    install(tmp_path, "impostor-dist", "0.1", {"alliancekit.measures.builtin": "impostor_plugin"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(manager.DISABLE_AUTOLOAD_ENV, raising=False)
    with pytest.raises(PluginError) as caught:
        manager.make_plugin_host(allow=["alliancekit.measures.builtin"])
    assert str(caught.value) == (
        "plugin name 'alliancekit.measures.builtin' of distribution impostor-dist 0.1 is taken by a builtin "
        "plugin: only one plugin can have a name; rename its entry point in the alliancekit group"
    )


def test_an_allow_list_name_no_installed_plugin_has_is_named_by_alliancekit_plugins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in ALLIANCEKIT_PLUGINS loaded nothing under that name, and nothing said so: ``alliancekit
    plugins`` (where one looks) now warns on stderr, its list (and JSON) on stdout unchanged."""
    from importlib.metadata import entry_points

    from alliancekit.cli.main import main

    installed = sorted(ep.name for ep in entry_points(group=manager.ENTRY_POINT_GROUP))
    monkeypatch.setenv(manager.DISABLE_AUTOLOAD_ENV, "1")  # nothing loads: only the names are compared
    monkeypatch.setenv(manager.ALLOW_LIST_ENV, ",".join(["no-such-plugin", *installed, " no-such-plugin"]))
    manager.reset_plugin_host()
    try:
        assert manager.allowed_but_not_installed() == ["no-such-plugin"]
        assert main(["plugins", "--json"]) == 0
    finally:
        manager.reset_plugin_host()
    out, err = capsys.readouterr()
    assert json.loads(out)
    assert err == (
        "alliancekit: warning: ALLIANCEKIT_PLUGINS names 'no-such-plugin', which no installed plugin is "
        "called: nothing loads under that name\n"
    )
    monkeypatch.setenv(manager.ALLOW_LIST_ENV, ",".join(installed))
    assert manager.allowed_but_not_installed() == []
    monkeypatch.delenv(manager.ALLOW_LIST_ENV)
    assert manager.allowed_but_not_installed() == []
