"""The database connection: one per thread (sqlite-utils on WAL), short write transactions, and migrate().

Write transactions start with BEGIN IMMEDIATE and stay short: a deferred BEGIN that upgrades to a write
after another connection committed fails at once with "database is locked": in WAL mode SQLite answers
SQLITE_BUSY_SNAPSHOT without waiting for the busy timeout (sqlite.org/rescode.html#busy_snapshot).
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import sqlite_utils

from ksef_local import disk
from ksef_local.store.migrations import MIGRATIONS


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open a database in autocommit mode (transactions are explicit), WAL, foreign keys on.

    A new database file is created private (0600) first; SQLite gives its -wal and -shm the same permissions.
    """
    if str(path) != ":memory:" and not str(path).startswith("file:") and not Path(path).exists():
        disk.create_file(Path(path))
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None)
    db = sqlite_utils.Database(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.enable_wal()
    return db


@contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run the block in one short BEGIN IMMEDIATE transaction; roll back on any error, the COMMIT's included.

    On some errors (SQLITE_FULL, SQLITE_IOERR) SQLite has already rolled the transaction back itself
    (sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction"): a second ROLLBACK would
    fail and hide the error that matters, so it is sent only while a transaction is still open.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise


class Databases:
    """One sqlite-utils Database per thread for one file (sqlite3 objects are bound to their thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def get(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
        return db


def schema_version(db: sqlite_utils.Database) -> int:
    """Return the number of migrations applied (PRAGMA user_version)."""
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(
    db: sqlite_utils.Database,
    target: int | None = None,
    before_migration: Callable[[int, int], None] | None = None,
) -> int:
    """Apply the pending migrations in order, each in its own transaction; return the new version.

    ``before_migration(current, target)`` runs once before the first pending migration (not at all when
    nothing is pending): the app uses it to back the database up first (backup.before_migration).
    """
    target = len(MIGRATIONS) if target is None else target
    current = schema_version(db)
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"Baza danych pochodzi z nowszej wersji programu (schemat {current}); zaktualizuj ksef-local."
        )
    if before_migration is not None and current < target:
        before_migration(current, target)
    while current < target:
        with write(db):
            MIGRATIONS[current](db)
            current += 1
            db.execute(f"PRAGMA user_version = {current}")
    return current


def iso(moment: datetime) -> str:
    """How moments are stored: UTC with microseconds, so stored times compare correctly as text in SQL."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse(value: str | None) -> datetime | None:
    """Read a stored moment back (None stays None)."""
    return datetime.fromisoformat(value) if value else None
