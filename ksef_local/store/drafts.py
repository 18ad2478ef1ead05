"""'Nowa faktura': open an empty draft again rather than pile up '(szkic) 0,00 zł' rows in the list.

Reusing fits what a user expects: a draft with no buyer, no named or priced line and no notes holds nothing
anyone could miss, and renewed to today's defaults it is exactly the new invoice they asked for. Hiding
empty drafts from the list instead would keep rows that nobody can see, open or delete.
"""
from __future__ import annotations

from datetime import date

import sqlite_utils

from ksef_local.clock import utc_now
from ksef_local.store import db as dbmod
from ksef_local.store.invoices import fresh_header, insert_row

# A draft with content is never reused: a buyer, a line with a name or a price, notes, a foreign currency,
# or (for a correction typed by hand) any data of the corrected invoice.
EMPTY_DRAFT = """
    SELECT id FROM invoices AS i
    WHERE status = 'draft' AND kind = ? AND number IS NULL AND corrected_id IS NULL AND buyer_json IS NULL
      AND coalesce(notes, '') = '' AND currency = 'PLN' AND coalesce(corr_number, '') = ''
      AND coalesce(corr_ksef_number, '') = '' AND coalesce(corr_reason, '') = ''
      AND NOT EXISTS (SELECT 1 FROM invoice_lines AS l WHERE l.invoice_id = i.id
                      AND (l.name != '' OR CAST(l.unit_price AS REAL) != 0))
    ORDER BY id DESC LIMIT 1"""

# What an empty draft may still differ in from a new one; reusing it puts back a new draft's values.
NEW_DRAFT_VALUES = {
    "buyer_id": None, "price_mode": "net", "exchange_rate": None, "exchange_rate_date": None,
    "paid": 0, "paid_date": None, "notes": None, "exemption_kind": None, "exemption_text": None,
    "split_payment": 0, "corr_issue_date": None, "corr_type": None, "net_total": 0, "vat_total": 0,
    "gross_total": 0,
}


def start_draft(db: sqlite_utils.Database, today: date, kind: str = "VAT") -> int:
    """Return the draft that 'Nowa faktura' opens: the newest empty draft of the kind, renewed, or a new one."""
    header = fresh_header(db, today, kind)
    now = utc_now().isoformat()
    with dbmod.write(db):
        found = db.execute(EMPTY_DRAFT, [kind]).fetchone()
        if found is None:
            invoice_id = insert_row(db, "invoices", {**header, "created_at": now, "updated_at": now})
        else:
            invoice_id = found[0]
            values = {**NEW_DRAFT_VALUES, **header, "updated_at": now}
            assignments = ", ".join(f"{k} = :{k}" for k in values)
            db.execute(f"UPDATE invoices SET {assignments} WHERE id = :id", {**values, "id": invoice_id})
            db.execute("DELETE FROM invoice_lines WHERE invoice_id = ?", [invoice_id])
        insert_row(db, "invoice_lines", {"invoice_id": invoice_id, "position": 1, "before": 0})
    return invoice_id
