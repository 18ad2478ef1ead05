"""Batch sessions (ksef-api.md §4): when enough invoices wait, one encrypted ZIP in parts instead of one POST each."""
from __future__ import annotations

from datetime import datetime

from ksef_local.store import outbox
from ksef_local.store.db import write
from ksef_local.ksef import batch, crypto, errors
from ksef_local.store.outbox import iso, next_attempt, transition
from ksef_local.sending.health import Deferred, Remote

MAX_BATCH = 1000


class BatchSending(Remote):
    """Open, upload, close and follow batch sessions."""

    batch_threshold: int
    poll_interval: float

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
