"""Test data builders shared by the test modules: buyers, editor forms, drafts and issued invoices."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder

from ksef_local.forms import parties as party_forms
from ksef_local.store import invoices, parties

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def buyer(db, name="Hurtownia Łódź Sp. z o.o.", nip="7740001454") -> int:
    return parties.create_buyer(db, party_forms.validate_buyer(
        {"kind": "company", "name": name, "nip": nip, "address_l1": "ul. Piotrkowska 1",
         "address_l2": "90-001 Łódź"}))


def form(lines, **header) -> MultiDict:
    """The editor's form as the browser sends it: header fields and parallel line_* lists."""
    data = MultiDict({"issue_date": "2026-11-24", "sale_date": "2026-11-24", "currency": "PLN",
                      "payment_form": "6", "due_date": "2026-12-08", **header})
    for ln in lines:
        for key, default in (("id", ""), ("name", ""), ("unit", "szt."), ("quantity", "1"), ("unit_price", "0"),
                             ("rate", "23"), ("discount_percent", ""), ("before", "0")):
            data.add(f"line_{key}", str(ln.get(key, default)))
    return data


THREE_RATES = [
    {"name": "Chleb", "quantity": "10", "unit_price": "4,50", "rate": "5"},
    {"name": "Tort", "quantity": "1", "unit_price": "120", "rate": "8"},
    {"name": "Usługa cateringowa", "unit": "godz.", "quantity": "2,5", "unit_price": "200", "rate": "23",
     "discount_percent": "10"},
]


def draft(db, lines=THREE_RATES, **header) -> int:
    invoice_id = invoices.create_draft(db, TODAY)
    invoices.set_buyer(db, invoice_id, buyer(db))
    invoices.save_draft(db, invoice_id, form(lines, **header))
    return invoice_id


def issued(db, **kwargs) -> int:
    invoice_id = draft(db, **kwargs)
    invoices.issue(db, invoice_id, TODAY, NOW)
    return invoice_id


def dump(db) -> list[str]:
    """Every table and row of the database as SQL, to assert that a refused request changed nothing."""
    return list(db.conn.iterdump())


def post_files(client, files: list[tuple[bytes, str]], path: str = "/import", field: str = "pliki",
               token_in_form: bool = False):
    """Post files; built by hand so the test can close the spooled request body (Werkzeug's client does not).

    token_in_form: send the CSRF token as the form's field, as the import page does, not as a header.
    """
    data: dict = {field: [(io.BytesIO(content), name) for content, name in files]}
    headers = {} if token_in_form else {"X-CSRF-Token": client.token}
    if token_in_form:
        data["csrf_token"] = client.token
    builder = EnvironBuilder(path=path, method="POST", headers=headers, data=data)
    environ = builder.get_environ()
    try:
        return client.raw.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()
