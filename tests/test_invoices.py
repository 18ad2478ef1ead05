"""Invoice lifecycle on a real SQLite file: drafts, numbering, issuing, immutability, import and the list."""
from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

import pytest

from ksef_local import fa3
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.forms import parties as party_forms
from ksef_local.ksef.ksef_number import make_ksef_number
from ksef_local.store import drafts, imports, invoice_list, invoices, parties

from .factories import NOW, THREE_RATES, TODAY, buyer, draft, form, issued


def test_create_draft_takes_defaults_from_the_company(db, company):
    row = invoices.get_invoice(db, invoices.create_draft(db, TODAY))
    assert (row["status"], row["issue_date"], row["due_date"]) == ("draft", "2026-11-24", "2026-12-08")
    assert row["bank_account"] == company["bank_account"] and row["place"] == "Warszawa"
    assert row["number"] is None


def test_create_draft_needs_the_company_profile(db):
    with pytest.raises(UserError, match="dane firmy"):
        invoices.create_draft(db, TODAY)


def test_new_invoice_reuses_an_empty_draft_renewed_to_today(db, company):
    first = drafts.start_draft(db, date(2026, 11, 2))
    db.execute("UPDATE invoice_lines SET quantity = '5' WHERE invoice_id = ?", [first])  # no name, no price
    db.execute("UPDATE invoices SET price_mode = 'gross', paid = 1 WHERE id = ?", [first])
    again = drafts.start_draft(db, TODAY)
    assert again == first
    row = invoices.get_invoice(db, again)
    assert (row["issue_date"], row["sale_date"], row["due_date"]) == ("2026-11-24", "2026-11-24", "2026-12-08")
    assert (row["price_mode"], row["paid"]) == ("net", 0)
    assert [(ln["name"], ln["quantity"]) for ln in invoices.get_lines(db, again)] == [("", "1")]
    assert invoice_list.list_invoices(db)[1] == 1


@pytest.mark.parametrize("content", [
    "UPDATE invoice_lines SET name = 'Chleb' WHERE invoice_id = :id",
    "UPDATE invoice_lines SET unit_price = '4.50' WHERE invoice_id = :id",
    "UPDATE invoices SET notes = 'Zaliczka' WHERE id = :id",
    "UPDATE invoices SET currency = 'EUR' WHERE id = :id",
])
def test_new_invoice_never_reuses_a_draft_with_content(db, company, content):
    first = drafts.start_draft(db, TODAY)
    db.execute(content, {"id": first})
    assert drafts.start_draft(db, TODAY) != first


def test_new_invoice_never_reuses_a_draft_with_a_buyer_or_of_another_kind(db, company):
    with_buyer = drafts.start_draft(db, TODAY)
    invoices.set_buyer(db, with_buyer, buyer(db))
    correction = drafts.start_draft(db, TODAY, "KOR")
    assert len({with_buyer, correction, drafts.start_draft(db, TODAY)}) == 3
    invoices.create_draft(db, TODAY, "KOR", corrected_id=issued(db))  # newer, but filled from an invoice
    assert drafts.start_draft(db, TODAY, "KOR") == correction


def test_save_draft_computes_three_rates(db, company):
    invoice_id = draft(db)
    totals = invoices.draft_document(db, invoice_id).totals()
    assert [(r.rate, r.net, r.vat) for r in totals.by_rate] == [
        ("23", Decimal("450.00"), Decimal("103.50")), ("8", Decimal("120"), Decimal("9.60")),
        ("5", Decimal("45.00"), Decimal("2.25"))]
    assert totals.gross == Decimal("730.35")
    assert invoices.get_invoice(db, invoice_id)["gross_total"] == 73035


@pytest.mark.parametrize("change, field", [
    ({"quantity": "-1"}, "line_quantity-0"),
    ({"quantity": "abc"}, "line_quantity-0"),
    ({"quantity": "10000000000"}, "line_quantity-0"),
    ({"quantity": "1,1234567"}, "line_quantity-0"),
    ({"unit_price": "1,123456789"}, "line_unit_price-0"),
    ({"name": "x" * 600}, "line_name-0"),
    ({"rate": "17"}, "line_rate-0"),
    ({"discount_percent": "150"}, "line_discount_percent-0"),
])
def test_save_draft_refuses_bad_input_and_changes_nothing(db, company, change, field):
    invoice_id = draft(db)
    before = invoices.get_lines(db, invoice_id)
    with pytest.raises(ValidationFailed) as caught:
        invoices.save_draft(db, invoice_id, form([{**THREE_RATES[0], **change}, *THREE_RATES[1:]]))
    assert field in caught.value.errors
    assert "Pozycja 1" in caught.value.errors[field]
    assert invoices.get_lines(db, invoice_id) == before


def test_save_draft_refuses_a_bad_date(db, company):
    invoice_id = draft(db)
    with pytest.raises(ValidationFailed) as caught:
        invoices.save_draft(db, invoice_id, form(THREE_RATES, issue_date="2026-02-30"))
    assert "dd.mm.rrrr" in caught.value.errors["issue_date"]
    assert invoices.get_invoice(db, invoice_id)["issue_date"] == "2026-11-24"


def test_issue_freezes_exact_validated_xml(db, company):
    invoice_id = issued(db)
    row = invoices.get_invoice(db, invoice_id)
    assert row["status"] == "issued" and row["number"] == "FV/2026/11/1"
    assert hashlib.sha256(row["xml"]).hexdigest() == row["xml_sha256"]
    assert fa3.check_document(row["xml"]) == []
    summary = fa3.parse_summary(row["xml"])
    assert (summary.number, summary.gross, summary.seller_nip) == ("FV/2026/11/1", Decimal("730.35"), "5261040828")
    assert row["gross_total"] == 73035


def test_issued_invoice_cannot_change(db, company):
    invoice_id = issued(db)
    xml = invoices.get_invoice(db, invoice_id)["xml"]
    for attempt in (lambda: invoices.save_draft(db, invoice_id, form(THREE_RATES)),
                    lambda: invoices.add_line(db, invoice_id),
                    lambda: invoices.remove_line(db, invoice_id, invoices.get_lines(db, invoice_id)[0]["id"]),
                    lambda: invoices.set_buyer(db, invoice_id, buyer(db, "Inny", "5213017228")),
                    lambda: invoices.issue(db, invoice_id, TODAY)):
        with pytest.raises(UserError, match="już wystawiona"):
            attempt()
    with pytest.raises(UserError, match="nie można usunąć"):
        invoices.delete_draft(db, invoice_id)
    assert invoices.get_invoice(db, invoice_id)["xml"] == xml


def test_issue_without_buyer_says_what_is_missing_and_stores_nothing(db, company):
    invoice_id = invoices.create_draft(db, TODAY)
    invoices.save_draft(db, invoice_id, form(THREE_RATES))
    with pytest.raises(ValidationFailed) as caught:
        invoices.issue(db, invoice_id, TODAY)
    assert caught.value.errors["buyer"] == "Wybierz nabywcę."
    row = invoices.get_invoice(db, invoice_id)
    assert (row["status"], row["number"], row["xml"]) == ("draft", None, None)
    assert db.execute("SELECT count(*) FROM used_numbers").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM number_counters").fetchone()[0] == 0


@pytest.mark.parametrize("header, lines, field", [
    ({"issue_date": "2026-11-25"}, THREE_RATES, "issue_date"),
    ({}, [{"name": "", "quantity": "1", "unit_price": "10"}], "line_name-0"),
    ({}, [{"name": "Usługa", "quantity": "0", "unit_price": "10"}], "line_quantity-0"),
    ({}, [{"name": "Kurs", "quantity": "1", "unit_price": "10", "rate": "zw"}], "exemption_text"),
    ({"currency": "EUR"}, THREE_RATES, "exchange_rate"),
    ({"paid": "1"}, THREE_RATES, "paid_date"),
])
def test_issue_refuses_incomplete_invoices(db, company, header, lines, field):
    invoice_id = draft(db, lines=lines, **header)
    with pytest.raises(ValidationFailed) as caught:
        invoices.issue(db, invoice_id, TODAY)
    assert field in caught.value.errors
    assert invoices.get_invoice(db, invoice_id)["status"] == "draft"


def test_issue_with_an_invalid_document_names_the_field_in_polish(db, company):
    # A buyer whose NIP passes our checksum but is stored broken (e.g. edited in the file) must still
    # be caught by the XSD, with a Polish message and nothing stored.
    invoice_id = draft(db)
    db.execute("UPDATE invoices SET buyer_json = replace(buyer_json, '7740001454', '0740001454') WHERE id = ?",
               [invoice_id])
    with pytest.raises(ValidationFailed) as caught:
        invoices.issue(db, invoice_id, TODAY)
    assert "NIP nabywcy" in caught.value.message
    assert invoices.get_invoice(db, invoice_id)["status"] == "draft"
    assert db.execute("SELECT count(*) FROM used_numbers").fetchone()[0] == 0


def test_numbers_are_consecutive_and_never_reused(db, company):
    first = issued(db)
    deleted = draft(db)
    invoices.delete_draft(db, deleted)
    second = issued(db)
    assert invoices.get_invoice(db, first)["number"] == "FV/2026/11/1"
    assert invoices.get_invoice(db, second)["number"] == "FV/2026/11/2"
    db.execute("DELETE FROM number_counters")  # even a lost counter cannot bring a number back
    third = issued(db)
    assert invoices.get_invoice(db, third)["number"] == "FV/2026/11/3"


def test_numbering_restarts_each_month_and_keeps_separate_series(db, company):
    october = issued(db, issue_date="2026-10-31")
    november = issued(db)
    assert invoices.get_invoice(db, october)["number"] == "FV/2026/10/1"
    assert invoices.get_invoice(db, november)["number"] == "FV/2026/11/1"
    assert invoices.next_number(db, company, "KOR", TODAY) == "KOR/2026/11/1"


def test_next_number_skips_numbers_taken_by_imports(db, company):
    original = issued(db)
    xml = invoices.get_invoice(db, original)["xml"].replace(b"FV/2026/11/1", b"FV/2026/11/2")
    imports.import_xml(db, xml, "obca.xml")
    assert invoices.next_number(db, company, "VAT", TODAY) == "FV/2026/11/3"


def correction_draft(db) -> int:
    """A KOR draft of a freshly issued invoice that has a KSeF number (as after sending)."""
    original = issued(db)
    db.execute("UPDATE invoices SET ksef_number = ? WHERE id = ?",
               [make_ksef_number("5261040828", TODAY, "0100001AF629"), original])
    return invoices.create_draft(db, TODAY, "KOR", corrected_id=original)


def test_correction_of_an_issued_invoice(db, company):
    kor = correction_draft(db)
    row = invoices.get_invoice(db, kor)
    assert (row["kind"], row["corr_number"], row["corr_issue_date"]) == ("KOR", "FV/2026/11/1", "2026-11-24")
    lines = invoices.get_lines(db, kor)
    assert [ln["before"] for ln in lines] == [1, 1, 1, 0, 0, 0]
    # After the correction the catering service costs 150 instead of 200: net 337.50 instead of 450,
    # VAT round(77.625) = 77.63 instead of 103.50, so the correction is -112.50 net, -25.87 VAT.
    edited = [{**dict(ln), "discount_percent": ln["discount_percent"] or ""} for ln in lines]
    edited[5]["unit_price"] = "150"
    invoices.save_draft(db, kor, form(edited, corr_number=row["corr_number"], corr_issue_date=row["corr_issue_date"],
                                      corr_ksef_number=row["corr_ksef_number"], corr_reason="Błędna cena usługi"))
    number = invoices.issue(db, kor, TODAY, NOW)
    assert number == "KOR/2026/11/1"
    frozen = invoices.get_invoice(db, kor)
    assert frozen["net_total"] == -11250 and frozen["vat_total"] == -2587 and frozen["gross_total"] == -13837
    assert fa3.parse_summary(frozen["xml"]).gross == Decimal("-138.37")


def test_correction_needs_a_valid_ksef_number(db, company):
    kor = invoices.create_draft(db, TODAY, "KOR")
    invoices.set_buyer(db, kor, buyer(db))
    invoices.save_draft(db, kor, form([{"name": "Chleb", "quantity": "1", "unit_price": "4", "rate": "5"}],
                                      corr_number="FV/1", corr_issue_date="2026-11-01",
                                      corr_ksef_number="5265877635-20250826-0100001AF629-AA", corr_reason="Cena"))
    with pytest.raises(ValidationFailed) as caught:
        invoices.issue(db, kor, TODAY)
    assert "numer KSeF" in caught.value.errors["corr_ksef_number"]


def test_cannot_correct_a_draft(db, company):
    with pytest.raises(UserError, match="tylko wystawioną"):
        invoices.create_draft(db, TODAY, "KOR", corrected_id=draft(db))


# --- import ------------------------------------------------------------------------------------------

def exported_xml(db, number: str) -> bytes:
    """An FA(3) file from "another program": our own issued XML renumbered and removed from the book."""
    invoice_id = issued(db)
    xml = invoices.get_invoice(db, invoice_id)["xml"]
    return xml.replace(invoices.get_invoice(db, invoice_id)["number"].encode(), number.encode())


def test_import_keeps_exact_bytes_and_key_fields(db, company):
    xml = exported_xml(db, "ZEWN/7/2026")
    invoice_id = imports.import_xml(db, xml, "zewn.xml")
    row = invoices.get_invoice(db, invoice_id)
    assert row["xml"] == xml and row["xml_sha256"] == hashlib.sha256(xml).hexdigest()
    assert (row["status"], row["source"], row["number"]) == ("issued", "import", "ZEWN/7/2026")
    assert (row["buyer_name"], row["buyer_nip"], row["gross_total"]) == ("Hurtownia Łódź Sp. z o.o.", "7740001454",
                                                                         73035)
    with pytest.raises(UserError):
        invoices.save_draft(db, invoice_id, form(THREE_RATES))


def test_import_refuses_a_second_copy(db, company):
    xml = exported_xml(db, "ZEWN/8/2026")
    imports.import_xml(db, xml)
    count = db.execute("SELECT count(*) FROM invoices").fetchone()[0]
    with pytest.raises(UserError, match="już jest w programie"):
        imports.import_xml(db, xml)
    assert db.execute("SELECT count(*) FROM invoices").fetchone()[0] == count


@pytest.mark.parametrize("data, fragment", [
    (b"to nie jest XML", "XML"),
    (b"%PDF-1.4 binary \x00\x01", "XML"),
    (b"<?xml version='1.0'?><Faktura><P_2>1</P_2></Faktura>", "FA(3)"),
    (b"<a>" + b"x" * 5_000_000 + b"</a>", "za duży"),
])
def test_import_refuses_bad_files_and_changes_nothing(db, company, data, fragment):
    with pytest.raises(UserError) as caught:
        imports.import_xml(db, data, "plik.xml")
    assert fragment in caught.value.message
    assert db.execute("SELECT count(*) FROM invoices").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM used_numbers").fetchone()[0] == 0


def test_import_refuses_someone_elses_invoice(db, company):
    xml = exported_xml(db, "OBCA/1").replace(b"<NIP>5261040828</NIP>", b"<NIP>5213017228</NIP>", 1)
    with pytest.raises(UserError, match="nie Twoja firma"):
        imports.import_xml(db, xml)


def test_read_import_file_refuses_oversized_files_before_reading(tmp_path):
    big = tmp_path / "duza.xml"
    big.write_bytes(b"<a>" + b" " * 5_000_000 + b"</a>")
    with pytest.raises(UserError, match="za duży"):
        imports.read_import_file(big)


# --- the list ----------------------------------------------------------------------------------------

def test_list_filters_search_sort_and_pages(db, company):
    ids = [issued(db, issue_date=f"2026-10-{day:02d}") for day in (1, 2, 3)]
    other = parties.create_buyer(db, party_forms.validate_buyer({"kind": "consumer", "name": "Żaneta Ćwik"}))
    last = draft(db)
    invoices.set_buyer(db, last, other)

    rows, total = invoice_list.list_invoices(db)
    assert total == 4 and rows[0]["id"] == last  # newest issue date first
    assert invoice_list.list_invoices(db, month="2026-10")[1] == 3
    assert [r["id"] for r in invoice_list.list_invoices(db, status="draft")[0]] == [last]
    assert [r["id"] for r in invoice_list.list_invoices(db, q="żaneta")[0]] == [last]
    assert [r["id"] for r in invoice_list.list_invoices(db, q="ŁÓDŹ")[0]] == list(reversed(ids))
    assert [r["id"] for r in invoice_list.list_invoices(db, q="FV/2026/10/2")[0]] == [ids[1]]
    assert [r["id"] for r in invoice_list.list_invoices(db, buyer_id=other)[0]] == [last]
    assert [r["number"] for r in invoice_list.list_invoices(db, sort="numer", desc=False, status="issued")[0]] == [
        "FV/2026/10/1", "FV/2026/10/2", "FV/2026/10/3"]
    page2, total = invoice_list.list_invoices(db, page=2, per_page=3)
    assert total == 4 and [r["id"] for r in page2] == [ids[0]]
    assert "xml" not in rows[0]


def test_zeroing_correction_may_not_carry_a_payment_term(db, company):
    kor = correction_draft(db)
    row = invoices.get_invoice(db, kor)
    assert row["due_date"] is None
    lines = [{**dict(ln), "discount_percent": ln["discount_percent"] or ""} for ln in invoices.get_lines(db, kor)]
    header = {"corr_number": row["corr_number"], "corr_issue_date": row["corr_issue_date"],
              "corr_ksef_number": row["corr_ksef_number"], "corr_reason": "Zmiana nazwy towaru"}
    invoices.save_draft(db, kor, form(lines, due_date="2026-12-24", **header))
    with pytest.raises(ValidationFailed) as caught:
        invoices.issue(db, kor, TODAY)
    assert "terminu płatności" in caught.value.errors["due_date"]
    invoices.save_draft(db, kor, form(lines, due_date="", **header))
    assert invoices.issue(db, kor, TODAY) == "KOR/2026/11/1"


def test_rejected_invoice_can_be_corrected_and_keeps_its_number(db, company):
    invoice_id = issued(db)
    with pytest.raises(UserError, match="tylko fakturę odrzuconą"):
        invoices.reopen_rejected(db, invoice_id)
    db.execute("UPDATE invoices SET ksef_status = 'B' WHERE id = ?", [invoice_id])  # as the sender records it
    invoices.reopen_rejected(db, invoice_id)
    row = invoices.get_invoice(db, invoice_id)
    assert (row["status"], row["number"], row["xml"]) == ("draft", "FV/2026/11/1", None)
    with pytest.raises(UserError, match="Nie można jej usunąć"):
        invoices.delete_draft(db, invoice_id)
    invoices.save_draft(db, invoice_id, form([{**THREE_RATES[0], "name": "Chleb razowy"}]))
    assert invoices.issue(db, invoice_id, TODAY, NOW) == "FV/2026/11/1"
    assert b"Chleb razowy" in invoices.get_invoice(db, invoice_id)["xml"]
    assert invoices.next_number(db, company, "VAT", TODAY) == "FV/2026/11/2"


def test_months_with_invoices_newest_first(db, company):
    assert invoice_list.months_with_invoices(db) == []
    for issue_date in ("2026-11-24", "2025-03-31", "2026-11-01", "2025-12-01"):
        issued(db, issue_date=issue_date)
    assert invoice_list.months_with_invoices(db) == ["2026-11", "2025-12", "2025-03"]
