"""The outbox worker: run_once() does one bounded step of KSeF work; start() runs it in a thin thread loop.

Exactly once (lessons.md, pitfalls): a row is committed as "sending" with its session before the POST,
so after a timeout, a dropped connection or a crash its outcome is "unknown" and we look the invoice up
in the session by invoiceHash before anything is sent again (ksef-api.md §11). A 440 whose original has
our hash is our own invoice, accepted earlier. Transient failures back off with jitter, honour
Retry-After and open a circuit; every request is counted against the PRD limits (ksef-api.md §6) in
SQLite. Errors that need the user (token, permissions, a refused request) pause the queue.
"""
from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any, Callable

from . import outbox
from .db import Databases, write
from .errors import UserError
from .ksef import batch, crypto, errors
from .ksef.client import KsefClient
from .ksef.latarnia import LatarniaClient
from .ksef.models import InvoiceStatus, OnlineSession
from .ksef.transport import utc_now
from .outbox import iso, next_attempt, parse, transition

log = logging.getLogger("ksef_local.sender")

FAILURES_TO_OPEN = 5          # consecutive transient failures before the circuit opens (official CS client)
CIRCUIT_SECONDS = 30.0        # first open period; doubles up to CIRCUIT_MAX
CIRCUIT_MAX = 600.0
BACKOFF_MAX = 60.0
RECONCILE_WAIT = 30.0         # how long an open session may lack our invoice before we call it not received
MAX_BATCH = 1000
PAUSING = (errors.KsefTokenRevoked, errors.KsefUnauthenticated, errors.KsefUnauthorized, errors.KsefRequestInvalid)
NO_TOKEN = "Brak tokena KSeF – wpisz token w Ustawieniach KSeF."


class Deferred(Exception):
    """A remote step cannot be done now (budget, backoff, pause); rows stay where they were."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


def describe(error: errors.KsefError, session_ref: str | None = None, invoice_ref: str | None = None,
             at: datetime | None = None) -> str:
    """The copyable report of a KSeF error: code, description, details, references, time."""
    lines = [f"Kod KSeF: {error.code if error.code is not None else '-'}"
             + (f" (HTTP {error.http_status})" if error.http_status else ""),
             f"Opis: {error.detail}"]
    lines += [f"Szczegóły: {item}" for item in error.details]
    lines += [f"Sesja: {session_ref}"] if session_ref else []
    lines += [f"Numer referencyjny faktury: {invoice_ref}"] if invoice_ref else []
    lines += [f"Czas: {at.isoformat()}"] if at else []
    return "\n".join(lines)


class Sender:
    """One background worker for the outbox of one database."""

    def __init__(self, databases: Databases, make_client: Callable[[], KsefClient], *,
                 clock: Callable[[], datetime] = utc_now, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, make_latarnia: Callable[[], LatarniaClient] | None = None,
                 batch_threshold: int = 50, poll_interval: float = 2.0, latarnia_interval: float = 300.0,
                 busy_wait: float = 3.0, idle_wait: float = 60.0,
                 limits: dict[str, tuple[int, int, int]] = outbox.PRD_LIMITS) -> None:
        self.databases = databases
        self.make_client = make_client
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.make_latarnia = make_latarnia
        self.batch_threshold = batch_threshold
        self.poll_interval = poll_interval
        self.latarnia_interval = latarnia_interval
        self.busy_wait = busy_wait
        self.idle_wait = idle_wait
        self.limits = limits
        self._client: KsefClient | None = None
        self._latarnia: LatarniaClient | None = None
        self._session: OnlineSession | None = None
        self._upo_urls: dict[int, str] = {}   # pre-signed, not rate-limited; kept in memory only
        self._healthy: bool | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop in a daemon thread (the launcher calls this)."""
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="ksef-sender", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current step and end the loop; every write is its own transaction, so nothing is half-done."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                did = self.run_once()
            except Exception:  # a bug must not kill the worker; it is logged and retried later
                log.exception("KSeF sender step failed")
                did = False
            if did:
                continue
            busy = outbox.pending_count(self.databases.get()) > 0
            self._wake.wait(self.busy_wait if busy else self.idle_wait)
            self._wake.clear()

    # -- one step -----------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Do one bounded step of work; return whether anything was done."""
        db = self.databases.get()
        now = self.clock()
        self._poll_latarnia(db, now)
        if outbox.is_paused(db) or self._held_back(db, now):
            return False
        for task in (self._close_stale_sessions, self._reconcile, self._poll_batches, self._poll_statuses,
                     self._fetch_upos, self._send_batch, self._send_online, self._close_idle_session):
            try:
                if task(db, now):
                    return True
            except Deferred as deferred:
                if deferred.reason != "budget":
                    return True
        return False

    def _held_back(self, db, now: datetime) -> bool:
        backoff = outbox.get_meta(db, "backoff_until")
        circuit = outbox.get_meta(db, "circuit") or {}
        until = [parse(v) for v in (backoff, circuit.get("open_until")) if v]
        return any(moment > now for moment in until)

    # -- remote calls: budget, client, error classes ---------------------------------------------------

    def _get_client(self, db, now: datetime) -> KsefClient:
        if self._client is None:
            try:
                self._client = self.make_client()
            except UserError as exc:
                outbox.pause(db, now, NO_TOKEN, exc.message)
                raise Deferred("paused", exc) from exc
        return self._client

    def call(self, db, now: datetime, group: str | None, action: Callable[[KsefClient], Any],
             passthrough: tuple[type[errors.KsefError], ...] = (errors.KsefNoSession,)) -> Any:
        """Make one remote call within the budget; classify failures (see the module docstring)."""
        if group is not None and outbox.budget_wait(db, group, now, self.limits) > 0:
            raise Deferred("budget")
        client = self._get_client(db, now)
        if group is not None:
            # Time the request now, not at the start of the step: logging in may have taken a while.
            at = self.clock()
            if outbox.budget_wait(db, group, at, self.limits) > 0:
                raise Deferred("budget")
            outbox.record_request(db, group, at)
        try:
            result = action(client)
        except passthrough:
            self._answered(db, now)
            raise
        except errors.KsefRateLimited as exc:
            self._limited(db, now, exc)
            raise Deferred("limited", exc) from exc
        except errors.KsefUnavailable as exc:
            self._failed(db, now)
            raise Deferred("unavailable", exc) from exc
        except PAUSING + (errors.KsefNoSession,) as exc:
            self._pause_for(db, now, exc)
            raise Deferred("paused", exc) from exc
        except errors.KsefError as exc:  # anything else KSeF did not do: treat as transient
            self._failed(db, now)
            raise Deferred("unavailable", exc) from exc
        self._answered(db, now)
        return result

    def _answered(self, db, now: datetime) -> None:
        if self._healthy:
            return
        with write(db):
            outbox.set_meta(db, "circuit", {"failures": 0, "opens": 0, "open_until": None})
            outbox.set_meta(db, "reach", {"reachable": True, "checked_at": iso(now)})
        self._healthy = True

    def _limited(self, db, now: datetime, exc: errors.KsefRateLimited) -> None:
        wait = exc.retry_after if exc.retry_after is not None else 30.0
        with write(db):
            outbox.set_meta(db, "backoff_until", iso(now + timedelta(seconds=wait + self.rng.random())))

    def _failed(self, db, now: datetime) -> None:
        """Count a transient failure: exponential backoff with jitter, then open the circuit."""
        self._healthy = False
        with write(db):
            circuit = outbox.get_meta(db, "circuit") or {"failures": 0, "opens": 0, "open_until": None}
            circuit["failures"] += 1
            if circuit["failures"] >= FAILURES_TO_OPEN:
                circuit["opens"] += 1
                seconds = min(CIRCUIT_MAX, CIRCUIT_SECONDS * 2 ** (circuit["opens"] - 1))
                circuit["open_until"] = iso(now + timedelta(seconds=seconds * (0.8 + 0.4 * self.rng.random())))
                outbox.set_meta(db, "reach", {"reachable": False, "checked_at": iso(now)})
            else:
                delay = min(BACKOFF_MAX, 2.0 ** (circuit["failures"] - 1)) * (0.5 + 0.5 * self.rng.random())
                outbox.set_meta(db, "backoff_until", iso(now + timedelta(seconds=delay)))
            outbox.set_meta(db, "circuit", circuit)

    def _pause_for(self, db, now: datetime, exc: errors.KsefError) -> None:
        message = errors.user_message(exc, (outbox.get_meta(db, "latarnia") or {}).get("status"))
        outbox.pause(db, now, message.title, message.advice, describe(exc, at=now))
        self._client = None
        self._session = None  # its row stays open in ksef_sessions and is closed after resume

    # -- Latarnia ---------------------------------------------------------------------------------

    def _poll_latarnia(self, db, now: datetime) -> None:
        if self.make_latarnia is None:
            return
        previous = outbox.get_meta(db, "latarnia") or {}
        checked = parse(previous.get("checked_at"))
        if checked is not None and (now - checked).total_seconds() < self.latarnia_interval:
            return
        try:
            self._latarnia = self._latarnia or self.make_latarnia()
            beacon = self._latarnia.status()
            text = next((f"{m.title}: {m.text}" for m in reversed(beacon.messages)), None)
            state = {"status": beacon.status, "message": text if not beacon.is_available else None,
                     "checked_at": iso(now)}
        except (errors.KsefError, ValueError):
            state = {**previous, "message": "Latarnia KSeF nie odpowiada.", "checked_at": iso(now)}
        with write(db):
            outbox.set_meta(db, "latarnia", state)
            if state.get("status") == "AVAILABLE" and previous.get("status") not in (None, "AVAILABLE"):
                self._outage_ended(db, now)

    def _outage_ended(self, db, now: datetime) -> None:
        """Now that the outage ended, the "offline"/"awaryjny" deadlines can be counted (ksef-api.md §9)."""
        today = outbox.warsaw_day(now)
        for r in outbox.rows(db, "offline_kind IN ('offline', 'awaryjny') AND offline_deadline IS NULL"
                                 " AND state NOT IN ('done', 'rejected')"):
            issued = db.execute("SELECT issue_date FROM invoices WHERE id = ?", [r["invoice_id"]]).fetchone()[0]
            deadline = outbox.offline_deadline(r["offline_kind"], datetime.fromisoformat(issued).date(), today)
            if deadline:
                db.execute("UPDATE ksef_outbox SET offline_deadline = ? WHERE id = ?", [deadline.isoformat(), r["id"]])

    # -- sessions ---------------------------------------------------------------------------------

    def _close_stale_sessions(self, db, now: datetime) -> bool:
        """Close online sessions left open by an earlier run (or after a pause)."""
        current = self._session.reference_number if self._session else ""
        found = db.execute("SELECT ref FROM ksef_sessions WHERE kind = 'online' AND state = 'open' AND ref != ?"
                           " LIMIT 1", [current]).fetchone()
        if not found:
            return False
        self._close_online(db, now, found[0])
        return True

    def _close_online(self, db, now: datetime, ref: str) -> None:
        try:
            self.call(db, now, "onlineSession", lambda c: c.close_online_session(ref))
        except errors.KsefNoSession:
            pass  # already closed or expired (12 h): either way it is closed
        with write(db):
            db.execute("UPDATE ksef_sessions SET state = 'closed', updated_at = ? WHERE ref = ?", [iso(now), ref])

    def _ensure_session(self, db, now: datetime) -> OnlineSession:
        session = self._session
        if session is not None and (session.valid_until is None or session.valid_until - now > timedelta(minutes=10)):
            return session
        self._session = None  # an expiring session becomes stale and is closed by _close_stale_sessions
        session = self.call(db, now, "onlineSession", lambda c: c.open_online_session())
        with write(db):
            db.execute("INSERT INTO ksef_sessions (ref, kind, state, opened_at, updated_at)"
                       " VALUES (?, 'online', 'open', ?, ?)", [session.reference_number, iso(now), iso(now)])
        self._session = session
        return session

    def _close_idle_session(self, db, now: datetime) -> bool:
        """Close the online session when the queue is empty (KSeF then builds its UPO)."""
        if self._session is None:
            return False
        if db.execute("SELECT 1 FROM ksef_outbox WHERE state = 'queued' LIMIT 1").fetchone():
            return False
        ref = self._session.reference_number
        self._close_online(db, now, ref)
        self._session = None
        return True

    # -- sending ------------------------------------------------------------------------------------

    def _invoice_xml(self, db, r: dict) -> bytes | None:
        """The exact frozen bytes, or None when they are no longer what was queued."""
        found = db.execute("SELECT xml FROM invoices WHERE id = ?", [r["invoice_id"]]).fetchone()
        xml = bytes(found[0]) if found and found[0] is not None else None
        if xml is None or hashlib.sha256(xml).hexdigest() != r["xml_sha256"]:
            return None
        return xml

    def _changed_since_queued(self, db, now: datetime, r: dict) -> None:
        with write(db):
            transition(db, r["id"], now, "rejected", "Treść faktury zmieniła się po dodaniu do kolejki – nie wysłano jej.",
                       error_title="Faktura zmieniła się po dodaniu do kolejki",
                       error_advice="Wyślij ją do KSeF ponownie.", error_detail=None, session_ref=None)

    def _offline_on_send_day(self, db, now: datetime, r: dict) -> dict:
        """KSeF treats P_1 earlier than the sending day as offline anyway (ksef-api.md §9): say so ourselves."""
        if r["offline_mode"]:
            return {}
        issued = db.execute("SELECT issue_date FROM invoices WHERE id = ?", [r["invoice_id"]]).fetchone()[0]
        issued_on = datetime.fromisoformat(issued).date()
        if issued_on >= outbox.warsaw_day(now):
            return {}
        deadline = outbox.offline_deadline("offline24", issued_on)
        return {"offline_mode": 1, "offline_kind": "offline24",
                "offline_deadline": deadline.isoformat() if deadline else None}

    def _send_online(self, db, now: datetime) -> bool:
        found = outbox.rows(db, "state = 'queued' AND next_attempt_at <= ? ORDER BY id LIMIT 1", [iso(now)])
        if not found:
            return False
        r = found[0]
        if outbox.budget_wait(db, "invoiceSend", now, self.limits) > 0:
            raise Deferred("budget")
        xml = self._invoice_xml(db, r)
        if xml is None:
            self._changed_since_queued(db, now, r)
            return True
        session = self._ensure_session(db, now)
        offline = self._offline_on_send_day(db, now, r)
        with write(db):
            note = ("Faktura wystawiona przed dniem wysyłki – wysyłana w trybie offline24"
                    if offline else None)
            transition(db, r["id"], now, "sending", note, session_ref=session.reference_number,
                       tries=r["tries"] + 1, unknown_since=iso(now), **offline)
        is_offline = bool(offline or r["offline_mode"])
        try:
            sent = self.call(db, now, "invoiceSend", lambda c: c.send_invoice(session, xml, offline_mode=is_offline))
        except errors.KsefNoSession:
            self._session = None
            with write(db):
                db.execute("UPDATE ksef_sessions SET state = 'closed', updated_at = ? WHERE ref = ?",
                           [iso(now), session.reference_number])
                transition(db, r["id"], now, "queued", None, session_ref=None, unknown_since=None)
            return True
        except Deferred as deferred:
            with write(db):
                if deferred.reason == "unavailable":
                    transition(db, r["id"], now, "unknown",
                               f"Brak odpowiedzi KSeF po wysłaniu ({deferred.cause}) – sprawdzimy w sesji po skrócie"
                               " faktury, czy dotarła; nie wyślemy jej ponownie na ślepo",
                               next_attempt_at=next_attempt(now, self.poll_interval))
                else:  # 429 or a refused request: KSeF did not take it
                    transition(db, r["id"], now, "queued", None, session_ref=None, unknown_since=None)
            raise
        with write(db):
            transition(db, r["id"], now, "sent", "KSeF przyjął fakturę do przetwarzania"
                       f" (sesja {session.reference_number}, numer referencyjny {sent.reference_number})",
                       invoice_ref=sent.reference_number, unknown_since=None, ksef_code=None,
                       next_attempt_at=next_attempt(now, self.poll_interval), tries=0)
        return True

    # -- statuses -----------------------------------------------------------------------------------

    def _reconcile(self, db, now: datetime) -> bool:
        """An invoice whose POST has no known outcome: find it in its session by hash before any resend."""
        found = outbox.rows(db, "state IN ('sending', 'unknown') AND next_attempt_at <= ?"
                                " ORDER BY refresh DESC, next_attempt_at, id LIMIT 1", [iso(now)])
        if not found:
            return False
        r = found[0]
        session = db.execute("SELECT kind, state FROM ksef_sessions WHERE ref = ?", [r["session_ref"]]).fetchone()
        if r["session_ref"] is None or session is None:
            self._requeue(db, now, r, None)
            return True
        if session[0] == "batch":
            return self._recover_batch(db, now, r["session_ref"])
        ref = r["session_ref"]
        try:
            listed = self.call(db, now, "sessionInvoiceList", lambda c: c.find_invoice_by_hash(ref, r["invoice_hash"]))
            gone = False
        except errors.KsefNoSession:
            listed, gone = None, True
        if listed is not None:
            with write(db):
                transition(db, r["id"], now, "sent", "Faktura odnaleziona w sesji KSeF po skrócie (invoiceHash) –"
                           " nie wysłano jej ponownie", invoice_ref=listed.reference_number, unknown_since=None)
                outbox.mark_checked(db, r["id"])
            self._apply_status(db, now, outbox.row(db, r["id"]), listed)
            return True
        since = parse(r["unknown_since"] or r["updated_at"])
        if not gone and session[1] == "open" and (now - since).total_seconds() < RECONCILE_WAIT:
            with write(db):
                db.execute("UPDATE ksef_outbox SET next_attempt_at = ? WHERE id = ?",
                           [next_attempt(now, max(self.poll_interval, 5.0)), r["id"]])
                outbox.mark_checked(db, r["id"])
            return True
        self._requeue(db, now, r, f"KSeF nie otrzymał faktury (nie ma jej w sesji {ref}) – zostanie wysłana ponownie")
        return True

    def _requeue(self, db, now: datetime, r: dict, note: str | None) -> None:
        with write(db):
            transition(db, r["id"], now, "queued", note, session_ref=None, invoice_ref=None, unknown_since=None,
                       next_attempt_at=iso(now))
            outbox.mark_checked(db, r["id"])

    def _poll_statuses(self, db, now: datetime) -> bool:
        due = outbox.rows(db, "state = 'sent' AND invoice_ref IS NOT NULL AND next_attempt_at <= ?"
                              " ORDER BY refresh DESC, next_attempt_at, id LIMIT 200", [iso(now)])
        if not due:
            return False
        first = due[0]
        ref = first["session_ref"]
        same = [r for r in due if r["session_ref"] == ref]
        try:
            if len(same) >= 3:  # one list call answers for the whole session (cheaper for the budget)
                listed = self.call(db, now, "sessionInvoiceList", lambda c: c.session_invoices(ref, page_size=1000))
                by_ref = {s.reference_number: s for s in listed}
                for r in same:
                    if r["invoice_ref"] in by_ref:
                        self._apply_status(db, now, r, by_ref[r["invoice_ref"]])
                return True
            answer = self.call(db, now, "invoiceStatus", lambda c: c.invoice_status(ref, first["invoice_ref"]))
        except errors.KsefNoSession:
            for r in same:
                self._requeue(db, now, r, f"KSeF nie zna sesji {ref} – faktura zostanie wysłana ponownie")
            return True
        self._apply_status(db, now, first, answer)
        return True

    def _apply_status(self, db, now: datetime, r: dict, status: InvoiceStatus) -> None:
        if not status.is_final:
            polls = r["tries"] + 1
            delay = min(300.0, self.poll_interval * 1.5 ** min(polls, 20))  # 150 may last hours (lessons.md #31)
            with write(db):
                if status.code != r["ksef_code"]:
                    transition(db, r["id"], now, "sent", f"KSeF: {status.code} {status.description}", code=status.code,
                               ksef_code=status.code, tries=polls, next_attempt_at=next_attempt(now, delay))
                else:
                    db.execute("UPDATE ksef_outbox SET tries = ?, next_attempt_at = ? WHERE id = ?",
                               [polls, next_attempt(now, delay), r["id"]])
                outbox.mark_checked(db, r["id"])
            return
        if status.is_accepted:
            self._accept(db, now, r, status, r["session_ref"],
                         f"KSeF przyjął fakturę: numer KSeF {status.ksef_number}"
                         f" (tryb {status.invoicing_mode or '-'}); UPO jeszcze niepobrane")
            return
        rejection = status.rejection()
        if isinstance(rejection, errors.KsefDuplicateInvoice):
            self._duplicate(db, now, r, rejection)
        else:
            self._reject(db, now, r, rejection, status)

    def _accept(self, db, now: datetime, r: dict, status: InvoiceStatus, session_ref: str, note: str) -> None:
        with write(db):
            transition(db, r["id"], now, "accepted", note, code=status.code, ksef_code=status.code,
                       ksef_number=status.ksef_number, invoicing_mode=status.invoicing_mode,
                       session_ref=session_ref, invoice_ref=status.reference_number, tries=0,
                       next_attempt_at=iso(now), error_title=None, error_advice=None, error_detail=None)
            outbox.mark_checked(db, r["id"])
        if status.upo_download_url:
            self._upo_urls[r["id"]] = status.upo_download_url

    def _duplicate(self, db, now: datetime, r: dict, dup: errors.KsefDuplicateInvoice) -> None:
        """440: ours if the original session holds our hash as accepted; else the number belongs to another invoice."""
        original = None
        if dup.original_session:
            try:
                original = self.call(db, now, "sessionInvoiceList",
                                     lambda c: c.find_invoice_by_hash(dup.original_session, r["invoice_hash"]))
            except errors.KsefNoSession:
                original = None
        if original is not None and original.is_accepted and \
                (dup.original_ksef_number is None or original.ksef_number == dup.original_ksef_number):
            self._accept(db, now, r, original, dup.original_session,
                         f"KSeF: 440 duplikat – to ta sama faktura (ten sam skrót), przyjęta wcześniej w sesji"
                         f" {dup.original_session}: numer KSeF {original.ksef_number}; UPO jeszcze niepobrane")
            return
        if original is not None and not original.is_final:
            with write(db):
                db.execute("UPDATE ksef_outbox SET next_attempt_at = ? WHERE id = ?",
                           [next_attempt(now, 30.0), r["id"]])
            return
        number = db.execute("SELECT number FROM invoices WHERE id = ?", [r["invoice_id"]]).fetchone()[0]
        title = (f"Numer faktury {number} został już użyty w KSeF dla innej faktury"
                 + (f" (numer KSeF {dup.original_ksef_number})" if dup.original_ksef_number else ""))
        advice = ("KSeF przyjmuje każdy numer faktury sprzedawcy tylko raz. Sprawdź, czy tej faktury nie wysłano "
                  "z innego programu; jeśli to inna faktura, popraw ją i nadaj jej nowy numer.")
        with write(db):
            transition(db, r["id"], now, "rejected", f"KSeF: 440 {title}", code=440, ksef_code=440,
                       error_title=title, error_advice=advice,
                       error_detail=describe(dup, r["session_ref"], r["invoice_ref"], now))
            outbox.mark_checked(db, r["id"])

    def _reject(self, db, now: datetime, r: dict, rejection: errors.KsefInvoiceRejected, status: InvoiceStatus) -> None:
        latarnia = (outbox.get_meta(db, "latarnia") or {}).get("status")
        message = errors.user_message(rejection, latarnia)
        text = f"KSeF odrzucił fakturę: {status.code} {status.description}"
        text += "".join(f"; {item}" for item in status.details[:5])
        with write(db):
            transition(db, r["id"], now, "rejected", text, code=status.code, ksef_code=status.code,
                       invoicing_mode=status.invoicing_mode, error_title=message.title, error_advice=message.advice,
                       error_detail=describe(rejection, r["session_ref"], r["invoice_ref"], now))
            outbox.mark_checked(db, r["id"])

    # -- UPO ----------------------------------------------------------------------------------------

    def _fetch_upos(self, db, now: datetime) -> bool:
        due = outbox.rows(db, "state = 'accepted' AND next_attempt_at <= ? ORDER BY refresh DESC, next_attempt_at, id"
                              " LIMIT 1", [iso(now)])
        if not due:
            return False
        r = due[0]
        url = self._upo_urls.pop(r["id"], None)
        try:
            if url is not None:
                upo = self.call(db, now, None, lambda c: c.download_presigned(url))
            else:
                upo = self.call(db, now, "sessionMisc", lambda c: c.invoice_upo(r["session_ref"], r["invoice_ref"]))
        except errors.KsefNoSession as exc:
            self._upo_failed(db, now, r, str(exc))
            return True
        except Deferred as deferred:
            if deferred.reason != "budget":
                self._upo_failed(db, now, r, str(deferred.cause))
            raise
        if upo.sha256 and crypto.sha256_b64(upo.xml) != upo.sha256:
            self._upo_failed(db, now, r, "skrót pobranego UPO nie zgadza się z nagłówkiem x-ms-meta-hash")
            return True
        with write(db):
            transition(db, r["id"], now, "done", "UPO pobrane i zapisane – faktura przyjęta i zarchiwizowana w KSeF",
                       upo=upo.xml, upo_sha256=crypto.sha256_b64(upo.xml), tries=0,
                       error_title=None, error_advice=None, error_detail=None)
            outbox.mark_checked(db, r["id"])
        return True

    def _upo_failed(self, db, now: datetime, r: dict, why: str) -> None:
        """The KSeF number stays (lessons.md (c) 8); UPO is fetched again later with a growing delay."""
        delay = min(3600.0, 30.0 * 2 ** min(r["tries"], 7))
        with write(db):
            db.execute("UPDATE ksef_outbox SET tries = ?, next_attempt_at = ?, error_title = ?, error_advice = ?"
                       " WHERE id = ?", [r["tries"] + 1, next_attempt(now, delay), "UPO jeszcze niepobrane",
                                         "Numer KSeF jest zapisany; program sam ponowi pobieranie UPO.", r["id"]])
            if r["tries"] == 0:
                outbox.log_event(db, outbox.row(db, r["id"]), now,
                                 f"Nie udało się pobrać UPO ({why}) – numer KSeF {r['ksef_number']} pozostaje"
                                 " zapisany; ponowimy pobieranie")
            outbox.mark_checked(db, r["id"])

    # -- batch sessions (ksef-api.md §4) ------------------------------------------------------------------

    def _send_batch(self, db, now: datetime) -> bool:
        ready = outbox.rows(db, "state = 'queued' AND next_attempt_at <= ? ORDER BY id", [iso(now)])
        if len(ready) < self.batch_threshold:
            return False
        mode = ready[0]["offline_mode"]
        group = [r for r in ready if r["offline_mode"] == mode][:MAX_BATCH]
        if len(group) < self.batch_threshold or outbox.budget_wait(db, "batchSession", now, self.limits) > 0:
            return False
        files: dict[str, bytes] = {}
        for r in group:
            xml = self._invoice_xml(db, r)
            if xml is None:
                self._changed_since_queued(db, now, r)
                return True
            files[f"{r['id']}.xml"] = xml
        client = self._get_client(db, now)
        prepared = batch.prepare_batch(files, crypto.new_session_key(client.random_bytes))
        ids = [r["id"] for r in group]
        with write(db):
            for r in group:
                transition(db, r["id"], now, "sending", None, session_ref=None, tries=r["tries"] + 1)
        try:
            session = self.call(db, now, "batchSession",
                                lambda c: batch.open_batch_session(c, prepared, offline_mode=bool(mode)))
        except (Deferred, errors.KsefNoSession):
            self._requeue_all(db, now, ids, None)  # not opened, or opened and never closed: nothing processed
            raise
        ref = session.reference_number
        with write(db):
            db.execute("INSERT INTO ksef_sessions (ref, kind, state, offline_mode, opened_at, updated_at)"
                       " VALUES (?, 'batch', 'open', ?, ?, ?)", [ref, mode, iso(now), iso(now)])
            db.execute(f"UPDATE ksef_outbox SET session_ref = ? WHERE id IN ({','.join('?' * len(ids))})", [ref, *ids])
        try:
            self.call(db, now, None, lambda c: batch.upload_parts(c, session, prepared))
        except (Deferred, errors.KsefNoSession):
            self._abandon_batch(db, now, ref)
            raise
        self._close_batch(db, now, ref)
        return True

    def _close_batch(self, db, now: datetime, ref: str) -> None:
        try:
            self.call(db, now, "batchSession", lambda c: batch.close_batch_session(c, ref),
                      passthrough=(errors.KsefNoSession, errors.KsefRequestInvalid))
        except (errors.KsefNoSession, errors.KsefRequestInvalid):
            self._abandon_batch(db, now, ref)  # e.g. 21205: a part never arrived, so nothing is processed
            return
        with write(db):
            db.execute("UPDATE ksef_sessions SET state = 'closed', updated_at = ? WHERE ref = ?", [iso(now), ref])
            for r in outbox.rows(db, "session_ref = ? AND state IN ('sending', 'unknown')", [ref]):
                transition(db, r["id"], now, "sent", f"Wysłano do KSeF w sesji wsadowej {ref}; KSeF przetwarza",
                           unknown_since=None, next_attempt_at=next_attempt(now, self.poll_interval))

    def _abandon_batch(self, db, now: datetime, ref: str) -> None:
        with write(db):
            db.execute("UPDATE ksef_sessions SET state = 'done', updated_at = ? WHERE ref = ?", [iso(now), ref])
        ids = [r["id"] for r in outbox.rows(db, "session_ref = ? AND state IN ('sending', 'unknown')", [ref])]
        self._requeue_all(db, now, ids, None)

    def _requeue_all(self, db, now: datetime, ids: list[int], note: str | None) -> None:
        with write(db):
            for outbox_id in ids:
                transition(db, outbox_id, now, "queued", note, session_ref=None, invoice_ref=None,
                           unknown_since=None, next_attempt_at=iso(now))

    def _recover_batch(self, db, now: datetime, ref: str) -> bool:
        """A batch whose close we never saw: still open (100) → close it now; otherwise it was closed."""
        try:
            status = self.call(db, now, "sessionMisc", lambda c: c.session_status(ref))
        except errors.KsefNoSession:
            self._abandon_batch(db, now, ref)
            return True
        if status.code == 100:
            self._close_batch(db, now, ref)
            return True
        with write(db):
            db.execute("UPDATE ksef_sessions SET state = 'closed', updated_at = ? WHERE ref = ?", [iso(now), ref])
            for r in outbox.rows(db, "session_ref = ? AND state IN ('sending', 'unknown')", [ref]):
                transition(db, r["id"], now, "sent", f"Sesja wsadowa {ref} została zamknięta; KSeF przetwarza",
                           unknown_since=None, next_attempt_at=iso(now))
        return True

    def _poll_batches(self, db, now: datetime) -> bool:
        for (ref,) in db.execute("SELECT ref FROM ksef_sessions WHERE kind = 'batch' AND state = 'closed'").fetchall():
            waiting = outbox.rows(db, "session_ref = ? AND state = 'sent' AND invoice_ref IS NULL", [ref])
            if not waiting:
                with write(db):
                    db.execute("UPDATE ksef_sessions SET state = 'done', updated_at = ? WHERE ref = ?", [iso(now), ref])
                return True
            if min(r["next_attempt_at"] for r in waiting) > iso(now):
                continue
            status = self.call(db, now, "sessionMisc", lambda c: c.session_status(ref))
            if not status.is_final:
                with write(db):
                    db.execute("UPDATE ksef_outbox SET next_attempt_at = ? WHERE session_ref = ? AND state = 'sent'"
                               " AND invoice_ref IS NULL", [next_attempt(now, self.poll_interval), ref])
                return True
            listed = self.call(db, now, "sessionInvoiceList", lambda c: c.session_invoices(ref, page_size=1000))
            by_name = {s.invoice_file_name: s for s in listed}
            for r in waiting:
                found = by_name.get(f"{r['id']}.xml")
                if found is None or found.invoice_hash != r["invoice_hash"]:
                    self._requeue(db, now, r, f"KSeF nie przyjął faktury w sesji wsadowej {ref} (kod sesji"
                                              f" {status.code}) – zostanie wysłana ponownie")
                    continue
                with write(db):
                    db.execute("UPDATE ksef_outbox SET invoice_ref = ? WHERE id = ?", [found.reference_number, r["id"]])
                self._apply_status(db, now, outbox.row(db, r["id"]), found)
            with write(db):
                db.execute("UPDATE ksef_sessions SET state = 'done', updated_at = ? WHERE ref = ?", [iso(now), ref])
            return True
        return False
