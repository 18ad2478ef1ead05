"""Simulator state as JSON documents by (kind, key): in memory, or in SQLite so it survives a restart.

Callers hold the simulator's lock; both stores copy documents so that behaviour is identical.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator


class MemoryStore:
    """Documents in a dict; gone when the process ends."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], str] = {}

    def get(self, kind: str, key: str) -> dict | None:
        raw = self._docs.get((kind, key))
        return None if raw is None else json.loads(raw)

    def put(self, kind: str, key: str, doc: dict) -> None:
        self._docs[(kind, key)] = json.dumps(doc)

    def delete(self, kind: str, key: str) -> None:
        self._docs.pop((kind, key), None)

    def items(self, kind: str) -> Iterator[tuple[str, dict]]:
        for (doc_kind, key), raw in list(self._docs.items()):
            if doc_kind == kind:
                yield key, json.loads(raw)

    def close(self) -> None:
        self._docs.clear()


class SqliteStore(MemoryStore):
    """Documents in one SQLite table; every put is committed at once."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS doc (kind TEXT, key TEXT, body TEXT, PRIMARY KEY (kind, key))")
        for kind, key, body in self._db.execute("SELECT kind, key, body FROM doc"):
            self._docs[(kind, key)] = body

    def put(self, kind: str, key: str, doc: dict) -> None:
        super().put(kind, key, doc)
        self._db.execute("INSERT OR REPLACE INTO doc (kind, key, body) VALUES (?, ?, ?)",
                         (kind, key, self._docs[(kind, key)]))

    def delete(self, kind: str, key: str) -> None:
        super().delete(kind, key)
        self._db.execute("DELETE FROM doc WHERE kind = ? AND key = ?", (kind, key))

    def close(self) -> None:
        self._db.close()
