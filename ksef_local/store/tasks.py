"""Long KSeF tasks the screens and the command line ask the sender to do, with their progress:
a login by a file signed outside the program (then KSeF certificates for later logins), "Testuj
połączenie", renewing certificates, and "Pobierz teraz" of purchase invoices. The database is the
queue: any process's sender can take a task, and the page that asked for it follows its progress by polling.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from ksef_local.store import db as dbmod
from ksef_local.store.db import iso
from ksef_local.store.ksef_state import note_work

KINDS = ("signed_login", "connection_test", "renewal", "purchases_sync")
FINAL = ("done", "failed")


@dataclass(frozen=True)
class Task:
    id: int
    kind: str
    state: str
    progress: str | None
    result_title: str | None
    result_advice: str | None
    result_detail: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_final(self) -> bool:
        return self.state in FINAL

    @property
    def succeeded(self) -> bool:
        return self.state == "done"


def _task(row: dict[str, Any]) -> Task:
    return Task(row["id"], row["kind"], row["state"], row["progress"], row["result_title"], row["result_advice"],
                row["result_detail"], datetime.fromisoformat(row["created_at"]),
                datetime.fromisoformat(row["updated_at"]))


def create(db: sqlite_utils.Database, kind: str, now: datetime, payload: bytes | None = None) -> int:
    """Queue a task; an older queued task of the same kind is superseded (only the newest request counts)."""
    if kind not in KINDS:
        raise ValueError(f"unknown task {kind!r}")
    with dbmod.write(db):
        db.execute("UPDATE ksef_tasks SET state = 'failed', result_title = 'Zastąpione nowszym poleceniem',"
                   " updated_at = ? WHERE kind = ? AND state = 'queued'", [iso(now), kind])
        note_work(db, now)
        return db.execute("INSERT INTO ksef_tasks (kind, state, payload, progress, created_at, updated_at)"
                          " VALUES (?, 'queued', ?, 'Czeka na połączenie z KSeF', ?, ?)",
                          [kind, payload, iso(now), iso(now)]).lastrowid


def get(db: sqlite_utils.Database, task_id: int) -> Task | None:
    rows = list(db.query("SELECT * FROM ksef_tasks WHERE id = ?", [task_id]))
    return _task(rows[0]) if rows else None


def latest(db: sqlite_utils.Database, kind: str) -> Task | None:
    rows = list(db.query("SELECT * FROM ksef_tasks WHERE kind = ? ORDER BY id DESC LIMIT 1", [kind]))
    return _task(rows[0]) if rows else None


def next_queued(db: sqlite_utils.Database, kinds: tuple[str, ...] = KINDS) -> tuple[Task, bytes | None] | None:
    """The oldest queued task of these kinds and its payload; a task left running by a crashed process runs
    again."""
    marks = ",".join("?" * len(kinds))
    rows = list(db.query(f"SELECT * FROM ksef_tasks WHERE state IN ('queued', 'running') AND kind IN ({marks})"
                         " ORDER BY id LIMIT 1", list(kinds)))
    if not rows:
        return None
    payload = rows[0]["payload"]
    return _task(rows[0]), bytes(payload) if payload is not None else None


def progress(db: sqlite_utils.Database, task_id: int, now: datetime, text: str) -> None:
    with dbmod.write(db):
        db.execute("UPDATE ksef_tasks SET state = 'running', progress = ?, updated_at = ? WHERE id = ?",
                   [text, iso(now), task_id])


def finish(db: sqlite_utils.Database, task_id: int, now: datetime, ok: bool, title: str, advice: str = "",
           detail: str = "") -> None:
    """Record the outcome; the payload (a signed file) is dropped: it logs in once and is no use afterwards."""
    with dbmod.write(db):
        db.execute("UPDATE ksef_tasks SET state = ?, progress = NULL, result_title = ?, result_advice = ?,"
                   " result_detail = ?, payload = NULL, updated_at = ? WHERE id = ?",
                   ["done" if ok else "failed", title, advice, detail, iso(now), task_id])
