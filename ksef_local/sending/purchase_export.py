"""The export path of the purchase sync: one encrypted package for a window holding many unknown invoices.

A package costs one POST /invoices/exports (20/h on PRD) and a few status requests (600/h) instead of one
download per invoice (64/h): CIRFMF/ksef-docs limity/limity-api.md recommends it for high volumes and
pobieranie-faktur/przyrostowe-pobieranie-faktur.md describes the continuation: a truncated package continues
from its lastPermanentStorageDate, a complete one from its permanentStorageHwmDate.

The job lives in memory: the AES key of a package is never written anywhere. After a restart the window is
exported again from the resume point, which moves only in the transaction that stores the package's last
invoices; what an interrupted run stored is known by KSeF number and not stored twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from ksef_local.ksef import crypto, errors, exports, messages, receiving
from ksef_local.ksef.models import parse_datetime
from ksef_local.sending.remote import Remote, describe
from ksef_local.store import db as dbmod
from ksef_local.store import purchase_sync, purchases
from ksef_local.store.purchase_sync import SyncKey

log = logging.getLogger("ksef_local.sender")

CHUNK = 500                        # invoices stored per step: a step stays short, sending is never held up long
GIVE_UP = timedelta(hours=2)       # an export still not ready by then is abandoned and ordered again
RETRY_AFTER = timedelta(minutes=15)


class ReadRefused(errors.KsefRequestInvalid):
    """403 missing-permissions on a reading endpoint: the context lacks InvoiceRead (not a pause of sending)."""


@dataclass
class ExportJob:
    key: SyncKey
    start: datetime                 # the window's start (inclusive)
    cut_end: datetime | None        # the window's end when cut at three months; None: up to the high-water mark
    ordered_at: datetime
    session_key: crypto.SessionKey = field(repr=False)
    reference: str | None = None
    next_poll: datetime | None = None
    polls: int = 0
    package: exports.ExportPackage | None = None
    items: list[tuple[dict[str, Any], bytes | None]] | None = None   # (metadata, XML) still to store
    stored: int = 0


class ExportPath:
    """Order, follow, fetch and store one export at a time."""

    def __init__(self, remote: Remote, clock: Callable[[], datetime], poll_interval: float,
                 call: Callable[..., Any]) -> None:
        self.remote = remote
        self.clock = clock
        self.poll_interval = poll_interval
        self.call = call   # PurchaseSync._call: the budget with sending's reserve, and the purchase errors
        self.job: ExportJob | None = None
        self.cooling_until: datetime | None = None   # after a failed export: none again before this

    @property
    def active(self) -> bool:
        return self.job is not None

    def may_order(self, now: datetime) -> bool:
        return self.job is None and (self.cooling_until is None or now >= self.cooling_until)

    def order(self, db, now: datetime, key: SyncKey, start: datetime, cut_end: datetime | None) -> None:
        """POST /invoices/exports for the window [start, cut_end or the mark] (Deferred when it cannot now)."""
        job = ExportJob(key, start, cut_end, now, crypto.new_session_key())
        filters = {"subjectType": key.subject,
                   "dateRange": receiving.date_range(receiving.PERMANENT_STORAGE, start, cut_end,
                                                     restrict_to_hwm=True)}
        job.reference = self.call(db, now, "invoiceExport",
                                  lambda c: exports.start_export(c, filters, job.session_key))
        job.next_poll = now + timedelta(seconds=self.poll_interval)
        self.job = job
        log.info("purchase export ordered for %s from %s", key.subject, start.isoformat())

    def step(self, db, now: datetime) -> bool:
        """One bounded step of the job; False when it waits (its next status request is not due yet)."""
        job = self.job
        if job is None:
            return False
        if job.items is not None:
            return self._store(db, now, job)
        if job.next_poll is not None and now < job.next_poll:
            return False
        if now - job.ordered_at > GIVE_UP:
            return self._abandon(db, now, "KSeF nie przygotował paczki faktur w ciągu 2 godzin.")
        try:
            status = self.call(db, now, "invoiceExportStatus", lambda c: exports.export_status(c, job.reference))
        except ReadRefused:
            self.job = None
            raise
        except errors.KsefRequestInvalid as exc:   # 21175: KSeF does not know the reference (any more)
            return self._abandon(db, now, exc.detail or str(exc))
        job.polls += 1
        if status.is_pending:
            job.next_poll = now + timedelta(seconds=min(30.0, self.poll_interval * job.polls))
            return True
        if status.code == exports.BEYOND_HWM:   # nothing stored after the window's start yet: caught up
            with dbmod.write(db):
                purchase_sync.move(db, job.key, now, cursor=job.start, done=job.cut_end is None)
            self.job = None
            return True
        if status.code != exports.READY or status.package is None:
            return self._abandon(db, now, f"KSeF zakończył eksport kodem {status.code}: {status.description}")
        job.package = status.package
        try:
            parts = [(part, self.call(db, now, None, lambda c, p=part: _part(c, p))) for part in status.package.parts]
            opened = exports.open_package(job.session_key, parts)
        except (errors.KsefHashMismatch, _PartRefused) as exc:
            return self._abandon(db, now, exc.detail)
        job.items = [(metadata, opened.files.get(metadata.get("ksefNumber", ""))) for metadata in opened.invoices]
        return True

    def _store(self, db, now: datetime, job: ExportJob) -> bool:
        """Store up to CHUNK invoices of the package; with the last ones, move the resume point past it."""
        chunk, rest = job.items[:CHUNK], job.items[CHUNK:]
        known = purchases.known_numbers(db, [m["ksefNumber"] for m, _ in chunk])
        rows, damaged = [], []
        for metadata, xml in chunk:
            if metadata["ksefNumber"] in known:
                continue
            try:
                if xml is None:
                    raise purchases.PurchaseRejected("brak pliku faktury w paczce eksportu")
                rows.append(purchases.purchase_row(xml, metadata, environment=job.key.environment,
                                                   context_nip=job.key.nip, subject=job.key.subject, now=now))
            except purchases.PurchaseRejected as exc:
                damaged.append((metadata, str(exc)))
        with dbmod.write(db):
            job.stored += sum(purchases.insert(db, row) for row in rows)
            for metadata, why in damaged:   # owed: the single download tries again later
                purchase_sync.owe(db, job.key, metadata, now, (messages.PURCHASE_DAMAGED.title,
                                                               messages.PURCHASE_DAMAGED.advice, why),
                                  retry_at=now + timedelta(hours=1))
            if not rest:
                cursor, done = self._continuation(job)
                purchase_sync.move(db, job.key, now, cursor=cursor, done=done)
        job.items = rest
        if not rest:
            log.info("purchase export stored: %d new of %d", job.stored, job.package.invoice_count)
            self.job = None
        return True

    @staticmethod
    def _continuation(job: ExportJob) -> tuple[datetime, bool]:
        """Where the next window starts, and whether this one reached the high-water mark."""
        package = job.package
        if package.is_truncated:
            last = package.last_permanent_storage or max(
                (parse_datetime(m.get("permanentStorageDate")) for m, _ in job.items or ()), default=None)
            return max(last or job.start, job.start), False
        if package.permanent_storage_hwm is not None:
            return max(package.permanent_storage_hwm, job.start), job.cut_end is None
        return (job.cut_end, False) if job.cut_end is not None else (job.start, True)

    def _abandon(self, db, now: datetime, why: str) -> bool:
        """Drop the job; the window is exported again after a pause (its resume point has not moved)."""
        log.warning("purchase export abandoned: %s", why)
        purchase_sync.set_problem(db, now, "Nie udało się pobrać paczki faktur zakupowych",
                                  f"Program spróbuje ponownie za {messages.format_wait(RETRY_AFTER.total_seconds())}.",
                                  describe(errors.KsefUnavailable(why), at=now))
        self.job = None
        self.cooling_until = now + RETRY_AFTER
        return True

    def forget(self) -> None:
        """Drop the job (the client changed: a package ordered by another context or KSeF is not ours)."""
        self.job = None


class _PartRefused(errors.KsefRequestInvalid):
    """A part link refused (expired, or not ours): the export is ordered again; never a pause of sending."""


def _part(client, part: exports.ExportPart) -> bytes:
    try:
        return exports.download_part(client, part)
    except (errors.KsefUnauthorized, errors.KsefUnauthenticated, errors.KsefRequestInvalid) as exc:
        raise _PartRefused(exc.detail, http_status=exc.http_status) from None
