"""Importing FA(3) invoices made elsewhere: read each file within KSeF's size limit, check it, store its exact
bytes, and report every file of a multi-file import, whatever happened to the others."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import sqlite_utils

from ksef_local import fa3, formats
from ksef_local.clock import utc_now
from ksef_local.core import money
from ksef_local.core.model import Party
from ksef_local.errors import UserError
from ksef_local.fa3 import MAX_DOCUMENT_BYTES
from ksef_local.store import db as dbmod
from ksef_local.store import numbering, parties
from ksef_local.store.invoices import insert_row

log = logging.getLogger(__name__)

# Opening a FIFO for reading blocks until a writer appears; O_NONBLOCK makes open() return at once. It changes
# nothing for a regular file. Not every system has it (Windows has no FIFOs to open).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class ImportResult:
    """What happened to one file: the invoice it became, or why not (in Polish)."""

    name: str
    invoice_id: int | None = None
    number: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.invoice_id is not None


def import_each(db: sqlite_utils.Database, files: Iterable[tuple[str, Callable[[], bytes]]]) -> Iterator[ImportResult]:
    """Import (name, read) pairs one by one and yield each file's result; one file never stops the others.

    Each file is read only when its turn comes, so a long list is never held in memory at once.
    """
    for name, read in files:
        yield _import_one(db, name, read)


def _import_one(db: sqlite_utils.Database, name: str, read: Callable[[], bytes]) -> ImportResult:
    try:
        invoice_id = import_xml(db, read(), name)
    except UserError as exc:
        return ImportResult(name, message=exc.message)
    except Exception:  # one file's unforeseen failure must not hide what happens to the rest
        log.exception("import of %s failed", name)
        return ImportResult(name, message="Nie udało się zaimportować tego pliku z powodu błędu programu; pozostałe "
                                          "pliki sprawdzono. Nic z tego pliku nie zapisano.")
    number = db.execute("SELECT number FROM invoices WHERE id = ?", [invoice_id]).fetchone()[0]
    return ImportResult(name, invoice_id, number)


def read_import_file(path: Path) -> bytes:
    """Read a file to import: a regular file only (not a folder, FIFO or device), at most the KSeF size limit.

    The kind and size come from stat() before anything is opened, so /dev/zero is never read and a FIFO never
    waits for a writer; the opened file is checked again, as the path may have changed in between.
    """
    try:
        info = os.stat(path)
        _require_regular_file(info)
        if info.st_size > MAX_DOCUMENT_BYTES:
            raise UserError(_too_big(info.st_size))
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise UserError("Nie ma takiego pliku.") from None
    except PermissionError:
        raise UserError("Brak uprawnień do odczytu tego pliku.") from None
    except OSError:
        raise UserError("Nie można odczytać tego pliku.") from None
    with os.fdopen(fd, "rb") as file:
        _require_regular_file(os.fstat(file.fileno()))
        return read_limited(file)


def read_limited(stream: BinaryIO) -> bytes:
    """Read at most the KSeF size limit + 1 byte; refuse a longer file without reading the rest of it."""
    data = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UserError(_too_big(None))
    return data


def _require_regular_file(info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        raise UserError("To jest folder, a nie plik. Podaj pliki XML z tego folderu, np. folder/*.xml.")
    kind = "potok (FIFO)" if stat.S_ISFIFO(info.st_mode) else \
        "urządzenie" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "plik specjalny"
    raise UserError(f"To nie jest zwykły plik, tylko {kind}. Importować można pliki XML zapisane na dysku.")


def _too_big(size: int | None) -> str:
    told = f"{formats.format_pl(Decimal(size) / 1_000_000, 1)} MB" if size is not None else \
        f"ponad {MAX_DOCUMENT_BYTES // 1_000_000} MB"
    return (f"Plik jest za duży ({told}). "
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
        # A number kept from a lost database (used_numbers without its invoice) may be imported back.
        if db.execute("SELECT 1 FROM invoices WHERE number = ? UNION SELECT 1 FROM used_numbers WHERE number = ?"
                      " AND invoice_id IS NOT NULL", [summary.number, summary.number]).fetchone():
            raise UserError(f"Faktura o numerze {summary.number} już jest w programie. Nie importuję jej drugi raz.",
                            409)
        invoice_id = insert_row(db, "invoices", row)
        numbering.mark_used(db, summary.number, summary.kind, invoice_id, now)
    return invoice_id
