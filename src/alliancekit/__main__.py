"""``python -m alliancekit``: the same as the ``alliancekit`` command."""

import sys

try:
    from alliancekit.cli.main import main
except KeyboardInterrupt as exc:  # a Ctrl-C while the entry module loads: reported as main() reports one
    from alliancekit.cli.main import stopped

    sys.exit(stopped(exc, None))

sys.exit(main())
