"""Crash-safe publication of an export directory: write to a temporary sibling, audit, rename atomically.

The sequence, with :class:`StagedDirectory`::

    with StagedDirectory(target, replace=False, replaces="manifest.json") as staged:
        ...  # write every file into staged.path, the manifest last
        staged.publish(audit)  # fsync, audit(), one rename, fsync the parent

1. Opening checks the target: absent, or an empty directory. An existing directory with files in it is
   refused (:class:`~alliancekit.errors.ValidationError` ``directory: exists``) unless ``replace=True``,
   and even then only if it holds the ``replaces`` file (the manifest of a previous export), so that a
   mistyped path never deletes unrelated files. Then it removes what killed runs for the same target left
   behind, and creates ``.<name>.partial-<random>`` in the target's parent: the same filesystem, so the
   final rename is atomic. The staging directory is private to its owner (mode 0700), and so is the
   published directory.
2. The caller writes its files into :attr:`StagedDirectory.path`.
3. :meth:`StagedDirectory.publish` fsyncs every file and directory of the staging tree, calls ``audit()``
   and only when it returns renames the staging directory to the target, then fsyncs the parent.

What a kill at any moment (``SIGKILL``; or a power loss, the data being fsynced before the rename) leaves:

- **Nothing partial under the target name.** The target is absent (or the empty directory it was), the
  previous export (``replace=True``), or the complete new one. Partial work only ever lives in hidden
  ``.<name>.partial-*`` directories, which the next run for the same target removes.
- **No published file unaudited.** ``audit()`` returns before the rename. A kill between the two leaves
  audit entries for an export that was never published: the log over-reports, which is the safe side for
  an access log (it never under-reports a disclosure).

``replace=True`` has one small window: the previous export is renamed aside (``.<name>.replaced-*``), the
new one renamed into place, then the old one removed. Between the two renames (two system calls, no I/O in
between) the target name does not exist. A kill exactly there leaves no target, the complete new export in
its ``.partial-`` directory and the previous one in a ``.replaced-`` directory; a reader never sees a mix,
and the next run for the same target removes both. (Linux's ``renameat2(RENAME_EXCHANGE)`` would close
the window but is not portable.)

Concurrent runs for one target: each staging directory is held under an advisory lock (``flock``) while
its run lives, so the clean-up only removes the directories of dead runs. If two runs publish the same
target, the second rename finds a non-empty directory and that run raises ``directory: exists`` (with
``replace=False``); its files are removed and its audit entries over-report. POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from alliancekit.errors import ValidationError
from alliancekit.security import private_files

__all__ = ["PARTIAL", "REPLACED", "StagedDirectory", "leftovers"]

#: Infix of a staging directory's name: ``.<target name>.partial-<random>``.
PARTIAL = ".partial-"
#: Infix of a replaced export set aside until the new one is published: ``.<target name>.replaced-<random>``.
REPLACED = ".replaced-"

FIELD = "directory"
#: The longest name of a target: its hidden siblings (``.<name>.replaced-<16 hex digits>``) must fit in
#: the filesystem's 255-byte limit on a name.
MAX_NAME = 200


def _fsync_path(path: Path | str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path | str) -> None:
    _fsync_path(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def leftovers(target: Path) -> list[Path]:
    """The hidden directories runs for ``target`` leave while they run or when killed: staging and
    set-aside ones, in the target's parent."""
    parent = target.parent
    prefixes = (f".{target.name}{PARTIAL}", f".{target.name}{REPLACED}")
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    return sorted(parent / name for name in names if name.startswith(prefixes))


def _lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on directory ``path``, or ``None`` if a live process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None  # gone, or not a directory we made
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _remove_leftovers(target: Path) -> None:
    """Remove the staging directories of dead runs and replaced exports left aside by killed runs."""
    for path in leftovers(target):
        if path.is_symlink() or not path.is_dir():
            continue  # never ours
        if path.name[len(target.name) + 1 :].startswith(PARTIAL):
            fd = _lock(path)
            if fd is None:
                continue  # a live run is writing it
            try:
                shutil.rmtree(path, ignore_errors=True)
            finally:
                os.close(fd)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _make_parents(parent: Path) -> list[Path]:
    """Create ``parent`` and its missing ancestors, each made durable in its own parent; return those
    created, outermost first."""
    made = private_files.make_directory(parent)
    for directory in made:
        _fsync_dir(directory.parent)
    return made


def _target_path(target: object) -> Path:
    """``target`` as an absolute path, or the :class:`ValidationError` that says why it cannot be one."""
    if not isinstance(target, str | os.PathLike):
        raise ValidationError(FIELD, "type", "a path (str or os.PathLike)")
    raw = os.fspath(target)
    if not isinstance(raw, str):
        raise ValidationError(FIELD, "type", "a path (str or os.PathLike of str)")
    if not raw or "\0" in raw:
        raise ValidationError(FIELD, "path", "a non-empty path without NUL characters")
    try:
        os.fsencode(raw)
    except UnicodeEncodeError as exc:
        raise ValidationError(FIELD, "encoding", "the path cannot be encoded for the filesystem") from exc
    path = Path(os.path.abspath(raw))
    if path.parent == path:
        raise ValidationError(FIELD, "not-a-directory", "cannot publish to a filesystem root")
    if len(os.fsencode(path.name)) > MAX_NAME:
        raise ValidationError(FIELD, "maximum", f"the directory's name is longer than {MAX_NAME} bytes")
    return path


class StagedDirectory:
    """A hidden staging directory next to ``target``, published to ``target`` by one atomic rename.

    :param target: the directory to publish; its parents are created if missing (and removed again
        when nothing is published).
    :param replace: replace an existing, non-empty target (only one holding ``replaces``).
    :param replaces: the file that marks a directory as a previous export, which ``replace=True`` may
        replace; ``None`` lets it replace any directory.
    :raises ValidationError: ``directory: exists`` (not empty and ``replace`` not given),
        ``directory: not-an-export`` (``replace`` given but the target lacks ``replaces``),
        ``directory: not-a-directory`` (a file or a symbolic link is in the way, or a filesystem root),
        ``directory: not-writable`` (its parent cannot be created or written), ``directory: type``,
        ``path``, ``encoding`` or ``maximum`` (not a usable path).
    """

    def __init__(self, target: str | Path, *, replace: bool = False, replaces: str | None = None) -> None:
        self.target = _target_path(target)
        if not isinstance(replace, bool):
            raise ValidationError("replace", "type", "True or False")
        self.replace = replace
        self.replaces = replaces
        self.check()
        self._made: list[Path] = []
        """The target's parents this run created: removed again if nothing is published."""
        try:
            self._made = _make_parents(self.target.parent)
            _remove_leftovers(self.target)
            path = tempfile.mkdtemp(prefix=f".{self.target.name}{PARTIAL}", dir=self.target.parent)
        except OSError as exc:
            private_files.remove_made(self._made)
            raise self._refusal(exc) from exc
        self.path = Path(path)
        fd = _lock(self.path)
        if fd is None:  # pragma: no cover - nobody else knows the fresh name yet
            raise OSError(errno.EAGAIN, "cannot lock the staging directory", str(self.path))
        self._fd: int | None = fd
        self.published = False

    def _refusal(self, exc: OSError) -> ValidationError:
        """Why the staging directory cannot be made next to the target."""
        if isinstance(exc, NotADirectoryError | FileExistsError):
            return ValidationError(FIELD, "not-a-directory", f"a file is in the way: {exc.strerror}")
        # no permission, a read-only or virtual filesystem (/proc), a full disk: not the stage's name
        return ValidationError(FIELD, "not-writable", f"{self.target.parent}: {exc.strerror}")

    # -- the target -------------------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse a target that may not be published to (see the class)."""
        target = self.target
        if target.is_symlink():
            raise ValidationError(FIELD, "not-a-directory", f"{target} is a symbolic link")
        if not target.exists():
            return
        if not target.is_dir():
            raise ValidationError(FIELD, "not-a-directory", f"{target} exists and is not a directory")
        if not any(target.iterdir()):
            return
        if not self.replace:
            raise ValidationError(
                FIELD,
                "exists",
                f"{target} exists and is not empty; an export is published only to a new or empty "
                "directory, unless replacing a previous export is asked for (replace=True, --replace)",
            )
        if self.replaces is not None and not (target / self.replaces).is_file():
            raise ValidationError(
                FIELD,
                "not-an-export",
                f"{target} holds no {self.replaces}: replace=True replaces a previous export only",
            )

    # -- publication --------------------------------------------------------------------------------------

    def sync(self) -> None:
        """fsync every file and directory of the staging tree, the staging directory last."""
        for root, dirs, files in os.walk(self.path, topdown=False):
            for name in files:
                _fsync_path(os.path.join(root, name))
            for name in dirs:
                _fsync_dir(os.path.join(root, name))
        _fsync_dir(self.path)

    def publish(self, audit: Callable[[], None]) -> Path:
        """Make the staged files durable, call ``audit()``, then publish them under the target name.

        ``audit`` must return only once its records are durable: a file is never published before the audit
        has returned. If it raises, nothing is published. A kill after it returned and before the rename
        leaves audit records for an export that was never published (over-reporting, the safe side).

        :returns: the published directory.
        :raises ValidationError: ``directory: exists`` when another run published the target meanwhile.
        """
        if self.published or self._fd is None:
            raise ValidationError(FIELD, "published", "a staged directory is published once")
        private_files.restrict_tree(self.path)  # writers' files follow the umask; published owner-only
        self.sync()
        self.check()  # another run may have published there since we opened
        audit()
        target, parent = self.target, self.target.parent
        aside: Path | None = None
        if self.replace and target.exists() and any(target.iterdir()):
            aside = parent / f".{target.name}{REPLACED}{secrets.token_hex(8)}"
            try:
                os.rename(target, aside)
            except FileNotFoundError:
                aside = None  # another run moved it meanwhile
        try:
            os.rename(self.path, target)
        except OSError as exc:
            if aside is not None:
                # put the previous export back; if another run published meanwhile, the next run cleans
                with contextlib.suppress(OSError):
                    os.rename(aside, target)
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise ValidationError(
                    FIELD, "exists", f"{target} was published by another run meanwhile"
                ) from exc
            raise
        self.published = True
        self.path = target
        _fsync_dir(parent)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)  # a kill before this: the next run removes it
        self.close()
        return target

    def discard(self) -> None:
        """Remove the staging directory, and the parents made for it (nothing is published)."""
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)
            private_files.remove_made(self._made)
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StagedDirectory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()
        if isinstance(exc, OSError) and exc.filename is None:  # a write on a full disk: say which export
            exc.filename = str(self.target)
