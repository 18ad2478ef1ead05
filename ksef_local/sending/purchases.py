"""The purchase sync: the company's purchase invoices read from KSeF, sparing the request budget.

Sources: CIRFMF/ksef-docs pobieranie-faktur/przyrostowe-pobieranie-faktur.md, pobieranie-faktur/hwm.md and
limity/limity-api.md, and the OpenAPI of POST /invoices/query/metadata.

- Incremental by the PermanentStorage date, restricted to KSeF's high-water mark: every window starts where
  the last one ended (the resume point, store/purchase_sync.py), so nothing is skipped; KSeF numbers already
  here are never downloaded again. The company as buyer (Subject2) and as third party (Subject3).
- A window is read page by page (250 records); a truncated answer (10,000 records) narrows the window to
  start at its last record; a window is cut at three months, KSeF's longest range.
- A page with few unknown invoices owes their downloads (one request each, 64/h on PRD); a page with more
  than export_above orders an export of the window instead (sending/purchase_export.py), which costs a few
  requests for up to 10,000 invoices.
- Not more often than every 15 minutes per subject in the background, as MF asks; "Pobierz teraz" (a task)
  starts a cycle at once. The first sync starts with the previous month, or earlier as the user chose.
- Every request goes through Remote (the budget, backoff, circuit and pause shared with sending) and runs
  only after all sending work; in the groups sending may use, a reserve stays for sending.
- Problems of reading (no InvoiceRead, a refused query, a damaged file) are the purchase side's own: shown
  on its screen and the task, never a pause of sending.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any, Callable

from ksef_local.clock import WARSAW, warsaw_day
from ksef_local.core.settings import DEMO_MODE
from ksef_local.formats import plural
from ksef_local.ksef import errors, messages, receiving
from ksef_local.ksef.client import KsefClient
from ksef_local.sending.purchase_export import ExportPath, ReadRefused
from ksef_local.sending.remote import Deferred, Remote, describe
from ksef_local.store import db as dbmod
from ksef_local.store import ksef_state, purchase_sync, purchases, tasks
from ksef_local.store.purchase_sync import SUBJECTS, TASK, SyncKey

log = logging.getLogger("ksef_local.sender")

INTERVAL = timedelta(minutes=15)   # "nie powinien być krótszy niż 15 minut" (limity/limity-api.md)
EXPORT_ABOVE = 16                  # more unknown invoices than a minute of downloads: export the window
WINDOW = timedelta(days=89)        # under three months in every calendar (the shortest three months: 89 days)
DEMO_MONTHS_BACK = 3               # the demo mode's purchase invoices reach back about 2.5 months
# Requests per window that the purchase sync leaves to sending in the groups both may use (sending finds its
# own invoices by hash with the metadata query).
RESERVE = {"invoiceMetadata": 4, "invoiceDownload": 0, "invoiceExport": 2, "invoiceExportStatus": 0}
PASSTHROUGH = (errors.KsefNoSession, errors.KsefRequestInvalid, errors.KsefHashMismatch)


class NotOurs(errors.KsefRequestInvalid):
    """403 insufficient-resource-access: KSeF does not show this invoice to our context."""


class PurchaseSync:
    """One bounded step of the purchase sync per run(); the Sender runs it after all sending work."""

    def __init__(self, remote: Remote, clock: Callable[[], datetime], *, services=None, poll_interval: float = 2.0,
                 export_above: int = EXPORT_ABOVE, interval: timedelta = INTERVAL) -> None:
        self.remote = remote
        self.clock = clock
        self.services = services
        self.export_above = export_above
        self.interval = interval
        self.export = ExportPath(remote, clock, poll_interval, self._call)
        self._epoch = remote.epoch
        self._task_cycles: set[tuple[int, str]] = set()   # (task id, subject) cycles begun for "Pobierz teraz"
        self._task_base: dict[int, int] = {}               # task id → the last purchase stored before it

    # -- one step -------------------------------------------------------------------------------------------

    def run(self, db, now: datetime) -> bool:
        """Do one step: the export in progress, one owed download, or one page of a due cycle."""
        if self._epoch != self.remote.epoch:   # another client: an export it ordered is not ours any more
            self.export.forget()
            self._epoch = self.remote.epoch
        found = tasks.next_queued(db, (TASK,))
        task = found[0] if found else None
        if task is not None and task.id not in self._task_base:
            self._task_base[task.id] = purchases.last_id(db)
        client = self.remote.try_client(db)
        if client is None:
            return self._no_client(db, now, task)
        key_of = self._context(db, client)
        try:
            if self.export.active and self.export.step(db, now):
                return self._progress(db, task, "Zapisywanie paczki faktur zakupowych z KSeF")
            if self._download(db, now, key_of):
                return self._progress(db, task, "Pobieranie faktur zakupowych z KSeF")
            for subject in SUBJECTS:
                if not self.export.active and self._page(db, now, key_of(subject), task):
                    return self._progress(db, task, "Sprawdzanie listy faktur zakupowych w KSeF")
        except Deferred as deferred:
            if deferred.reason == "budget":
                self._waiting(db, task, now)
                return False
            if deferred.reason in ("unavailable", "limited"):
                self._progress(db, task, "KSeF chwilowo nie odpowiada; pobieranie faktur zakupowych będzie "
                                         "kontynuowane automatycznie")
            return True
        except ReadRefused as exc:
            self._refused(db, now, task, exc, messages.NO_INVOICE_READ.title,
                          messages.NO_INVOICE_READ.advice.format(nip=client.context_nip or ""))
            return True
        except errors.KsefRequestInvalid as exc:
            message = messages.user_message(exc)
            self._refused(db, now, task, exc, "KSeF odrzucił zapytanie o faktury zakupowe",
                          f"{message.advice} Program spróbuje ponownie za "
                          f"{messages.format_wait(self.interval.total_seconds())}.")
            return True
        if self.export.active:
            return False   # waiting for KSeF to prepare the package
        if task is not None:
            self._finish(db, task)
            return True
        return False

    # -- context, budget, calls ---------------------------------------------------------------------------------

    def _context(self, db, client: KsefClient) -> Callable[[str], SyncKey]:
        environment = client.environment_key or f"custom:{client.environment.api_base.removesuffix('/v2')}"
        nip = client.context_nip or ""
        return lambda subject: SyncKey(environment, nip, subject)

    def _call(self, db, now: datetime, group: str | None, action: Callable[[KsefClient], Any]) -> Any:
        """Remote.call within the budget less sending's reserve; a missing InvoiceRead is our own error."""
        if group is not None and self._budget_wait(db, group, now) > 0:
            raise Deferred("budget")

        def guarded(client: KsefClient) -> Any:
            try:
                return action(client)
            except errors.KsefUnauthorized as exc:
                if exc.http_status == 403 and exc.reason_code == "missing-permissions":
                    raise ReadRefused(exc.detail, http_status=403, code=exc.code, details=exc.details) from None
                if exc.http_status == 403 and exc.reason_code == "insufficient-resource-access":
                    raise NotOurs(exc.detail, http_status=403, code=exc.code, details=exc.details) from None
                raise

        return self.remote.call(db, now, group, guarded, passthrough=PASSTHROUGH)

    def _budget_wait(self, db, group: str, now: datetime) -> float:
        reserve = RESERVE.get(group, 0)
        full = self.remote.limits[group]
        ours = tuple(None if n is None else max(1, n - (reserve if i else 0)) for i, n in enumerate(full))
        return ksef_state.budget_wait(db, group, now, {group: ours})

    # -- downloads owed -----------------------------------------------------------------------------------------

    def _download(self, db, now: datetime, key_of: Callable[[str], SyncKey]) -> bool:
        key = key_of(SUBJECTS[0])
        owed = purchase_sync.next_download(db, key.environment, key.nip, now)
        if owed is None:
            return False
        number = owed.ksef_number
        retry = timedelta(hours=min(24, 2 ** owed.tries))
        try:
            xml = self._call(db, now, "invoiceDownload", lambda c: receiving.download_invoice(c, number))
        except Deferred as deferred:
            if deferred.reason == "budget":
                return False   # the next page may still be read meanwhile
            raise
        except errors.KsefHashMismatch as exc:
            self._owed_again(db, now, number, retry, messages.PURCHASE_DAMAGED, describe(exc, at=now))
            return True
        except ReadRefused:
            raise
        except NotOurs as exc:
            self._owed_again(db, now, number, timedelta(hours=24), messages.PURCHASE_FORBIDDEN, describe(exc, at=now))
            return True
        except errors.KsefRequestInvalid as exc:
            if exc.code == receiving.NOT_YET_AVAILABLE:
                purchase_sync.download_failed(db, number, now, timedelta(minutes=5), None)
            else:
                self._owed_again(db, now, number, retry, messages.user_message(exc), describe(exc, at=now))
            return True
        try:
            row = purchases.purchase_row(xml, owed.metadata, environment=owed.key.environment,
                                         context_nip=owed.key.nip, subject=owed.key.subject, now=now)
        except purchases.PurchaseRejected as exc:
            self._owed_again(db, now, number, retry, messages.PURCHASE_DAMAGED, f"{number}: {exc}")
            return True
        with dbmod.write(db):
            purchases.insert(db, row)
        return True

    def _owed_again(self, db, now: datetime, number: str, retry: timedelta, message: messages.UserMessage,
                    detail: str) -> None:
        log.warning("purchase invoice %s not stored: %s", number, message.title)
        purchase_sync.download_failed(db, number, now, retry, message.title, message.advice, detail)

    # -- one page of a cycle ------------------------------------------------------------------------------------

    def _start(self, db, now: datetime) -> datetime:
        """Where the first sync starts: the previous month (the demo mode: three months back, so its purchase
        invoices show), or the earlier day the user chose; midnight in Warsaw."""
        today = warsaw_day(now)
        demo = self.services is not None and self.services.settings().environment == DEMO_MODE
        back = DEMO_MONTHS_BACK if demo else 1
        month = today.month - back
        first = date(today.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
        chosen = purchase_sync.sync_start(db)
        if chosen is not None and chosen < first:
            first = chosen
        return datetime.combine(first, time(0, 0), tzinfo=WARSAW)

    def _due(self, position: purchase_sync.Position, task: tasks.Task | None, now: datetime) -> bool:
        if position.in_cycle or position.cycle_started_at is None:
            return True
        if task is not None and (task.id, position.key.subject) not in self._task_cycles:
            return True   # "Pobierz teraz": one fresh cycle per subject for this task
        return now - position.cycle_started_at >= self.interval

    def _page(self, db, now: datetime, key: SyncKey, task: tasks.Task | None) -> bool:
        position = purchase_sync.position(db, key, self._start(db, now), now)
        if not self._due(position, task, now):
            return False
        cursor = position.cursor
        cut_end = cursor + WINDOW if now - cursor > WINDOW else None
        window_to = position.window_to or cut_end
        filters = {"subjectType": key.subject,
                   "dateRange": receiving.date_range(receiving.PERMANENT_STORAGE, cursor, window_to,
                                                     restrict_to_hwm=True)}
        try:
            page = self._call(db, now, "invoiceMetadata",
                              lambda c: receiving.query_metadata(c, filters, page_offset=position.page_offset))
        except errors.KsefRequestInvalid as exc:
            if exc.code != receiving.BEYOND_HWM or isinstance(exc, ReadRefused):
                raise
            page = None   # nothing stored after the resume point yet: this subject is up to date
        if not position.in_cycle:
            purchase_sync.begin_cycle(db, key, now)
        if task is not None:
            self._task_cycles.add((task.id, key.subject))
        if page is None:
            with dbmod.write(db):
                purchase_sync.move(db, key, now, cursor=cursor, done=cut_end is None)
            return True
        known = purchases.known_numbers(db, [m.ksef_number for m in page.invoices])
        unknown = [m for m in page.invoices if m.ksef_number not in known]
        if len(unknown) > self.export_above and self.export.may_order(now):
            first = min((m.permanent_storage_date for m in unknown if m.permanent_storage_date), default=cursor)
            self.export.order(db, now, key, max(first, cursor), cut_end)
            return True
        raw = [m.raw for m in unknown]
        if page.is_truncated and page.invoices:   # narrow the window: start again at the last record
            last = page.invoices[-1].permanent_storage_date or cursor
            same = last <= cursor
            purchase_sync.record_page(db, key, raw, now, cursor=max(last, cursor),
                                      page_offset=position.page_offset + 1 if same else 0, window_to=window_to)
        elif page.has_more:
            purchase_sync.record_page(db, key, raw, now, cursor=cursor, page_offset=position.page_offset + 1,
                                      window_to=window_to or page.permanent_storage_hwm)
        else:
            end = page.permanent_storage_hwm or window_to or cursor
            reached_mark = cut_end is None
            purchase_sync.record_page(db, key, raw, now, cursor=max(end, cursor), done=reached_mark)
            if reached_mark and key.subject == SUBJECTS[-1]:   # the last subject of the round is up to date
                purchase_sync.note_done(db, now)
                purchase_sync.clear_problem(db)
        return True

    # -- the task and the screens -------------------------------------------------------------------------------

    def _progress(self, db, task: tasks.Task | None, text: str) -> bool:
        if task is not None and task.progress != text:
            tasks.progress(db, task.id, self.clock(), text)
        return True

    def _waiting(self, db, task: tasks.Task | None, now: datetime) -> None:
        if task is None:
            return
        wait = max(self._budget_wait(db, group, now) for group in RESERVE)
        self._progress(db, task, "KSeF ogranicza liczbę zapytań o faktury; dalsze pobieranie za "
                                 f"{messages.format_wait(wait)}")

    def _finish(self, db, task: tasks.Task) -> None:
        """Every subject reached the high-water mark and nothing is owed that can be fetched now."""
        new = purchases.count_after(db, self._task_base.pop(task.id, 0))
        status = purchase_sync.status(db)
        title = f"Pobrano {plural(new, 'fakturę zakupową')}" if new else "Brak nowych faktur zakupowych"
        advice = ("Faktury zakupowe są aktualne (stan KSeF na teraz)." if not status.failed else
                  f"Nie udało się pobrać: {plural(len(status.failed), 'faktura')}. Program spróbuje ponownie.")
        tasks.finish(db, task.id, self.clock(), True, title, advice)
        purchase_sync.note_done(db, self.clock())
        purchase_sync.clear_problem(db)

    def _refused(self, db, now: datetime, task: tasks.Task | None, exc: errors.KsefError, title: str,
                 advice: str) -> None:
        """KSeF refused to let us read: the problem is shown, the cycles wait for the next interval."""
        log.warning("purchase sync refused: %s", title)
        detail = describe(exc, at=now)
        purchase_sync.set_problem(db, now, title, advice, detail)
        client = self.remote.try_client(db)
        if client is not None:
            key_of = self._context(db, client)
            for subject in SUBJECTS:
                purchase_sync.position(db, key_of(subject), self._start(db, now), now)
                purchase_sync.rest(db, key_of(subject), now)
        if task is not None:
            tasks.finish(db, task.id, self.clock(), False, title, advice, detail)

    def _no_client(self, db, now: datetime, task: tasks.Task | None) -> bool:
        """No credentials or no NIP yet: nothing to do in the background; "Pobierz teraz" is told why."""
        if task is None:
            return False
        why = self.remote.client_problem or "Uzupełnij NIP firmy i dodaj certyfikat albo token w Ustawieniach KSeF."
        tasks.finish(db, task.id, self.clock(), False, "Brak danych logowania do KSeF", why)
        return True
