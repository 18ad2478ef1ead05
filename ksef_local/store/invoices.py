"""One invoice's queries and state transitions: drafts, numbering, issuing, reopening after a rejection.

A draft is editable and deletable. Issuing ("Wystaw") freezes it: the FA(3) XML is built once, validated,
and its exact bytes and SHA-256 are stored; from then on the content never changes. Preview, PDF, QR and
sending all use those bytes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any, Mapping

import sqlite_utils

from ksef_local import fa3
from ksef_local.clock import utc_now
from ksef_local.core import money
from ksef_local.core.model import CASH, Correction, Invoice, Line, Party, Payment
from ksef_local.errors import NotFound, UserError, ValidationFailed
from ksef_local.forms.editor import DraftInput, completeness_errors, parse_draft_form
from ksef_local.store import db as dbmod
from ksef_local.store import numbering, parties

ISSUED_MESSAGE = (
    "Ta faktura jest już wystawiona i nie można jej zmieniać. "
    "Aby coś poprawić, wystaw fakturę korygującą."
)


# --- reading -----------------------------------------------------------------------------------------

def get_invoice(db: sqlite_utils.Database, invoice_id: int) -> dict[str, Any]:
    rows = list(db.query("SELECT * FROM invoices WHERE id = ?", [invoice_id]))
    if not rows:
        raise NotFound("Nie ma takiej faktury (mogła zostać usunięta).")
    return rows[0]


def get_lines(db: sqlite_utils.Database, invoice_id: int) -> list[dict[str, Any]]:
    return list(db.query(
        "SELECT * FROM invoice_lines WHERE invoice_id = ? ORDER BY before DESC, position", [invoice_id]))


def buyer_of(row: Mapping[str, Any]) -> Party | None:
    return Party(**json.loads(row["buyer_json"])) if row.get("buyer_json") else None


def seller_of(row: Mapping[str, Any]) -> Party:
    """The seller as frozen on an issued invoice."""
    return Party(**json.loads(row["seller_json"]))


def document(row: Mapping[str, Any], lines: list[Mapping[str, Any]], seller: Party,
             created_at: datetime | None = None) -> Invoice:
    """Turn stored rows into the Invoice document that the fa3 package writes."""
    return Invoice(
        kind=row["kind"], number=row["number"] or "", issue_date=date.fromisoformat(row["issue_date"]),
        seller=seller, buyer=buyer_of(row) or Party(name="", kind="consumer"),
        lines=tuple(_line(ln) for ln in lines), created_at=created_at or utc_now(),
        sale_date=_date(row["sale_date"]), place=row["place"], price_mode=row["price_mode"],
        currency=row["currency"], exchange_rate=_dec(row["exchange_rate"]),
        exchange_rate_date=_date(row["exchange_rate_date"]),
        payment=Payment(row["payment_form"], _date(row["due_date"]), row["bank_account"],
                        bool(row["paid"]), _date(row["paid_date"])),
        notes=row["notes"], exemption_kind=row["exemption_kind"], exemption_text=row["exemption_text"],
        split_payment=bool(row["split_payment"]),
        correction=_correction(row) if row["kind"] == "KOR" else None,
    )


def _line(row: Mapping[str, Any]) -> Line:
    return Line(row["name"], row["unit"], money.parse_decimal(row["quantity"]) or money.ZERO,
                money.parse_decimal(row["unit_price"]) or money.ZERO, row["rate"],
                _dec(row["discount_percent"]), bool(row["before"]))


def _correction(row: Mapping[str, Any]) -> Correction:
    return Correction(row["corr_number"] or "", _date(row["corr_issue_date"]) or date(2026, 2, 1),
                      row["corr_ksef_number"] or "", row["corr_reason"], row["corr_type"])


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _dec(value: str | None):
    return money.parse_decimal(value) if value else None


def draft_document(db: sqlite_utils.Database, invoice_id: int) -> Invoice:
    """The draft as a document (seller from the current company profile), for totals and preview."""
    row = get_invoice(db, invoice_id)
    company = parties.get_company(db)
    seller = parties.company_party(company) if company else Party(name="")
    return document(row, get_lines(db, invoice_id), seller)


# --- drafts ------------------------------------------------------------------------------------------

def fresh_header(db: sqlite_utils.Database, today: date, kind: str) -> dict[str, Any]:
    """A new draft's columns: today's dates, the company's place and account, a transfer due in 14 days."""
    company = parties.get_company(db)
    if company is None:
        raise UserError("Najpierw uzupełnij dane firmy (Ustawienia → Firma).")
    return {
        "kind": kind, "status": "draft", "issue_date": today.isoformat(), "sale_date": today.isoformat(),
        "place": company["place"], "payment_form": "6",
        # a correction usually refunds; the user adds a term when one is due
        "due_date": None if kind == "KOR" else (today + timedelta(days=14)).isoformat(),
        "bank_account": company["bank_account"],
    }


def create_draft(db: sqlite_utils.Database, today: date, kind: str = "VAT",
                 corrected_id: int | None = None) -> int:
    """Create a new draft with sensible defaults from the company profile; return its id."""
    now = utc_now().isoformat()
    row = {**fresh_header(db, today, kind), "created_at": now, "updated_at": now}
    lines = [{"position": 1, "before": 0}]
    if corrected_id is not None:
        row, lines = _correction_defaults(db, row, corrected_id)
    with dbmod.write(db):
        invoice_id = insert_row(db, "invoices", row)
        for ln in lines:
            insert_row(db, "invoice_lines", {**ln, "invoice_id": invoice_id})
    return invoice_id


def _correction_defaults(db: sqlite_utils.Database, row: dict[str, Any], corrected_id: int):
    original = get_invoice(db, corrected_id)
    if original["status"] != "issued":
        raise UserError("Korygować można tylko wystawioną fakturę.")
    if original["source"] == "import":
        raise UserError("Tej faktury nie wystawiono w programie: wpisz dane faktury korygowanej ręcznie.")
    row.update(
        kind="KOR", corrected_id=corrected_id, due_date=None, corr_number=original["number"],
        corr_issue_date=original["issue_date"], corr_ksef_number=original["ksef_number"],
        buyer_id=original["buyer_id"], buyer_json=original["buyer_json"], buyer_name=original["buyer_name"],
        buyer_nip=original["buyer_nip"], price_mode=original["price_mode"], currency=original["currency"],
        exchange_rate=original["exchange_rate"], exchange_rate_date=original["exchange_rate_date"],
        exemption_kind=original["exemption_kind"], exemption_text=original["exemption_text"],
        split_payment=original["split_payment"],
    )
    keep = ("position", "name", "unit", "quantity", "unit_price", "rate", "discount_percent")
    lines = []
    for ln in get_lines(db, corrected_id):
        base = {k: ln[k] for k in keep}
        lines += [{**base, "before": 1}, {**base, "before": 0}]
    return row, lines


def insert_row(db: sqlite_utils.Database, table: str, row: Mapping[str, Any]) -> int:
    columns = ", ".join(row)
    placeholders = ", ".join(f":{k}" for k in row)
    return db.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", dict(row)).lastrowid


def _require_draft(db: sqlite_utils.Database, invoice_id: int) -> dict[str, Any]:
    row = get_invoice(db, invoice_id)
    if row["status"] != "draft":
        raise UserError(ISSUED_MESSAGE, status=409)
    return row


def save_draft(db: sqlite_utils.Database, invoice_id: int, form: Mapping[str, Any]) -> DraftInput:
    """Validate the editor's form and store it; bad input raises ValidationFailed and changes nothing."""
    parsed = parse_draft_form(form)
    with dbmod.write(db):
        before = _require_draft(db, invoice_id)
        fields = {**parsed.fields, "updated_at": utc_now().isoformat(), "id": invoice_id}
        if _turns_to_cash(before, fields):
            fields["due_date"] = None
        assignments = ", ".join(f"{k} = :{k}" for k in fields if k != "id")
        db.execute(f"UPDATE invoices SET {assignments} WHERE id = :id", fields)
        _store_lines(db, invoice_id, parsed.lines)
        _store_totals(db, invoice_id)
    return parsed


def _turns_to_cash(before: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether this save makes the payment cash and leaves the due date the transfer had.

    A draft starts as a transfer with a 14-day term (create_draft). A cash payment has no term unless the user
    gives one (docs/fa3-notes.md §7.1): choosing cash takes that term away, and a date typed afterwards stays.
    """
    return (fields["payment_form"] == CASH and before["payment_form"] != CASH
            and fields["due_date"] is not None and fields["due_date"] == before["due_date"])


def _store_lines(db: sqlite_utils.Database, invoice_id: int, lines: list[dict[str, Any]]) -> None:
    """Update lines in place (their ids stay, so the open editor keeps working), add new, drop missing."""
    existing = {r[0] for r in db.execute("SELECT id FROM invoice_lines WHERE invoice_id = ?", [invoice_id])}
    kept = set()
    for position, ln in enumerate(lines, start=1):
        values = {**ln, "position": position, "invoice_id": invoice_id}
        line_id = values.pop("id", None)
        if line_id in existing:
            kept.add(line_id)
            assignments = ", ".join(f"{k} = :{k}" for k in values)
            db.execute(f"UPDATE invoice_lines SET {assignments} WHERE id = :id", {**values, "id": line_id})
        else:
            insert_row(db, "invoice_lines", values)
    for line_id in existing - kept:
        db.execute("DELETE FROM invoice_lines WHERE id = ?", [line_id])


def add_line(db: sqlite_utils.Database, invoice_id: int, before: bool = False) -> None:
    with dbmod.write(db):
        _require_draft(db, invoice_id)
        last = db.execute("SELECT coalesce(max(position), 0) FROM invoice_lines WHERE invoice_id = ?",
                          [invoice_id]).fetchone()[0]
        insert_row(db, "invoice_lines", {"invoice_id": invoice_id, "position": last + 1, "before": int(before)})


def remove_line(db: sqlite_utils.Database, invoice_id: int, line_id: int) -> None:
    with dbmod.write(db):
        _require_draft(db, invoice_id)
        db.execute("DELETE FROM invoice_lines WHERE id = ? AND invoice_id = ?", [line_id, invoice_id])
        _store_totals(db, invoice_id)


def set_buyer(db: sqlite_utils.Database, invoice_id: int, buyer_id: int) -> None:
    """Attach a buyer to a draft; the invoice keeps a snapshot so later edits of the buyer don't change it."""
    buyer = parties.get_buyer(db, buyer_id)
    party = parties.buyer_party(buyer)
    with dbmod.write(db):
        _require_draft(db, invoice_id)
        db.execute(
            "UPDATE invoices SET buyer_id = ?, buyer_json = ?, buyer_name = ?, buyer_nip = ?, updated_at = ?"
            " WHERE id = ?",
            [buyer_id, json.dumps(asdict(party), ensure_ascii=False), party.name, party.nip,
             utc_now().isoformat(), invoice_id],
        )


def delete_draft(db: sqlite_utils.Database, invoice_id: int) -> None:
    with dbmod.write(db):
        row = get_invoice(db, invoice_id)
        if row["status"] != "draft":
            raise UserError("Wystawionej faktury nie można usunąć. Możesz wystawić fakturę korygującą.", 409)
        if row["number"]:
            raise UserError(f"Faktura {row['number']} była już wysłana do KSeF i odrzucona: popraw ją i wystaw "
                            "ponownie. Nie można jej usunąć, bo jej historia w KSeF musi zostać.", 409)
        db.execute("DELETE FROM invoices WHERE id = ?", [invoice_id])


# --- numbering ---------------------------------------------------------------------------------------

def render_number(pattern: str, on: date, counter: int) -> str:
    return (pattern.replace("{rrrr}", f"{on.year:04d}").replace("{rr}", f"{on.year % 100:02d}")
            .replace("{mm}", f"{on.month:02d}").replace("{nr}", str(counter)))


def _series(company: Mapping[str, Any], kind: str) -> tuple[str, str]:
    if kind == "KOR":
        return company["correction_pattern"], company["correction_reset"]
    return company["number_pattern"], company["number_reset"]


def next_number(db: sqlite_utils.Database, company: Mapping[str, Any], kind: str, on: date,
                reserve: bool = False) -> str:
    """Return the next free number of the kind's series for the date; with reserve, take it.

    The counter only goes up and numbers already used (issued or imported) are skipped, so a number is
    never given twice. Call with reserve=True only inside a write transaction.
    """
    number, series, period, counter = _next_slot(db, company, kind, on)
    if reserve:
        _take(db, series, period, counter)
    return number


def _take(db: sqlite_utils.Database, series: str, period: str, counter: int) -> None:
    db.execute("INSERT INTO number_counters (series, period, last) VALUES (?, ?, ?)"
               " ON CONFLICT (series, period) DO UPDATE SET last = excluded.last", [series, period, counter])


def _next_slot(db: sqlite_utils.Database, company: Mapping[str, Any], kind: str,
               on: date) -> tuple[str, str, str, int]:
    """The next free number with the series, period and counter it comes from."""
    pattern, reset = _series(company, kind)
    period = f"{on:%Y-%m}" if reset == "month" else f"{on:%Y}"
    series = f"{kind}:{pattern}"
    row = db.execute("SELECT last FROM number_counters WHERE series = ? AND period = ?",
                     [series, period]).fetchone()
    counter = (row[0] if row else 0) + 1
    while db.execute("SELECT 1 FROM used_numbers WHERE number = ?",
                     [render_number(pattern, on, counter)]).fetchone():
        counter += 1
    return render_number(pattern, on, counter), series, period, counter


# --- issuing -----------------------------------------------------------------------------------------

def issue(db: sqlite_utils.Database, invoice_id: int, today: date, now: datetime | None = None) -> str:
    """Freeze a draft: number it, build and validate its FA(3) XML and store the exact bytes.

    Raises ValidationFailed (nothing stored) when the data cannot make a valid invoice.
    """
    company = parties.get_company(db)
    if company is None:
        raise UserError("Najpierw uzupełnij dane firmy (Ustawienia → Firma).")
    with dbmod.write(db):
        row = _require_draft(db, invoice_id)
        lines = get_lines(db, invoice_id)
        errors = completeness_errors(row, lines, today)
        if errors:
            raise ValidationFailed(errors, "Nie można jeszcze wystawić faktury: " + " ".join(errors.values()))
        # A draft reopened after a KSeF rejection keeps its number: KSeF never accepted it.
        number, slot = row["number"], None
        if not number:
            number, *slot = _next_slot(db, company, row["kind"], date.fromisoformat(row["issue_date"]))
            _take(db, *slot)
        seller = parties.company_party(company)
        invoice = document({**row, "number": number}, lines, seller, now or utc_now())
        if invoice.kind == "KOR" and invoice.totals().gross == 0 and invoice.payment.due_date:
            # KSeF rejects a zeroing correction that carries a payment term (lkosson/profak issue #84).
            raise ValidationFailed({"due_date": "Korekta, która nie zmienia kwoty do zapłaty, nie może mieć "
                                                "terminu płatności: usuń termin płatności."})
        xml = fa3.build_xml(invoice)
        problems = fa3.check_document(xml)
        if problems:
            raise ValidationFailed({f"xml-{i}": p.message for i, p in enumerate(problems)},
                                   "Faktura nie przeszła kontroli zgodności ze schematem FA(3): "
                                   + " ".join(p.message for p in problems))
        totals = invoice.totals()
        db.execute(
            "UPDATE invoices SET status = 'issued', number = :number, seller_json = :seller, xml = :xml,"
            " xml_sha256 = :sha, net_total = :net, vat_total = :vat, gross_total = :gross,"
            " issued_at = :now, updated_at = :now WHERE id = :id",
            {"number": number, "seller": json.dumps(asdict(seller), ensure_ascii=False), "xml": xml,
             "sha": hashlib.sha256(xml).hexdigest(), "net": money.to_grosze(totals.net),
             "vat": money.to_grosze(totals.vat), "gross": money.to_grosze(totals.gross),
             "now": utc_now().isoformat(), "id": invoice_id},
        )
        # Also into the numbering journal beside the database, before this commits (store/numbering.py).
        numbering.mark_used(db, number, row["kind"], invoice_id, utc_now().isoformat(),
                            tuple(slot) if slot else None)
    return number


def reopen_rejected(db: sqlite_utils.Database, invoice_id: int) -> None:
    """Turn an invoice that KSeF rejected (B) back into a draft with the same number, to correct it.

    KSeF lets a rejected invoice be sent again (docs/ksef-protocol.md §11); it never entered KSeF, so its content may
    still change. The number stays reserved in used_numbers and is reused when the draft is issued again.
    """
    with dbmod.write(db):
        row = get_invoice(db, invoice_id)
        if row["ksef_status"] != "B":
            raise UserError("Poprawić można tylko fakturę odrzuconą przez KSeF (status B). "
                            "Fakturę przyjętą przez KSeF zmienia się fakturą korygującą.", 409)
        if row["source"] != "editor":
            raise UserError("Tę fakturę zaimportowano z pliku: popraw ją w programie, w którym powstała, "
                            "i zaimportuj ponownie.", 409)
        db.execute("UPDATE invoices SET status = 'draft', xml = NULL, xml_sha256 = NULL, issued_at = NULL,"
                   " ksef_status = NULL, updated_at = ? WHERE id = ?", [utc_now().isoformat(), invoice_id])


def _store_totals(db: sqlite_utils.Database, invoice_id: int) -> None:
    """Keep a draft's totals for the list in step with its lines (call inside the write transaction)."""
    totals = draft_document(db, invoice_id).totals()
    db.execute("UPDATE invoices SET net_total = ?, vat_total = ?, gross_total = ? WHERE id = ?",
               [money.to_grosze(totals.net), money.to_grosze(totals.vat), money.to_grosze(totals.gross),
                invoice_id])
