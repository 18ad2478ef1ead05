"""What one printed invoice shows: its XML bytes, where it stands in KSeF and its verification codes.

The PDF is made from the stored XML bytes of an issued invoice (what was sent is what is printed, and the
KOD I hash covers exactly those bytes: ksef-docs kody-qr.md); a draft prints from the XML it would have now.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Union

import sqlite_utils

from ksef_local import fa3
from ksef_local.clock import local_now
from ksef_local.errors import UserError
from ksef_local.fa3.printable import PrintableInvoice, read_printable
from ksef_local.printing import qr
from ksef_local.store import invoices, outbox
from ksef_local.store.certificates import OfflineSigner

# A QR host, or a function of the invoice id that gives the host of the KSeF that invoice was sent to.
QrHost = Union[str, None, Callable[[int], Union[str, None]]]

# How the invoice stands in KSeF, for printing (ksef-docs kody-qr.md, tryby-offline.md).
PREVIEW = "preview"  # a draft: "PODGLĄD", no codes
ACCEPTED = "accepted"  # in KSeF with a number: KOD I captioned with the number
OFFLINE = "offline"  # issued offline, not yet accepted: KOD I "OFFLINE" (+ KOD II with a certificate)
NOT_IN_KSEF = "not_in_ksef"  # queued online, rejected, never sent, or imported without a number: no codes
TOTAL_FAILURE = "total_failure"  # "awaria całkowita": invoices carry no QR codes (ksef-docs tryby-offline.md)


@dataclass(frozen=True)
class KsefState:
    kind: str
    ksef_number: str | None = None
    is_offline_invoice: bool = False


@dataclass(frozen=True)
class PrintJob:
    """One invoice ready for the template."""

    invoice: PrintableInvoice
    state: KsefState
    codes: tuple[qr.QrCode, ...]

    @property
    def is_preview(self) -> bool:
        return self.state.kind == PREVIEW


def ksef_state(db: sqlite_utils.Database, row: dict) -> KsefState:
    """Decide how an invoice row stands in KSeF, from the outbox (or invoices.ksef_* without one)."""
    if row["status"] == "draft":
        return KsefState(PREVIEW)
    current = outbox.status(db, row["id"])
    letter = current.letter if current else row.get("ksef_status")
    number = (current.ksef_number if current else None) or row.get("ksef_number")
    offline = bool(current and current.offline_mode)
    if current and current.offline_kind == "awaria_calkowita" and letter != "A":
        return KsefState(TOTAL_FAILURE, None, True)
    # A, or O in the "accepted" state whose UPO is not fetched yet: KSeF gave the number, so it is in KSeF.
    if letter in ("A", "O") and number:
        return KsefState(ACCEPTED, number, offline)
    if offline and letter in ("W", "O"):
        return KsefState(OFFLINE, None, True)
    return KsefState(NOT_IN_KSEF)


def invoice_xml(db: sqlite_utils.Database, row: dict) -> bytes:
    """Return the stored bytes of an issued invoice, or a draft's XML as it would be issued now."""
    if row["status"] != "draft":
        return bytes(row["xml"])
    try:
        return fa3.build_xml(invoices.draft_document(db, row["id"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError("Szkicu nie da się jeszcze wydrukować: uzupełnij dane faktury (nabywcę i pozycje).") from exc


def prepare(db: sqlite_utils.Database, invoice_id: int, *, qr_host: QrHost,
            offline_signer: OfflineSigner | None = None) -> PrintJob:
    """Read one invoice and make its codes; qr_host is the QR host of the environment it was sent to
    (or a function of the invoice id that finds it)."""
    if callable(qr_host):
        qr_host = qr_host(invoice_id)
    row = invoices.get_invoice(db, invoice_id)  # NotFound in Polish when it is gone
    xml = invoice_xml(db, row)
    printable = read_printable(xml)
    state = ksef_state(db, row)
    codes: list[qr.QrCode] = []
    if state.kind in (ACCEPTED, OFFLINE):
        if not qr_host:
            raise UserError("Nie znam adresu weryfikacji KSeF dla kodu QR: sprawdź Ustawienia KSeF.")
        codes.append(qr.invoice_code(qr_host, printable.seller_nip, printable.issue_date, xml, state.ksef_number))
        # Without a KSeF Offline certificate there is no KOD II; the app says so (printing.lacks_kod2).
        if state.is_offline_invoice and offline_signer is not None:
            codes.append(qr.certificate_code(qr_host, printable.seller_nip, xml, offline_signer))
    return PrintJob(printable, state, tuple(codes))


def printed_at(now: datetime | None) -> datetime:
    return (now or local_now()).astimezone()
