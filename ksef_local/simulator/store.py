"""Simulator state as JSON documents by (kind, key): in memory, or in SQLite so it survives a restart.

Callers hold the simulator's lock; both stores copy documents so that behaviour is identical.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ksef_local import disk


class MemoryStore:
    """Documents in a dict per kind; gone when the process ends."""

    def __init__(self) -> None:
        # One dict per kind: the receiving side lists tens of thousands of documents of one kind.
        self._docs: dict[str, dict[str, str]] = {}

    def get(self, kind: str, key: str) -> dict | None:
        raw = self._docs.get(kind, {}).get(key)
        return None if raw is None else json.loads(raw)

    def put(self, kind: str, key: str, doc: dict) -> None:
        self._docs.setdefault(kind, {})[key] = json.dumps(doc)

    def delete(self, kind: str, key: str) -> None:
        self._docs.get(kind, {}).pop(key, None)

    def items(self, kind: str) -> Iterator[tuple[str, dict]]:
        for key, raw in list(self._docs.get(kind, {}).items()):
            yield key, json.loads(raw)

    def count(self, kind: str) -> int:
        return len(self._docs.get(kind, {}))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes; in memory there is nothing to group."""
        yield

    def close(self) -> None:
        self._docs.clear()


class SqliteStore(MemoryStore):
    """Documents in one SQLite table; every put is committed at once, or at the end of a batch."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        if not Path(path).exists():
            disk.create_file(Path(path))  # it may sit in the user's data folder: private like the rest
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS doc (kind TEXT, key TEXT, body TEXT, PRIMARY KEY (kind, key))")
        for kind, key, body in self._db.execute("SELECT kind, key, body FROM doc"):
            self._docs.setdefault(kind, {})[key] = body

    def put(self, kind: str, key: str, doc: dict) -> None:
        super().put(kind, key, doc)
        self._db.execute("INSERT OR REPLACE INTO doc (kind, key, body) VALUES (?, ?, ?)",
                         (kind, key, self._docs[kind][key]))

    def delete(self, kind: str, key: str) -> None:
        super().delete(kind, key)
        self._db.execute("DELETE FROM doc WHERE kind = ? AND key = ?", (kind, key))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for many writes: a bulk delivery of 10,000 invoices is one commit, not 30,000."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")  # even after an error: the memory copy already holds those writes

    def close(self) -> None:
        self._db.close()
