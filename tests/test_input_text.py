"""What users type is made canonical once, in forms/: what is stored is what is issued (issue 11 item 14).

Fullwidth and other lookalike digits no longer pass the NIP and account checks into the XML; NUL and other
control characters are dropped before storing, not only when the XML is written; ISO week dates are no dates.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from ksef_local import fa3
from ksef_local.core import money
from ksef_local.errors import ValidationFailed
from ksef_local.fa3.build import _multiline
from ksef_local.fa3.names import _token
from ksef_local.forms import editor
from ksef_local.forms import ksef_settings as settings_form
from ksef_local.forms import parties as party_forms
from ksef_local.forms.text import MAX_RECORD_ID, multi_line, record_id, single_line
from ksef_local.ksef.ksef_number import is_valid_ksef_number
from ksef_local.store import invoices, parties

from .conftest import COMPANY_FORM
from .factories import NOW, TODAY, dump, form

FULLWIDTH_NIP = "５２６１０４０８２８"  # 5261040828 in fullwidth digits: stdnum's checksum accepted it
LOOKALIKE = "tylko wyglądają jak cyfry"
NS = {"f": fa3.NS}

# Anything a form field can receive, control characters, separators and decomposed letters included.
any_text = st.lists(st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
    ["\x00", "\t", "\n", "\r", "\r\n", "\x0b", "\x1f", "\x7f", "\x85", "\u2028", "\xa0", "a\u0328", "\ufdd0",
     " "])).map("".join)


@given(any_text)
def test_a_single_line_field_is_exactly_what_fa3_writes(typed):
    clean = single_line(typed)
    assert _token(clean) == clean  # the XML writer finds nothing left to drop or collapse
    assert single_line(clean) == clean


@given(any_text)
def test_a_multi_line_field_is_exactly_what_fa3_writes(typed):
    clean = multi_line(typed)
    assert _multiline(clean) == clean
    assert multi_line(clean) == clean


def test_text_is_composed_but_not_compatibility_folded():
    assert single_line("Zaz\u0307o\u0301łc\u0301") == "Zażółć"  # macOS and PDFs give decomposed letters
    assert single_line("m²") == "m²"  # NFKC would make it m2
    assert single_line(" Chleb\x00 żytni\t\r\n 500\u00a0g ") == "Chleb żytni 500 g"
    assert multi_line("Dziękujemy!\r\n\tTermin: 14 dni.  \r\n\r\nKonto w \x00banku") == (
        "Dziękujemy!\n Termin: 14 dni.\n\nKonto w banku")


@pytest.mark.parametrize("field, value", [
    ("nip", FULLWIDTH_NIP), ("nip", "526104082²"), ("nip", "٥٢٦١٠٤٠٨٢٨"),
    ("bank_account", "６１１０９０１０１４０００００７１２１９８１２８７４"),
    ("bank_account", "PL61 1090 1014 0000 0712 1981 287４"),
])
def test_lookalike_digits_in_nip_and_account_are_refused(field, value):
    with pytest.raises(ValidationFailed) as caught:
        party_forms.validate_company({**COMPANY_FORM, field: value})
    assert LOOKALIKE in caught.value.errors[field]


def test_a_buyer_nip_in_fullwidth_digits_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        party_forms.validate_buyer({"kind": "company", "name": "Hurtownia", "nip": FULLWIDTH_NIP, "address_l1": "x"})
    assert LOOKALIKE in caught.value.errors["nip"]


def test_a_phone_in_fullwidth_digits_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        party_forms.validate_company({**COMPANY_FORM, "phone": "+48 ２２ １２３ ４５ ６７"})
    assert "Telefon" in caught.value.errors["phone"]


def test_ksef_settings_take_ascii_digits_only():
    from ksef_local.core.settings import KsefSettings

    current = KsefSettings()
    with pytest.raises(ValidationFailed) as caught:
        settings_form.clean({"nip": FULLWIDTH_NIP, "batch_threshold": "１０"}, current, "5261040828", 0)
    assert LOOKALIKE in caught.value.errors["nip"]
    assert "Próg wysyłki wsadowej" in caught.value.errors["batch_threshold"]


def test_a_ksef_number_with_a_fullwidth_digit_is_invalid_not_a_crash():
    assert is_valid_ksef_number("5265877635-20250826-0100001AF629-AF")
    assert not is_valid_ksef_number("5２65877635-20250826-0100001AF629-AF")  # was UnicodeEncodeError
    assert not is_valid_ksef_number("5265877635-20250826-0100001AF629-AF\n")


@pytest.mark.parametrize("typed", ["１２", "1２,5", "²", "12\x00"])
def test_amounts_take_ascii_digits_only(typed):
    with pytest.raises(ValueError):
        money.parse_decimal(typed)


@pytest.mark.parametrize("typed", ["2026-W01", "2026-W48-2", "2026W482", "20261124", "２０２６-11-24",
                                   "24.11.２０２６", "2026-11-24T10:00", "24.11.26", "2026-02-30"])
def test_only_calendar_dates_are_dates(typed):
    errors: dict[str, str] = {}
    assert editor.parse_date(typed, "Data wystawienia", errors, "issue_date") is None
    assert errors["issue_date"] == "Data wystawienia: podaj datę w formacie dd.mm.rrrr."


@pytest.mark.parametrize("typed", ["2026-11-24", "24.11.2026"])
def test_iso_and_polish_dates_are_read(typed):
    errors: dict[str, str] = {}
    assert editor.parse_date(typed, "Data", errors, "issue_date") == "2026-11-24" and not errors


def test_an_iso_week_date_as_issue_date_is_refused_and_the_draft_kept(db, company):
    invoice_id = invoices.create_draft(db, TODAY)
    before = dump(db)
    with pytest.raises(ValidationFailed) as caught:
        invoices.save_draft(db, invoice_id, form([{"name": "Chleb", "unit_price": "4"}], issue_date="2026-W01"))
    assert "podaj datę w formacie dd.mm.rrrr" in caught.value.errors["issue_date"]
    assert dump(db) == before


@pytest.mark.parametrize("line_id", ["²", "１", "99999999999999999999999", str(MAX_RECORD_ID + 1), "-1", "abc", "0"])
def test_a_tampered_line_id_is_refused_and_changes_nothing(db, company, line_id):
    invoice_id = invoices.create_draft(db, TODAY)
    before = dump(db)
    with pytest.raises(ValidationFailed) as caught:
        invoices.save_draft(db, invoice_id, form([{"id": line_id, "name": "Chleb", "unit_price": "4"}]))
    assert caught.value.errors["lines"] == "Formularz pozycji jest niekompletny: odśwież stronę."
    assert dump(db) == before


def test_record_id_reads_ascii_digits_within_sqlite_integer():
    assert record_id("7") == 7 and record_id(str(MAX_RECORD_ID)) == MAX_RECORD_ID
    assert [record_id(t) for t in ("", "0", "²", "１", str(MAX_RECORD_ID + 1), "7" * 5000)] == [None] * 6


def test_what_is_stored_is_what_is_issued(db):
    dirty = {"name": "Piekarnia\x00 „Zażółć”\tSp. z o.o.\x7f", "address_l1": "ul. Kwiatowa\x0b 1",
             "place": "Warsza\u0307wa\x1f"}
    parties.save_company(db, party_forms.validate_company({**COMPANY_FORM, **dirty}))
    company = parties.get_company(db)
    assert company["name"] == "Piekarnia „Zażółć” Sp. z o.o." and company["address_l1"] == "ul. Kwiatowa 1"
    buyer_id = parties.create_buyer(db, party_forms.validate_buyer(
        {"kind": "company", "name": "Hurtownia\x00\u2028Łódź", "nip": "7740001454", "address_l1": "Piotrkowska\t1"}))
    invoice_id = invoices.create_draft(db, TODAY)
    invoices.set_buyer(db, invoice_id, buyer_id)
    invoices.save_draft(db, invoice_id, form(
        [{"name": "Chleb\x00 żytni\r\n500 g", "unit": "m²\x1b", "quantity": "2", "unit_price": "4,50", "rate": "5"}],
        place="Kra\x00ków", notes="Dziękujemy\x00!\r\n\tZapraszamy ponownie.\x7f  \r\n"))
    row, line = invoices.get_invoice(db, invoice_id), invoices.get_lines(db, invoice_id)[0]
    assert (row["place"], row["notes"]) == ("Kraków", "Dziękujemy!\n Zapraszamy ponownie.")
    assert (line["name"], line["unit"]) == ("Chleb żytni 500 g", "m²")
    assert row["buyer_name"] == "Hurtownia Łódź"

    invoices.issue(db, invoice_id, TODAY, NOW)
    root = etree.fromstring(invoices.get_invoice(db, invoice_id)["xml"])

    def text(path: str) -> str:
        return root.xpath(f"string({path})", namespaces=NS)

    assert text("f:Fa/f:P_1M") == row["place"]
    assert text("f:Stopka/f:Informacje/f:StopkaFaktury") == row["notes"]
    assert (text("f:Fa/f:FaWiersz/f:P_7"), text("f:Fa/f:FaWiersz/f:P_8A")) == (line["name"], line["unit"])
    assert text("f:Podmiot2/f:DaneIdentyfikacyjne/f:Nazwa") == row["buyer_name"]
    assert text("f:Podmiot1/f:DaneIdentyfikacyjne/f:Nazwa") == company["name"]
    assert text("f:Podmiot1/f:Adres/f:AdresL1") == company["address_l1"]
