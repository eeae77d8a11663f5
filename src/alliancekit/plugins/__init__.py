"""Plugin machinery: hook specifications, the plugin manager and the registrations plugins make."""

from alliancekit.plugins.hookspecs import hookimpl, hookspec
from alliancekit.plugins.manager import PluginHost, get_plugin_host, make_plugin_host

__all__ = ["hookimpl", "hookspec", "PluginHost", "get_plugin_host", "make_plugin_host"]
