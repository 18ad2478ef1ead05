"""Drukuj / PDF of a purchase invoice: the official layout of our own invoices (templates/pdf/invoice.html),
made from the bytes KSeF gave us, with KOD I pointing at the seller's invoice in KSeF.

KOD I is the verification link of CIRFMF/ksef-docs kody-qr.md: the seller's NIP, the issue date (P_1) and the
SHA-256 of the invoice's exact bytes, on the QR host of the KSeF the invoice was downloaded from (recorded
with it, so a production printout never links to a test environment), captioned with its KSeF number.
"""
from __future__ import annotations

from datetime import datetime

import sqlite_utils

from ksef_local import formats
from ksef_local.errors import UserError
from ksef_local.printing import pdf, qr
from ksef_local.printing.document import ACCEPTED, KsefState, PrintJob, printed_at
from ksef_local.services import Services
from ksef_local.store import purchases


def prepare_purchase(db: sqlite_utils.Database, purchase_id: int, *, qr_host: str | None) -> PrintJob:
    """The print job of one purchase: its printable model, "in KSeF" with its number, and KOD I."""
    found = purchases.document(db, purchase_id)   # NotFound in Polish when it is gone
    if not qr_host:
        raise UserError("Nie znam adresu weryfikacji KSeF dla kodu QR tej faktury: sprawdź Ustawienia KSeF "
                        "(w trybie demonstracyjnym uruchom program, aby działał wbudowany symulator).")
    number = found.row["ksef_number"]
    code = qr.invoice_code(qr_host, found.printable.seller_nip or found.row["seller_nip"],
                           found.printable.issue_date, found.xml, number)
    return PrintJob(found.printable, KsefState(ACCEPTED, number), (code,))


def render_purchase_pdf(db: sqlite_utils.Database, purchase_id: int, *, qr_host: str | None,
                        now: datetime | None = None) -> bytes:
    """The PDF of one purchase invoice."""
    job = prepare_purchase(db, purchase_id, qr_host=qr_host)
    return pdf.html_to_pdf(pdf.html_for(job, printed_at(now)))


def purchase_filename(row: dict) -> str:
    """Zakup_FV_1_11_2026.pdf for the seller's number FV/1/11/2026."""
    return formats.safe_filename(row["number"] or row["ksef_number"], ".pdf", "Zakup_")


def purchase_pdf(services: Services, purchase_id: int, *, qr_host_override: str | None = None,
                 now: datetime | None = None) -> tuple[bytes, str]:
    """What "Drukuj / PDF" on the purchase screen calls: the PDF and its file name.

    The QR host is that of the KSeF the invoice came from (purchases.environment); qr_host_override serves the
    command line in demo mode, where the in-app simulator is not running.
    """
    db = services.db()
    row = purchases.get_purchase(db, purchase_id)
    host = qr_host_override
    if host is None:
        try:
            host = services.qr_host_for_key(row["environment"])
        except (UserError, ValueError):
            host = None
    return render_purchase_pdf(db, purchase_id, qr_host=host, now=now), purchase_filename(row)
