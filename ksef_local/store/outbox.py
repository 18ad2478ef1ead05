"""The KSeF outbox: what waits to be sent, what KSeF said, and the history of each invoice.

The database is the queue (house-style rule 5): the UI enqueues here without any network, the sender
(ksef_local.sending, through store/outbox_work.py) moves rows along and commits every KSeF reference before
its next remote step. Each write is one short BEGIN IMMEDIATE transaction (db.write) and never spans a
network call. The banner's health, the sessions and the request budget are in store/ksef_state.py.

Row states (letter the user sees):
    queued   W  waiting; no KSeF reference (also after KSeF provably did not get it)
    sending  W  committed just before POST; if we find it like this the outcome is unknown
    unknown  W  POST sent, answer lost: reconcile by invoiceHash before any resend (docs/ksef-protocol.md §11)
    sent     O  KSeF reference received, processing (100/150)
    accepted O  KSeF number received (200), UPO not stored yet (a UPO failure never undoes the number)
    done     A  KSeF number and UPO stored
    rejected B  KSeF rejected it; may be sent again as a new attempt (a new row, history kept)
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlite_utils

from ksef_local.clock import warsaw_day
from ksef_local.core import calendar_pl
from ksef_local.core.model import OfflineKind, OutboxState
from ksef_local.formats import pl_date
from ksef_local.store.db import iso, parse, write
from ksef_local.store.ksef_state import get_meta, note_work, set_meta
from ksef_local.store.ksef_state import reachable as reachable_now

LETTERS = {"W": "wysyłanie", "O": "przyjęta do przetwarzania w KSeF", "A": "przyjęta i zarchiwizowana w KSeF",
           "B": "odrzucona przez KSeF"}
LETTER_OF = {OutboxState.QUEUED: "W", OutboxState.SENDING: "W", OutboxState.UNKNOWN: "W", OutboxState.SENT: "O",
             OutboxState.ACCEPTED: "O", OutboxState.DONE: "A", OutboxState.REJECTED: "B"}
ACTIVE_STATES = (OutboxState.QUEUED, OutboxState.SENDING, OutboxState.UNKNOWN, OutboxState.SENT, OutboxState.ACCEPTED)
IN_FLIGHT_STATES = (OutboxState.SENDING, OutboxState.UNKNOWN, OutboxState.SENT, OutboxState.ACCEPTED)

DRAFT_REFUSED = "Najpierw wystaw fakturę – szkicu nie można wysłać do KSeF."
ALREADY_SENT = "Faktura {number} została już wysłana do KSeF – każdą fakturę można wysłać tylko raz."
ALREADY_QUEUED = "Faktura {number} czeka już w kolejce do KSeF (W) i wyśle się sama – nie trzeba jej dodawać ponownie."
NOT_FOUND = "Nie ma faktury o identyfikatorze {id}."

# Offline kinds by what Latarnia announces (docs/ksef-protocol.md §1.1, §9).
OFFLINE_BY_LATARNIA = {"MAINTENANCE": OfflineKind.OFFLINE, "FAILURE": OfflineKind.AWARYJNY,
                       "TOTAL_FAILURE": OfflineKind.AWARIA_CALKOWITA}
OFFLINE_NAMES = {OfflineKind.OFFLINE24: "offline24", OfflineKind.OFFLINE: "offline (niedostępność KSeF)",
                 OfflineKind.AWARYJNY: "awaryjny (awaria KSeF)", OfflineKind.AWARIA_CALKOWITA: "awaria całkowita KSeF"}


@dataclass
class EnqueueResult:
    queued: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    waiting: list[int] = field(default_factory=list)  # refused because they already wait in the queue (W)


@dataclass(frozen=True)
class OutboxStatus:
    letter: str
    state: str
    ksef_number: str | None
    session_ref: str | None
    invoice_ref: str | None
    invoicing_mode: str | None
    offline_mode: bool
    offline_kind: str | None
    offline_deadline: date | None
    error_title: str | None
    error_advice: str | None
    error_detail: str | None
    updated_at: datetime
    ksef_code: int | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class Event:
    at: datetime
    letter: str
    code: int | None
    description: str
    session_ref: str | None
    invoice_ref: str | None
    ksef_number: str | None


@dataclass(frozen=True)
class OfflineWaiting:
    invoice_id: int
    number: str
    offline_kind: str
    deadline: date


# -- small helpers ----------------------------------------------------------------------------------


def invoice_hash_b64(xml_sha256_hex: str) -> str:
    """invoiceHash as KSeF wants it: Base64 of the SHA-256 of the exact XML bytes."""
    return base64.b64encode(bytes.fromhex(xml_sha256_hex)).decode("ascii")


def offline_deadline(kind: str, issued_on: date, failure_end: date | None = None) -> date | None:
    """Deadline from calendar_pl (Polish business days); None while an outage has not ended."""
    try:
        return calendar_pl.offline_deadline(kind, issued_on, failure_end)
    except ValueError:
        return None  # "offline"/"awaryjny" need the end of the outage; computed when Latarnia says it ended


def fetch_rows(db: sqlite_utils.Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def current(db: sqlite_utils.Database, invoice_id: int) -> dict[str, Any] | None:
    """The invoice's current attempt (its newest outbox row), or None."""
    rows = fetch_rows(db, "SELECT * FROM ksef_outbox WHERE invoice_id = ? ORDER BY id DESC LIMIT 1", [invoice_id])
    return rows[0] if rows else None


def row(db: sqlite_utils.Database, outbox_id: int) -> dict[str, Any]:
    return fetch_rows(db, "SELECT * FROM ksef_outbox WHERE id = ?", [outbox_id])[0]


def rows(db: sqlite_utils.Database, sql_where: str, params: Any = ()) -> list[dict[str, Any]]:
    return fetch_rows(db, f"SELECT * FROM ksef_outbox WHERE {sql_where}", params)


def transition(db: sqlite_utils.Database, outbox_id: int, now: datetime, state: str, description: str | None,
               *, code: int | None = None, **fields: Any) -> None:
    """Move a row to state, set fields, keep invoices.ksef_status in sync and log the change (inside write)."""
    fields = {"state": state, "letter": LETTER_OF[state], "updated_at": iso(now), **fields}
    assignments = ", ".join(f"{name} = :{name}" for name in fields)
    db.execute(f"UPDATE ksef_outbox SET {assignments} WHERE id = :id", {**fields, "id": outbox_id})
    current_row = row(db, outbox_id)
    db.execute("UPDATE invoices SET ksef_status = ?, ksef_number = COALESCE(?, ksef_number) WHERE id = ?",
               [current_row["letter"], current_row["ksef_number"], current_row["invoice_id"]])
    if description is not None:
        log_event(db, current_row, now, description, code)


def log_event(db: sqlite_utils.Database, current_row: dict[str, Any], now: datetime, description: str,
              code: int | None = None) -> None:
    db.execute(
        "INSERT INTO ksef_events (invoice_id, outbox_id, at, letter, state, code, description, session_ref,"
        " invoice_ref, ksef_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [current_row["invoice_id"], current_row["id"], iso(now), current_row["letter"], current_row["state"], code,
         description, current_row["session_ref"], current_row["invoice_ref"], current_row["ksef_number"]])


# -- enqueueing (no network) ------------------------------------------------------------------------

def _offline_kind(db: sqlite_utils.Database, reachable: bool | None, issue_date: date, today: date) -> str | None:
    if reachable is False:
        latarnia = get_meta(db, "latarnia") or {}
        return OFFLINE_BY_LATARNIA.get(latarnia.get("status"), OfflineKind.OFFLINE24)
    if issue_date < today:
        return OfflineKind.OFFLINE24  # KSeF would reclassify it anyway (docs/ksef-protocol.md §9)
    return None


def enqueue(db: sqlite_utils.Database, invoice_ids: list[int], now: datetime,
            reachable: bool | None = None, environment: str | None = None) -> EnqueueResult:
    """Queue issued invoices for KSeF; refuse drafts and invoices already sent (W/O/A). Never needs the network."""
    result = EnqueueResult()
    today = warsaw_day(now)
    with write(db):
        if reachable is None:
            reachable = reachable_now(db, now)
        restored = get_meta(db, "restored")
        for invoice_id in dict.fromkeys(invoice_ids):
            invoice = fetch_rows(db, "SELECT id, status, number, issue_date, xml_sha256, ksef_status FROM invoices"
                                " WHERE id = ?", [invoice_id])
            if not invoice:
                result.refused[invoice_id] = NOT_FOUND.format(id=invoice_id)
                continue
            inv = invoice[0]
            if inv["status"] != "issued" or not inv["xml_sha256"]:
                result.refused[invoice_id] = DRAFT_REFUSED
                continue
            previous = current(db, invoice_id)
            if (previous and previous["letter"] != "B") or inv["ksef_status"] in ("W", "O", "A"):
                waiting = (previous["letter"] if previous else inv["ksef_status"]) == "W"
                result.refused[invoice_id] = (ALREADY_QUEUED if waiting else ALREADY_SENT).format(number=inv["number"])
                if waiting:
                    result.waiting.append(invoice_id)
                continue
            issued_on = date.fromisoformat(inv["issue_date"])
            kind = _offline_kind(db, reachable, issued_on, today)
            deadline = offline_deadline(kind, issued_on) if kind else None
            # An invoice an older, restored copy holds may have been sent after that copy was made.
            verify = invoice_id <= (restored or {}).get("max_invoice_id", 0)
            cursor = db.execute(
                "INSERT INTO ksef_outbox (invoice_id, state, letter, xml_sha256, invoice_hash, offline_mode,"
                " offline_kind, offline_deadline, next_attempt_at, enqueued_at, updated_at, environment,"
                " unknown_since) VALUES (?, ?, 'W', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [invoice_id, OutboxState.UNKNOWN if verify else OutboxState.QUEUED, inv["xml_sha256"],
                 invoice_hash_b64(inv["xml_sha256"]), int(kind is not None), kind,
                 deadline.isoformat() if deadline else None, iso(now), iso(now), iso(now), environment,
                 (restored or {}).get("at") if verify else None])
            text = "Dodano do kolejki wysyłki do KSeF"
            if previous:
                text += " (ponowna wysyłka po odrzuceniu)"
            if kind:
                text += f"; tryb {OFFLINE_NAMES[kind]}"
                text += f", termin wysłania {pl_date(deadline)}" if deadline else ""
            if verify:
                text += ". " + RESTORED_NOTE
            transition(db, cursor.lastrowid, now, OutboxState.UNKNOWN if verify else OutboxState.QUEUED, text)
            result.queued.append(invoice_id)
        if result.queued:
            note_work(db, now)   # the running app's sender, maybe in another process, starts within a second
    return result


# -- reading ----------------------------------------------------------------------------------------

def _status(r: dict[str, Any]) -> OutboxStatus:
    return OutboxStatus(
        r["letter"], r["state"], r["ksef_number"], r["session_ref"], r["invoice_ref"], r["invoicing_mode"],
        bool(r["offline_mode"]), r["offline_kind"],
        date.fromisoformat(r["offline_deadline"]) if r["offline_deadline"] else None,
        r["error_title"], r["error_advice"], r["error_detail"], parse(r["updated_at"]), r["ksef_code"],
        parse(r["next_attempt_at"]))


def status(db: sqlite_utils.Database, invoice_id: int) -> OutboxStatus | None:
    r = current(db, invoice_id)
    return _status(r) if r else None


def statuses(db: sqlite_utils.Database, invoice_ids: list[int]) -> dict[int, OutboxStatus]:
    ids = list(dict.fromkeys(invoice_ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    found = fetch_rows(db, f"SELECT * FROM ksef_outbox WHERE id IN (SELECT MAX(id) FROM ksef_outbox"
                      f" WHERE invoice_id IN ({marks}) GROUP BY invoice_id)", ids)
    return {r["invoice_id"]: _status(r) for r in found}


def history(db: sqlite_utils.Database, invoice_id: int) -> list[Event]:
    return [Event(parse(e["at"]), e["letter"], e["code"], e["description"], e["session_ref"], e["invoice_ref"],
                  e["ksef_number"])
            for e in fetch_rows(db, "SELECT * FROM ksef_events WHERE invoice_id = ? ORDER BY id", [invoice_id])]


def pending_count(db: sqlite_utils.Database) -> int:
    """Invoices the sender still works on (W or O)."""
    return db.execute("SELECT COUNT(*) FROM invoices WHERE ksef_status IN ('W', 'O')").fetchone()[0]


def unsent_count(db: sqlite_utils.Database) -> int:
    """The "Niewysłane do KSeF" counter: issued invoices KSeF has not received, as the list shows them (no
    letter yet, or W). O, A and B have reached KSeF."""
    return db.execute("SELECT COUNT(*) FROM invoices WHERE status = 'issued'"
                      " AND (ksef_status IS NULL OR ksef_status = 'W')").fetchone()[0]


def offline_waiting(db: sqlite_utils.Database) -> list[OfflineWaiting]:
    """Invoices not yet in KSeF (W or B) whose current attempt is offline with a deadline, soonest first.

    O invoices are left out: KSeF has received them, which is what the deadline asks for (docs/ksef-protocol.md §9).
    """
    found = fetch_rows(db, "SELECT o.invoice_id, i.number, o.offline_kind, o.offline_deadline FROM ksef_outbox o"
                      " JOIN invoices i ON i.id = o.invoice_id WHERE o.id IN (SELECT MAX(id) FROM ksef_outbox"
                      " GROUP BY invoice_id) AND o.letter NOT IN ('A', 'O') AND o.offline_mode = 1"
                      " AND o.offline_deadline IS NOT NULL ORDER BY o.offline_deadline, i.number, o.invoice_id")
    return [OfflineWaiting(r["invoice_id"], r["number"], r["offline_kind"], date.fromisoformat(r["offline_deadline"]))
            for r in found]


def environment_of(db: sqlite_utils.Database, invoice_id: int) -> str | None:
    """The KSeF (ksef_settings.environment_key) of the invoice's latest attempt, if it was recorded."""
    row = current(db, invoice_id)
    return row.get("environment") if row else None


def upo(db: sqlite_utils.Database, invoice_id: int) -> bytes | None:
    found = db.execute("SELECT upo FROM ksef_outbox WHERE invoice_id = ? AND upo IS NOT NULL ORDER BY id DESC LIMIT 1",
                       [invoice_id]).fetchone()
    return bytes(found[0]) if found else None


# -- "Statusy w KSeF" -----------------------------------------------------------------------------

def request_refresh(db: sqlite_utils.Database, invoice_ids: list[int] | None, now: datetime) -> int:
    """Schedule an immediate status check of every O (and stuck W) invoice; return how many."""
    where = "id IN (SELECT MAX(id) FROM ksef_outbox GROUP BY invoice_id)"
    params: list[Any] = []
    if invoice_ids is not None:
        ids = list(dict.fromkeys(invoice_ids)) or [-1]
        where += f" AND invoice_id IN ({','.join('?' * len(ids))})"
        params = ids
    with write(db):
        db.execute("UPDATE ksef_outbox SET refresh = 0 WHERE refresh = 2")
        db.execute(f"UPDATE ksef_outbox SET next_attempt_at = ? WHERE {where} AND state = 'queued'",
                   [iso(now), *params])
        cursor = db.execute(f"UPDATE ksef_outbox SET refresh = 1, next_attempt_at = ? WHERE {where}"
                            " AND state IN ('sending', 'unknown', 'sent', 'accepted')", [iso(now), *params])
        return cursor.rowcount


def refresh_progress(db: sqlite_utils.Database) -> tuple[int, int]:
    done, total = db.execute("SELECT COALESCE(SUM(refresh = 2), 0), COALESCE(SUM(refresh > 0), 0)"
                             " FROM ksef_outbox").fetchone()
    return int(done), int(total)


RESTORED_NOTE = ("Przywrócono kopię zapasową – zanim faktura zostanie wysłana, sprawdzimy w KSeF po skrócie, czy nie"
                 " wysłano jej już po zrobieniu tej kopii")


def verify_after_restore(db: sqlite_utils.Database, now: datetime) -> int:
    """After a backup was restored: every invoice that may have gone to KSeF since the copy was made is
    looked for by hash before anything is sent (sending/reconcile.py); return how many rows were marked.

    Rows waiting (W) become "unknown"; invoices the copy holds but never queued are marked when queued
    (enqueue, by the "restored" fact: the highest invoice id of the copy).
    """
    with write(db):
        waiting = [r["id"] for r in fetch_rows(db, "SELECT id FROM ksef_outbox WHERE state IN"
                                                   " ('queued', 'sending', 'unknown')")]
        for outbox_id in waiting:
            transition(db, outbox_id, now, OutboxState.UNKNOWN, RESTORED_NOTE, unknown_since=iso(now),
                       next_attempt_at=iso(now))
        highest = db.execute("SELECT COALESCE(MAX(id), 0) FROM invoices").fetchone()[0]
        set_meta(db, "restored", {"at": iso(now), "max_invoice_id": highest})
        if waiting:
            note_work(db, now)
    return len(waiting)


def mark_checked(db: sqlite_utils.Database, outbox_id: int) -> None:
    """A status check asked for by "Statusy w KSeF" was made (inside write)."""
    db.execute("UPDATE ksef_outbox SET refresh = 2 WHERE id = ? AND refresh = 1", [outbox_id])


def next_attempt(now: datetime, seconds: float) -> str:
    return iso(now + timedelta(seconds=seconds))
