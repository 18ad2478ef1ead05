"""Importing FA(3) invoices made elsewhere: read the file within KSeF's size limit, check it, store its exact bytes."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

import sqlite_utils

from ksef_local import fa3, formats
from ksef_local.clock import utc_now
from ksef_local.core import money
from ksef_local.core.model import Party
from ksef_local.errors import UserError
from ksef_local.fa3 import MAX_DOCUMENT_BYTES
from ksef_local.store import db as dbmod
from ksef_local.store import parties
from ksef_local.store.invoices import insert_row


def read_import_file(path: Path) -> bytes:
    """Read a file to import, refusing anything over the KSeF size limit before reading it whole."""
    try:
        size = path.stat().st_size
    except OSError:
        raise UserError(f"Nie można odczytać pliku {path.name}.") from None
    if size > MAX_DOCUMENT_BYTES:
        raise UserError(_too_big(size))
    return path.read_bytes()


def _too_big(size: int) -> str:
    return (f"Plik jest za duży ({formats.format_pl(Decimal(size) / 1_000_000, 1)} MB). "
            f"Faktura FA(3) bez załączników może mieć najwyżej {MAX_DOCUMENT_BYTES // 1_000_000} MB.")


def _check_sums(summary: fa3.ImportSummary) -> None:
    """Refuse sums no FA(3) amount can hold: each P_13_x fits the XSD, their sum need not (docs/fa3-notes.md §3.1)."""
    if max(abs(summary.net), abs(summary.vat), abs(summary.gross)) > money.MAX_AMOUNT:
        raise UserError(f"Sumy kwot na tej fakturze przekraczają {formats.format_pl(money.MAX_AMOUNT)}: tyle "
                        "najwyżej może mieć kwota na fakturze FA(3). Program nie może zapisać takiej faktury.")


def import_xml(db: sqlite_utils.Database, data: bytes, filename: str = "") -> int:
    """Import an FA(3) invoice made elsewhere as an issued, read-only invoice; return its id.

    The exact bytes are kept. A malformed, invalid, oversized or duplicate file changes nothing.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UserError(_too_big(len(data)))
    problems = fa3.check_document(data)
    if problems:
        raise UserError("Pliku nie można zaimportować: " + " ".join(p.message for p in problems[:5]))
    summary = fa3.parse_summary(data)
    _check_sums(summary)
    company = parties.get_company(db)
    if company is None:
        raise UserError("Najpierw uzupełnij dane firmy (Ustawienia → Firma).")
    if summary.seller_nip != company["nip"]:
        raise UserError(
            f"Sprzedawcą na tej fakturze jest NIP {formats.format_nip(summary.seller_nip)}, "
            f"a nie Twoja firma (NIP {formats.format_nip(company['nip'])}). Importować można tylko własne faktury.")
    now = utc_now().isoformat()
    buyer = Party(name=summary.buyer_name or "", kind="company" if summary.buyer_nip else "consumer",
                  nip=summary.buyer_nip)
    row = {
        "kind": summary.kind, "status": "issued", "source": "import", "number": summary.number,
        "issue_date": summary.issue_date.isoformat(),
        "sale_date": summary.sale_date.isoformat() if summary.sale_date else None,
        "buyer_json": json.dumps(asdict(buyer), ensure_ascii=False), "buyer_name": summary.buyer_name or "",
        "buyer_nip": summary.buyer_nip, "currency": summary.currency,
        "net_total": money.to_grosze(summary.net), "vat_total": money.to_grosze(summary.vat),
        "gross_total": money.to_grosze(summary.gross), "xml": data,
        "xml_sha256": hashlib.sha256(data).hexdigest(), "created_at": now, "updated_at": now, "issued_at": now,
    }
    with dbmod.write(db):
        if db.execute("SELECT 1 FROM used_numbers WHERE number = ?", [summary.number]).fetchone():
            raise UserError(f"Faktura o numerze {summary.number} już jest w programie. Nie importuję jej drugi raz.",
                            409)
        invoice_id = insert_row(db, "invoices", row)
        db.execute("INSERT INTO used_numbers (number, kind, invoice_id, used_at) VALUES (?, ?, ?, ?)",
                   [summary.number, summary.kind, invoice_id, now])
    return invoice_id
