"""Finding our own invoices in KSeF by hash before anything is sent again (docs/ksef-protocol.md §11).

An invoice whose session KSeF no longer knows (21173), or one a restored backup shows as not yet in KSeF,
may be there already. The metadata query (Subject1: our NIP as the seller) lists what KSeF stored with
each invoice's hash; the session it came in is then found in the session list, so that its status and
UPO follow the usual path. Only an invoice KSeF does not have is sent again, and not before KSeF had
time to store what it took: the metadata lists an invoice once it is stored permanently.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from ksef_local.clock import WARSAW
from ksef_local.ksef import errors, receiving
from ksef_local.ksef.models import InvoiceStatus
from ksef_local.sending.remote import MISSING_PERMISSIONS, Remote
from ksef_local.sending.statuses import StatusTracker
from ksef_local.store import outbox_work
from ksef_local.store.db import parse, write
from ksef_local.store.outbox import mark_checked, row, transition
from ksef_local.store.outbox_work import next_attempt

STORAGE_LAG = 600.0      # seconds KSeF may take to list an invoice it took in the metadata
QUERY_DAYS = 89          # the metadata query's date range is at most three months
MAX_PAGES = 8            # 8 × 250 invoices of ours per search; the budget is 20 queries an hour
SESSION_HOURS = 12       # an online session lives at most 12 h: the invoice's one was opened before that
CACHE_SECONDS = 60.0     # one search answers for every invoice looked up within a minute (after a restore)
RESEND_BACKOFF_MAX = 900.0


class KsefFinder:
    """Look invoices up in the whole of KSeF by their hash, sparing the metadata budget."""

    def __init__(self, remote: Remote, statuses: StatusTracker, poll_interval: float) -> None:
        self.remote = remote
        self.statuses = statuses
        self.poll_interval = poll_interval
        self._found: dict[str, receiving.InvoiceMetadata] = {}
        self._searched: tuple[datetime, date] | None = None   # when, and from which issue date

    def locate(self, db, now: datetime, r: dict) -> bool:
        """Decide about one invoice of unknown outcome whose session cannot tell: found, wait, or send again."""
        since = parse(r["unknown_since"] or r["updated_at"])
        try:
            found = self._search(db, now, outbox_work.issue_date(db, r)).get(r["invoice_hash"])
            searched = True
        except errors.KsefUnauthorized as exc:
            if exc.reason_code != MISSING_PERMISSIONS:
                raise self.remote.pause_for(db, now, exc) from exc
            # A login allowed to send but not to read invoices (InvoiceRead): KSeF itself still refuses a
            # duplicate (440) and the status path then takes the original's KSeF number.
            found, searched = None, False
        if found is None:
            waited = (now - since).total_seconds()
            if waited < STORAGE_LAG:
                with write(db):
                    outbox_work.update(db, r["id"], next_attempt_at=next_attempt(now, max(self.poll_interval,
                                                                                           STORAGE_LAG - waited)))
                    mark_checked(db, r["id"])
                return True
            delay = min(RESEND_BACKOFF_MAX, 30.0 * 2 ** min(max(r["tries"] - 1, 0), 5))
            note = ("KSeF nie ma tej faktury (sprawdzono po skrócie wśród faktur firmy w KSeF) – zostanie wysłana"
                    " ponownie") if searched else (
                    "Nie można sprawdzić w KSeF, czy faktura już tam jest (logowanie bez uprawnienia do odczytu"
                    " faktur) – zostanie wysłana ponownie; jeśli KSeF już ją ma, odrzuci duplikat, a program"
                    " przyjmie numer KSeF pierwszej wysyłki")
            with write(db):
                outbox_work.requeue(db, now, r["id"], note)
                outbox_work.update(db, r["id"], next_attempt_at=next_attempt(now, delay))
                mark_checked(db, r["id"])
            return True
        status, session_ref = self._in_session(db, now, found, r["invoice_hash"])
        if status is not None:
            with write(db):
                transition(db, r["id"], now, "sent", f"Faktura odnaleziona w KSeF po skrócie (numer KSeF"
                           f" {found.ksef_number}, sesja {session_ref}) – nie wysłano jej ponownie",
                           session_ref=session_ref, invoice_ref=status.reference_number, unknown_since=None)
                mark_checked(db, r["id"])
            self.statuses.apply(db, now, row(db, r["id"]), status)
            return True
        with write(db):
            transition(db, r["id"], now, "done", "Faktura odnaleziona w KSeF po skrócie: numer KSeF"
                       f" {found.ksef_number} – nie wysłano jej ponownie. KSeF nie wskazał sesji, w której ją"
                       " przyjął, więc UPO nie pobrano; można je pobrać w Aplikacji Podatnika KSeF.",
                       ksef_number=found.ksef_number, invoicing_mode=found.invoicing_mode, unknown_since=None,
                       error_title=None, error_advice=None, error_detail=None)
            mark_checked(db, r["id"])
        return True

    def _search(self, db, now: datetime, issued_on: date) -> dict[str, receiving.InvoiceMetadata]:
        """Our invoices KSeF stored since issued_on, by hash (kept a minute: one search serves many rows).

        A 403 passes through as KsefUnauthorized for the caller to tell missing permissions from the rest.
        """
        start_day = max(issued_on, (now - timedelta(days=QUERY_DAYS)).astimezone(WARSAW).date())
        if self._searched is not None and (now - self._searched[0]).total_seconds() < CACHE_SECONDS \
                and self._searched[1] <= start_day:
            return self._found
        start = datetime.combine(start_day, time.min, tzinfo=WARSAW)
        filters = {"subjectType": receiving.SELLER, "dateRange": receiving.date_range("Invoicing", start, now)}
        found: dict[str, receiving.InvoiceMetadata] = {}
        for page_offset in range(MAX_PAGES):
            page = self.remote.call(db, now, "invoiceMetadata",
                                    lambda c, offset=page_offset: receiving.query_metadata(c, filters,
                                                                                         page_offset=offset),
                                    passthrough=(errors.KsefNoSession, errors.KsefUnauthorized))
            found.update((item.invoice_hash, item) for item in page.invoices)
            if not page.has_more:
                break
        self._found, self._searched = found, (now, start_day)
        return found

    def _in_session(self, db, now: datetime, found: receiving.InvoiceMetadata,
                    invoice_hash: str) -> tuple[InvoiceStatus | None, str | None]:
        """The session KSeF took the invoice in, from the sessions opened up to 12 h before it arrived."""
        arrived = found.invoicing_date or found.acquisition_date or now
        for session_type in ("Online", "Batch"):
            try:
                refs = self.remote.call(db, now, "sessionList", lambda c, kind=session_type: c.list_sessions(
                    kind, arrived - timedelta(hours=SESSION_HOURS), arrived + timedelta(minutes=1)),
                    passthrough=(errors.KsefNoSession, errors.KsefUnauthorized))
            except errors.KsefUnauthorized as exc:
                if exc.reason_code != MISSING_PERMISSIONS:
                    raise self.remote.pause_for(db, now, exc) from exc
                return None, None
            for ref in refs:
                try:
                    status = self.remote.call(db, now, "sessionInvoiceList",
                                              lambda c, ref=ref: c.find_invoice_by_hash(ref, invoice_hash))
                except errors.KsefNoSession:
                    continue
                if status is not None:
                    return status, ref
        return None, None
