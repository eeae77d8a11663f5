"""The library logs through ``logging.getLogger("alliancekit...")`` and leaves output to its host."""

from __future__ import annotations

import subprocess
import sys

# A real warning of the library: a plugin registers something that is not a channel.
_WARN = """
import logging, sys
{setup}
import alliancekit
from alliancekit.notify.channels import NotifierRegistry
registry = NotifierRegistry()
registry.add(object(), "an-example-plugin")
print(len(registry.problems))
"""


def _run(setup: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WARN.format(setup=setup)], capture_output=True, text=True, check=True
    )


def test_no_logging_configured_prints_nothing() -> None:
    done = _run("")
    assert done.stdout.strip() == "1"  # the warning was logged ...
    assert done.stderr == ""  # ... and not printed by Python's last-resort handler


def test_a_host_that_configures_logging_sees_the_warning() -> None:
    done = _run("logging.basicConfig(level=logging.WARNING, stream=sys.stderr)")
    assert "notification plugin an-example-plugin" in done.stderr


def test_the_top_logger_has_a_null_handler() -> None:
    # in a fresh process: a module that logs installs the handler, ``import alliancekit`` loads no logging
    code = (
        "import sys, alliancekit; assert 'logging' not in sys.modules; "
        "import logging, alliancekit.notify.channels; "
        "print(any(isinstance(h, logging.NullHandler) for h in logging.getLogger('alliancekit').handlers))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "True\n"
