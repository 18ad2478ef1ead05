"""Backups of the database: the startup integrity check, daily and pre-migration copies, restore.

Every copy is made with SQLite's online backup API (``Connection.backup``), which reads a consistent
snapshot while other connections keep working, never a raw file copy (a copy of a WAL database taken
mid-write can miss the -wal file or tear a page). A copy is written under a temporary name, switched to a
single self-contained file (journal_mode DELETE), checked with ``PRAGMA quick_check`` and only then
renamed into ``<data dir>/kopie/``; a copy that fails the check is removed and the old ones are kept.

The clock is an argument (``now``) everywhere, so the daily rule and file names are testable.
"""
from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ksef_local import disk
from ksef_local.errors import UserError
from ksef_local.store import db as dbmod
from ksef_local.store import numbering, outbox

log = logging.getLogger(__name__)

BACKUPS_FOLDER = "kopie"
KEEP = 14
PREFIX = "ksef-local-"
SUFFIX = ".sqlite3"
# Reason slug (part of the file name) -> what the settings page shows.
REASONS = {
    "dzienna": "kopia dzienna",
    "reczna": "kopia ręczna",
    "przed-migracja": "przed aktualizacją bazy",
    "przed-przywroceniem": "przed przywróceniem kopii",
}
NAME_RE = re.compile(
    r"^ksef-local-(?P<stamp>\d{4}-\d{2}-\d{2}T\d{6})-(?P<reason>[a-z]+(?:-[a-z]+)*)(?:-(?P<n>\d+))?\.sqlite3$"
)
STAMP = "%Y-%m-%dT%H%M%S"


class BackupError(UserError):
    """A backup could not be made or restored; the message says why, in Polish."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created: datetime
    reason: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, self.reason)


def backups_dir(home: Path) -> Path:
    """Return the folder holding the backups of a data folder."""
    return Path(home) / BACKUPS_FOLDER


def _open_ro(path: Path) -> sqlite3.Connection:
    """Open a file read-only: a check must never change (or create) what it checks."""
    return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=10)


# --- checks -----------------------------------------------------------------------------------------

def integrity_problem(path: Path) -> str | None:
    """Run PRAGMA quick_check on a fresh connection; return what is wrong, in Polish, or None.

    A missing file is not a problem (first start: there is nothing to check yet).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        conn = _open_ro(path)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            return f"Plik {path.name} nie jest bazą danych SQLite (jest nadpisany albo to inny plik)."
        return f"Nie można odczytać pliku bazy danych {path.name}: jest uszkodzony ({exc})."
    if rows == ["ok"]:
        return None
    details = "; ".join(rows[:5]) + ("; …" if len(rows) > 5 else "")
    return f"Plik bazy danych {path.name} jest uszkodzony: sprawdzenie spójności (quick_check) zgłosiło: {details}"


def schema_version_of(path: Path) -> int:
    """Return PRAGMA user_version of a database file (0 when it does not exist)."""
    if not Path(path).exists():
        return 0
    conn = _open_ro(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _expected_tables(version: int) -> set[str]:
    """Tables the numbered migrations create up to a version (built in memory: no list to keep in sync)."""
    reference = dbmod.connect(":memory:")
    try:
        dbmod.migrate(reference, target=version)
        return _tables(reference.conn)
    finally:
        reference.conn.close()


def foreign_problem(path: Path) -> str | None:
    """Return why a (healthy) database file is not a ksef-local database this version can use, or None."""
    conn = _open_ro(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = _tables(conn)
    finally:
        conn.close()
    if version < 1:
        return f"Plik {Path(path).name} nie jest kopią bazy ksef-local (brak schematu ksef-local)."
    if version > len(dbmod.MIGRATIONS):
        return (f"Kopia {Path(path).name} pochodzi z nowszej wersji programu (schemat {version}); "
                "zaktualizuj ksef-local, zanim ją przywrócisz.")
    missing = _expected_tables(version) - tables
    if missing:
        return (f"Plik {Path(path).name} nie jest kopią bazy ksef-local: brakuje tabel "
                f"{', '.join(sorted(missing))}.")
    return None


# --- making, listing, pruning -------------------------------------------------------------------------

def _free_name(folder: Path, now: datetime, reason: str) -> Path:
    base = f"{PREFIX}{now.strftime(STAMP)}-{reason}"
    candidate, n = folder / f"{base}{SUFFIX}", 2
    while candidate.exists():
        candidate, n = folder / f"{base}-{n}{SUFFIX}", n + 1
    return candidate


def fsync(path: Path) -> None:
    """Flush a file (or a folder, after a rename in it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # directories cannot be fsynced on some systems (Windows); the rename still holds
        pass
    finally:
        os.close(fd)


def copy_into(src_path: Path, dst: sqlite3.Connection) -> None:
    """Copy a database file into an open connection with the online backup API (read-only on the source)."""
    src = _open_ro(src_path)
    try:
        src.backup(dst)
    finally:
        src.close()


def make_backup(db_path: Path, folder: Path, now: datetime, reason: str) -> Path:
    """Copy the database into folder with the online backup API, check the copy, return its path."""
    if reason not in REASONS:
        raise ValueError(f"unknown backup reason {reason!r}")
    db_path, folder = Path(db_path), Path(folder)
    if not db_path.exists():
        raise BackupError("Nie ma jeszcze bazy danych, więc nie ma czego kopiować.")
    try:
        disk.make_dir(folder)
    except OSError as exc:
        raise BackupError(f"Nie można utworzyć folderu kopii zapasowych {folder} ({exc}).") from exc
    final = _free_name(folder, now, reason)
    temporary = folder / f".{final.name}.tmp"
    try:
        temporary.unlink(missing_ok=True)
        disk.create_file(temporary)  # private (0600) like every file of the data folder
        dst = sqlite3.connect(temporary, isolation_level=None)
        try:
            copy_into(db_path, dst)
            # The copy carries the source's WAL flag; a backup should be one self-contained file.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        problem = integrity_problem(temporary)
        if problem:
            raise BackupError(f"Nie udało się zrobić poprawnej kopii zapasowej: {problem} "
                              "Dotychczasowe kopie zostały zachowane.")
        fsync(temporary)
        os.replace(temporary, final)
        fsync(folder)
    except sqlite3.Error as exc:
        raise BackupError(f"Nie udało się zrobić kopii zapasowej bazy danych ({exc}).") from exc
    except OSError as exc:
        raise BackupError(f"Nie udało się zapisać kopii zapasowej w folderze {folder} ({exc}).") from exc
    finally:
        temporary.unlink(missing_ok=True)
    log.info("backup made: %s", final.name)
    return final


def list_backups(folder: Path) -> list[BackupInfo]:
    """Return the backups in folder, newest first (files not named like our backups are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = NAME_RE.match(path.name)
        if not match or not path.is_file():
            continue
        created = datetime.strptime(match["stamp"], STAMP)
        stat = path.stat()
        # Names have whole seconds: within one second the file written last is the newer one.
        order = (created, stat.st_mtime_ns, int(match["n"] or 1))
        found.append((order, BackupInfo(path, created, match["reason"], stat.st_size)))
    found.sort(key=lambda item: item[0], reverse=True)
    return [info for _, info in found]


def find_backup(folder: Path, name: str) -> BackupInfo:
    """Return the listed backup with exactly this file name; refuse anything else (never a user path)."""
    for info in list_backups(folder):
        if info.name == name:
            return info
    raise BackupError("Nie ma takiej kopii zapasowej na liście. Odśwież stronę i wybierz kopię z listy.", status=404)


def prune(folder: Path, keep: int = KEEP, protect: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups (never `protect`, the one just made); return the deleted."""
    removed = []
    for info in list_backups(folder)[keep:]:
        if protect is not None and info.path == Path(protect):
            continue
        info.path.unlink(missing_ok=True)
        removed.append(info.path)
    return removed


def has_data(db_path: Path) -> bool:
    """Is there a database file with at least one migration applied (something worth copying)?"""
    return schema_version_of(db_path) > 0


def daily_backup_if_due(db_path: Path, folder: Path, now: datetime, keep: int = KEEP) -> Path | None:
    """Make the day's "dzienna" backup unless one exists for now's calendar day; return it or None."""
    if not has_data(db_path):
        return None
    if any(b.reason == "dzienna" and b.created.date() == now.date() for b in list_backups(folder)):
        return None
    made = make_backup(db_path, folder, now, "dzienna")
    prune(folder, keep, protect=made)
    return made


# --- restore ----------------------------------------------------------------------------------------

def check_restorable(backup_path: Path) -> None:
    """Raise BackupError (in Polish) unless the file is a healthy ksef-local database this version can use."""
    problem = integrity_problem(backup_path) if Path(backup_path).exists() else "Plik kopii nie istnieje."
    if problem:
        raise BackupError(f"Tej kopii nie można przywrócić. {problem}")
    problem = foreign_problem(backup_path)
    if problem:
        raise BackupError(f"Tej kopii nie można przywrócić. {problem}")


def restore(db_path: Path, backup_path: Path, now: datetime, folder: Path | None = None,
            keep: int = KEEP) -> Path:
    """Replace the live database's content with a backup; return the safety copy made first.

    Order: check the chosen backup; copy the current database to a "przed-przywroceniem" backup (so the
    restore itself can be undone); copy the backup *into* the live file with the backup API; migrate it up
    to this version's schema. The app keeps one open connection per thread on the live file: writing into
    it through the backup API is an ordinary SQLite write transaction on that file (it takes the write lock,
    retrying while another connection writes, and commits atomically through the WAL), so the other
    connections simply see the restored content on their next read; their prepared statements are
    re-prepared after the schema cookie change. Replacing the file on disk instead would leave them
    reading the old inode and its -wal.
    """
    db_path, backup_path = Path(db_path), Path(backup_path)
    folder = Path(folder) if folder is not None else backups_dir(db_path.parent)
    check_restorable(backup_path)
    safety = make_backup(db_path, folder, now, "przed-przywroceniem")
    try:
        live = sqlite3.connect(db_path, timeout=10, isolation_level=None)
        try:
            live.execute("PRAGMA busy_timeout = 10000")
            copy_into(backup_path, live)
        finally:
            live.close()
        finish_restore(db_path, now, keep_from=[safety])
    except sqlite3.Error as exc:
        raise BackupError(f"Nie udało się przywrócić kopii ({exc}). Bieżąca baza jest zachowana w kopii "
                          f"{safety.name}.") from exc
    problem = integrity_problem(db_path)
    if problem:
        raise BackupError(f"Po przywróceniu baza nie przeszła sprawdzenia: {problem} "
                          f"Poprzednia baza jest w kopii {safety.name}.")
    prune(folder, keep, protect=safety)
    log.info("restored %s (safety copy %s)", backup_path.name, safety.name)
    return safety


def finish_restore(db_path: Path, now: datetime, keep_from: list[Path]) -> None:
    """Make a restored copy this version's and keep every number used since it was made.

    The copy is migrated to this version's schema; it learns every invoice number the files in keep_from
    (the database before the restore, other backups) and the numbering journal know, so an older copy
    never gives a number twice (store/numbering.py); and invoices it shows as not yet in KSeF may have been
    sent after it was made, so the sender looks for each by hash before sending anything
    (store/outbox.verify_after_restore, sending/reconcile.py).
    """
    live = dbmod.connect(db_path)
    try:
        dbmod.migrate(live)
    finally:
        live.conn.close()
    for other in keep_from:
        numbering.keep_used_numbers_of(db_path, other)
    live = dbmod.connect(db_path)
    try:
        numbering.sync(live, Path(db_path).parent)
        outbox.verify_after_restore(live, now)
    finally:
        live.conn.close()


# --- at start ----------------------------------------------------------------------------------------

def on_start(home: Path, db_path: Path, now: datetime, keep: int = KEEP) -> str | None:
    """At start, before migrations: return the integrity problem (in Polish), else make the daily backup.

    A failing daily backup does not stop the app (it is logged); the pre-migration backup does.
    """
    problem = integrity_problem(db_path)
    if problem:
        log.error("database integrity check failed: %s", problem)
        return problem
    try:
        daily_backup_if_due(db_path, backups_dir(home), now, keep)
    except BackupError as exc:
        log.error("daily backup failed: %s", exc.message)
    return None


def before_migration(home: Path, db_path: Path, now: datetime, keep: int = KEEP) -> Callable[[int, int], None]:
    """Return the db.migrate hook: a "przed-migracja" backup when the database already holds a schema."""

    def hook(current: int, target: int) -> None:
        if current < 1 or not has_data(db_path):
            return  # a brand-new database: nothing to lose
        log.info("backing up before migrating the schema from %s to %s", current, target)
        made = make_backup(db_path, backups_dir(home), now, "przed-migracja")
        prune(backups_dir(home), keep, protect=made)

    return hook
