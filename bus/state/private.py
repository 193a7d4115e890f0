"""Private state on disk: folders 0700, files 0600, whatever the process umask.

An agency's state holds decrypted H2 / TLP:AMBER+STRICT content, so every folder and file
silian makes for it is private from the moment it exists: a folder is made 0700 and a file
0600, then set to exactly that mode (the umask can only take bits away from what ``mkdir``
and ``open`` are given, and a restrictive one would take the owner's). A database file is
made 0600 *before* SQLite opens it: SQLite gives its ``-wal``, ``-shm`` and ``-journal``
files the mode of the database file.

An existing state folder or file open to group or others is refused, not tightened, as the
key store refuses a readable key file: what it holds may already have been read, and the
operator must find out by whom before closing it. The error names the path, its mode and
the command that closes it. Only a file that silian overwrites whole (an audit bundle) is
tightened instead: what it held before is gone, and the new content is never readable.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO, Literal

from bus.errors import ConfigError

__all__ = [
    "check_private",
    "open_private",
    "private_database",
    "private_file",
    "private_folder",
    "private_parents",
    "write_private",
]

_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
_OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO
# What SQLite keeps beside a database; each takes the database's mode when SQLite makes it.
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


def check_private(path: Path) -> Path:
    """``path`` if neither group nor others may use it; ConfigError naming the fix if they may.

    A file must be closed to mode 0600 (``chmod 600``), a folder to 0700: the fix offered
    for a folder (``chmod -R go=``) also closes everything inside it, which is what state
    made by an earlier silian, before state was private, needs.
    """
    mode = path.stat().st_mode
    if not mode & _OPEN_TO_OTHERS:
        return path
    folder = stat.S_ISDIR(mode)
    fix = f"chmod -R go= {path}" if folder else f"chmod 600 {path}"
    raise ConfigError(
        f"state {'folder' if folder else 'file'} {path} is open to group or others "
        f"(mode {stat.S_IMODE(mode):04o}); refusing to use it. Find out who could read it, "
        f"then run: {fix}"
    )


def private_folder(path: Path) -> Path:
    """``path`` as a private folder: made 0700 (and any missing parent), or checked."""
    if not _make_folder(path):
        if not path.is_dir():
            raise ConfigError(f"state folder {path} is not a folder")
        check_private(path)
    return path


def private_parents(path: Path) -> None:
    """Make the missing folders above ``path``, 0700 each; existing ones are left alone
    (the folder of a file the operator named, such as ``--embedded``, is theirs)."""
    _make_folder(path.parent)


def private_file(path: Path) -> Path:
    """``path`` as a private file: created empty with mode 0600, or checked if it exists.

    Its folder must exist (see :func:`private_folder`, :func:`private_parents`).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
    except FileExistsError:
        return check_private(path)
    try:
        os.fchmod(fd, _FILE_MODE)
    finally:
        os.close(fd)
    return path


def private_database(path: Path) -> Path:
    """``path`` as a private SQLite file, to call before SQLite opens it: the file as
    :func:`private_file` makes it, and any ``-wal``/``-shm``/``-journal`` beside it checked."""
    private_file(path)
    for suffix in _SQLITE_SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            check_private(path.with_name(path.name + suffix))
    return path


def open_private(path: Path, mode: Literal["a", "w"]) -> IO[str]:
    """``path`` opened for text (UTF-8), 0600 from creation.

    ``"a"`` appends to a state file (an existing one open to others is refused); ``"w"``
    replaces an output whole: an existing file is set to 0600 before it is emptied.
    """
    if mode == "a":
        private_file(path)
        return path.open("a", encoding="utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
        os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "w", encoding="utf-8")


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8) atomically: a reader sees the old file or the new
    one, whole, and the new one is 0600 (written to ``.<name>.tmp`` beside it first)."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open_private(temporary, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def _make_folder(path: Path) -> bool:
    """Make ``path`` 0700, missing parents too (each 0700); False if it already existed."""
    try:
        path.mkdir(mode=_FOLDER_MODE)
    except FileExistsError:
        return False
    except FileNotFoundError:
        _make_folder(path.parent)
        return _make_folder(path)
    os.chmod(path, _FOLDER_MODE)
    return True
