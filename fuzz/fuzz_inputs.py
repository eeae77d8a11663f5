"""atheris harness over the public inputs: run with ``tox -e fuzz`` (or ``python fuzz/fuzz_inputs.py``).

Each input picks a target from its first byte: JSON text through the bounded reader and into the
converter (every event type, the episode state, every record), keyword arguments for a record built from
the same JSON, or a location string for ``open_practice``. Any exception that is not an
:class:`~alliancekit.errors.AlliancekitError` is a finding.
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import attrs

    from alliancekit import open_practice
    from alliancekit.domain import records
    from alliancekit.errors import AlliancekitError
    from alliancekit.events import converter
    from alliancekit.events.types import EVENT_TYPES
    from alliancekit.lifecycle.state import EpisodeState
    from alliancekit.plugins.manager import make_plugin_host
    from alliancekit.security import bounded_json

RECORDS = sorted(
    (v for v in vars(records).values() if isinstance(v, type) and attrs.has(v)), key=lambda t: t.__name__
)
TARGETS = [*sorted(EVENT_TYPES.values(), key=lambda t: t.TYPE), EpisodeState, *RECORDS]
HOST = make_plugin_host(load_entry_points=False)
PREFIXES = ("", "sqlite:", "memory:", "nosuch:", "postgresql://")


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 2)
    try:
        if choice == 0:
            target = TARGETS[fdp.ConsumeIntInRange(0, len(TARGETS) - 1)]
            converter.structure(bounded_json.loads(fdp.ConsumeUnicodeNoSurrogates(4096)), target)
        elif choice == 1:
            cls = RECORDS[fdp.ConsumeIntInRange(0, len(RECORDS) - 1)]
            kwargs = bounded_json.loads(fdp.ConsumeUnicodeNoSurrogates(4096))
            if isinstance(kwargs, dict):
                cls(**{f.name: kwargs.get(f.name) for f in attrs.fields(cls)})
        else:
            prefix = PREFIXES[fdp.ConsumeIntInRange(0, len(PREFIXES) - 1)]
            rest = fdp.ConsumeUnicodeNoSurrogates(64).replace("/", "_").replace("\\", "_")
            open_practice(prefix + rest, plugins=HOST).close()
    except AlliancekitError:
        pass


def main() -> None:
    os.chdir(tempfile.mkdtemp(prefix="alliancekit-fuzz-"))  # relative locations land here
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
