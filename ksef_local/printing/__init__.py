"""Printed invoices: PDF (xhtml2pdf) laid out like MF's KSeF visualisation, with the KSeF QR codes.

- document.py  one invoice's XML bytes, its KSeF state and its verification codes (PrintJob)
- qr.py        KOD I / KOD II links (from ksef.crypto) as QR images
- pdf.py       templates/pdf → XHTML → PDF, and joining several PDFs
- render.py    where that runs: small documents here, big ones in a worker process; the size bound
- purchases.py a purchase invoice from KSeF in the same layout, KOD I pointing at the seller's invoice
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable

import sqlite_utils

from ksef_local.core.settings import environment_key
from ksef_local.errors import UserError
from ksef_local.printing import pdf, render
from ksef_local.printing.document import ACCEPTED, OFFLINE, PrintJob, QrHost, ksef_state, prepare, printed_at
from ksef_local.printing.qr import qr_data_uri
from ksef_local.services import Services
from ksef_local.store import certificates, invoices, outbox
from ksef_local.store.certificates import OfflineSigner
from ksef_local.store.secrets import SecretStoreError

__all__ = ["PrintJob", "lacks_kod2", "prepare", "qr_data_uri", "render_invoice_pdf", "render_many"]


def render_invoice_pdf(db: sqlite_utils.Database, invoice_id: int, *, qr_host: QrHost,
                       offline_cert: OfflineSigner | None = None, now: datetime | None = None,
                       limits: render.Limits = render.LIMITS) -> bytes:
    """Return the PDF of one invoice; qr_host is the QR host of the environment it was sent to."""
    return render_many(db, [invoice_id], qr_host=qr_host, offline_cert=offline_cert, now=now, limits=limits)


def render_many(db: sqlite_utils.Database, ids: Iterable[int], *, qr_host: QrHost,
                offline_cert: OfflineSigner | None = None, now: datetime | None = None,
                limits: render.Limits = render.LIMITS) -> bytes:
    """Return one PDF of several invoices, each starting on a new page with its own page numbers.

    Too many lines in all are refused in Polish before anything renders (render.check_size).
    """
    moment = printed_at(now)
    jobs = [prepare(db, invoice_id, qr_host=qr_host, offline_signer=offline_cert) for invoice_id in dict.fromkeys(ids)]
    if not jobs:
        raise ValueError("no invoices to print")
    line_counts = [len(job.invoice.lines) for job in jobs]
    render.check_size(line_counts, limits)
    return render.render([pdf.html_for(job, moment) for job in jobs], render.weight(line_counts), limits)


def verification_setup(services: Services, *, qr_host_override: str | None = None,
                       now: datetime | None = None) -> tuple[Callable[[int], str | None], OfflineSigner | None]:
    """Return the QR host finder and the KOD II signer for printing.

    The QR host is that of the KSeF each invoice was sent to, as the outbox recorded it (production
    printouts must never carry a demo or test verification link); an invoice sent before that was
    recorded, or not sent yet, gets the current settings' environment. In demo mode it is the in-app
    simulator, whose /invoice/... page answers like MF's. None when it cannot be known: then only invoices
    that need no QR code print.
    """
    settings = services.settings()
    current = environment_key(settings)

    def qr_host_for(invoice_id: int) -> str | None:
        if qr_host_override is not None:
            return qr_host_override
        key = outbox.environment_of(services.db(), invoice_id) or current
        try:
            return services.qr_host_for_key(key)
        except (UserError, ValueError):
            return None

    try:
        signer = certificates.signer(services.db(), services.secrets, current, settings.nip, now=now)
    except SecretStoreError:
        signer = None  # printed without KOD II, with a note saying why
    return qr_host_for, signer


def lacks_kod2(services: Services, invoice_id: int, *, now: datetime | None = None) -> bool:
    """Whether this offline invoice prints without KOD II, for want of a KSeF Offline certificate.

    The seller is told so in the app (the invoice page); the printout, which goes to the buyer, is no place for
    what the seller has to do about it.
    """
    db = services.db()
    state = ksef_state(db, invoices.get_invoice(db, invoice_id))
    if not (state.is_offline_invoice and state.kind in (ACCEPTED, OFFLINE)):
        return False
    _, signer = verification_setup(services, now=now)
    return signer is None
