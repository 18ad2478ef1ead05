"""Where the purchase sync stands: the resume point per KSeF environment, context NIP and subject type, the
downloads still owed, the sync's problem for the screens, the "earlier start" setting and "Pobierz teraz".

The resume point is a PermanentStorage moment: everything KSeF stored at or before it has been seen
(ksef-docs pobieranie-faktur/hwm.md). It moves only in the transaction that records what lies below it: the
KSeF numbers of a metadata page (owed downloads, purchase_downloads) or the invoices of an export package.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable

import sqlite_utils

from ksef_local.store import db as dbmod
from ksef_local.store import ksef_state, tasks
from ksef_local.store.db import iso, parse

SUBJECTS = ("Subject2", "Subject3")   # the company as buyer, and as a third party (Podmiot3)
TASK = "purchases_sync"


@dataclass(frozen=True)
class SyncKey:
    environment: str
    nip: str
    subject: str


@dataclass(frozen=True)
class Position:
    """One subject's place in the sync."""

    key: SyncKey
    covered_from: datetime
    cursor: datetime            # the resume point: the next window starts here (inclusive)
    page_offset: int            # the page of the current window to read next
    window_to: datetime | None  # the window's end while it is cut (None: up to the high-water mark)
    cycle_started_at: datetime | None
    cycle_done_at: datetime | None

    @property
    def in_cycle(self) -> bool:
        """A cycle began and has not reached the high-water mark yet: go on without waiting 15 minutes."""
        return self.cycle_started_at is not None and (
            self.cycle_done_at is None or self.cycle_done_at < self.cycle_started_at)


@dataclass(frozen=True)
class Download:
    ksef_number: str
    key: SyncKey
    metadata: dict[str, Any]
    tries: int


@dataclass(frozen=True)
class SyncStatus:
    """What the screens show about the sync."""

    last_done_at: datetime | None    # when both subjects last reached KSeF's high-water mark
    problem_title: str | None
    problem_advice: str | None
    problem_detail: str | None
    problem_at: datetime | None
    pending: int                     # invoices found and still to download
    failed: list[dict[str, Any]]     # downloads that failed (ksef_number, number, seller, error, tries)
    task: tasks.Task | None          # the latest "Pobierz teraz"
    start: date | None               # the "earlier start" setting


def _position(row: dict[str, Any]) -> Position:
    return Position(SyncKey(row["environment"], row["context_nip"], row["subject"]), parse(row["covered_from"]),
                    parse(row["cursor"]), row["page_offset"], parse(row["window_to"]), parse(row["cycle_started_at"]),
                    parse(row["cycle_done_at"]))


def position(db: sqlite_utils.Database, key: SyncKey, start: datetime, now: datetime) -> Position:
    """The subject's place; the first sync starts at start. When start moved earlier than what is covered
    (the "earlier start" setting), the sync reads again from there: known KSeF numbers are not downloaded."""
    with dbmod.write(db):
        rows = list(db.query("SELECT * FROM purchase_sync WHERE environment = ? AND context_nip = ? AND subject = ?",
                             [key.environment, key.nip, key.subject]))
        if not rows:
            db.execute("INSERT INTO purchase_sync (environment, context_nip, subject, covered_from, cursor,"
                       " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                       [key.environment, key.nip, key.subject, iso(start), iso(start), iso(now)])
        elif parse(rows[0]["covered_from"]) > start:
            db.execute("UPDATE purchase_sync SET covered_from = ?, cursor = ?, page_offset = 0, window_to = NULL,"
                       " updated_at = ? WHERE environment = ? AND context_nip = ? AND subject = ?",
                       [iso(start), iso(start), iso(now), key.environment, key.nip, key.subject])
        row = next(db.query("SELECT * FROM purchase_sync WHERE environment = ? AND context_nip = ? AND subject = ?",
                            [key.environment, key.nip, key.subject]))
    return _position(row)


def begin_cycle(db: sqlite_utils.Database, key: SyncKey, now: datetime) -> None:
    with dbmod.write(db):
        _update(db, key, now, cycle_started_at=iso(now))


def rest(db: sqlite_utils.Database, key: SyncKey, now: datetime) -> None:
    """End the cycle where it stands (KSeF refused to let us read): the next one starts after the interval."""
    with dbmod.write(db):
        _update(db, key, now, cycle_started_at=iso(now), cycle_done_at=iso(now))


def move(db: sqlite_utils.Database, key: SyncKey, now: datetime, *, cursor: datetime, page_offset: int = 0,
         window_to: datetime | None = None, done: bool = False) -> None:
    """Set the resume point (call inside db.write, with the records of what lies below it)."""
    values = {"cursor": iso(cursor), "page_offset": page_offset, "window_to": iso(window_to) if window_to else None}
    if done:
        values["cycle_done_at"] = iso(now)
    _update(db, key, now, **values)


def record_page(db: sqlite_utils.Database, key: SyncKey, invoices: Iterable[dict[str, Any]], now: datetime, *,
                cursor: datetime, page_offset: int = 0, window_to: datetime | None = None,
                done: bool = False) -> int:
    """Owe a download for every unknown KSeF number of one metadata page and move the resume point past the
    page, in one transaction; return how many downloads were added."""
    with dbmod.write(db):
        added = sum(owe(db, key, metadata, now) for metadata in invoices)
        move(db, key, now, cursor=cursor, page_offset=page_offset, window_to=window_to, done=done)
    return added


def owe(db: sqlite_utils.Database, key: SyncKey, metadata: dict[str, Any], now: datetime,
        error: tuple[str, str, str] | None = None, retry_at: datetime | None = None) -> bool:
    """Owe the download of one invoice unless it is stored or owed already (call inside db.write); error is
    (title, advice, detail) when it is owed because what came could not be kept."""
    title, advice, detail = error or (None, None, None)
    return db.execute(
        "INSERT INTO purchase_downloads (ksef_number, environment, context_nip, subject, metadata, tries,"
        " next_attempt_at, error_title, error_advice, error_detail, found_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
        " WHERE NOT EXISTS (SELECT 1 FROM purchases WHERE ksef_number = ?) ON CONFLICT(ksef_number) DO NOTHING",
        [metadata["ksefNumber"], key.environment, key.nip, key.subject, json.dumps(metadata, ensure_ascii=False),
         1 if error else 0, iso(retry_at or now), title, advice, detail, iso(now),
         metadata["ksefNumber"]]).rowcount == 1


def _update(db: sqlite_utils.Database, key: SyncKey, now: datetime, **values: Any) -> None:
    columns = ", ".join(f"{name} = :{name}" for name in values)
    db.execute(f"UPDATE purchase_sync SET {columns}, updated_at = :now WHERE environment = :env AND"
               " context_nip = :nip AND subject = :subject",
               {**values, "now": iso(now), "env": key.environment, "nip": key.nip, "subject": key.subject})


# -- downloads owed ---------------------------------------------------------------------------------------

def next_download(db: sqlite_utils.Database, environment: str, nip: str, now: datetime) -> Download | None:
    """The oldest download owed in this KSeF and context whose time has come."""
    rows = list(db.query("SELECT * FROM purchase_downloads WHERE environment = ? AND context_nip = ? AND"
                         " next_attempt_at <= ? ORDER BY tries, found_at, ksef_number LIMIT 1",
                         [environment, nip, iso(now)]))
    if not rows:
        return None
    row = rows[0]
    return Download(row["ksef_number"], SyncKey(row["environment"], row["context_nip"], row["subject"]),
                    json.loads(row["metadata"]), row["tries"])


def download_failed(db: sqlite_utils.Database, ksef_number: str, now: datetime, retry_in: timedelta,
                    title: str | None, advice: str | None = None, detail: str | None = None) -> None:
    """Keep the download owed and try again after retry_in; title (Polish) says why it failed, None when the
    wait is normal (KSeF has not finished storing the invoice)."""
    with dbmod.write(db):
        db.execute("UPDATE purchase_downloads SET tries = tries + 1, next_attempt_at = ?, error_title = ?,"
                   " error_advice = ?, error_detail = ? WHERE ksef_number = ?",
                   [iso(now + retry_in), title, advice, detail, ksef_number])


def owed(db: sqlite_utils.Database, environment: str | None = None, nip: str | None = None) -> int:
    """How many downloads are owed (in one KSeF and context, or anywhere)."""
    if environment is None:
        return db.execute("SELECT count(*) FROM purchase_downloads").fetchone()[0]
    return db.execute("SELECT count(*) FROM purchase_downloads WHERE environment = ? AND context_nip = ?",
                      [environment, nip]).fetchone()[0]


def due_downloads(db: sqlite_utils.Database, environment: str, nip: str, now: datetime) -> int:
    return db.execute("SELECT count(*) FROM purchase_downloads WHERE environment = ? AND context_nip = ? AND"
                      " next_attempt_at <= ? AND error_title IS NULL", [environment, nip, iso(now)]).fetchone()[0]


# -- the sync's own problem and the screens' status ---------------------------------------------------------

def set_problem(db: sqlite_utils.Database, now: datetime, title: str, advice: str, detail: str = "") -> None:
    """Why the sync stopped (no InvoiceRead, KSeF refused a query): shown until a cycle completes."""
    with dbmod.write(db):
        ksef_state.set_meta(db, "purchases_problem", {"title": title, "advice": advice, "detail": detail,
                                                      "at": iso(now)})


def clear_problem(db: sqlite_utils.Database) -> None:
    if ksef_state.get_meta(db, "purchases_problem") is not None:
        with dbmod.write(db):
            db.execute("DELETE FROM ksef_meta WHERE key = 'purchases_problem'")


def note_done(db: sqlite_utils.Database, now: datetime) -> None:
    """Both subjects reached the high-water mark: the screens show "Pobrano …" with this time."""
    with dbmod.write(db):
        ksef_state.set_meta(db, "purchases_done_at", iso(now))


def status(db: sqlite_utils.Database) -> SyncStatus:
    problem = ksef_state.get_meta(db, "purchases_problem") or {}
    failed = [{"ksef_number": r["ksef_number"], "number": json.loads(r["metadata"]).get("invoiceNumber"),
               "seller_nip": (json.loads(r["metadata"]).get("seller") or {}).get("nip"),
               "error_title": r["error_title"], "error_advice": r["error_advice"], "error_detail": r["error_detail"],
               "tries": r["tries"], "next_attempt_at": parse(r["next_attempt_at"])}
              for r in db.query("SELECT * FROM purchase_downloads WHERE error_title IS NOT NULL ORDER BY found_at")]
    return SyncStatus(parse(ksef_state.get_meta(db, "purchases_done_at")), problem.get("title"),
                      problem.get("advice"), problem.get("detail"), parse(problem.get("at")), owed(db), failed,
                      tasks.latest(db, TASK), sync_start(db))


# -- the setting and the button -----------------------------------------------------------------------------

def sync_start(db: sqlite_utils.Database) -> date | None:
    """The "earlier start" the user chose for the first sync (None: the current and previous month)."""
    value = ksef_state.get_meta(db, "purchases_from")
    return date.fromisoformat(value) if value else None


def set_sync_start(db: sqlite_utils.Database, day: date | None, now: datetime) -> None:
    """Choose where the sync starts; an earlier day than already covered makes the next cycle read from there
    (and wakes the sender of any process)."""
    with dbmod.write(db):
        ksef_state.set_meta(db, "purchases_from", day.isoformat() if day else None)
        ksef_state.note_work(db, now)


def request_sync(db: sqlite_utils.Database, now: datetime) -> int:
    """"Pobierz teraz": a task that any process's sender takes after its sending work; return its id."""
    return tasks.create(db, TASK, now)
