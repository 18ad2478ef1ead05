"""The online session flow (docs/ksef-protocol.md §3): open a session, send one invoice, reconcile a lost answer,
close.

Exactly once: a row is committed as "sending" with its session before the POST, so after a timeout, a
dropped connection or a crash its outcome is "unknown" and we look the invoice up in the session by
invoiceHash before anything is sent again (docs/ksef-protocol.md §11).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ksef_local.clock import warsaw_day
from ksef_local.core.model import OfflineKind
from ksef_local.ksef import errors, messages
from ksef_local.ksef.models import OnlineSession
from ksef_local.sending.batch import BatchSender
from ksef_local.sending.reconcile import RESEND_BACKOFF_MAX, KsefFinder
from ksef_local.sending.remote import Deferred, Remote, describe
from ksef_local.sending.statuses import StatusTracker
from ksef_local.store import ksef_state, outbox_work
from ksef_local.store.db import iso, parse, write
from ksef_local.store.outbox import mark_checked, offline_deadline, row, transition
from ksef_local.store.outbox_work import next_attempt

RECONCILE_WAIT = 30.0         # how long an open session may lack our invoice before we call it not received


class OnlineSender:
    """Online sessions and the invoices sent in them."""

    def __init__(self, remote: Remote, statuses: StatusTracker, batches: BatchSender, finder: KsefFinder,
                 poll_interval: float) -> None:
        self.remote = remote
        self.statuses = statuses
        self.batches = batches
        self.finder = finder
        self.poll_interval = poll_interval
        self._session: OnlineSession | None = None
        self._epoch = remote.epoch

    @property
    def session(self) -> OnlineSession | None:
        """The session in use; one opened with a client that was since dropped is not used again."""
        if self._epoch != self.remote.epoch:
            self._session, self._epoch = None, self.remote.epoch
        return self._session

    # -- sessions ---------------------------------------------------------------------------------

    def close_stale_sessions(self, db, now: datetime) -> bool:
        """Close online sessions left open by an earlier run (or after a pause)."""
        current = self.session.reference_number if self.session else ""
        stale = ksef_state.stale_online_session(db, current)
        if stale is None:
            return False
        self._close(db, now, stale)
        return True

    def _close(self, db, now: datetime, ref: str) -> None:
        try:
            self.remote.call(db, now, "onlineSessionClose", lambda c: c.close_online_session(ref))
        except (errors.KsefNoSession, errors.KsefSessionUnavailable):
            pass  # already closed or expired (12 h), or unusable: KSeF closes it itself after 12 h
        with write(db):
            ksef_state.set_session_state(db, ref, "closed", now)

    def _ensure_session(self, db, now: datetime) -> OnlineSession:
        session = self.session
        if session is not None and (session.valid_until is None or session.valid_until - now > timedelta(minutes=10)):
            return session
        self._session = None  # an expiring session becomes stale and is closed by close_stale_sessions
        session = self.remote.call(db, now, "onlineSession", lambda c: c.open_online_session())
        with write(db):
            ksef_state.open_session(db, session.reference_number, "online", now,
                                    environment=self.remote.environment_key)
        self._session, self._epoch = session, self.remote.epoch
        return session

    def close_idle(self, db, now: datetime) -> bool:
        """Close the online session when the queue is empty (KSeF then builds its UPO)."""
        if self.session is None or outbox_work.has_queued(db):
            return False
        self._close(db, now, self._session.reference_number)
        self._session = None
        return True

    # -- sending ------------------------------------------------------------------------------------

    def _offline_on_send_day(self, db, now: datetime, r: dict) -> dict:
        """KSeF treats P_1 earlier than the sending day as offline anyway (docs/ksef-protocol.md §9): say so."""
        if r["offline_mode"]:
            return {}
        issued_on = outbox_work.issue_date(db, r)
        if issued_on >= warsaw_day(now):
            return {}
        deadline = offline_deadline(OfflineKind.OFFLINE24, issued_on)
        return {"offline_mode": 1, "offline_kind": OfflineKind.OFFLINE24,
                "offline_deadline": deadline.isoformat() if deadline else None}

    def send(self, db, now: datetime) -> bool:
        """Send the oldest queued invoice in the online session; return whether anything was done."""
        found = outbox_work.queued_ready(db, now, limit=1)
        if not found:
            return False
        r = found[0]
        if ksef_state.budget_wait(db, "invoiceSend", now, self.remote.limits) > 0:
            raise Deferred("budget")
        xml = outbox_work.frozen_xml(db, r)
        if xml is None:
            with write(db):
                outbox_work.reject_changed(db, now, r)
            return True
        session = self._ensure_session(db, now)
        offline = self._offline_on_send_day(db, now, r)
        with write(db):
            # Under the write lock: settings saved by any process before this commit stop the send here, and
            # a change after it is refused while KSeF may hold the invoice (forms/ksef_settings.py).
            self.remote.ensure_current(db)
            note = "Faktura wystawiona przed dniem wysyłki – wysyłana w trybie offline24" if offline else None
            transition(db, r["id"], now, "sending", note, session_ref=session.reference_number,
                       tries=r["tries"] + 1, unknown_since=iso(now),
                       environment=self.remote.environment_key or r["environment"], **offline)
        is_offline = bool(offline or r["offline_mode"])
        try:
            sent = self.remote.call(db, now, "invoiceSend",
                                    lambda c: c.send_invoice(session, xml, offline_mode=is_offline))
        except errors.KsefSessionUnavailable as exc:
            self._not_taken(db, now, r, session.reference_number, exc)
            return True
        except errors.KsefNoSession as exc:
            self._no_session(db, now, r, session.reference_number, exc)
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

    def _not_taken(self, db, now: datetime, r: dict, ref: str, exc: errors.KsefError) -> None:
        """21184: KSeF did not take the invoice; send it in a new session, a little later each time."""
        self._session = None   # left open in ksef_sessions: close_stale_sessions closes it when it can
        delay = min(300.0, 2.0 ** min(r["tries"], 8))
        with write(db):
            transition(db, r["id"], now, "queued", f"KSeF: sesja {ref} chwilowo niedostępna ({exc.code}) – faktury"
                       " nie przyjęto; zostanie wysłana w nowej sesji", code=exc.code, session_ref=None,
                       unknown_since=None, next_attempt_at=next_attempt(now, delay))

    def _no_session(self, db, now: datetime, r: dict, ref: str, exc: errors.KsefError) -> None:
        """21173/21180 to the invoice's POST: KSeF may have taken it all the same. Never resend blindly: the
        invoice waits as "unknown" and is looked for by its hash (reconcile) before anything else."""
        self._session = None
        message = messages.user_message(exc)
        with write(db):
            ksef_state.set_session_state(db, ref, "closed", now)
            transition(db, r["id"], now, "unknown", f"KSeF: {exc.code} {message.title} (sesja {ref}) – sprawdzimy"
                       " po skrócie, czy faktura dotarła do KSeF, zanim wyślemy ją ponownie", code=exc.code,
                       ksef_code=exc.code, error_title=message.title, error_advice=message.advice,
                       error_detail=describe(exc, ref, None, now),
                       next_attempt_at=next_attempt(now, min(RESEND_BACKOFF_MAX, 30.0 * 2 ** min(r["tries"], 5))))

    # -- reconciling -----------------------------------------------------------------------------------

    def reconcile(self, db, now: datetime) -> bool:
        """An invoice whose POST has no known outcome: find it in its session by hash before any resend."""
        r = outbox_work.unknown_due(db, now)
        if r is None:
            return False
        session = ksef_state.session_kind_and_state(db, r["session_ref"])
        if session is None:   # restored from a backup, or sent in a session we no longer know
            return self.finder.locate(db, now, r)
        if session[0] == "batch":
            return self.batches.recover(db, now, r["session_ref"])
        ref = r["session_ref"]
        try:
            listed = self.remote.call(db, now, "sessionInvoiceList",
                                      lambda c: c.find_invoice_by_hash(ref, r["invoice_hash"]))
            gone = False
        except errors.KsefNoSession:
            listed, gone = None, True
        if listed is not None:
            with write(db):
                transition(db, r["id"], now, "sent", "Faktura odnaleziona w sesji KSeF po skrócie (invoiceHash) –"
                           " nie wysłano jej ponownie", invoice_ref=listed.reference_number, unknown_since=None)
                mark_checked(db, r["id"])
            self.statuses.apply(db, now, row(db, r["id"]), listed)
            return True
        if gone:   # KSeF does not know the session (any more): look for the invoice in the whole of KSeF
            return self.finder.locate(db, now, r)
        since = parse(r["unknown_since"] or r["updated_at"])
        if session[1] == "open" and (now - since).total_seconds() < RECONCILE_WAIT:
            with write(db):
                outbox_work.update(db, r["id"], next_attempt_at=next_attempt(now, max(self.poll_interval, 5.0)))
                mark_checked(db, r["id"])
            return True
        self._requeue(db, now, r, f"KSeF nie otrzymał faktury (nie ma jej w sesji {ref}) – zostanie wysłana ponownie")
        return True

    def _requeue(self, db, now: datetime, r: dict, note: str | None) -> None:
        """Back to the queue: at once after one lost answer, later and later when KSeF keeps not taking it."""
        tries = r["tries"]
        with write(db):
            outbox_work.requeue(db, now, r["id"], note)
            if tries >= 2:
                outbox_work.update(db, r["id"], next_attempt_at=next_attempt(
                    now, min(RESEND_BACKOFF_MAX, 30.0 * 2 ** min(tries - 2, 5))))
            mark_checked(db, r["id"])
