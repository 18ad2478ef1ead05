"""Purchase invoices (faktury zakupowe) kept from KSeF: the list the screens show, one invoice with its lines,
paid / seen marks and the exact XML bytes; and adding a downloaded invoice (the sync, sending/purchases.py).

Every purchase is stored with the bytes KSeF gave and the facts read from them (fa3/purchase.py); its
SHA-256 must equal the metadata's invoiceHash (ksef-docs pobieranie-faktur/pobieranie-faktur.md), else
nothing is stored. The KSeF number is unique: a sync never adds an invoice twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

import sqlite_utils

from ksef_local.clock import warsaw_day
from ksef_local.core import money
from ksef_local.errors import NotFound, UserError
from ksef_local.fa3.printable import PrintableInvoice, read_printable
from ksef_local.fa3.purchase import parse_purchase
from ksef_local.ksef import crypto
from ksef_local.ksef.models import parse_datetime
from ksef_local.store import db as dbmod
from ksef_local.store.db import iso

PAGE_SIZE = 50
SORTS = {
    "otrzymano": "received_at {d}, id {d}",
    "data": "issue_date {d}, id {d}",
    "numer": "number {d}, id {d}",
    "sprzedawca": "seller_name {d}, id {d}",
    "brutto": "gross_total {d}, id {d}",
    "termin": "due_date IS NULL, due_date {d}, id {d}",
}
LIST_COLUMNS = ("id, ksef_number, environment, subject, kind, number, seller_nip, seller_name, issue_date, sale_date,"
                " currency, net_total, vat_total, gross_total, vat_pln, due_date, bank_account, received_at,"
                " received_day, paid, paid_date, seen_at, downloaded_at")
NOT_FOUND = "Nie ma takiej faktury zakupowej w programie."


class PurchaseRejected(ValueError):
    """Downloaded bytes that must not be stored: their hash is not KSeF's, or they are not FA(3) we can read."""


@dataclass(frozen=True)
class PurchaseDocument:
    """One purchase for the detail screen and printing: its row (without the XML), what the printout shows
    (lines, parties, rates, payment) and the exact bytes."""

    row: dict[str, Any]
    printable: PrintableInvoice
    xml: bytes


# -- adding (the sync) --------------------------------------------------------------------------------------

def purchase_row(xml: bytes, metadata: dict[str, Any], *, environment: str, context_nip: str, subject: str,
                 now: datetime) -> dict[str, Any]:
    """Check the bytes against the metadata's invoiceHash and read them into a row (no database access, so
    the parsing happens outside the write transaction). Raise PurchaseRejected when they must not be kept."""
    expected = metadata.get("invoiceHash") or ""
    if crypto.sha256_b64(xml) != expected:
        raise PurchaseRejected(f"SHA-256 pobranej faktury ({crypto.sha256_b64(xml)}) różni się od invoiceHash "
                               f"z metadanych KSeF ({expected or 'brak'})")
    try:
        read = parse_purchase(xml)
    except ValueError as exc:
        raise PurchaseRejected(f"faktury nie da się odczytać jako FA(3): {exc}") from None
    summary = read.summary
    received = parse_datetime(metadata["acquisitionDate"])   # KSeF sends 7 fractional digits
    stored = parse_datetime(metadata.get("permanentStorageDate"))
    paid_date = None
    if read.paid_on_invoice:
        paid_date = read.paid_date.isoformat() if read.paid_date else summary.issue_date.isoformat()
    return {
        "ksef_number": metadata["ksefNumber"], "environment": environment, "context_nip": context_nip,
        "subject": subject, "kind": summary.kind, "number": summary.number, "seller_nip": summary.seller_nip,
        "seller_name": summary.seller_name, "issue_date": summary.issue_date.isoformat(),
        "sale_date": summary.sale_date.isoformat() if summary.sale_date else None, "currency": summary.currency,
        "net_total": money.to_grosze(summary.net), "vat_total": money.to_grosze(summary.vat),
        "gross_total": money.to_grosze(summary.gross), "vat_pln": money.to_grosze(read.vat_pln),
        "due_date": read.due_date.isoformat() if read.due_date else None, "bank_account": read.bank_account,
        "received_at": iso(received), "received_day": warsaw_day(received).isoformat(),
        "stored_at": iso(stored) if stored else None, "invoice_hash": expected,
        "xml": xml, "metadata": json.dumps(metadata, ensure_ascii=False), "paid": 1 if paid_date else 0,
        "paid_date": paid_date, "search_key": _search_key(summary.number, summary.seller_name, summary.seller_nip,
                                                          metadata["ksefNumber"]),
        "downloaded_at": iso(now),
    }


def insert(db: sqlite_utils.Database, row: dict[str, Any]) -> bool:
    """Add one purchase (call inside db.write); False when its KSeF number is already here. A download
    still owed for that number is settled in the same transaction."""
    db.execute("DELETE FROM purchase_downloads WHERE ksef_number = ?", [row["ksef_number"]])
    columns = ", ".join(row)
    marks = ", ".join(f":{name}" for name in row)
    return db.execute(f"INSERT OR IGNORE INTO purchases ({columns}) VALUES ({marks})", row).rowcount == 1


def known_numbers(db: sqlite_utils.Database, numbers: Iterable[str]) -> set[str]:
    """Which of these KSeF numbers are stored already or waiting for their download."""
    wanted = list(dict.fromkeys(numbers))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in db.execute(
            f"SELECT ksef_number FROM purchases WHERE ksef_number IN ({marks}) UNION "
            f"SELECT ksef_number FROM purchase_downloads WHERE ksef_number IN ({marks})", chunk + chunk))
    return found


# -- the list -------------------------------------------------------------------------------------------------

def list_purchases(db: sqlite_utils.Database, *, month: str | None = None, month_of: str = "received",
                   seller_nip: str | None = None, paid: bool | None = None, q: str | None = None,
                   sort: str = "otrzymano", desc: bool = True, page: int = 1, per_page: int = PAGE_SIZE,
                   environment: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of purchases (without the XML) and how many match.

    month "2026-11" filters by the day KSeF received the invoice (month_of="received", the VAT deduction's
    month) or by its issue date (month_of="issued"); q matches every word in the number, the seller's name
    or NIP and the KSeF number, ignoring case (Polish letters too); environment (core.settings.environment_key)
    shows only what came from that KSeF, so demo invoices never mix with production ones.
    """
    where, params = ["1"], []
    if month:
        year, mon = (int(x) for x in month.split("-"))
        start, end = date(year, mon, 1), date(year + (mon == 12), mon % 12 + 1, 1)
        column = "issue_date" if month_of == "issued" else "received_day"
        where.append(f"{column} >= ? AND {column} < ?")
        params += [start.isoformat(), end.isoformat()]
    if seller_nip:
        where.append("seller_nip = ?")
        params.append(seller_nip)
    if paid is not None:
        where.append("paid = ?")
        params.append(1 if paid else 0)
    if environment:
        where.append("environment = ?")
        params.append(environment)
    for word in _fold(q or "").split():
        # A NIP typed with dashes (526-104-08-28) matches the stored digits; a KSeF number keeps its dashes.
        where.append("(instr(search_key, ?) > 0 OR instr(search_key, ?) > 0)")
        params += [word, word.replace("-", "")]
    clause = " AND ".join(where)
    total = db.execute(f"SELECT count(*) FROM purchases WHERE {clause}", params).fetchone()[0]
    order = SORTS.get(sort, SORTS["otrzymano"]).format(d="DESC" if desc else "ASC")
    rows = list(db.query(f"SELECT {LIST_COLUMNS} FROM purchases WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?",
                         [*params, per_page, (max(page, 1) - 1) * per_page]))
    return rows, total


def sellers(db: sqlite_utils.Database, environment: str | None = None) -> list[dict[str, Any]]:
    """The sellers of stored purchases for a filter: nip, name (the latest used), count; by name."""
    where, params = ("WHERE environment = ?", [environment]) if environment else ("", [])
    found = list(db.query(
        f"SELECT seller_nip AS nip, (SELECT p2.seller_name FROM purchases p2 WHERE p2.seller_nip = p.seller_nip"
        f" ORDER BY p2.received_at DESC LIMIT 1) AS name, count(*) AS count FROM purchases p {where}"
        " GROUP BY seller_nip", params))
    return sorted(found, key=lambda seller: (_fold(seller["name"]), seller["nip"]))   # SQLite folds ASCII only


# -- one purchase ---------------------------------------------------------------------------------------------

def get_purchase(db: sqlite_utils.Database, purchase_id: int) -> dict[str, Any]:
    """The row of one purchase without the XML; NotFound (Polish) when there is none."""
    rows = list(db.query(f"SELECT {LIST_COLUMNS}, invoice_hash, metadata FROM purchases WHERE id = ?",
                         [purchase_id]))
    if not rows:
        raise NotFound(NOT_FOUND)
    return rows[0]


def id_by_ksef_number(db: sqlite_utils.Database, ksef_number: str) -> int | None:
    found = db.execute("SELECT id FROM purchases WHERE ksef_number = ?", [ksef_number.strip()]).fetchone()
    return found[0] if found else None


def xml_bytes(db: sqlite_utils.Database, purchase_id: int) -> bytes:
    """The XML exactly as KSeF gave it."""
    found = db.execute("SELECT xml FROM purchases WHERE id = ?", [purchase_id]).fetchone()
    if found is None:
        raise NotFound(NOT_FOUND)
    return bytes(found[0])


def document(db: sqlite_utils.Database, purchase_id: int) -> PurchaseDocument:
    """One purchase with its lines and everything else the detail screen or the printout shows."""
    row = get_purchase(db, purchase_id)
    xml = xml_bytes(db, purchase_id)
    return PurchaseDocument(row, read_printable(xml), xml)


# -- marks --------------------------------------------------------------------------------------------------

def mark_paid(db: sqlite_utils.Database, purchase_id: int, paid_date: date | None) -> None:
    """Mark a purchase paid on paid_date, or not paid (None)."""
    if paid_date is not None and paid_date > date(9999, 1, 1):
        raise UserError("Nieprawidłowa data zapłaty.")
    with dbmod.write(db):
        changed = db.execute("UPDATE purchases SET paid = ?, paid_date = ? WHERE id = ?",
                             [1 if paid_date else 0, paid_date.isoformat() if paid_date else None,
                              purchase_id]).rowcount
    if not changed:
        raise NotFound(NOT_FOUND)


def count_new(db: sqlite_utils.Database, environment: str | None = None) -> int:
    """How many purchases arrived since the user last looked (mark_seen)."""
    where, params = (" AND environment = ?", [environment]) if environment else ("", [])
    return db.execute(f"SELECT count(*) FROM purchases WHERE seen_at IS NULL{where}", params).fetchone()[0]


def last_id(db: sqlite_utils.Database) -> int:
    """The id of the latest purchase stored (0 when none): what came after it is new."""
    return db.execute("SELECT coalesce(max(id), 0) FROM purchases").fetchone()[0]


def count_after(db: sqlite_utils.Database, purchase_id: int) -> int:
    """How many purchases were stored after the one with this id (what one "Pobierz teraz" brought)."""
    return db.execute("SELECT count(*) FROM purchases WHERE id > ?", [purchase_id]).fetchone()[0]


def mark_seen(db: sqlite_utils.Database, now: datetime, ids: Iterable[int] | None = None) -> int:
    """The user saw these purchases (all, without ids); return how many were new."""
    with dbmod.write(db):
        if ids is None:
            return db.execute("UPDATE purchases SET seen_at = ? WHERE seen_at IS NULL", [iso(now)]).rowcount
        chosen = list(ids)
        marks = ",".join("?" * len(chosen)) or "NULL"
        return db.execute(f"UPDATE purchases SET seen_at = ? WHERE seen_at IS NULL AND id IN ({marks})",
                          [iso(now), *chosen]).rowcount


# -- search -------------------------------------------------------------------------------------------------

def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _search_key(*parts: str | None) -> str:
    return _fold(" ".join(part for part in parts if part))
