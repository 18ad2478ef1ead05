"""The sender's side of the outbox: which rows are due for which step, the invoices of a session, requeueing,
and the offline deadlines that outages move or lift. Every function that writes is called inside db.write.

States and letters are explained in store/outbox.py; the sending package decides, this module stores.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

import sqlite_utils

from ksef_local.core.model import OfflineKind
from ksef_local.store.db import iso
from ksef_local.store.outbox import fetch_rows, log_event, row, transition

WAITING = "state NOT IN ('done', 'rejected')"


def next_attempt(now: datetime, seconds: float) -> str:
    """The stored moment `seconds` after now, for next_attempt_at."""
    return iso(now + timedelta(seconds=seconds))


# -- what is due ------------------------------------------------------------------------------------------

def queued_ready(db: sqlite_utils.Database, now: datetime, limit: int | None = None) -> list[dict[str, Any]]:
    """Queued rows whose time has come, oldest first."""
    sql = "SELECT * FROM ksef_outbox WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY id"
    return fetch_rows(db, sql + (f" LIMIT {int(limit)}" if limit else ""), [iso(now)])


def has_queued(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM ksef_outbox WHERE state = 'queued' LIMIT 1").fetchone() is not None


def unknown_due(db: sqlite_utils.Database, now: datetime) -> dict[str, Any] | None:
    """The next row whose POST has no known outcome ("Statusy w KSeF" requests first)."""
    found = fetch_rows(db, "SELECT * FROM ksef_outbox WHERE state IN ('sending', 'unknown') AND next_attempt_at <= ?"
                      " ORDER BY refresh DESC, next_attempt_at, id LIMIT 1", [iso(now)])
    return found[0] if found else None


def sent_due(db: sqlite_utils.Database, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
    """Rows KSeF is processing whose status check is due."""
    return fetch_rows(db,
                      "SELECT * FROM ksef_outbox WHERE state = 'sent' AND invoice_ref IS NOT NULL"
                      " AND next_attempt_at <= ?"
                     " ORDER BY refresh DESC, next_attempt_at, id LIMIT ?", [iso(now), limit])


def accepted_due(db: sqlite_utils.Database, now: datetime) -> dict[str, Any] | None:
    """The next row with a KSeF number whose UPO should be fetched now."""
    found = fetch_rows(db, "SELECT * FROM ksef_outbox WHERE state = 'accepted' AND next_attempt_at <= ?"
                      " ORDER BY refresh DESC, next_attempt_at, id LIMIT 1", [iso(now)])
    return found[0] if found else None


def in_session(db: sqlite_utils.Database, ref: str, states: tuple[str, ...]) -> list[dict[str, Any]]:
    marks = ", ".join("?" * len(states))
    return fetch_rows(db, f"SELECT * FROM ksef_outbox WHERE session_ref = ? AND state IN ({marks})", [ref, *states])


def batch_waiting(db: sqlite_utils.Database, ref: str) -> list[dict[str, Any]]:
    """Rows of a closed batch session not yet matched with KSeF's per-invoice status."""
    return fetch_rows(db, "SELECT * FROM ksef_outbox WHERE session_ref = ? AND state = 'sent' AND invoice_ref IS NULL",
                 [ref])


HELD_BY_KSEF = "state IN ('sending', 'unknown', 'sent', 'accepted')"   # KSeF may hold a reference for it


def in_flight(db: sqlite_utils.Database) -> bool:
    """Is any invoice in a state where KSeF may hold a reference for it?"""
    return db.execute(f"SELECT 1 FROM ksef_outbox WHERE {HELD_BY_KSEF} LIMIT 1").fetchone() is not None


def in_flight_count(db: sqlite_utils.Database) -> int:
    """How many invoices KSeF may hold a reference for (being sent, received, not yet archived with a UPO).

    Queued invoices (W) are not counted: KSeF knows nothing of them yet, so they follow changed settings.
    """
    return db.execute(f"SELECT COUNT(DISTINCT invoice_id) FROM ksef_outbox WHERE {HELD_BY_KSEF}").fetchone()[0]


# -- small updates -----------------------------------------------------------------------------------------

def update(db: sqlite_utils.Database, outbox_id: int, **fields: Any) -> None:
    """Set fields of a row without a state change or a history entry."""
    assignments = ", ".join(f"{name} = :{name}" for name in fields)
    db.execute(f"UPDATE ksef_outbox SET {assignments} WHERE id = :id", {**fields, "id": outbox_id})


def assign_session(db: sqlite_utils.Database, ids: list[int], ref: str) -> None:
    db.execute(f"UPDATE ksef_outbox SET session_ref = ? WHERE id IN ({','.join('?' * len(ids))})", [ref, *ids])


def postpone_batch(db: sqlite_utils.Database, ref: str, when: str) -> None:
    db.execute("UPDATE ksef_outbox SET next_attempt_at = ? WHERE session_ref = ? AND state = 'sent'"
               " AND invoice_ref IS NULL", [when, ref])


def requeue(db: sqlite_utils.Database, now: datetime, outbox_id: int, note: str | None) -> None:
    """Back to the queue without any KSeF reference: KSeF provably did not take it."""
    transition(db, outbox_id, now, "queued", note, session_ref=None, invoice_ref=None, unknown_since=None,
               next_attempt_at=iso(now))


def frozen_xml(db: sqlite_utils.Database, r: dict[str, Any]) -> bytes | None:
    """The invoice's exact frozen bytes, or None when they are no longer what was queued."""
    found = db.execute("SELECT xml FROM invoices WHERE id = ?", [r["invoice_id"]]).fetchone()
    xml = bytes(found[0]) if found and found[0] is not None else None
    if xml is None or hashlib.sha256(xml).hexdigest() != r["xml_sha256"]:
        return None
    return xml


def reject_changed(db: sqlite_utils.Database, now: datetime, r: dict[str, Any]) -> None:
    transition(db, r["id"], now, "rejected", "Treść faktury zmieniła się po dodaniu do kolejki – nie wysłano jej.",
               error_title="Faktura zmieniła się po dodaniu do kolejki",
               error_advice="Wyślij ją do KSeF ponownie.", error_detail=None, session_ref=None)


def issue_date(db: sqlite_utils.Database, r: dict[str, Any]) -> date:
    issued = db.execute("SELECT issue_date FROM invoices WHERE id = ?", [r["invoice_id"]]).fetchone()[0]
    return date.fromisoformat(issued[:10])


def invoice_number(db: sqlite_utils.Database, r: dict[str, Any]) -> str:
    return db.execute("SELECT number FROM invoices WHERE id = ?", [r["invoice_id"]]).fetchone()[0]


# -- offline deadlines moved by outages (sending/outages.py decides when) -----------------------------------

def awaiting_outage_end(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """"offline"/"awaryjny" rows still waiting whose deadline needs the outage's end (and was never lifted)."""
    return fetch_rows(db, f"SELECT * FROM ksef_outbox WHERE offline_kind IN ('offline', 'awaryjny')"
                     f" AND offline_deadline IS NULL AND {WAITING} AND deadline_lifted = 0")


def movable_by_failure(db: sqlite_utils.Database, not_late: str, end: datetime) -> list[dict[str, Any]]:
    """offline24/offline rows queued before a failure ended with a deadline not yet past when it began."""
    return fetch_rows(db, f"SELECT * FROM ksef_outbox WHERE offline_kind IN ('offline24', 'offline')"
                     f" AND offline_deadline >= ? AND {WAITING} AND enqueued_at <= ?", [not_late, iso(end)])


def liftable(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Offline rows still waiting whose deadline a total failure has not lifted yet."""
    kinds = ", ".join(f"'{k}'" for k in (OfflineKind.OFFLINE24, OfflineKind.OFFLINE, OfflineKind.AWARYJNY))
    return fetch_rows(db, f"SELECT * FROM ksef_outbox WHERE offline_kind IN ({kinds}) AND {WAITING}"
                     " AND deadline_lifted = 0")


def set_deadline(db: sqlite_utils.Database, outbox_id: int, deadline: date) -> None:
    db.execute("UPDATE ksef_outbox SET offline_deadline = ? WHERE id = ?", [deadline.isoformat(), outbox_id])


def lift_deadline(db: sqlite_utils.Database, now: datetime, r: dict[str, Any], note: str) -> None:
    """A total failure: no sending deadline any more, and none is counted for this row later."""
    db.execute("UPDATE ksef_outbox SET offline_deadline = NULL, deadline_lifted = 1 WHERE id = ?", [r["id"]])
    log_event(db, row(db, r["id"]), now, note)


def note(db: sqlite_utils.Database, now: datetime, outbox_id: int, text: str) -> None:
    """Add a history entry for a row without changing its state."""
    log_event(db, row(db, outbox_id), now, text)
