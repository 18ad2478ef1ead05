"""What the sender knows about KSeF beside the invoices: the sessions it opened, the health the banner shows
(Latarnia, reachability, pause, circuit breaker, backoff) and the request budget per limit group.

Small facts live in ksef_meta as JSON (a few keys, read often, written rarely); every request is counted in
ksef_requests against KSeF's rate limits, so the budget survives a restart (docs/ksef-protocol.md §6).
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import sqlite_utils

from ksef_local.clock import utc_now
from ksef_local.ksef import limits as ksef_limits
from ksef_local.ksef.limits import Limits
from ksef_local.store.db import iso, parse, write


@dataclass(frozen=True)
class Health:
    latarnia_status: str | None
    latarnia_message: str | None
    reachable: bool | None
    checked_at: datetime | None
    paused: bool
    pause_title: str | None
    pause_advice: str | None
    circuit_open: bool
    next_attempt_at: datetime | None
    pause_detail: str | None = None


def get_meta(db: sqlite_utils.Database, key: str, default: Any = None) -> Any:
    row = db.execute("SELECT value FROM ksef_meta WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else default


def set_meta(db: sqlite_utils.Database, key: str, value: Any) -> None:
    """Store one fact (call inside db.write)."""
    db.execute("INSERT INTO ksef_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
               [key, json.dumps(value, ensure_ascii=False)])


def reachable(db: sqlite_utils.Database, now: datetime) -> bool | None:
    circuit = get_meta(db, "circuit") or {}
    if circuit.get("open_until") and parse(circuit["open_until"]) > now:
        return False
    return (get_meta(db, "reach") or {}).get("reachable")


def health(db: sqlite_utils.Database) -> Health:
    latarnia = get_meta(db, "latarnia") or {}
    reach = get_meta(db, "reach") or {}
    pause = get_meta(db, "pause")
    circuit = get_meta(db, "circuit") or {}
    backoff = get_meta(db, "backoff_until")
    candidates = [parse(v) for v in (circuit.get("open_until"), backoff) if v]
    return Health(
        latarnia.get("status"), latarnia.get("message"), reach.get("reachable"), parse(reach.get("checked_at")),
        pause is not None, (pause or {}).get("title"), (pause or {}).get("advice"),
        bool(circuit.get("open_until")), max(candidates) if candidates else None, (pause or {}).get("detail"))


def pause(db: sqlite_utils.Database, now: datetime, title: str, advice: str, detail: str = "",
          cause: str = "request") -> None:
    """Stop sending until resume(); nothing queued is lost.

    cause "credentials" (a login or a permission failed) lifts by itself once the credentials or the KSeF
    settings change (credentials_changed); "request" waits for the user's "Wznów wysyłkę".
    """
    with write(db):
        set_meta(db, "pause", {"title": title, "advice": advice, "detail": detail, "at": iso(now), "cause": cause,
                               "stamp": get_meta(db, "credentials_stamp")})


def pause_cause(db: sqlite_utils.Database) -> str | None:
    found = get_meta(db, "pause")
    return (found or {}).get("cause", "request") if found is not None else None


def credentials_changed(db: sqlite_utils.Database, now: datetime) -> None:
    """Note that the KSeF settings or credentials changed (any process): the sender builds a new client and a
    pause caused by credentials lifts."""
    with write(db):
        mark_credentials_changed(db, now)


def mark_credentials_changed(db: sqlite_utils.Database, now: datetime) -> None:
    """credentials_changed inside the caller's transaction (with the settings row it changes).

    The stamp is unique even for two changes within one clock tick: the sender compares it for equality.
    """
    set_meta(db, "credentials_stamp", f"{iso(now)}#{secrets.token_hex(4)}")


def note_work(db: sqlite_utils.Database, now: datetime) -> None:
    """Tell the sender of any process that there is new work (inside write): it looks within a second."""
    set_meta(db, "wake", f"{iso(now)}#{secrets.token_hex(4)}")


def wake_signal(db: sqlite_utils.Database) -> tuple[str | None, str | None]:
    """What the sender's idle wait watches: new work, and changed settings or credentials (any process)."""
    found = dict(db.execute("SELECT key, value FROM ksef_meta WHERE key IN ('wake', 'credentials_stamp')").fetchall())
    return found.get("wake"), found.get("credentials_stamp")


def login_progress(db: sqlite_utils.Database, now: datetime, text: str | None) -> None:
    """What the sender's login is doing now (None when done), for the banner."""
    with write(db):
        set_meta(db, "login_progress", {"text": text, "at": iso(now)} if text else None)


def credentials_stamp(db: sqlite_utils.Database) -> str | None:
    return get_meta(db, "credentials_stamp")


def lift_credentials_pause(db: sqlite_utils.Database) -> bool:
    """Resume when the pause came from credentials and they changed since; return whether it was lifted."""
    found = get_meta(db, "pause")
    if not found or found.get("cause") != "credentials" or found.get("stamp") == credentials_stamp(db):
        return False
    resume(db)
    return True


def is_paused(db: sqlite_utils.Database) -> bool:
    return get_meta(db, "pause") is not None


def resume(db: sqlite_utils.Database, wake: Callable[[], None] | None = None) -> None:
    """Clear the pause (e.g. after a new token was saved) and wake the sender."""
    with write(db):
        db.execute("DELETE FROM ksef_meta WHERE key IN ('pause', 'backoff_until')")
        note_work(db, utc_now())
        circuit = get_meta(db, "circuit")
        if circuit:
            set_meta(db, "circuit", {**circuit, "open_until": None, "failures": 0})
    if wake is not None:
        wake()


# -- request budget per KSeF limit group ------------------------------------------------------------

# The sender's budget: the official table for the groups it uses, the minute and hour windows keeping one
# request in reserve because KSeF's sliding windows and our clock do not line up exactly.
SENDER_GROUPS = ("onlineSession", "onlineSessionClose", "invoiceSend", "batchSession", "batchSessionClose",
                 "invoiceStatus", "sessionList", "sessionInvoiceList", "sessionMisc", "anonymous")
# Reading invoices back (the purchase sync, and sending's search for its own invoices by hash): the same
# budget, so a 429 or a pause holds both.
RECEIVING_GROUPS = ("invoiceMetadata", "invoiceDownload", "invoiceExport", "invoiceExportStatus")


PRD_LIMITS: Limits = {
    group: tuple(None if n is None else (n - 1 if i else n) for i, n in enumerate(ksef_limits.PRD_LIMITS[group]))
    for group in SENDER_GROUPS + RECEIVING_GROUPS
}


WINDOWS = ksef_limits.WINDOW_SECONDS


def budget_wait(db: sqlite_utils.Database, group: str, now: datetime,
                limits: Limits = PRD_LIMITS) -> float:
    """Seconds to wait before one more request of group stays within every window (0 = go; None = no window)."""
    stamp = now.timestamp()
    wait = 0.0
    for limit, seconds in zip(limits[group], WINDOWS, strict=True):
        if limit is None:
            continue
        found = db.execute("SELECT at FROM ksef_requests WHERE grp = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                           [group, stamp - seconds, limit - 1]).fetchone()
        if found:
            wait = max(wait, found[0] + seconds - stamp)
    return wait


def record_request(db: sqlite_utils.Database, group: str, now: datetime) -> None:
    """Count one request (its own short transaction) and forget that group's requests older than an hour."""
    stamp = now.timestamp()
    with write(db):
        db.execute("INSERT INTO ksef_requests (grp, at) VALUES (?, ?)", [group, stamp])
        db.execute("DELETE FROM ksef_requests WHERE grp = ? AND at < ?", [group, stamp - 3600])


# -- sessions we opened ---------------------------------------------------------------------------------

def open_session(db: sqlite_utils.Database, ref: str, kind: str, now: datetime, offline_mode: int = 0,
                 environment: str | None = None) -> None:
    """Record a session KSeF opened for us (inside write): an online one is closed when the queue is empty.

    environment: the settings key (core.settings.environment_key) of the KSeF that opened it.
    """
    db.execute("INSERT INTO ksef_sessions (ref, kind, state, offline_mode, opened_at, updated_at, environment)"
               " VALUES (?, ?, 'open', ?, ?, ?, ?)", [ref, kind, offline_mode, iso(now), iso(now), environment])


def set_session_state(db: sqlite_utils.Database, ref: str, state: str, now: datetime) -> None:
    """Move a session to open/closed/done (inside write)."""
    db.execute("UPDATE ksef_sessions SET state = ?, updated_at = ? WHERE ref = ?", [state, iso(now), ref])


def stale_online_session(db: sqlite_utils.Database, current_ref: str) -> str | None:
    """An online session still open that is not the one in use (left by an earlier run or before a pause)."""
    found = db.execute("SELECT ref FROM ksef_sessions WHERE kind = 'online' AND state = 'open' AND ref != ?"
                       " LIMIT 1", [current_ref]).fetchone()
    return found[0] if found else None


def forget_foreign_sessions(db: sqlite_utils.Database, environment: str, now: datetime) -> int:
    """Stop tracking sessions another KSeF opened (the settings changed since); return how many.

    The current client cannot close them, and they hold no invoice of ours: the settings refuse a change
    while KSeF holds any (forms/ksef_settings.py). KSeF closes an online session itself after 12 hours.
    Sessions recorded before environments were noted (NULL) are taken as the current one's.
    """
    with write(db):
        return db.execute("UPDATE ksef_sessions SET state = 'done', updated_at = ? WHERE state IN ('open', 'closed')"
                          " AND environment IS NOT NULL AND environment != ?", [iso(now), environment]).rowcount


def session_kind_and_state(db: sqlite_utils.Database, ref: str | None) -> tuple[str, str] | None:
    found = db.execute("SELECT kind, state FROM ksef_sessions WHERE ref = ?", [ref]).fetchone() if ref else None
    return (found[0], found[1]) if found else None


def closed_batches(db: sqlite_utils.Database) -> list[str]:
    """Batch sessions closed and not yet read back."""
    return [r[0] for r in db.execute("SELECT ref FROM ksef_sessions WHERE kind = 'batch' AND state = 'closed'")]
