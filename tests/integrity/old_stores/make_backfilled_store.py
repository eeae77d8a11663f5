"""Make a store that an OLDER alliancekit upgraded to keep measure definitions, as the SQL text of its SQLite
database (the fixture ``v10-backfilled-*.sql.gz`` beside this file). Run with that commit's tree first on
the path, e.g.::

    git worktree add --detach /tmp/old-2ab21ee 2ab21ee
    PYTHONPATH=/tmp/old-2ab21ee/src:$(ls -d /tmp/old-2ab21ee/plugins/*/src | tr "\\n" :) \\
        python tests/integrity/old_stores/make_backfilled_store.py v10-backfilled-2ab21ee.sql.gz

It restores ``v2-shape3-b8a705e`` (two synthetic episodes written before definitions were kept) and opens a
practice on it: the older alliancekit migrates it (its migration 6 marks it
``measure-definitions-backfill``, in the metadata only), records the registered measures' definitions and
marks the backfill done. The script is for regenerating the fixture, not part of the suite.
"""

from __future__ import annotations

import gzip
import sqlite3
import sys
import tempfile
from pathlib import Path

from alliancekit import open_practice

SOURCE = Path(__file__).parent / "v2-shape3-b8a705e.sql.gz"


def make(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old.sqlite"
        conn = sqlite3.connect(path)
        conn.executescript(gzip.decompress(SOURCE.read_bytes()).decode())
        conn.close()
        with open_practice(path):
            pass
        conn = sqlite3.connect(path)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (application_id,) = conn.execute("PRAGMA application_id").fetchone()
        lines = [
            f"-- made by make_backfilled_store.py with the commit its file name ends with (schema {version})",
            *conn.iterdump(),
            f"PRAGMA application_id = {application_id};",
            f"PRAGMA user_version = {version};",
        ]
        conn.close()
    target.write_bytes(gzip.compress("\n".join(lines).encode(), mtime=0))


if __name__ == "__main__":
    make(Path(__file__).parent / sys.argv[1])
