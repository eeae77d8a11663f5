"""Files that hold clinical records are readable by their owner alone, whatever the process's umask.

A common umask (022) makes new files world-readable. The SQLite store, the exports, the reports and the
CLI's output files hold client records, so alliancekit creates them owner-only (files 0600, directories
0700). A file of this user's that already exists keeps its mode: widening or narrowing it is the host's
decision. In a directory others may write in, a name may have been taken by another user first: their link
or FIFO is refused, their file lends no mode (see :func:`replacing`).
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
    A link at ``path`` is followed as :func:`replacing` follows it (the file is made where it leads, so
    SQLite, which follows it too, finds it owner-only); another user's link is refused with a
    :class:`PermissionError`. Any other error (a missing directory, a directory in the way) is left for
    the caller's own open to report.
    """
    try:
        target, found = _followed(path)
    except PermissionError:
        raise
    except OSError:
        return
    if found is not None:
        refuse_planted(target)
        return
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
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
    ``path`` held is left. A file of this user's already at ``path`` keeps its mode (another user's is
    replaced by an owner-only one); through a symbolic link, the file it names is replaced. A device or a
    pipe (``/dev/stdout``, a FIFO) is written in place, as it cannot be replaced. Another user's link or
    FIFO is refused (:func:`_followed`). An error is given ``path`` as its file name (a write on a full
    disk has none, a hidden sibling's would say nothing), so that its message names the file asked for."""
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
    target, found = _followed(path)
    if found is not None and not stat.S_ISREG(found.st_mode):
        with _in_place(path, found, newline) as handle:
            yield handle
        return
    # another user's file lends us no mode: a mode they chose would open our records to them
    mode = found.st_mode if found is not None and _mine(found) else None
    target = Path(os.path.realpath(target))
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


def landing(path: Path) -> os.stat_result | None:
    """What writing ``path`` with :func:`replacing` would replace: ``None`` for nothing (a new file, also
    where a link of this user's leads nowhere yet), else what is there, through links as it follows them.
    A link or FIFO another user planted is refused as :func:`replacing` refuses it (a
    :class:`PermissionError` naming ``path``), before anything is written."""
    return _followed(path)[1]


#: Links followed from one name at most, as the kernel's own limit (``ELOOP``).
_MAX_LINKS = 40


def _followed(path: Path) -> tuple[Path, os.stat_result | None]:
    """Where writing ``path`` lands, and what is there (``None``: nothing yet).

    A shared directory (``/tmp``, a team's folder) lets another user plant a link or a FIFO under the name
    the user asked for, to have the records written where they can read them. So, as Linux's
    ``protected_symlinks`` and ``protected_fifos`` do (off on many hosts), a link is followed only if this
    user or the owner of its directory made it, and a FIFO is written only if this user made it; anything
    else is refused as a :class:`PermissionError` naming ``path``. A ``/proc`` link to this process's own
    pipe (``/dev/stdout`` when it is piped) ends the walk: it names no file anyone could plant.
    """
    hop = Path(os.path.abspath(path))
    for _ in range(_MAX_LINKS):
        try:
            found = os.lstat(hop)
        except FileNotFoundError:
            return hop, _stat_through(path, hop)
        if stat.S_ISFIFO(found.st_mode) and not _mine(found):
            raise _refused(path, "a FIFO another user made")
        if not stat.S_ISLNK(found.st_mode):
            return hop, found
        if not _mine(found, os.stat(hop.parent).st_uid):
            raise _refused(path, "a symbolic link another user made")
        hop = Path(os.path.abspath(hop.parent / os.readlink(hop)))
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))


def _stat_through(path: Path, hop: Path) -> os.stat_result | None:
    """What is at ``path`` when the walk reached a name ``lstat`` cannot see: nothing (a new file), or a
    ``/proc`` magic link's pipe or socket, which only ``stat`` through the whole path reaches."""
    if hop == Path(os.path.abspath(path)):
        return None
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def refuse_planted(path: Path) -> None:
    """Refuse a regular file at ``path`` that another user made in a shared directory, before it is opened
    to be written: a file they made open to all (even empty, for a new SQLite database, or as a database's
    ``-wal``) would take the records and let them read them. As Linux's ``protected_regular=2``: a
    directory is shared when it is sticky and its group or others may write in it (``/tmp``), and the
    directory's owner's files are trusted there. Raises :class:`PermissionError` naming ``path``.
    """
    try:
        found = os.lstat(path)
        directory = os.stat(Path(os.path.abspath(path)).parent)
    except (FileNotFoundError, NotADirectoryError):  # nothing there (or no directory for it): nothing planted
        return
    shared = directory.st_mode & stat.S_ISVTX and directory.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if shared and stat.S_ISREG(found.st_mode) and not _mine(found, directory.st_uid):
        what = "a file another user made in a shared directory; not written"
        raise PermissionError(errno.EPERM, what, str(path))


def owned_by_me(path: Path) -> bool:
    """Whether this user made the file at ``path`` (itself, not where a link leads); raises
    :class:`OSError` when nothing is there."""
    return _mine(os.lstat(path))


def _mine(found: os.stat_result, trusted: int | None = None) -> bool:
    """Whether this user (or ``trusted``, a directory's owner) made ``found``; always, where files have no
    owners to tell apart (Windows has no ``geteuid``)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is None or found.st_uid in (geteuid(), trusted)


def _refused(path: Path, what: str) -> PermissionError:
    return PermissionError(errno.EPERM, f"{what}; not written through", str(path))


@contextlib.contextmanager
def _in_place(path: Path, found: os.stat_result, newline: str | None) -> Iterator[TextIO]:
    """Write a device or a pipe in place; refused if something else took its name meanwhile."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino):
        os.close(fd)
        raise _refused(path, "replaced while being opened")
    with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
        yield handle


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
