"""The data folder on disk: private permissions, whether it can be written, and what disk errors mean in Polish.

The folder holds invoices, buyers and the encrypted secret store, so it is its user's alone: the folder and
its subfolders 0700, every file 0600 (POSIX). New files are created so (``create_file``, ``open_private``);
files of older installs (0755/0644 under the usual umask 022) are fixed at every start (``make_private``),
which only ever removes the group's and others' bits and never adds one (a folder the user made read-only
stays read-only). SQLite creates a database's -wal, -shm and -journal files with the permissions of the
database file itself (SQLite's src/os_unix.c, findCreateFileMode()), so a database created 0600 keeps its
companions private too. On Windows the per-user profile folder is private by its access list and os.chmod
can only set the read-only flag, so nothing is changed there.
"""
from __future__ import annotations

import errno
import logging
import os
import sqlite3
import stat
import tempfile
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
POSIX = os.name != "nt"

# sqlite.org/rescode.html: the primary result code is the low byte of the extended one.
SQLITE_READONLY = 8
SQLITE_FULL = 13
FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}

DISK_FULL = ("Na dysku zabrakło miejsca, więc ostatniej zmiany nie zapisano. Wcześniejsze dane są nienaruszone, "
             "a to, co wpisano w formularzu, zostaje na stronie. Zwolnij miejsce na dysku (usuń zbędne pliki, "
             "opróżnij kosz) i spróbuj ponownie.")
READ_ONLY = ("Nie można zapisywać w folderze danych{where}: jest tylko do odczytu albo nie masz do niego uprawnień. "
             "Ostatniej zmiany nie zapisano; wcześniejsze dane są nienaruszone. Sprawdź uprawnienia folderu "
             "(albo czy dysk nie jest zamontowany tylko do odczytu) i uruchom program ponownie.")


def restrict(path: Path) -> bool:
    """Take the group's and others' permissions off one file or folder; False when that was not possible."""
    if not POSIX:
        return True
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode) or not mode & 0o077:
            return True  # a link's target is not ours to change; nothing to take away
        os.chmod(path, stat.S_IMODE(mode) & ~0o077)
    except OSError as exc:  # not our file, or a read-only file system: say so in the log, go on
        log.warning("cannot make %s private: %s", path, exc)
        return False
    return True


def make_private(home: Path) -> None:
    """Make the data folder and everything in it private to its user (existing installs are fixed at start)."""
    if not POSIX:
        return
    restrict(home)
    for folder, dirs, files in os.walk(home, onerror=lambda exc: log.warning("cannot list %s", exc.filename)):
        for name in dirs + files:
            restrict(Path(folder) / name)


def make_dir(path: Path) -> None:
    """Create a folder (and its parents) readable by its user only; an existing one is made private."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    restrict(path)


def create_file(path: Path) -> None:
    """Create an empty file readable by its user only, unless it exists (then it is left as it is)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))


def write_private(path: Path, data: bytes) -> None:
    """Write a file the program makes (a PDF, a file to sign) so that a new one is readable by its user only."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "wb") as handle:
        handle.write(data)


def open_private(path: Path) -> IO[bytes]:
    """Open a file for reading and writing, created 0600 when missing (lock files)."""
    return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE), "r+b")


# --- can it be written ------------------------------------------------------------------------------

def write_problem(home: Path, database: Path | None = None) -> str | None:
    """Return why the program cannot write into the data folder (or its database file), in Polish, or None.

    It tries for real, without changing anything: a temporary file is created and removed, and the database
    file with its companions is opened for appending, not written. Permission bits alone would not tell
    (root, access lists, a read-only mount).
    """
    try:
        fd, probe = tempfile.mkstemp(prefix=".zapis-", suffix=".tmp", dir=home)
        os.close(fd)
        os.unlink(probe)
        if database is not None:
            for companion in ("", "-wal", "-shm"):
                path = Path(f"{database}{companion}")
                if path.exists():
                    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError as exc:
        return describe(exc, home) or f"Nie można zapisywać w folderze danych {home} ({exc.strerror or exc})."
    return None


def describe(exc: BaseException, home: Path | None = None) -> str | None:
    """Return what a disk error means for the user (full disk, read-only folder), in Polish, or None."""
    where = f" {home}" if home is not None else ""
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code == SQLITE_FULL:
            return DISK_FULL
        if code == SQLITE_READONLY:
            return READ_ONLY.format(where=where)
        return None
    if isinstance(exc, OSError):
        if exc.errno in FULL_ERRNOS:
            return DISK_FULL
        if exc.errno in READ_ONLY_ERRNOS:
            return READ_ONLY.format(where=where)
    return None


def status_of(message: str) -> int:
    """The HTTP status for a message of describe(): 507 Insufficient Storage for a full disk, else 503."""
    return 507 if message == DISK_FULL else 503
