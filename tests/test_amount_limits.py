"""Amounts that pass each field's check but not FA(3)'s limit (issue 11 item 12): a field error, nothing stored.

quantity 100000 × price 999999999999 passed both field checks and overflowed SQLite's INTEGER in _store_totals
(an English 500); an imported file whose sums overflow stopped a multi-file import at that file.
"""
from __future__ import annotations

import re
from decimal import Decimal
from importlib.resources import files

import pytest
from lxml import etree

from ksef_local import fa3
from ksef_local.core import money
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.fa3.names import _MAIN_SCHEMA, _SCHEMA_PACKAGE
from ksef_local.forms.editor import parse_draft_form
from ksef_local.store import imports, invoices

from .factories import NOW, TODAY, draft, dump, form, issued, post_files

LIMIT = "9\u00a0999\u00a0999\u00a0999\u00a0999\u00a0999,99"
XSD = "http://www.w3.org/2001/XMLSchema"


def largest_value(xsd_type: str, places: int | None = None) -> Decimal:
    """The largest value of one of the FA(3) XSD's decimal types, by its totalDigits and fractionDigits facets."""
    schema = etree.fromstring((files(_SCHEMA_PACKAGE) / _MAIN_SCHEMA).read_bytes())
    restriction = schema.find(f"{{{XSD}}}simpleType[@name='{xsd_type}']/{{{XSD}}}restriction")
    total = int(restriction.find(f"{{{XSD}}}totalDigits").get("value"))
    fraction = int(restriction.find(f"{{{XSD}}}fractionDigits").get("value"))
    return Decimal(10) ** (total - fraction) - Decimal(1).scaleb(-(places if places is not None else fraction))


def test_the_amount_limits_are_those_of_the_xsd_types():
    assert money.MAX_AMOUNT == largest_value("TKwotowy")
    assert money.MAX_DISCOUNT == largest_value("TKwotowy2", places=2)  # P_10, written to the grosz
    assert money.to_grosze(money.MAX_AMOUNT) < 2**63  # and its grosze fit SQLite's INTEGER


def test_the_editor_refuses_a_line_whose_value_fa3_cannot_hold(client, company, db):
    invoice_id = draft(db)
    before = dump(db)
    lines = [{"name": "Maszyna", "quantity": "100000", "unit_price": "999999999999", "rate": "23"}]
    response = client.post(f"/faktury/{invoice_id}/zapisz", data=form(lines), htmx=True)
    assert 'data-field="line_unit_price-0"' in response.text
    assert (f"Pozycja 1: ilość × cena to 99\u00a0999\u00a0999\u00a0999\u00a0900\u00a0000,00\u00a0zł, a kwota na "
            f"fakturze FA(3) może mieć najwyżej {LIMIT}\u00a0zł.") in response.text
    assert dump(db) == before


def test_issuing_with_such_a_line_is_refused_in_polish(client, company, db):
    invoice_id = draft(db)
    before = dump(db)
    lines = [{"name": "Maszyna", "quantity": "100000", "unit_price": "999999999999", "rate": "23"}]
    response = client.post(f"/faktury/{invoice_id}/wystaw", data=form(lines), htmx=True)
    assert response.status_code == 422 and "ilość × cena" in response.text
    assert dump(db) == before


def test_the_editor_refuses_lines_whose_sum_fa3_cannot_hold(client, company, db):
    invoice_id = draft(db)
    before = dump(db)
    lines = [{"name": f"Maszyna {n}", "quantity": "4000", "unit_price": "999999999999", "rate": "zw"}
             for n in range(3)]  # each 3 999 999 999 996 000 zł, together 1.2e16
    response = client.post(f"/faktury/{invoice_id}/zapisz", data=form(lines, exemption_text="art. 43"), htmx=True)
    assert 'data-field="lines"' in response.text
    assert f"Suma faktury przekracza {LIMIT}\u00a0zł: tyle najwyżej może mieć kwota na fakturze FA(3)." in response.text
    assert dump(db) == before


def test_a_discount_does_not_hide_a_line_value_fa3_cannot_hold(company, db):
    lines = [{"name": "Gratis", "quantity": "100000", "unit_price": "999999999999", "discount_percent": "100"}]
    with pytest.raises(ValidationFailed) as caught:
        parse_draft_form(form(lines))
    assert "ilość × cena" in caught.value.errors["line_unit_price-0"]


def test_a_discount_fa3_cannot_hold_is_refused_before_issuing(client, company, db):
    invoice_id = draft(db)
    before = dump(db)
    lines = [{"name": "Statek", "quantity": "1000", "unit_price": "999999999999", "rate": "zw",
              "discount_percent": "50"}]  # the line fits TKwotowy, its discount (P_10, TKwotowy2) does not
    response = client.post(f"/faktury/{invoice_id}/wystaw", data=form(lines, exemption_text="art. 43"), htmx=True)
    assert response.status_code == 422
    assert ("Pozycja 1: rabat to 499\u00a0999\u00a0999\u00a0999\u00a0500,00\u00a0zł, a rabat pozycji na fakturze "
            "FA(3) może mieć najwyżej 99\u00a0999\u00a0999\u00a0999\u00a0999,99\u00a0zł.") in response.text
    assert dump(db) == before


def test_vat_in_pln_that_fa3_cannot_hold_points_at_the_exchange_rate(company, db):
    lines = [{"name": "Maszyna", "quantity": "900", "unit_price": "999999999999", "rate": "23"}]
    with pytest.raises(ValidationFailed) as caught:
        parse_draft_form(form(lines, currency="EUR", exchange_rate="99999", exchange_rate_date="2026-11-20"))
    assert f"VAT przeliczony na złote przekracza {LIMIT}\u00a0zł" in caught.value.errors["exchange_rate"]


def test_the_state_before_a_correction_is_held_to_the_limit_too(company, db):
    lines = [{"name": "Maszyna", "quantity": "9000", "unit_price": "999999999999", "rate": "zw", "before": "1"},
             {"name": "Maszyna", "quantity": "9000", "unit_price": "999999999999", "rate": "zw", "before": "1"},
             {"name": "Maszyna", "quantity": "1", "unit_price": "1", "rate": "zw"}]
    with pytest.raises(ValidationFailed) as caught:
        parse_draft_form(form(lines, exemption_text="art. 43"))
    assert caught.value.errors["lines"].startswith(f"Suma pozycji przed korektą przekracza {LIMIT}")


def test_an_invoice_right_at_the_limit_is_issued_and_valid(company, db):
    lines = [{"name": "Statek", "quantity": "10000", "unit_price": "999999999999", "rate": "0 KR"}]
    invoice_id = draft(db, lines=lines)
    invoices.issue(db, invoice_id, TODAY, NOW)  # raises ValidationFailed if the XSD refused it
    row = invoices.get_invoice(db, invoice_id)
    assert row["gross_total"] == 999_999_999_999_000_000 and fa3.check_document(row["xml"]) == []


# --- importing --------------------------------------------------------------------------------------------

TEN_RATES = ["23", "8", "5", "0 KR", "0 WDT", "0 EX", "zw", "oo", "np I", "np II"]


def overflowing_sums_xml(db) -> bytes:
    """A schema-valid FA(3) file from "another program": ten rate sums, each the largest TKwotowy, so that
    their sum is beyond what SQLite's INTEGER holds in grosze."""
    lines = [{"name": f"Towar {rate}", "quantity": "1", "unit_price": "1", "rate": rate} for rate in TEN_RATES]
    xml = invoices.get_invoice(db, issued(db, lines=lines, exemption_text="art. 43"))["xml"]
    xml = xml.replace(b"FV/2026/11/1", b"OBCA/DUZA/1")
    xml, count = re.subn(rb"<P_13_(\w+)>[^<]*</P_13_", rb"<P_13_\1>9999999999999999.99</P_13_", xml)
    assert count == 10 and fa3.check_document(xml) == []
    return xml


def test_import_of_a_file_whose_sums_overflow_is_refused(company, db):
    xml = overflowing_sums_xml(db)
    before = dump(db)
    with pytest.raises(UserError) as caught:
        imports.import_xml(db, xml, "duza.xml")
    assert f"Sumy kwot na tej fakturze przekraczają {LIMIT}" in caught.value.message
    assert dump(db) == before


def test_a_multi_file_import_goes_on_after_such_a_file(client, company, db):
    xml = overflowing_sums_xml(db)
    good = xml.replace(b"OBCA/DUZA/1", b"OBCA/2").replace(b"9999999999999999.99", b"1.00")
    response = post_files(client, [(xml, "duza.xml"), (good, "dobra.xml")])
    assert response.status_code == 422 and "Wynik importu: 1 z 2" in response.text
    assert re.search(r"duza\.xml</strong>:\s*Sumy kwot na tej fakturze przekraczają", response.text)
    assert "zaimportowano fakturę" in response.text and "OBCA/2" in response.text
    assert db.execute("SELECT count(*) FROM invoices WHERE number LIKE 'OBCA/%'").fetchone()[0] == 1
