"""Batch sessions (docs/ksef-protocol.md §4): when enough invoices wait, one encrypted ZIP in parts instead of
one POST each; then the session is closed and each invoice's status read back by file name and hash."""
from __future__ import annotations

from datetime import datetime

from ksef_local.ksef import batch, crypto, errors
from ksef_local.sending.remote import Deferred, Remote
from ksef_local.sending.statuses import StatusTracker
from ksef_local.store import ksef_state, outbox_work
from ksef_local.store.db import iso, write
from ksef_local.store.outbox import mark_checked, row, transition
from ksef_local.store.outbox_work import next_attempt

MAX_BATCH = 1000


class BatchSender:
    """Open, upload, close and follow batch sessions."""

    def __init__(self, remote: Remote, statuses: StatusTracker, threshold: int, poll_interval: float) -> None:
        self.remote = remote
        self.statuses = statuses
        self.threshold = threshold
        self.poll_interval = poll_interval

    def send(self, db, now: datetime) -> bool:
        """Send the queue as one batch when at least `threshold` invoices of one offline mode are ready."""
        ready = outbox_work.queued_ready(db, now)
        if len(ready) < self.threshold:
            return False
        mode = ready[0]["offline_mode"]
        group = [r for r in ready if r["offline_mode"] == mode][:MAX_BATCH]
        if len(group) < self.threshold or ksef_state.budget_wait(db, "batchSession", now, self.remote.limits) > 0:
            return False
        files: dict[str, bytes] = {}
        for r in group:
            xml = outbox_work.frozen_xml(db, r)
            if xml is None:
                with write(db):
                    outbox_work.reject_changed(db, now, r)
                return True
            files[f"{r['id']}.xml"] = xml
        client = self.remote.client(db, now)
        prepared = batch.prepare_batch(files, crypto.new_session_key(client.random_bytes))
        ids = [r["id"] for r in group]
        with write(db):
            self.remote.ensure_current(db)   # as OnlineSender.send: never to a KSeF the settings no longer name
            for r in group:
                transition(db, r["id"], now, "sending", None, session_ref=None, tries=r["tries"] + 1,
                           environment=self.remote.environment_key or r["environment"])
        try:
            session = self.remote.call(db, now, "batchSession",
                                       lambda c: batch.open_batch_session(c, prepared, offline_mode=bool(mode)))
        except (Deferred, errors.KsefNoSession):
            self._requeue_all(db, now, ids)  # not opened, or opened and never closed: nothing processed
            raise
        ref = session.reference_number
        with write(db):
            ksef_state.open_session(db, ref, "batch", now, offline_mode=mode, environment=self.remote.environment_key)
            outbox_work.assign_session(db, ids, ref)
        try:
            self.remote.call(db, now, None, lambda c: batch.upload_parts(c, session, prepared))
        except (Deferred, errors.KsefNoSession):
            self._abandon(db, now, ref)
            raise
        self._close(db, now, ref)
        return True

    def _close(self, db, now: datetime, ref: str) -> None:
        try:
            self.remote.call(db, now, "batchSessionClose", lambda c: batch.close_batch_session(c, ref),
                             passthrough=(errors.KsefNoSession, errors.KsefRequestInvalid))
        except (errors.KsefNoSession, errors.KsefRequestInvalid):
            self._abandon(db, now, ref)  # e.g. 21205: a part never arrived, so nothing is processed
            return
        with write(db):
            ksef_state.set_session_state(db, ref, "closed", now)
            for r in outbox_work.in_session(db, ref, ("sending", "unknown")):
                transition(db, r["id"], now, "sent", f"Wysłano do KSeF w sesji wsadowej {ref}; KSeF przetwarza",
                           unknown_since=None, next_attempt_at=next_attempt(now, self.poll_interval))

    def _abandon(self, db, now: datetime, ref: str) -> None:
        with write(db):
            ksef_state.set_session_state(db, ref, "done", now)
        ids = [r["id"] for r in outbox_work.in_session(db, ref, ("sending", "unknown"))]
        self._requeue_all(db, now, ids)

    def _requeue_all(self, db, now: datetime, ids: list[int]) -> None:
        with write(db):
            for outbox_id in ids:
                transition(db, outbox_id, now, "queued", None, session_ref=None, invoice_ref=None,
                           unknown_since=None, next_attempt_at=iso(now))

    def recover(self, db, now: datetime, ref: str) -> bool:
        """A batch whose close we never saw: still open (100) → close it now; otherwise it was closed."""
        try:
            status = self.remote.call(db, now, "sessionMisc", lambda c, ref=ref: c.session_status(ref))
        except errors.KsefNoSession:
            self._abandon(db, now, ref)
            return True
        if status.code == 100:
            self._close(db, now, ref)
            return True
        with write(db):
            ksef_state.set_session_state(db, ref, "closed", now)
            for r in outbox_work.in_session(db, ref, ("sending", "unknown")):
                transition(db, r["id"], now, "sent", f"Sesja wsadowa {ref} została zamknięta; KSeF przetwarza",
                           unknown_since=None, next_attempt_at=iso(now))
        return True

    def poll(self, db, now: datetime) -> bool:
        """Read back the invoices of a closed batch session once KSeF has finished it."""
        for ref in ksef_state.closed_batches(db):
            waiting = outbox_work.batch_waiting(db, ref)
            if not waiting:
                with write(db):
                    ksef_state.set_session_state(db, ref, "done", now)
                return True
            if min(r["next_attempt_at"] for r in waiting) > iso(now):
                continue
            status = self.remote.call(db, now, "sessionMisc", lambda c, ref=ref: c.session_status(ref))
            if not status.is_final:
                with write(db):
                    outbox_work.postpone_batch(db, ref, next_attempt(now, self.poll_interval))
                return True
            listed = self.remote.call(db, now, "sessionInvoiceList", lambda c, ref=ref: c.session_invoices(ref,
                                                                                                           page_size=1000))
            self._match(db, now, ref, status.code, waiting, {s.invoice_file_name: s for s in listed})
            with write(db):
                ksef_state.set_session_state(db, ref, "done", now)
            return True
        return False

    def _match(self, db, now: datetime, ref: str, code: int, waiting: list[dict], by_name: dict) -> None:
        for r in waiting:
            found = by_name.get(f"{r['id']}.xml")
            if found is None or found.invoice_hash != r["invoice_hash"]:
                with write(db):
                    outbox_work.requeue(db, now, r["id"], f"KSeF nie przyjął faktury w sesji wsadowej {ref} (kod sesji"
                                                          f" {code}) – zostanie wysłana ponownie")
                    mark_checked(db, r["id"])
                continue
            with write(db):
                outbox_work.update(db, r["id"], invoice_ref=found.reference_number)
            self.statuses.apply(db, now, row(db, r["id"]), found)
