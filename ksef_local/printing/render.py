"""Where a PDF is rendered: small documents in this process, big ones in a worker process of their own.

xhtml2pdf renders one document at a time per process: pisaDocument holds a process-wide lock for the whole
conversion, because ReportLab keeps its fonts and caches in module globals (xhtml2pdf/document.py). A 2000-line
invoice holds it for the better part of a minute, and a one-page PDF asked for meanwhile would wait as long.
A spawned process has a lock of its own, so a big document goes there and this process's lock stays free for
the small ones. What one request may ask for is bounded (MAX_LINES): the render time grows faster than the
number of lines, and the answer has to come while the user still waits for it.

The worker is started with the "spawn" method on every system: it starts no copy of the parent's threads (the
sender, the server), and it is what Windows and macOS do anyway. The frozen program (PyInstaller) needs
multiprocessing.freeze_support() in its entry point for that (ksef_local/cli/__init__.py).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator, Sequence

from ksef_local import formats
from ksef_local.errors import UserError
from ksef_local.printing import pdf

log = logging.getLogger(__name__)

# Measured with benchmarks/pdf.py: a one-page invoice costs about as much as 15 lines of a long one; 200 lines
# take about two seconds here. A worker costs about a second to start (Python, xhtml2pdf, the fonts), so it
# pays only for longer documents: up to IN_PROCESS_WEIGHT a small PDF waits at most about two seconds for the
# lock, beyond it the start is under a third of the render.
PAGE_WEIGHT = 15
IN_PROCESS_WEIGHT = 200
MAX_LINES = 2000  # about half a minute to a minute and a half of rendering (benchmarks/pdf_concurrency.py)
WORKER_TIMEOUT = 600.0


@dataclass(frozen=True)
class Limits:
    """How big a document may be rendered here, how big it may be at all, and how many workers run at once."""

    in_process_weight: int = IN_PROCESS_WEIGHT
    max_lines: int = MAX_LINES
    workers: int = max(1, (os.cpu_count() or 2) - 1)  # one core stays for the app and the small PDFs
    timeout: float = WORKER_TIMEOUT


LIMITS = Limits()


class _WorkerSlots:
    """How many workers run in this process: one count per process, as the lock it works around is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0

    @contextmanager
    def take(self, limit: int) -> Iterator[None]:
        with self._lock:
            if self.running >= limit:
                raise UserError("Program drukuje już inny duży wydruk. Poczekaj, aż się skończy, i spróbuj "
                                "ponownie albo podziel wydruk na mniejsze części.", 503)
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1


_SLOTS = _WorkerSlots()


def weight(line_counts: Sequence[int]) -> int:
    """The rendering cost of invoices with these numbers of lines, in lines."""
    return sum(line_counts) + PAGE_WEIGHT * len(line_counts)


def check_size(line_counts: Sequence[int], limits: Limits = LIMITS) -> None:
    """Refuse, in Polish and before any rendering, a request for more lines than one PDF may hold."""
    total = sum(line_counts)
    if total <= limits.max_lines:
        return
    limit = formats.format_flexible(Decimal(limits.max_lines))
    if len(line_counts) == 1:
        raise UserError(
            f"Ta faktura ma {formats.format_flexible(Decimal(total))} pozycji, a jeden wydruk PDF może mieć najwyżej "
            f"{limit} pozycji (dłuższy trwałby wiele minut). Pełna treść faktury jest w jej pliku XML "
            "(„Pobierz XML”).", 413)
    per_print = max(1, len(line_counts) * limits.max_lines // total)
    raise UserError(
        f"Zaznaczone faktury ({len(line_counts)}) mają razem {formats.format_flexible(Decimal(total))} pozycji, "
        f"a jeden wydruk PDF może mieć najwyżej {limit} pozycji. Podziel wydruk: zaznacz mniej faktur naraz "
        f"(np. po {per_print}).", 413)


def render(htmls: Sequence[str], cost: int, limits: Limits = LIMITS) -> bytes:
    """Render XHTML documents into one PDF, each keeping its own pages; a costly one renders in a worker."""
    if cost <= limits.in_process_weight:
        return _render_all(htmls)
    return _in_worker(list(htmls), limits)


def _render_all(htmls: Sequence[str]) -> bytes:
    return pdf.merge([pdf.html_to_pdf(html) for html in htmls])


def _in_worker(htmls: list[str], limits: Limits) -> bytes:
    """Render in a spawned process and wait for its answer; a worker that takes too long is stopped."""
    with _SLOTS.take(limits.workers):
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=work, args=(sender, htmls), name="ksef-local-pdf", daemon=True)
        process.start()
        sender.close()  # the child's end: our copy closed, so a dead child reads as EOF here
        try:
            if not receiver.poll(limits.timeout):
                raise UserError("Wydruk trwał zbyt długo i został przerwany. Podziel go na mniejsze części.", 504)
            ok, payload = receiver.recv()
        except EOFError:  # it died (killed, out of memory) before it could answer
            ok, payload = False, "it ended without an answer"
        finally:
            receiver.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
            process.close()
    if not ok:
        raise pdf.PdfError(f"the PDF worker failed: {payload}")
    return payload


def work(answer, htmls: list[str]) -> None:
    """The worker process: render, send (True, PDF bytes) or (False, what went wrong) and end."""
    try:
        result: tuple[bool, object] = (True, _render_all(htmls))
    except Exception as exc:  # any failure: the parent turns it into PdfError
        log.exception("PDF worker failed")
        result = (False, f"{type(exc).__name__}: {exc}")
    try:
        answer.send(result)
    finally:
        answer.close()
