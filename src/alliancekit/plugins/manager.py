"""The plugin manager: builtin plugins and installed ones, loaded lazily and once.

Builtin plugins are registered exactly like external ones: each is a module named in :data:`BUILTIN_PLUGINS`
and registered under that name. External plugins come from the ``alliancekit`` entry-point group. Scanning
entry points is slow on large environments, so it happens on the first call that needs plugins, not at
import time, and only once per process.

Two environment switches keep installed plugins out of places they should not be (a host's test suite):

``ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD``
    any non-empty value: load no entry-point plugins at all (builtins still load).
``ALLIANCEKIT_PLUGINS``
    a comma-separated allow-list of entry-point names; only those are loaded.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import entry_points
from types import FrameType
from typing import Any, TypeVar, cast

import attrs
import pluggy

from alliancekit._version import __version__
from alliancekit.errors import PluginCall, PluginError
from alliancekit.measures.registry import MeasureRegistry, build_measure_registry
from alliancekit.notify.channels import NotifierRegistry, build_notifier_registry
from alliancekit.plugins import hookspecs
from alliancekit.protocols.registry import ProtocolRegistry, build_protocol_registry
from alliancekit.store.registry import StoreRegistry, build_store_registry

_T = TypeVar("_T")

ENTRY_POINT_GROUP = "alliancekit"
DISABLE_AUTOLOAD_ENV = "ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD"
ALLOW_LIST_ENV = "ALLIANCEKIT_PLUGINS"

#: Builtin plugins, registered under these names exactly as external plugins are under theirs.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "alliancekit.store.memory",
    "alliancekit.store.sqlite",
    "alliancekit.measures.builtin",
    "alliancekit.feedback.builtin",
    "alliancekit.fhir.builtin",
    "alliancekit.protocols.builtin",
)


@attrs.frozen
class PluginInfo:
    """What ``alliancekit plugins`` prints for one registered plugin."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]


class PluginHost:
    """A typed facade over a :class:`pluggy.PluginManager`.

    The registries (stores, measures, ...) are built from the hooks on first use and cached; a host that
    registers a plugin after that should create a new ``PluginHost``.
    """

    def __init__(
        self, pm: pluggy.PluginManager, distributions: dict[str, tuple[str, str]] | None = None
    ) -> None:
        self.pm = pm
        #: plugin name -> (distribution name, version) for plugins loaded from entry points
        self.distributions = dict(distributions or {})
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- calling hooks ---------------------------------------------------------------------------------

    def call_hook(self, hook_name: str, /, *, plugin: str | None = None, **kwargs: Any) -> Any:
        """Call a hook with ``kwargs`` (given ``plugin``, only that plugin's implementation): every hook
        alliancekit calls goes through here.

        A plugin that raises an :class:`~alliancekit.errors.AlliancekitError` raises it unchanged; anything
        else becomes a :class:`~alliancekit.errors.PluginError` naming the hook, the plugin and the
        exception's type, never its message (it may carry client data), with the exception kept on
        ``plugin_exception``.
        """
        caller = getattr(self.pm.hook, hook_name)
        if plugin is not None:
            others = [p for p in self.pm.get_plugins() if self.pm.get_name(p) != plugin]
            caller = self.pm.subset_hook_caller(hook_name, others)
        with PluginCall(hook_name, plugin, lambda exc: plugin or _implementer(caller.get_hookimpls(), exc)):
            return caller(**kwargs)

    def call_first(self, hook_name: str, /, **kwargs: Any) -> tuple[Any, str | None]:
        """A *firstresult* hook's answer and the plugin that gave it (``(None, None)``: none answered).

        Asked plugin by plugin in pluggy's order, so that what the answer's object raises later can be
        reported against the plugin that supplied it (see :class:`~alliancekit.errors.PluginCall`).
        """
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        callers = [i.plugin_name for i in reversed(impls) if not (i.hookwrapper or i.wrapper)]
        for plugin in dict.fromkeys(callers):
            found = self.call_hook(hook_name, plugin=plugin, **kwargs)
            if found is not None:
                return found, plugin
        return None, None

    def implementers(self, hook_name: str) -> list[str]:
        """The names of the plugins implementing a hook, in registration order (builtins first)."""
        names = [impl.plugin_name for impl in getattr(self.pm.hook, hook_name).get_hookimpls()]
        return list(dict.fromkeys(names))

    def call_registration(
        self, hook_name: str, make_register: Any, plugins: Iterable[str] | None = None
    ) -> None:
        """Call a registration hook plugin by plugin (``plugins``: in that order), giving each a ``register``
        bound to its name.

        ``make_register(plugin_name)`` returns the callback handed to that plugin, so every registration
        is attributed to the plugin that made it. The callback works only while the plugin's hook runs.
        """
        # In registration order, so a clash is reported against the plugin that came later.
        for plugin in self.implementers(hook_name) if plugins is None else plugins:
            try:
                with self.registering(hook_name, plugin, make_register(plugin)) as register:
                    answers = self.call_hook(hook_name, plugin=plugin, register=register)
            except PluginError as error:
                if error.plugin is None:  # a registry refused this plugin's registration (a clash, a type)
                    error.attributed(hook_name, plugin)
                raise
            if answers:  # pluggy leaves out None: anything here was returned instead of registered
                wanted = "None (register each contribution with register)"
                raise PluginError.wrong_answer(hook_name, plugin, wanted)

    @contextlib.contextmanager
    def registering(self, hook_name: str, plugin: str, register: Callable[..., Any]) -> Iterator[Any]:
        """``register`` as handed to ``plugin``'s ``hook_name``: refused with a :class:`PluginError` once the
        block ends, because a callback kept for later would change a registry that is built once and shared
        by every practice, under readers that take no lock."""
        guarded = _WhileTheHookRuns(register, hook_name, plugin)
        try:
            yield guarded
        finally:
            guarded.closed = True

    def cached(self, key: str, build: Callable[[], _T]) -> _T:
        """What ``build()`` returns, built once per host for ``key`` (the registries made from hooks)."""
        found = self._cache.get(key)
        if found is not None:  # built: a dict read needs no lock (every command asks for the measures)
            return cast(_T, found)  # the key names what was built for it
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return cast(_T, self._cache[key])

    # -- typed access ----------------------------------------------------------------------------------

    def stores(self) -> StoreRegistry:
        """The :class:`~alliancekit.store.registry.StoreRegistry` built from every plugin."""
        return self.cached("stores", lambda: build_store_registry(self))

    def measures(self) -> MeasureRegistry:
        """The :class:`~alliancekit.measures.registry.MeasureRegistry` built from every plugin."""
        # Every command asks (scoring, alert rules): a bound method, not a new lambda on every call.
        return self.cached("measures", self._build_measures)

    def _build_measures(self) -> MeasureRegistry:
        return build_measure_registry(self)

    def notifiers(self) -> NotifierRegistry:
        """The :class:`~alliancekit.notify.channels.NotifierRegistry` built from every plugin."""
        return self.cached("notifiers", lambda: build_notifier_registry(self))

    def protocols(self) -> ProtocolRegistry:
        """The :class:`~alliancekit.protocols.registry.ProtocolRegistry` built from every plugin."""
        return self.cached("protocols", lambda: build_protocol_registry(self))

    def plugin_infos(self) -> list[PluginInfo]:
        """Each registered plugin with its distribution and the hooks it implements, sorted by name."""
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked
                continue
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            dist, version = self.distributions.get(name, ("alliancekit (builtin)", __version__))
            infos.append(PluginInfo(name, dist, version, hooks))
        return sorted(infos, key=lambda info: info.name)


class _WhileTheHookRuns:
    """A plugin's ``register`` until ``closed`` (see :meth:`PluginHost.registering`)."""

    def __init__(self, register: Any, hook_name: str, plugin: str) -> None:
        self.register, self.hook_name, self.plugin = register, hook_name, plugin
        self.closed = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.closed:
            raise PluginError(
                f"plugin {self.plugin!r} called the register of {self.hook_name} after the hook returned: "
                "register everything while the hook runs"
            ).attributed(self.hook_name, self.plugin)
        try:
            signature = inspect.signature(self.register)
        except (TypeError, ValueError):  # no signature to read: the call says what is wrong
            signature = None
        if signature is not None:
            try:
                signature.bind(*args, **kwargs)
            except TypeError:  # a wrong call, else a bare TypeError "failed in ...", which says nothing
                takes = ", ".join(signature.parameters) or "no arguments"
                raise PluginError(
                    f"plugin {self.plugin!r} called the register of {self.hook_name} with arguments it does "
                    f"not take (it takes: {takes}); see alliancekit.plugins.hookspecs.{self.hook_name}"
                ).attributed(self.hook_name, self.plugin) from None
        return self.register(*args, **kwargs)


def _implementer(impls: list[pluggy.HookImpl], exc: Exception) -> str | None:
    """The plugin whose implementation ``exc`` came out of: the first of its frames in the traceback."""
    tb = exc.__traceback__
    while tb is not None:
        for impl in impls:
            if _runs(impl, tb.tb_frame):
                return impl.plugin_name
        tb = tb.tb_next
    return None


def _runs(impl: pluggy.HookImpl, frame: FrameType) -> bool:
    """Whether ``frame`` runs ``impl``'s function (a method: on that plugin, as one class may be two)."""
    function = impl.function
    if getattr(function, "__code__", None) is not frame.f_code:
        return False
    owner = getattr(function, "__self__", None)
    return owner is None or frame.f_locals.get(frame.f_code.co_varnames[0]) is owner


def _selected_entry_points(allow: Iterable[str] | None) -> list[Any]:
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    if allow is None:
        return eps
    wanted = set(allow)
    return [ep for ep in eps if ep.name in wanted]


def allowed_but_not_installed() -> list[str]:
    """The names ``ALLIANCEKIT_PLUGINS`` lists that no installed entry point has (a typo, or a plugin not
    installed in this environment): such a name loads nothing, silently. Empty when the variable is unset."""
    listed = [name.strip() for name in os.environ.get(ALLOW_LIST_ENV, "").split(",") if name.strip()]
    installed = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return [name for name in dict.fromkeys(listed) if name not in installed]


def make_plugin_host(
    *,
    load_entry_points: bool | None = None,
    allow: Iterable[str] | None = None,
    extra_plugins: Iterable[object] = (),
) -> PluginHost:
    """Build a plugin host with the builtin plugins, installed plugins and ``extra_plugins``.

    :param load_entry_points: load the ``alliancekit`` entry-point group. ``None`` means: unless
        ``ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :param allow: entry-point names to load; ``None`` means every one, or the names in
        ``ALLIANCEKIT_PLUGINS`` when that is set.
    :param extra_plugins: plugin objects (modules or instances) registered after the others; handy in tests
        and for a host's own in-process plugin.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    distributions: dict[str, tuple[str, str]] = {}
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points is None:
        load_entry_points = not os.environ.get(DISABLE_AUTOLOAD_ENV)
    if allow is None and os.environ.get(ALLOW_LIST_ENV):
        allow = [name.strip() for name in os.environ[ALLOW_LIST_ENV].split(",") if name.strip()]
    if load_entry_points:
        for ep in _selected_entry_points(allow):
            if pm.is_blocked(ep.name):
                continue
            if pm.get_plugin(ep.name) is not None:  # else one of the two would silently not load
                raise _name_taken(ep, distributions.get(ep.name))
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - whatever an import raises is reported, by type only
                raise _failed_to_load(ep, exc) from None
            _register(pm, plugin, ep.name, f" ({_distribution(ep)})")
            if ep.dist is not None:
                distributions[ep.name] = (ep.dist.name, ep.dist.version)
    for plugin in extra_plugins:
        _register(pm, plugin, _readable_name(pm, plugin), "")
    pm.check_pending()
    return PluginHost(pm, distributions)


def _register(pm: pluggy.PluginManager, plugin: object, name: str, origin: str) -> None:
    """Register ``plugin`` under ``name``, refusing one with a hook implementation alliancekit would not call
    as written (pluggy's own refusal names neither the plugin's name nor its distribution, and a hook it
    does not know is only found after every plugin is registered)."""
    problem = _unhashable(plugin) or _hookimpl_problem(pm, plugin)
    if problem is None and not any(pm.parse_hookimpl_opts(plugin, attr) is not None for attr in dir(plugin)):
        # pluggy registers such a plugin and never calls it: an entry point naming a hook function, or
        # the definition loader, rather than the module that holds the hooks, was silently a no-op.
        problem = ("", _NO_HOOK)
    if problem is None:
        try:
            pm.register(plugin, name=name)
            return
        except pluggy.PluginValidationError:
            problem = ("", "has a hook implementation pluggy refuses (a wrapper without a yield?)")
    hook, what = problem
    raise PluginError(
        f"plugin {name!r}{origin} {what}; fix the plugin (hooks and their parameters: "
        "alliancekit.plugins.hookspecs) or leave it out"
    ).attributed(hook or "load", name)


def _unhashable(plugin: object) -> tuple[str, str] | None:
    """``("", what is wrong)`` for a plugin that cannot be hashed: pluggy registers it, then keeps the
    plugins in a set on every hook call, so each call would fail with a bare TypeError naming nobody."""
    try:
        hash(plugin)
    except Exception:  # noqa: BLE001 - whatever a __hash__ raises, pluggy's every later call would raise it
        return "", (
            "cannot be hashed, which pluggy needs of a plugin (a SimpleNamespace, or a class defining __eq__ "
            "without __hash__, such as a dataclass with eq and not frozen): register a module or an instance "
            "of a hashable class"
        )
    return None


#: What is wrong with a plugin in which nothing is marked as a hook implementation.
_NO_HOOK = (
    "implements no alliancekit hook (nothing in it is marked @alliancekit.hookimpl: name the module or "
    "object that holds the hook implementations, not one of its functions)"
)

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _hookimpl_problem(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str] | None:
    """``(hook, what is wrong)`` for the first hook implementation of ``plugin`` that would not be called as
    its author meant (an unknown hook, a parameter the hook does not pass, a default value), or ``None``."""
    known = sorted(n for n in vars(hookspecs) if n.startswith(f"{hookspecs.PROJECT}_"))
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            if attr.startswith(f"{hookspecs.PROJECT}_") and callable(getattr(plugin, attr, None)):
                return attr, f"defines {attr} without @alliancekit.hookimpl, so it would never be called"
            continue
        hook = opts.get("specname") or attr
        if hook not in known:
            close = difflib.get_close_matches(hook, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return hook, f"implements {hook}, which is not an alliancekit hook{hint}"
        passed = getattr(pm.hook, hook).spec.argnames
        function = getattr(plugin, attr)
        try:
            parameters = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):  # no signature to read: leave it to pluggy
            continue
        if parameters and parameters[0].name == "self" and "." in getattr(function, "__qualname__", ""):
            if inspect.isclass(plugin):  # pluggy would call the method without an instance: a TypeError
                return hook, (
                    f"is a class whose {hook} is a method: register an instance of it "
                    f"({plugin.__name__}()), not the class; an entry point names a module or an instance"
                )
            parameters = parameters[1:]  # a method of a class registered as such: pluggy skips it too
        for parameter in parameters:
            defaulted = parameter.default is not parameter.empty
            if parameter.name in passed and defaulted:  # pluggy would never pass it: always the default
                return hook, (
                    f"implements {hook} giving its parameter {parameter.name!r} a default value, which "
                    "pluggy takes as a parameter not to pass"
                )
            if parameter.name not in passed and not defaulted and parameter.kind not in _VARIADIC:
                wanted = ", ".join(passed) or "no parameters"
                return hook, (
                    f"implements {hook} with a parameter {parameter.name!r} the hook does not pass "
                    f"(it passes: {wanted})"
                )
    return None


def _distribution(ep: Any) -> str:
    return "an unknown distribution" if ep.dist is None else f"distribution {ep.dist.name} {ep.dist.version}"


def _name_taken(ep: Any, other: tuple[str, str] | None) -> PluginError:
    """The error for an entry point whose name another plugin registered already (``other``: that plugin's
    distribution and version; ``None``: a builtin plugin)."""
    if other is None:
        taken, way_out = "a builtin plugin", "rename its entry point in the alliancekit group"
    else:
        taken = f"distribution {other[0]} {other[1]}"
        way_out = "uninstall one of them, or rename an entry point in the alliancekit group"
    return PluginError(
        f"plugin name {ep.name!r} of {_distribution(ep)} is taken by {taken}: only one plugin can have a "
        f"name; {way_out}"
    ).attributed("load", ep.name)


def _failed_to_load(ep: Any, exc: Exception) -> PluginError:
    """The error for an entry point whose import failed: the plugin, its distribution and the way out; the
    exception's type, never its message (as for a hook that raises: see :class:`PluginError`)."""
    return PluginError(
        f"plugin {ep.name!r} ({_distribution(ep)}) failed to load: {type(exc).__name__}; fix or uninstall "
        f"it, or leave it out ({ALLOW_LIST_ENV} lists the plugins to load, {DISABLE_AUTOLOAD_ENV}=1 loads "
        "none)"
    ).attributed("load", ep.name, exc)


def _readable_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """A name for an in-process plugin that says where it comes from (pluggy would use its id())."""
    base = getattr(plugin, "__name__", None) or f"{type(plugin).__module__}.{type(plugin).__qualname__}"
    name, n = base, 1
    while pm.has_plugin(name):
        n += 1
        name = f"{base}#{n}"
    return name


_default_host: PluginHost | None = None
_default_lock = threading.Lock()


def get_plugin_host() -> PluginHost:
    """The process-wide plugin host, created on first use (never at import time)."""
    global _default_host
    with _default_lock:
        if _default_host is None:
            _default_host = make_plugin_host()
        return _default_host


def reset_plugin_host() -> None:
    """Forget the process-wide host so the next call rescans plugins (tests and long-lived hosts)."""
    global _default_host
    with _default_lock:
        _default_host = None
