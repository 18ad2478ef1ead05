"""The invoice list: filters, full-text search (FTS5, Polish letters folded: store/search.py), sorting and pages."""
from __future__ import annotations

import re
from datetime import date
from typing import Any

import sqlite_utils

from ksef_local.store.search import fold

SORTS = {
    "data": "issue_date {d}, id {d}",
    "numer": "number {d}, id {d}",
    "nabywca": "buyer_name {d}, id {d}",
    "brutto": "gross_total {d}, id {d}",
}


STATUSES = {"draft": "Szkice", "issued": "Wystawione"}


PAGE_SIZE = 50


def fts_query(text: str) -> str:
    """Turn what the user typed into an FTS5 query for search-as-you-type.

    Each typed word must match; a word that FTS splits into several tokens (an invoice number such as
    FV/2026/10/2, a NIP with dashes) must match them in order, as a phrase. The last token of each word
    is a prefix, so results appear while typing. The words are folded like the index (store/search.py), so
    "lodz" and "łódź" find "Łódź".
    """
    phrases = []
    for word in fold(text).split():
        tokens = re.findall(r"\w+", word)
        if tokens:
            phrases.append('"' + " ".join(tokens) + '"*')
    return " AND ".join(phrases)


def list_invoices(db: sqlite_utils.Database, month: str | None = None, status: str | None = None,
                  buyer_id: int | None = None, q: str | None = None, sort: str = "data", desc: bool = True,
                  page: int = 1, per_page: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
    """Return one page of invoices (without their XML) and the number of matching invoices."""
    where, params = ["1"], []
    if month:
        year, mon = (int(x) for x in month.split("-"))
        start = date(year, mon, 1)
        end = date(year + (mon == 12), mon % 12 + 1, 1)
        where.append("issue_date >= ? AND issue_date < ?")
        params += [start.isoformat(), end.isoformat()]
    if status in STATUSES:
        where.append("status = ?")
        params.append(status)
    if buyer_id:
        where.append("buyer_id = ?")
        params.append(buyer_id)
    match = fts_query(q or "")
    if match:
        where.append("id IN (SELECT rowid FROM invoices_fts WHERE invoices_fts MATCH ?)")
        params.append(match)
    clause = " AND ".join(where)
    total = db.execute(f"SELECT count(*) FROM invoices WHERE {clause}", params).fetchone()[0]
    order = SORTS.get(sort, SORTS["data"]).format(d="DESC" if desc else "ASC")
    columns = ("id, kind, status, source, number, issue_date, sale_date, buyer_name, buyer_nip, currency,"
               " net_total, vat_total, gross_total, ksef_status, ksef_number")
    rows = list(db.query(
        f"SELECT {columns} FROM invoices WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?",
        [*params, per_page, (max(page, 1) - 1) * per_page]))
    return rows, total


def correctable(db: sqlite_utils.Database, q: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Invoices a correction can be filled from, newest first: issued here and accepted by KSeF (with a KSeF
    number). q finds them by number, buyer or NIP as the list's search does, or by the start of the KSeF number.
    """
    where = "status = 'issued' AND source = 'editor' AND kind = 'VAT' AND ksef_number IS NOT NULL"
    params: list[Any] = []
    match = fts_query(q or "")
    if match:
        where += (" AND (id IN (SELECT rowid FROM invoices_fts WHERE invoices_fts MATCH ?)"
                  " OR instr(ksef_number, ?) = 1)")
        params += [match, (q or "").strip().upper()]
    return list(db.query(
        "SELECT id, number, issue_date, buyer_name, buyer_nip, currency, gross_total, ksef_number FROM invoices"
        f" WHERE {where} ORDER BY issue_date DESC, id DESC LIMIT ?", [*params, limit]))


def months_with_invoices(db: sqlite_utils.Database) -> list[str]:
    """The months (YYYY-MM) in which any invoice or draft is dated, newest first.

    One index seek per month (invoices_issue), not a scan: each step asks for the latest date before the
    month just found, and every date of month M sorts after the text "M" itself.
    """
    months: list[str] = []
    before = "9999-99"
    while True:
        latest = db.execute("SELECT max(issue_date) FROM invoices WHERE issue_date < ?", [before]).fetchone()[0]
        if latest is None:
            return months
        before = latest[:7]
        months.append(before)


def id_by_number(db: sqlite_utils.Database, number: str) -> int | None:
    """The id of the invoice with exactly this number, or None."""
    found = db.execute("SELECT id FROM invoices WHERE number = ?", [number]).fetchone()
    return found[0] if found else None


def numbers_of(db: sqlite_utils.Database, ids: list[int]) -> dict[int, str]:
    """id → number (None for a draft) of the given invoices."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {r[0]: r[1] for r in db.execute(f"SELECT id, number FROM invoices WHERE id IN ({marks})", ids)}


def never_sent(db: sqlite_utils.Database) -> list[int]:
    """Issued invoices that have never been queued for KSeF, oldest first."""
    return [r[0] for r in db.execute("SELECT id FROM invoices WHERE status = 'issued' AND ksef_status IS NULL"
                                     " ORDER BY id")]


def issued_in_order(db: sqlite_utils.Database) -> list[tuple[int, str]]:
    """(id, number) of every issued invoice by issue date."""
    return [(r[0], r[1]) for r in db.execute("SELECT id, number FROM invoices WHERE status = 'issued'"
                                            " ORDER BY issue_date, id")]
