"""The month packages' worker: takes the requests of the "Dla księgowej" screen (store/month_exports.py) one at a
time and writes each package into the data folder's eksport/ folder, where the screen offers it for download.

A thread of its own, started by the launcher (desktop/launcher.py) for the app: a package of many invoices takes
minutes of PDF rendering, which must hold up neither the screens nor the KSeF sender. The database is the queue:
the screen writes a request and wakes the worker; the worker notes its progress per invoice and stops when a
newer request supersedes its own. The folder keeps only the newest package: a package holds copies of invoices
that are in the database anyway.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Callable

from ksef_local import disk, formats
from ksef_local.accounting.package import Cancelled, build, package_name
from ksef_local.clock import utc_now
from ksef_local.errors import UserError
from ksef_local.services import Services
from ksef_local.store import month_exports, parties

log = logging.getLogger("ksef_local.accounting")

FOLDER = "eksport"
INTERRUPTED = ("Przerwano: program został zamknięty w trakcie przygotowywania paczki",
               "Przygotuj paczkę ponownie.")


def folder_of(services: Services) -> Path:
    return services.home / FOLDER


def package_path(services: Services, export: month_exports.MonthExport) -> Path | None:
    """The finished package of a request, when it is done and its file is still there."""
    if not export.succeeded or not export.file_name or Path(export.file_name).name != export.file_name:
        return None
    path = folder_of(services) / export.file_name
    return path if path.is_file() else None


def outcome(month: str, sales: int, bought: int, notes: tuple[str, ...]) -> tuple[str, str]:
    """The title and advice of a finished package, in Polish."""
    title = f"Paczka za {formats.pl_month(month)} jest gotowa"
    advice = (f"Faktury sprzedaży: {sales}, faktury zakupowe: {bought}."
              + (f" Uwagi ({len(notes)}) są w pliku CZYTAJ_MNIE.txt w paczce." if notes else ""))
    return title, advice


class Exporter:
    """One month package at a time; run_once() does one whole request, start() runs it in a thread."""

    def __init__(self, services: Services, *, clock: Callable[[], datetime] = utc_now, idle_wait: float = 60.0,
                 demo_url: str | None = None) -> None:
        self.services = services
        self.clock = clock
        self.idle_wait = idle_wait
        self.demo_url = demo_url
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run in a daemon thread (the launcher calls this); requests a previous run left behind end as failed."""
        month_exports.abandon_unfinished(self.services.db(), self.clock(), *INTERRUPTED)
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="ksef-local-export", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the invoice in hand; an unfinished package is removed and its request says why."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                did = self.run_once()
            except Exception:  # a bug must not end the worker; it is logged and the next request runs
                log.exception("month package failed")
                did = False
            if not did:
                self._wake.wait(self.idle_wait)
                self._wake.clear()

    def run_once(self) -> bool:
        """Make the package of the oldest waiting request; return whether there was one."""
        db = self.services.db()
        export = month_exports.claim(db, self.clock())
        if export is None:
            return False
        folder = folder_of(self.services)
        company = parties.get_company(db) or {}
        destination = folder / package_name(export.month, company.get("nip"))

        def report(done: int, total: int) -> bool:
            return not self._stopping.is_set() and month_exports.progress(db, export.id, done, total, self.clock())

        try:
            disk.make_dir(folder)   # private like the rest of the data folder
            _clear(folder)
            made = build(self.services, export.month, destination, environment=export.environment, progress=report,
                         demo_url=self.demo_url)
        except Cancelled:
            if self._stopping.is_set():
                month_exports.finish(db, export.id, self.clock(), ok=False, title=INTERRUPTED[0],
                                     advice=INTERRUPTED[1])
            return True
        except UserError as exc:
            month_exports.finish(db, export.id, self.clock(), ok=False, title=exc.message)
            return True
        except Exception as exc:   # any other failure is shown with its detail, never a package
            log.exception("month package %s failed", export.month)
            month_exports.finish(db, export.id, self.clock(), ok=False, title="Nie udało się przygotować paczki",
                                 advice="Spróbuj ponownie. Gdy błąd się powtarza, skopiuj szczegóły i zgłoś go.",
                                 detail=f"{type(exc).__name__}: {exc}")
            return True
        title, advice = outcome(export.month, made.sales, made.purchases, made.notes)
        if not month_exports.finish(db, export.id, self.clock(), ok=True, title=title, advice=advice,
                                    detail="\n".join(made.notes), file_name=destination.name, size=made.size,
                                    sales=made.sales, purchases=made.purchases):
            destination.unlink(missing_ok=True)   # superseded while it was being finished
        return True


def _clear(folder: Path) -> None:
    """Remove earlier packages and leftovers (a file being downloaded may refuse on Windows: it goes next time)."""
    for old in folder.iterdir():
        if old.is_file():
            try:
                old.unlink()
            except OSError:
                pass
