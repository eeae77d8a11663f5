"""Make the plugin importable from a source checkout (tests run from the repository root)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD", "1")

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))
