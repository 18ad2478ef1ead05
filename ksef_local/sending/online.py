"""The online session flow (ksef-api.md §3): open a session, send one invoice, reconcile a lost answer, close.

Exactly once (lessons.md, pitfalls): a row is committed as "sending" with its session before the POST,
so after a timeout, a dropped connection or a crash its outcome is "unknown" and we look the invoice up
in the session by invoiceHash before anything is sent again (ksef-api.md §11).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from ksef_local.store import outbox
from ksef_local.store.db import write
from ksef_local.ksef import errors
from ksef_local.ksef.models import OnlineSession
from ksef_local.store.outbox import iso, next_attempt, parse, transition
from ksef_local.sending.health import Deferred, Remote

RECONCILE_WAIT = 30.0         # how long an open session may lack our invoice before we call it not received


class OnlineSending(Remote):
    """Online sessions and the invoices sent in them."""

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

    # -- reconciling -----------------------------------------------------------------------------------

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

