"""Files that hold clinical records are readable by their owner alone, whatever the process's umask.

A common umask (022) makes new files world-readable. The SQLite store, the exports, the reports and the
CLI's output files hold client records, so alliancekit creates them owner-only (files 0600, directories
0700). A file that already exists keeps its mode: widening or narrowing it is the host's decision.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
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
    """Write ``text`` to ``path`` as :func:`replacing` does: whole, or not at all."""
    with replacing(path) as handle:
        handle.write(text)


@contextlib.contextmanager
def replacing(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """Write UTF-8 text to ``path`` whole or not at all: into a hidden owner-only sibling, renamed onto
    ``path`` once written and synced; on any error (a full disk) or Ctrl-C the sibling is removed and what
    ``path`` held is left. A file already at ``path`` keeps its mode; through a symbolic link, the file it
    names is replaced. A device or a pipe (``/dev/stdout``, a FIFO) is written in place, as it cannot be
    replaced. An error is given ``path`` as its file name (a write on a full disk has none, a hidden
    sibling's would say nothing), so that its message names the file asked for."""
    hidden = f".{Path(os.path.realpath(path)).name}.partial-"
    try:
        with _replaced(path, newline) as handle:
            yield handle
    except OSError as exc:
        if exc.filename is None or Path(str(exc.filename)).name.startswith(hidden):
            exc.filename = str(path)
        raise


@contextlib.contextmanager
def _replaced(path: Path, newline: str | None) -> Iterator[TextIO]:
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        with open_text(path, newline=newline) as handle:
            yield handle
        return
    target = Path(os.path.realpath(path))
    fd, staged = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=target.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(staged, stat.S_IMODE(mode))
        os.replace(staged, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staged)
        raise


def make_directory(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents, each owner-only; return those it created, outermost first
    (none made when it fails)."""
    missing: list[Path] = []
    walk = path
    while not walk.exists() and walk.parent != walk:
        missing.append(walk)
        walk = walk.parent
    missing.reverse()
    made: list[Path] = []
    try:
        for directory in missing:
            try:
                directory.mkdir(mode=DIRECTORY_MODE)
            except FileExistsError:  # another process made it meanwhile: its, not ours to remove
                continue
            made.append(directory)
    except BaseException:  # a full disk half-way: what was made is removed again
        remove_made(made)
        raise
    if not path.is_dir():  # a file in the way, as mkdir would say
        remove_made(made)
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    return made


@contextlib.contextmanager
def directory_for(path: Path) -> Iterator[list[Path]]:
    """Create ``path`` and its missing parents for the block, as :func:`make_directory` does; if the block
    fails (a full disk, Ctrl-C), remove those it created: a failed write leaves no empty directory behind,
    and never touches one that existed before."""
    made = make_directory(path)
    try:
        yield made
    except BaseException:
        remove_made(made)
        raise


def remove_made(made: list[Path]) -> None:
    """Remove the directories :func:`make_directory` created (its list), innermost first, each only while
    empty: what another process put there meanwhile stays, with the directories holding it."""
    for directory in reversed(made):
        with contextlib.suppress(OSError):
            directory.rmdir()


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
