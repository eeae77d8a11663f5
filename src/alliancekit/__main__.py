"""``python -m alliancekit``: the same as the ``alliancekit`` command."""

import sys

from alliancekit.cli.main import main

sys.exit(main())
