"""Files that hold clinical records are readable by their owner alone, whatever the process's umask.

A common umask (022) makes new files world-readable. The SQLite store, the exports, the reports and the
CLI's output files hold client records, so alliancekit creates them owner-only (files 0600, directories
0700). A file that already exists keeps its mode: widening or narrowing it is the host's decision.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TextIO

#: Read and write for the owner only.
FILE_MODE = 0o600
#: Enter, read and write for the owner only.
DIRECTORY_MODE = 0o700


def create_empty(path: Path) -> None:
    """Create ``path`` empty and owner-only if nothing is there; otherwise leave everything as it is.

    Used before SQLite opens a new database: SQLite gives its journal files the database file's mode.
    Any error (a missing directory, a directory in the way) is left for the caller's own open to report.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except OSError:
        return
    os.close(fd)


def open_text(path: Path, *, newline: str | None = None) -> TextIO:
    """Open ``path`` for writing UTF-8 text, truncated; created owner-only when new."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    return os.fdopen(fd, "w", encoding="utf-8", newline=newline)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as :func:`open_text` does."""
    with open_text(path) as handle:
        handle.write(text)


def make_directory(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents, each owner-only; return those it created, outermost first."""
    missing: list[Path] = []
    walk = path
    while not walk.exists() and walk.parent != walk:
        missing.append(walk)
        walk = walk.parent
    missing.reverse()
    for directory in missing:
        directory.mkdir(mode=DIRECTORY_MODE, exist_ok=True)  # exist_ok: another process made it meanwhile
    if not path.is_dir():  # a file in the way, as mkdir would say
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    return missing


def restrict_tree(root: Path) -> None:
    """Make every file under ``root`` owner-only, and every directory (``root`` too).

    For a staging directory before it is published: what third-party writers (a Parquet library, say)
    create there follows the umask, and the staging directory's own mode kept others out meanwhile.
    """
    for directory, dirs, files in os.walk(root):  # os.walk does not follow links to directories
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):  # a link's target is not part of the tree
                os.chmod(path, FILE_MODE)
        for name in dirs:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, DIRECTORY_MODE)
    os.chmod(root, DIRECTORY_MODE)
