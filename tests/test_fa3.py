"""Tests of fa3.py: FA(3) XML against golden files and the official XSD, Polish problems, file rules, import.

Golden files: run with UPDATE_GOLDEN=1 to rewrite tests/golden/*.xml, then read the diff before committing.
"""
import os
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ksef_local import fa3
from ksef_local.core.model import Correction, Invoice, Line, Party, Payment
from ksef_local.version import VERSION

GOLDEN = Path(__file__).parent / "golden"
SAMPLES = Path(__file__).resolve().parent.parent / ".." / "shared" / "ksef" / "samples"
NS = {"f": fa3.NS}
WARSAW_WINTER = timezone(timedelta(hours=1))
CREATED = datetime(2026, 11, 24, 10, 30, 15, 987654, tzinfo=WARSAW_WINTER)

SELLER = Party(
    name="Pracownia Stolarska Jan Nowak",
    nip="123-456-32-18",
    address_l1="ul. Leśna 5",
    address_l2="30-001 Kraków",
    email="biuro@stolarz.example.pl",
    phone="+48 600 100 200",
)
COMPANY = Party(
    name="Biuro Rachunkowe Lena Sp. z o.o.", nip="5213017228", address_l1="ul. Długa 10", address_l2="00-238 Warszawa"
)
CONSUMER = Party(name="Anna Kowalska", kind="consumer", address_l1="ul. Ogrodowa 3/4", address_l2="31-000 Kraków")
EU_BUYER = Party(
    name="Holzhandel Berg GmbH",
    kind="eu",
    country="DE",
    vat_eu="DE 811 907 980",
    address_l1="Hauptstraße 12",
    address_l2="10115 Berlin",
    email="einkauf@holzhandel-berg.example.de",
)
TRANSFER = Payment(form="6", due_date=date(2026, 12, 8), bank_account="61 1090 1014 0000 0712 1981 2874")
ORIGINAL_KSEF_NUMBER = "1234563218-20261102-4F1A2B3C4D5E-F0"


def invoice(number: str, lines: tuple[Line, ...], **changes) -> Invoice:
    fields = dict(
        kind="VAT",
        number=number,
        issue_date=date(2026, 11, 24),
        seller=SELLER,
        buyer=COMPANY,
        lines=lines,
        created_at=CREATED,
        payment=TRANSFER,
    )
    fields.update(changes)
    return Invoice(**fields)


def one_rate() -> Invoice:
    lines = (
        Line("Stół dębowy na wymiar", "szt.", Decimal("1"), Decimal("3200.00"), "23"),
        Line("Montaż", "godz.", Decimal("2.5"), Decimal("120"), "23"),
        Line("Listwa ozdobna", "mb", Decimal("12.35"), Decimal("18.40"), "23"),
    )
    notes = "Dziękujemy za zamówienie.\nGwarancja: 24 miesiące."
    return invoice("FV/2026/11/024", lines, place="Kraków", sale_date=date(2026, 11, 20), notes=notes)


def several_rates() -> Invoice:
    lines = (
        Line("Szafka kuchenna", "szt.", Decimal("2"), Decimal("850.00"), "23", Decimal("10")),
        Line("Projekt zabudowy (budownictwo mieszkaniowe)", "usł.", Decimal("1"), Decimal("1000"), "8"),
        Line("Poradnik stolarski", "szt.", Decimal("3"), Decimal("45.90"), "5"),
        Line("Materiały szkoleniowe", "kpl.", Decimal("1"), Decimal("200"), "0 KR"),
        Line("Szkolenie zawodowe", "godz.", Decimal("4"), Decimal("150"), "zw"),
    )
    paid_cash = Payment(form="1", paid=True, paid_date=date(2026, 11, 24))
    return invoice(
        "FV/2026/11/025",
        lines,
        payment=paid_cash,
        exemption_kind="A",
        exemption_text="art. 43 ust. 1 pkt 29 lit. b ustawy o VAT",
    )


def consumer() -> Invoice:
    lines = (
        Line("Krzesło bukowe", "szt.", Decimal("4"), Decimal("369.00"), "23"),
        Line("Poduszka na krzesło", "szt.", Decimal("4"), Decimal("49.99"), "23"),
    )
    paid_by_card = Payment(form="2", paid=True, paid_date=date(2026, 11, 24))
    return invoice("FV/2026/11/026", lines, buyer=CONSUMER, price_mode="gross", payment=paid_by_card)


def eu_wdt() -> Invoice:
    lines = (
        Line("Blat dębowy 200×90 cm", "szt.", Decimal("5"), Decimal("1450.00"), "0 WDT"),
        Line("Fronty meblowe", "kpl.", Decimal("10"), Decimal("310.50"), "0 WDT"),
    )
    payment = Payment(form="6", due_date=date(2026, 12, 24), bank_account="PL61 1090 1014 0000 0712 1981 2874")
    return invoice("FV/2026/11/027", lines, buyer=EU_BUYER, payment=payment)


def reverse_charge() -> Invoice:
    lines = (Line("Złom stalowy", "kg", Decimal("1250.5"), Decimal("1.85"), "oo"),)
    return invoice("FV/2026/11/028", lines)


def eur() -> Invoice:
    lines = (
        Line("Projekt mebli biurowych", "usł.", Decimal("1"), Decimal("2500.00"), "23"),
        Line("Konsultacja", "godz.", Decimal("3"), Decimal("85.50"), "23"),
    )
    return invoice(
        "FV/2026/11/029",
        lines,
        currency="EUR",
        exchange_rate=Decimal("4.2512"),
        exchange_rate_date=date(2026, 11, 21),
        payment=Payment(form="6", due_date=date(2026, 12, 8), bank_account="PL61109010140000071219812874"),
    )


def correction() -> Invoice:
    lines = (
        Line("Stół dębowy na wymiar", "szt.", Decimal("1"), Decimal("3200.00"), "23", before=True),
        Line("Montaż", "godz.", Decimal("2.5"), Decimal("120"), "23", before=True),
        Line("Stół dębowy na wymiar", "szt.", Decimal("1"), Decimal("2900.00"), "23"),
        Line("Montaż", "godz.", Decimal("2.5"), Decimal("120"), "23"),
    )
    corrected = Correction(
        number="FV/2026/11/001",
        issue_date=date(2026, 11, 2),
        ksef_number=ORIGINAL_KSEF_NUMBER,
        reason="Obniżka ceny po reklamacji",
        type="2",
    )
    return invoice("KOR/2026/11/001", lines, kind="KOR", correction=corrected, payment=Payment())


# Each golden file with the amounts worked out by hand (not by money.py).
GOLDEN_CASES = [
    # 3200.00 + 2.5 × 120 + 12.35 × 18.40 = 3200 + 300 + 227.24 = 3727.24; VAT 857.2652 → 857.27.
    ("fa3_one_rate.xml", one_rate, {"P_13_1": "3727.24", "P_14_1": "857.27", "P_15": "4584.51"}),
    # 23%: 1700 − 10% = 1530.00, VAT 351.90; 8%: 1000.00, VAT 80.00; 5%: 137.70, VAT 6.885 → 6.89;
    # 0 KR 200.00; zw 600.00. P_15 = 3467.70 + 438.79.
    (
        "fa3_several_rates.xml",
        several_rates,
        {
            "P_13_1": "1530.00", "P_14_1": "351.90", "P_13_2": "1000.00", "P_14_2": "80.00",
            "P_13_3": "137.70", "P_14_3": "6.89", "P_13_6_1": "200.00", "P_13_7": "600.00", "P_15": "3906.49",
        },
    ),
    # Gross prices: 4 × 369.00 + 4 × 49.99 = 1675.96; VAT 1675.96 × 23/123 = 313.3909 → 313.39; net 1362.57.
    ("fa3_consumer.xml", consumer, {"P_13_1": "1362.57", "P_14_1": "313.39", "P_15": "1675.96"}),
    # 5 × 1450.00 + 10 × 310.50 = 7250.00 + 3105.00.
    ("fa3_eu_wdt.xml", eu_wdt, {"P_13_6_2": "10355.00", "P_15": "10355.00"}),
    # 1250.5 × 1.85 = 2313.425 → 2313.43 (half-up).
    ("fa3_reverse_charge.xml", reverse_charge, {"P_13_10": "2313.43", "P_15": "2313.43"}),
    # 2500.00 + 3 × 85.50 = 2756.50 EUR; VAT 633.995 → 634.00 EUR; in PLN 634.00 × 4.2512 = 2695.2608 → 2695.26.
    ("fa3_eur.xml", eur, {"P_13_1": "2756.50", "P_14_1": "634.00", "P_14_1W": "2695.26", "P_15": "3390.50"}),
    # Before: 3200 + 300 = 3500.00, VAT 805.00; after: 2900 + 300 = 3200.00, VAT 736.00; differences.
    ("fa3_correction.xml", correction, {"P_13_1": "-300.00", "P_14_1": "-69.00", "P_15": "-369.00"}),
]
GOLDEN_IDS = [name for name, _, _ in GOLDEN_CASES]


def fa_fields(xml: bytes) -> dict[str, str]:
    """Return the text of each direct child of Fa that holds a value."""
    fa = etree.fromstring(xml).find("f:Fa", NS)
    return {etree.QName(child).localname: child.text for child in fa if len(child) == 0}


def find_all(xml: bytes, path: str) -> list:
    return etree.fromstring(xml).findall(path, NS)


def local_names(element) -> list[str]:
    return [etree.QName(child).localname for child in element]


@pytest.mark.parametrize(("name", "make", "amounts"), GOLDEN_CASES, ids=GOLDEN_IDS)
def test_build_xml_matches_golden_file(name, make, amounts):
    xml = fa3.build_xml(make())
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(xml)
    assert path.exists(), f"missing {path}; run with UPDATE_GOLDEN=1"
    assert xml == path.read_bytes()


@pytest.mark.parametrize(("name", "make", "amounts"), GOLDEN_CASES, ids=GOLDEN_IDS)
def test_build_xml_amounts_match_hand_computation(name, make, amounts):
    fields = fa_fields(fa3.build_xml(make()))
    written = {tag: text for tag, text in fields.items() if tag.startswith(("P_13_", "P_14_", "P_15"))}
    assert written == amounts


@pytest.mark.parametrize(("name", "make", "amounts"), GOLDEN_CASES, ids=GOLDEN_IDS)
def test_build_xml_validates_against_xsd(name, make, amounts):
    assert fa3.validate(fa3.build_xml(make())) == []
    assert fa3.check_document(fa3.build_xml(make())) == []


@pytest.mark.parametrize(("name", "make", "amounts"), GOLDEN_CASES, ids=GOLDEN_IDS)
def test_build_xml_writes_no_empty_elements(name, make, amounts):
    root = etree.fromstring(fa3.build_xml(make()))
    empty = [root.getroottree().getpath(el) for el in root.iter() if len(el) == 0 and not (el.text or "").strip()]
    assert empty == []


def test_build_xml_starts_with_declaration_and_has_no_bom():
    xml = fa3.build_xml(one_rate())
    assert xml.startswith(b"<?xml")
    assert not xml.startswith(b"\xef\xbb\xbf")
    assert b"encoding='UTF-8'" in xml.splitlines()[0]
    assert etree.fromstring(xml).getroottree().xpath("//processing-instruction()") == []


def test_build_xml_is_deterministic():
    assert fa3.build_xml(several_rates()) == fa3.build_xml(several_rates())


def test_build_xml_writes_creation_time_in_utc_without_fraction():
    created = find_all(fa3.build_xml(one_rate()), "f:Naglowek/f:DataWytworzeniaFa")
    assert created[0].text == "2026-11-24T09:30:15Z"


def test_build_xml_refuses_naive_creation_time():
    with pytest.raises(ValueError):
        fa3.build_xml(invoice("FV/1", one_rate().lines, created_at=datetime(2026, 11, 24, 10, 0)))


def test_build_xml_names_the_program_in_system_info():
    assert find_all(fa3.build_xml(one_rate()), "f:Naglowek/f:SystemInfo")[0].text == f"ksef-local {VERSION}"


def test_build_xml_writes_adnotacje_in_schema_order():
    annotations = find_all(fa3.build_xml(one_rate()), "f:Fa/f:Adnotacje")[0]
    assert local_names(annotations) == [
        "P_16", "P_17", "P_18", "P_18A", "Zwolnienie", "NoweSrodkiTransportu", "P_23", "PMarzy",
    ]


@pytest.mark.parametrize(
    ("make", "reverse_charged", "exempt_basis"),
    [(one_rate, "2", None), (reverse_charge, "1", None), (several_rates, "2", "P_19A")],
)
def test_build_xml_sets_annotation_flags_from_lines(make, reverse_charged, exempt_basis):
    xml = fa3.build_xml(make())
    assert find_all(xml, "f:Fa/f:Adnotacje/f:P_18")[0].text == reverse_charged
    exemption = find_all(xml, "f:Fa/f:Adnotacje/f:Zwolnienie")[0]
    assert local_names(exemption) == (["P_19", exempt_basis] if exempt_basis else ["P_19N"])


def test_build_xml_marks_split_payment():
    xml = fa3.build_xml(invoice("FV/1", one_rate().lines, split_payment=True))
    assert find_all(xml, "f:Fa/f:Adnotacje/f:P_18A")[0].text == "1"


def test_build_xml_pairs_correction_lines_under_one_number():
    rows = find_all(fa3.build_xml(correction()), "f:Fa/f:FaWiersz")
    assert [row.findtext("f:NrWierszaFa", namespaces=NS) for row in rows] == ["1", "1", "2", "2"]
    assert [row.findtext("f:StanPrzed", namespaces=NS) for row in rows] == ["1", None, "1", None]
    assert local_names(rows[0])[-1] == "StanPrzed"


def test_build_xml_writes_correction_block_after_rodzaj_faktury():
    fa = find_all(fa3.build_xml(correction()), "f:Fa")[0]
    names = local_names(fa)
    start = names.index("RodzajFaktury")
    assert names[start : start + 4] == ["RodzajFaktury", "PrzyczynaKorekty", "TypKorekty", "DaneFaKorygowanej"]
    corrected = fa.find("f:DaneFaKorygowanej", NS)
    assert [child.text for child in corrected] == ["2026-11-02", "FV/2026/11/001", "1", ORIGINAL_KSEF_NUMBER]


def test_build_xml_identifies_each_kind_of_buyer():
    def identifiers(buyer: Party) -> list[str]:
        xml = fa3.build_xml(invoice("FV/1", one_rate().lines, buyer=buyer))
        return [f"{etree.QName(el).localname}={el.text}" for el in find_all(xml, "f:Podmiot2/f:DaneIdentyfikacyjne/*")]

    assert identifiers(COMPANY) == ["NIP=5213017228", "Nazwa=Biuro Rachunkowe Lena Sp. z o.o."]
    assert identifiers(CONSUMER) == ["BrakID=1", "Nazwa=Anna Kowalska"]
    assert identifiers(EU_BUYER) == ["KodUE=DE", "NrVatUE=811907980", "Nazwa=Holzhandel Berg GmbH"]
    foreign = Party(name="Maple Ltd", kind="foreign", country="US", tax_id="12-3456789")
    assert identifiers(foreign) == ["KodKraju=US", "NrID=12-3456789", "Nazwa=Maple Ltd"]


def test_build_xml_writes_jst_and_gv_last_in_podmiot2():
    buyer = find_all(fa3.build_xml(consumer()), "f:Podmiot2")[0]
    assert local_names(buyer)[-2:] == ["JST", "GV"]
    assert [buyer.findtext(f"f:{tag}", namespaces=NS) for tag in ("JST", "GV")] == ["2", "2"]


def test_build_xml_leaves_out_buyer_address_when_not_given():
    buyer = Party(name="Jan Kowalski", kind="consumer")
    xml = fa3.build_xml(invoice("FV/1", one_rate().lines, buyer=buyer))
    assert local_names(find_all(xml, "f:Podmiot2")[0]) == ["DaneIdentyfikacyjne", "JST", "GV"]
    assert fa3.validate(xml) == []


def test_build_xml_collapses_whitespace_but_keeps_note_lines():
    lines = (Line("  Stół \n\t dębowy  ", "szt.", Decimal("1"), Decimal("10"), "23"),)
    xml = fa3.build_xml(invoice("FV/1", lines, notes="Pierwsza linia\r\n  Druga linia  \n"))
    assert find_all(xml, "f:Fa/f:FaWiersz/f:P_7")[0].text == "Stół dębowy"
    assert find_all(xml, "f:Stopka/f:Informacje/f:StopkaFaktury")[0].text == "Pierwsza linia\n  Druga linia"


def test_build_xml_writes_exchange_rate_note_in_polish():
    xml = fa3.build_xml(eur())
    note = find_all(xml, "f:Fa/f:DodatkowyOpis")[0]
    assert [child.text for child in note] == ["Kurs waluty", "1 EUR = 4,2512 PLN, kurs z dnia 21.11.2026"]
    assert {row.findtext("f:KursWaluty", namespaces=NS) for row in find_all(xml, "f:Fa/f:FaWiersz")} == {"4.2512"}


def test_build_xml_leaves_pln_vat_out_of_pln_invoices():
    assert not any(tag.endswith("W") for tag in fa_fields(fa3.build_xml(one_rate())))
    assert find_all(fa3.build_xml(one_rate()), "f:Fa/f:FaWiersz/f:KursWaluty") == []


def test_build_xml_writes_payment_terms():
    platnosc = find_all(fa3.build_xml(one_rate()), "f:Fa/f:Platnosc")[0]
    assert local_names(platnosc) == ["TerminPlatnosci", "FormaPlatnosci", "RachunekBankowy"]
    assert platnosc.findtext("f:RachunekBankowy/f:NrRB", namespaces=NS) == "61109010140000071219812874"
    paid = find_all(fa3.build_xml(several_rates()), "f:Fa/f:Platnosc")[0]
    assert [(etree.QName(el).localname, el.text) for el in paid] == [
        ("Zaplacono", "1"), ("DataZaplaty", "2026-11-24"), ("FormaPlatnosci", "1"),
    ]


def test_validate_names_field_and_line_of_a_too_long_name():
    lines = one_rate().lines[:1] + (Line("x" * 600, "szt.", Decimal("1"), Decimal("10"), "23"),)
    problems = fa3.validate(fa3.build_xml(invoice("FV/1", lines)))
    assert len(problems) == 1
    problem = problems[0]
    assert problem.field == "Nazwa towaru lub usługi (pozycja 2)"
    assert problem.message == "Pole «Nazwa towaru lub usługi» w pozycji 2 jest za długie (najwyżej 512 znaków)."
    assert "maxLength" in problem.detail


def test_validate_names_buyer_nip_with_bad_pattern():
    buyer = Party(name="Firma", nip="0123456789", address_l1="ul. Krótka 1")
    problems = fa3.validate(fa3.build_xml(invoice("FV/1", one_rate().lines, buyer=buyer)))
    assert [(p.field, p.message) for p in problems] == [
        ("NIP nabywcy", "Pole «NIP nabywcy» ma nieprawidłowy format."),
    ]


def test_validate_names_missing_seller_name():
    seller = Party(name="  ", nip="1234563218", address_l1="ul. Leśna 5")
    problems = fa3.validate(fa3.build_xml(invoice("FV/1", one_rate().lines, seller=seller)))
    assert [(p.field, p.message) for p in problems] == [
        ("Nazwa sprzedawcy", "Brakuje wymaganego pola «Nazwa sprzedawcy»."),
    ]


def test_validate_names_missing_exemption_basis():
    lines = (Line("Szkolenie", "godz.", Decimal("1"), Decimal("100"), "zw"),)
    problems = fa3.validate(fa3.build_xml(invoice("FV/1", lines)))
    assert [p.field for p in problems] == ["Podstawa zwolnienia"]


def test_validate_reports_too_short_account_number():
    payment = Payment(form="6", bank_account="12 3456")
    problems = fa3.validate(fa3.build_xml(invoice("FV/1", one_rate().lines, payment=payment)))
    assert [(p.field, p.message) for p in problems] == [
        ("Numer rachunku bankowego", "Pole «Numer rachunku bankowego» jest za krótkie (co najmniej 10 znaków)."),
    ]


def test_validate_reports_each_bad_field_once():
    xml = fa3.build_xml(one_rate()).replace(b"<P_15>4584.51</P_15>", b"<P_15>4584.511</P_15>")
    problems = fa3.validate(xml)
    assert [(p.field, p.message) for p in problems] == [
        ("Kwota należności ogółem", "Pole «Kwota należności ogółem» ma za dużo cyfr po przecinku (najwyżej 2)."),
    ]


def test_validate_reports_non_fa3_xml():
    problems = fa3.validate(b"<Invoice/>")
    assert [p.field for p in problems] == ["Faktura"]


def test_validate_reports_malformed_xml():
    problems = fa3.validate(b"<Faktura><Fa></Faktura>")
    assert problems[0].message.startswith("Plik nie jest poprawnym dokumentem XML")


def messages(problems: list) -> str:
    return " ".join(p.message for p in problems)


def test_check_document_accepts_valid_invoice_with_comments():
    xml = fa3.build_xml(one_rate()).replace(b"<Fa>", b"<!-- komentarz -->\n  <Fa>", 1)
    assert fa3.check_document(xml) == []


def test_check_document_refuses_bom():
    assert "BOM" in messages(fa3.check_document(b"\xef\xbb\xbf" + fa3.build_xml(one_rate())))


def test_check_document_refuses_doctype_and_entity_expansion():
    laughs = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">&lol9;</Faktura>"""
    problems = fa3.check_document(laughs)
    assert "DOCTYPE" in messages(problems)


def test_check_document_refuses_processing_instruction():
    xml = fa3.build_xml(one_rate()).replace(b"?>\n", b'?>\n<?xml-stylesheet type="text/xsl" href="styl.xsl"?>\n', 1)
    assert "instrukcje przetwarzania" in messages(fa3.check_document(xml))


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"To nie jest XML", b""])
def test_check_document_refuses_non_xml_bytes(data):
    problems = fa3.check_document(data)
    assert problems and all(p.field == "Plik faktury" for p in problems)


def test_check_document_refuses_other_encodings():
    latin2 = fa3.build_xml(one_rate()).decode().encode("iso-8859-2", errors="replace")
    assert "UTF-8" in messages(fa3.check_document(latin2))
    declared = fa3.build_xml(one_rate()).replace(b"encoding='UTF-8'", b"encoding='ISO-8859-2'", 1)
    assert "UTF-8" in messages(fa3.check_document(declared))


def test_check_document_refuses_files_over_one_megabyte():
    xml = fa3.build_xml(one_rate())
    padded = xml.replace(b"<Fa>", b"<!--" + b" " * 1_000_000 + b"-->\n  <Fa>", 1)
    assert fa3.validate(padded) == []
    assert "za duży" in messages(fa3.check_document(padded))


def sample_files() -> list:
    files = sorted(SAMPLES.glob("*.xml")) if SAMPLES.is_dir() else []
    return files or [None]


@pytest.mark.parametrize("path", sample_files(), ids=lambda path: path.name if path else "no-samples")
def test_official_samples_validate_and_parse(path):
    if path is None:
        pytest.skip(f"official FA(3) samples not found in {SAMPLES}")
    xml = path.read_bytes()
    assert fa3.check_document(xml) == []
    summary = fa3.parse_summary(xml)
    assert summary.kind == "VAT"
    assert summary.seller_nip and summary.seller_name and summary.number
    assert summary.currency == "PLN"
    assert summary.gross == Decimal(etree.fromstring(xml).findtext("f:Fa/f:P_15", namespaces=NS))


@pytest.mark.parametrize(("name", "make", "amounts"), GOLDEN_CASES, ids=GOLDEN_IDS)
def test_parse_summary_reads_what_build_xml_wrote(name, make, amounts):
    source = make()
    summary = fa3.parse_summary(fa3.build_xml(source))
    totals = source.totals()
    assert (summary.kind, summary.number, summary.issue_date) == (source.kind, source.number, source.issue_date)
    assert (summary.sale_date, summary.currency) == (source.sale_date, source.currency)
    assert (summary.seller_nip, summary.seller_name) == ("1234563218", SELLER.name)
    assert summary.buyer_name == source.buyer.name
    assert (summary.net, summary.vat, summary.gross) == (totals.net, totals.vat, totals.gross)


def test_parse_summary_describes_buyer_identifiers():
    assert fa3.parse_summary(fa3.build_xml(one_rate())).buyer_id_text == "5213017228"
    eu = fa3.parse_summary(fa3.build_xml(eu_wdt()))
    assert (eu.buyer_id_text, eu.buyer_nip) == ("UE DE811907980", None)
    assert fa3.parse_summary(fa3.build_xml(consumer())).buyer_id_text is None


def test_parse_summary_ignores_comments_and_whitespace():
    xml = fa3.build_xml(one_rate()).replace(
        b"<P_2>FV/2026/11/024</P_2>", b"<P_2>\n  FV/2026/<!-- seria -->11/024  \n</P_2>"
    ).replace(b"<P_15>4584.51</P_15>", b"<P_15> 4584.51 <!-- brutto --></P_15>")
    assert fa3.check_document(xml) == []
    summary = fa3.parse_summary(xml)
    assert (summary.number, summary.gross) == ("FV/2026/11/024", Decimal("4584.51"))


def test_schema_resolver_refuses_unknown_url():
    with pytest.raises(fa3.SchemaResourceRefused):
        fa3.SchemaResolver().resolve("http://example.com/evil.xsd", None, None)


def test_schema_resolver_refuses_local_files(tmp_path):
    included = tmp_path / "local.xsd"
    included.write_text('<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>')
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(fa3.SchemaResolver())
    schema = etree.fromstring(
        f'<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"><xsd:include schemaLocation="{included.as_uri()}"/>'
        "</xsd:schema>",
        parser,
    )
    with pytest.raises(etree.XMLSchemaParseError):
        etree.XMLSchema(schema)
