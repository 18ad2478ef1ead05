"""Company profile and buyers: validation in Polish, storage and Polish-aware search."""
from __future__ import annotations

import pytest

from ksef_local import formats
from ksef_local.errors import ValidationFailed
from ksef_local.forms import parties as party_forms
from ksef_local.store import parties

from .conftest import COMPANY_FORM


@pytest.mark.parametrize("typed, expected", [
    ("526-104-08-28", "5261040828"), ("PL 526 104 08 28", "5261040828"), ("5261040828", "5261040828")])
def test_normalize_nip_strips_separators_and_prefix(typed, expected):
    assert party_forms.normalize_nip(typed) == expected


@pytest.mark.parametrize("nip, fragment", [
    ("5261040829", "sumę kontrolną"), ("52610408", "10 cyfr"), ("", "Podaj NIP")])
def test_nip_error_explains_in_polish(nip, fragment):
    assert fragment in party_forms.nip_error(nip)


def test_validate_company_accepts_a_good_profile():
    cleaned = party_forms.validate_company(COMPANY_FORM)
    assert cleaned["nip"] == "5261040828"
    assert cleaned["bank_account"] == "61109010140000071219812874"


@pytest.mark.parametrize("field, value, fragment", [
    ("nip", "5261040829", "sumę kontrolną"),
    ("bank_account", "61 1090 1014 0000 0712 1981 2875", "sumę kontrolną"),
    ("bank_account", "12345", "26 cyfr"),
    ("name", "x" * 600, "najwyżej 512"),
    ("email", "nie-email", "e-mail"),
    ("number_pattern", "FV/{rrrr}", "{nr}"),
    ("number_pattern", "FV/{nr}", "rok"),
    ("number_pattern", "FV/{rrrr}/{nr}", "miesiąc"),
    ("number_pattern", "FV/{rrrr}/{mm}/{nr}/{xx}", "Nieznane"),
])
def test_validate_company_refuses_bad_fields(field, value, fragment):
    with pytest.raises(ValidationFailed) as caught:
        party_forms.validate_company({**COMPANY_FORM, field: value})
    assert fragment in caught.value.errors[field]


def test_validate_company_needs_a_separate_correction_series():
    with pytest.raises(ValidationFailed) as caught:
        party_forms.validate_company({**COMPANY_FORM, "correction_pattern": COMPANY_FORM["number_pattern"]})
    assert "osobnej serii" in caught.value.errors["correction_pattern"]


def test_validate_company_accepts_yearly_counter_without_month():
    cleaned = party_forms.validate_company({**COMPANY_FORM, "number_pattern": "{nr}/{rrrr}", "number_reset": "year"})
    assert cleaned["number_pattern"] == "{nr}/{rrrr}"


def test_validate_buyer_kinds():
    eu = party_forms.validate_buyer({"kind": "eu", "name": "Muster GmbH", "country": "DE", "vat_eu": "DE136695976",
                                 "address_l1": "Hauptstr. 1"})
    assert (eu["country"], eu["vat_eu"], eu["nip"]) == ("DE", "136695976", None)
    greek = party_forms.validate_buyer({"kind": "eu", "name": "Ellas", "country": "GR", "vat_eu": "094259216",
                                    "address_l1": "Athens"})
    assert greek["country"] == "EL"
    consumer = party_forms.validate_buyer({"kind": "consumer", "name": "Jan Kowalski"})
    assert consumer["nip"] is None and consumer["address_l1"] == ""
    foreign = party_forms.validate_buyer({"kind": "foreign", "name": "ACME Inc.", "country": "us",
                                          "tax_id": "12-3456789",
                                      "address_l1": "1 Main St"})
    assert (foreign["country"], foreign["tax_id"]) == ("US", "12-3456789")


@pytest.mark.parametrize("form, field", [
    ({"kind": "company", "name": "X", "nip": "1234567890", "address_l1": "a"}, "nip"),
    ({"kind": "eu", "name": "X", "country": "DE", "vat_eu": "123", "address_l1": "a"}, "vat_eu"),
    ({"kind": "eu", "name": "X", "country": "US", "vat_eu": "123", "address_l1": "a"}, "country"),
    ({"kind": "foreign", "name": "X", "country": "PL", "tax_id": "1", "address_l1": "a"}, "country"),
    ({"kind": "foreign", "name": "X", "country": "US", "tax_id": "", "address_l1": "a"}, "tax_id"),
    ({"kind": "company", "name": "", "nip": "5261040828", "address_l1": "a"}, "name"),
    ({"kind": "company", "name": "y" * 600, "nip": "5261040828", "address_l1": "a"}, "name"),
    ({"kind": "company", "name": "X", "nip": "5261040828", "address_l1": ""}, "address_l1"),
])
def test_validate_buyer_refuses_bad_input(form, field):
    with pytest.raises(ValidationFailed) as caught:
        party_forms.validate_buyer(form)
    assert field in caught.value.errors


def test_search_buyers_is_case_insensitive_for_polish_letters(db):
    parties.create_buyer(db, party_forms.validate_buyer(
        {"kind": "company", "name": "Hurtownia ŁÓDŹ Sp. z o.o.", "nip": "7740001454",
         "address_l1": "ul. Piotrkowska 1", "address_l2": "90-001 Łódź"}))
    parties.create_buyer(db, party_forms.validate_buyer({"kind": "consumer", "name": "Żaneta Ćwik"}))
    assert [b["name"] for b in parties.search_buyers(db, "łódź")] == ["Hurtownia ŁÓDŹ Sp. z o.o."]
    assert [b["name"] for b in parties.search_buyers(db, "ŻANETA")] == ["Żaneta Ćwik"]
    assert [b["name"] for b in parties.search_buyers(db, "774000")] == ["Hurtownia ŁÓDŹ Sp. z o.o."]
    assert parties.search_buyers(db, "kraków") == []
    assert len(parties.search_buyers(db, "")) == 2


def test_update_buyer_changes_the_record(db):
    buyer_id = parties.create_buyer(db, party_forms.validate_buyer({"kind": "consumer", "name": "Jan"}))
    parties.update_buyer(db, buyer_id, party_forms.validate_buyer({"kind": "consumer", "name": "Jan Nowak"}))
    assert parties.get_buyer(db, buyer_id)["name"] == "Jan Nowak"
    assert parties.search_buyers(db, "nowak")[0]["id"] == buyer_id


def test_format_helpers():
    assert formats.format_nip("5261040828") == "526-104-08-28"
    assert formats.format_account("61109010140000071219812874") == "61 1090 1014 0000 0712 1981 2874"


def test_same_identifier_finds_other_buyers_with_the_nip_or_eu_vat_number(db, company):
    first = parties.create_buyer(db, party_forms.validate_buyer(
        {"kind": "company", "name": "Hurtownia", "nip": "774-000-14-54", "address_l1": "ul. A 1"}))
    eu = parties.create_buyer(db, party_forms.validate_buyer(
        {"kind": "eu", "name": "GmbH", "country": "DE", "vat_eu": "136695976", "address_l1": "Str. 1"}))
    again = party_forms.validate_buyer({"kind": "company", "name": "Oddział", "nip": "7740001454",
                                        "address_l1": "ul. B 2"})
    assert [b["id"] for b in parties.same_identifier(db, again)] == [first]
    assert parties.same_identifier(db, again, exclude_id=first) == []
    same_eu = party_forms.validate_buyer({"kind": "eu", "name": "GmbH 2", "country": "DE", "vat_eu": "DE136695976",
                                          "address_l1": "Str. 2"})
    assert [b["id"] for b in parties.same_identifier(db, same_eu)] == [eu]
    consumer = party_forms.validate_buyer({"kind": "consumer", "name": "Jan Kowalski"})
    assert parties.same_identifier(db, consumer) == []
