"""FA(3) XML: build it from an Invoice, check it against KSeF's file rules and the official XSD, read a summary.

The only module that knows FA(3) element names (house rule 12). Element order follows the xsd:sequence
definitions of schemat_FA(3)_v1-0E.xsd exactly (shared/docs/fa3-format.md, fa3-element-tree.txt).
"""
from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from importlib.resources import files
from typing import Iterable, NamedTuple, Union

from lxml import etree

from . import money
from .model import Invoice, Line, Party, Payment
from .version import VERSION

NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
_NSMAP = {"f": NS}
MAX_DOCUMENT_BYTES = 1_000_000  # KSeF limit for an invoice without Zalacznik (weryfikacja-faktury.md)

# The XSD files ship as package data of ksef-client; we use that package only as their provider.
_SCHEMA_PACKAGE = "ksef_client.documents.fa3.schemas"
_MAIN_SCHEMA = "schemat_FA(3)_v1-0E.xsd"
_ETD_BASE = "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/"
_ETD_FILES = frozenset({"StrukturyDanych_v10-0E.xsd", "ElementarneTypyDanych_v10-0E.xsd", "KodyKrajow_v10-0E.xsd"})

# Summary buckets in XSD order (P_13_1 … P_13_11). money.RATE_ORDER is display order and puts oo (10)
# before np (8, 9), so it cannot drive the element order.
_BUCKET_ORDER = ("1", "2", "3", "4", "5", "6_1", "6_2", "6_3", "7", "8", "9", "10", "11")
_BUCKETS_WITH_PLN = frozenset({"1", "2", "3", "4"})  # only these have a P_14_xW field
_EXEMPTION_TAGS = {"A": "P_19A", "B": "P_19B", "C": "P_19C"}
_VAT_PREFIX_FOR_ISO = {"GR": "EL"}  # KodUE uses VAT prefixes, Adres/KodKraju uses ISO 3166 codes
_ISO_FOR_VAT_PREFIX = {"EL": "GR"}

_XML_SPACE = re.compile(r"[ \t\r\n]+")
# Characters XML 1.0 forbids and those KSeF rejects as discouraged (U+007F–U+0084, U+0086–U+009F,
# U+FDD0–U+FDEF, U+nFFFE/U+nFFFF; weryfikacja-faktury.md).
_NONCHARACTERS = "".join(chr(plane * 0x10000 + low) for plane in range(17) for low in (0xFFFE, 0xFFFF))
_DISCOURAGED = re.compile("[\x7f-\x84\x86-\x9f\ufdd0-\ufdef" + _NONCHARACTERS + "]")
_UNWRITABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\x7f-\x84\x86-\x9f\ufdd0-\ufdef" + _NONCHARACTERS + "]"
)


# --- building -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    tag: str
    text: str | None = None
    children: tuple[_Node, ...] = ()
    attrib: tuple[tuple[str, str], ...] = ()


_Part = Union[_Node, None, list]


def _flatten(parts: Iterable[_Part]) -> Iterable[_Node]:
    for part in parts:
        if isinstance(part, list):
            yield from _flatten(part)
        elif part is not None:
            yield part


def _leaf(tag: str, value: str | None) -> _Node | None:
    """Return a text element, or None when the text is empty: FA(3) has no empty elements (minLength 1)."""
    text = _token(value) if value is not None else ""
    return _Node(tag, text) if text else None


def _group(tag: str, *parts: _Part) -> _Node | None:
    """Return a container of the given parts, or None when nothing is left in it."""
    children = tuple(_flatten(parts))
    return _Node(tag, children=children) if children else None


def _token(value: str) -> str:
    """Return the text as xsd:token keeps it: unwritable characters dropped, XML whitespace collapsed."""
    return _XML_SPACE.sub(" ", _UNWRITABLE.sub("", value)).strip(" ")


def _multiline(value: str) -> str:
    """Return free text for StopkaFaktury (TTekstowy, xsd:string), keeping its line breaks."""
    text = _UNWRITABLE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _compact(value: str | None) -> str | None:
    """Drop the spaces, dashes and dots people type into NIPs, VAT numbers and account numbers."""
    return re.sub(r"[\s.\-]", "", value).upper() if value else None


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _amount(value: Decimal) -> str:
    text = money.xml_amount(value)
    return "0.00" if text == "-0.00" else text


def _utc_timestamp(moment: datetime) -> str:
    """Write DataWytworzeniaFa in UTC with Z and whole seconds, as the MF samples do."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("created_at must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_xml(invoice: Invoice) -> bytes:
    """Write the invoice as FA(3) XML: UTF-8 without BOM, deterministic for the same Invoice."""
    root = etree.Element(f"{{{NS}}}Faktura", nsmap={None: NS})
    parts = [
        _header(invoice.created_at),
        _seller(invoice.seller),
        _buyer(invoice.buyer),
        _fa(invoice, invoice.totals()),
        _footer(invoice.notes),
    ]
    for node in _flatten(parts):
        _append(root, node)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _append(parent: etree._Element, node: _Node) -> None:
    element = etree.SubElement(parent, f"{{{NS}}}{node.tag}", dict(node.attrib))
    element.text = node.text
    for child in node.children:
        _append(element, child)


def _header(created_at: datetime) -> _Node | None:
    form = _Node("KodFormularza", "FA", attrib=(("kodSystemowy", "FA (3)"), ("wersjaSchemy", "1-0E")))
    return _group(
        "Naglowek",
        form,
        _leaf("WariantFormularza", "3"),
        _leaf("DataWytworzeniaFa", _utc_timestamp(created_at)),
        _leaf("SystemInfo", f"ksef-local {VERSION}"),
    )


def _address(party: Party) -> _Node | None:
    country = _ISO_FOR_VAT_PREFIX.get(party.country, party.country)
    return _group(
        "Adres", _leaf("KodKraju", country), _leaf("AdresL1", party.address_l1), _leaf("AdresL2", party.address_l2)
    )


def _contacts(party: Party) -> _Node | None:
    return _group("DaneKontaktowe", _leaf("Email", party.email), _leaf("Telefon", party.phone))


def _seller(seller: Party) -> _Node | None:
    return _group(
        "Podmiot1",
        _group("DaneIdentyfikacyjne", _leaf("NIP", _compact(seller.nip)), _leaf("Nazwa", seller.name)),
        _address(seller),
        _contacts(seller),
    )


def _buyer(buyer: Party) -> _Node | None:
    has_address = bool(_token(buyer.address_l1 or ""))
    return _group(
        "Podmiot2",
        _group("DaneIdentyfikacyjne", _buyer_identifier(buyer), _leaf("Nazwa", buyer.name)),
        _address(buyer) if has_address else None,
        _contacts(buyer),
        _leaf("JST", "2"),  # required since FA(3); 1 only with a Podmiot3 of role 8
        _leaf("GV", "2"),  # required since FA(3); 1 only with a Podmiot3 of role 10
    )


def _buyer_identifier(buyer: Party) -> list[_Node | None]:
    """Return the identifier choice of Podmiot2/DaneIdentyfikacyjne for the kind of buyer."""
    if buyer.kind == "company":
        return [_leaf("NIP", _compact(buyer.nip))]
    if buyer.kind == "eu":
        prefix = _VAT_PREFIX_FOR_ISO.get(buyer.country, buyer.country)
        number = _compact(buyer.vat_eu) or ""
        if number.startswith(prefix) and len(number) > len(prefix):
            number = number[len(prefix) :]
        return [_leaf("KodUE", prefix), _leaf("NrVatUE", number)]
    if buyer.kind == "foreign" and _token(buyer.tax_id or ""):
        return [_leaf("KodKraju", buyer.country), _leaf("NrID", buyer.tax_id)]
    if buyer.kind in ("consumer", "foreign"):
        return [_leaf("BrakID", "1")]
    raise ValueError(f"unknown buyer kind: {buyer.kind}")


def _fa(invoice: Invoice, totals: money.Totals) -> _Node | None:
    return _group(
        "Fa",
        _leaf("KodWaluty", invoice.currency),
        _leaf("P_1", _date(invoice.issue_date)),
        _leaf("P_1M", invoice.place),
        _leaf("P_2", invoice.number),
        _leaf("P_6", _date(invoice.sale_date)),
        _summary(totals, invoice.is_foreign_currency),
        _leaf("P_15", _amount(totals.gross)),
        _annotations(invoice),
        _leaf("RodzajFaktury", invoice.kind),
        _correction(invoice),
        _exchange_rate_note(invoice),
        _lines(invoice),
        _payment(invoice.payment),
    )


def _add(total: Decimal | None, value: Decimal | None) -> Decimal | None:
    if value is None:
        return total
    return value if total is None else total + value


def _summary(totals: money.Totals, foreign: bool) -> list[_Node | None]:
    """Return P_13_x/P_14_x(/P_14_xW) for the buckets present, in XSD order (fa3-format.md §3.2)."""
    buckets: dict[str, tuple[Decimal, Decimal | None, Decimal | None]] = {}
    for row in totals.by_rate:
        rate = money.RATES[row.rate]
        net, vat, vat_pln = buckets.get(rate.bucket, (money.ZERO, None, None))
        has_vat = rate.percent is not None
        buckets[rate.bucket] = (
            net + row.net,
            _add(vat, row.vat if has_vat else None),
            _add(vat_pln, row.vat_pln if has_vat else None),
        )
    nodes: list[_Node | None] = []
    for bucket in sorted(buckets, key=_BUCKET_ORDER.index):
        net, vat, vat_pln = buckets[bucket]
        nodes.append(_leaf(f"P_13_{bucket}", _amount(net)))
        if vat is not None:
            nodes.append(_leaf(f"P_14_{bucket}", _amount(vat)))
        if foreign and vat_pln is not None and bucket in _BUCKETS_WITH_PLN:
            nodes.append(_leaf(f"P_14_{bucket}W", _amount(vat_pln)))
    return nodes


def _yes_no(flag: bool) -> str:
    return "1" if flag else "2"  # TWybor1_2


def _annotations(invoice: Invoice) -> _Node | None:
    """Return Adnotacje: every child is required, in this order (fa3-format.md §3.3)."""
    rates = {line.rate for line in invoice.lines}
    return _group(
        "Adnotacje",
        _leaf("P_16", "2"),
        _leaf("P_17", "2"),
        _leaf("P_18", _yes_no(bool(rates & {"oo", "np II"}))),
        _leaf("P_18A", _yes_no(invoice.split_payment)),
        _exemption(invoice, "zw" in rates),
        _group("NoweSrodkiTransportu", _leaf("P_22N", "1")),
        _leaf("P_23", "2"),
        _group("PMarzy", _leaf("P_PMarzyN", "1")),
    )


def _exemption(invoice: Invoice, has_exempt_lines: bool) -> _Node | None:
    if not has_exempt_lines:
        return _group("Zwolnienie", _leaf("P_19N", "1"))
    tag = _EXEMPTION_TAGS.get(invoice.exemption_kind or "A")
    if tag is None:
        raise ValueError(f"unknown exemption kind: {invoice.exemption_kind}")
    return _group("Zwolnienie", _leaf("P_19", "1"), _leaf(tag, invoice.exemption_text))


def _correction(invoice: Invoice) -> list[_Node | None]:
    """Return the correction block of a KOR (fa3-format.md §3.5); nothing for other kinds."""
    if invoice.kind != "KOR":
        return []
    correction = invoice.correction
    if correction is None:
        raise ValueError("a KOR invoice needs its Correction")
    ksef_number = _token(correction.ksef_number or "")
    # NrKSeFN=1 marks an original issued outside KSeF (e.g. before 2026-02-01).
    reference = [_leaf("NrKSeF", "1"), _leaf("NrKSeFFaKorygowanej", ksef_number)] if ksef_number else [
        _leaf("NrKSeFN", "1")
    ]
    return [
        _leaf("PrzyczynaKorekty", correction.reason),
        _leaf("TypKorekty", correction.type),
        _group(
            "DaneFaKorygowanej",
            _leaf("DataWystFaKorygowanej", _date(correction.issue_date)),
            _leaf("NrFaKorygowanej", correction.number),
            reference,
        ),
    ]


def _exchange_rate_note(invoice: Invoice) -> _Node | None:
    """Print the exchange rate and its date for a foreign-currency invoice (DodatkowyOpis)."""
    if not invoice.is_foreign_currency or invoice.exchange_rate is None:
        return None
    text = f"1 {invoice.currency} = {money.format_flexible(invoice.exchange_rate, 4)} PLN"
    if invoice.exchange_rate_date:
        text += f", kurs z dnia {invoice.exchange_rate_date:%d.%m.%Y}"
    return _group("DodatkowyOpis", _leaf("Klucz", "Kurs waluty"), _leaf("Wartosc", text))


def _numbered(lines: Iterable[Line]) -> list[tuple[int, Line]]:
    """Number the lines; in a KOR the n-th "before" line and the n-th "after" line share number n.

    This is how MF's Przykłady 2 and 3 pair the state before and after the correction (StanPrzed=1 first).
    """
    before = [line for line in lines if line.before]
    after = [line for line in lines if not line.before]
    numbered = []
    for index in range(max(len(before), len(after))):
        numbered += [(index + 1, group[index]) for group in (before, after) if index < len(group)]
    return numbered


def _lines(invoice: Invoice) -> list[_Node | None]:
    rate = invoice.exchange_rate if invoice.is_foreign_currency else None
    return [_line(number, line, invoice.price_mode, rate) for number, line in _numbered(invoice.lines)]


def _line(number: int, line: Line, price_mode: str, exchange_rate: Decimal | None) -> _Node | None:
    """Return one FaWiersz; children in XSD order (fa3-element-tree.txt)."""
    amounts = money.line_amounts(line.as_input())
    gross = price_mode == "gross"
    return _group(
        "FaWiersz",
        _leaf("NrWierszaFa", str(number)),
        _leaf("P_7", line.name),
        _leaf("P_8A", line.unit),
        _leaf("P_8B", money.xml_number(line.quantity)),
        _leaf("P_9B" if gross else "P_9A", money.xml_number(line.unit_price)),
        _leaf("P_10", _amount(amounts.discount) if amounts.discount else None),
        _leaf("P_11A" if gross else "P_11", _amount(amounts.value)),
        _leaf("P_12", line.rate),
        _leaf("KursWaluty", money.xml_number(exchange_rate) if exchange_rate is not None else None),
        _leaf("StanPrzed", "1" if line.before else None),
    )


def _payment(payment: Payment) -> _Node | None:
    paid = [_leaf("Zaplacono", "1"), _leaf("DataZaplaty", _date(payment.paid_date))] if payment.paid else []
    return _group(
        "Platnosc",
        paid,
        _group("TerminPlatnosci", _leaf("Termin", _date(payment.due_date))),
        _leaf("FormaPlatnosci", payment.form),
        _group("RachunekBankowy", _leaf("NrRB", _compact(payment.bank_account))),
    )


def _footer(notes: str | None) -> _Node | None:
    text = _multiline(notes or "")
    if not text:
        return None
    return _Node("Stopka", children=(_Node("Informacje", children=(_Node("StopkaFaktury", text),)),))


# --- schema ---------------------------------------------------------------------------------------------------


class SchemaResourceRefused(LookupError):
    """The schema asked for a resource that is not one of the bundled FA(3) files."""


class SchemaResolver(etree.Resolver):
    """Serve the FA(3) base schemas from ksef-client's package data and refuse everything else (fail closed).

    The official schema imports StrukturyDanych by its absolute crd.gov.pl URL, which lxml 6 cannot fetch
    (shared/ksef/fa3/README.txt); mapping it here also guarantees validation never touches the network.
    """

    def resolve(self, system_url, public_id, context):
        name = system_url[len(_ETD_BASE) :] if system_url and system_url.startswith(_ETD_BASE) else system_url
        if name not in _ETD_FILES:
            raise SchemaResourceRefused(system_url)
        data = (files(_SCHEMA_PACKAGE) / name).read_bytes()
        return self.resolve_string(data, context, base_url=_ETD_BASE + name)


class _Validator(NamedTuple):
    schema: etree.XMLSchema
    lock: threading.Lock  # an XMLSchema keeps its error log on the instance, so one validation at a time


@functools.lru_cache(maxsize=1)
def _validator() -> _Validator:
    """Compile the FA(3) schema once per process, on first use."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(SchemaResolver())
    document = etree.fromstring((files(_SCHEMA_PACKAGE) / _MAIN_SCHEMA).read_bytes(), parser, base_url=_MAIN_SCHEMA)
    return _Validator(etree.XMLSchema(document), threading.Lock())


def _safe_parser() -> etree.XMLParser:
    """Return a parser for untrusted XML: no entity expansion, no DTD, no network, no huge trees."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
    )


# --- problems -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason the invoice file is not acceptable: a Polish field label and sentence, and the raw detail."""

    field: str
    message: str
    detail: str = ""


# Polish labels of the elements we write (and a few common ones in imported files).
_LABELS = {
    "Faktura": "Faktura", "Naglowek": "Nagłówek", "KodFormularza": "Kod formularza",
    "WariantFormularza": "Wariant formularza", "DataWytworzeniaFa": "Data wytworzenia faktury",
    "SystemInfo": "Nazwa programu", "Podmiot1": "Sprzedawca", "Podmiot2": "Nabywca",
    "DaneIdentyfikacyjne": "Dane identyfikacyjne", "NIP": "NIP", "Nazwa": "Nazwa", "KodUE": "Kod kraju UE",
    "NrVatUE": "Numer VAT UE", "KodKraju": "Kraj", "NrID": "Identyfikator podatkowy",
    "BrakID": "Brak identyfikatora", "Adres": "Adres", "AdresL1": "Adres", "AdresL2": "Adres (druga linia)",
    "DaneKontaktowe": "Dane kontaktowe", "Email": "E-mail", "Telefon": "Telefon", "JST": "Znacznik JST",
    "GV": "Znacznik grupy VAT", "Fa": "Dane faktury", "KodWaluty": "Waluta", "P_1": "Data wystawienia",
    "P_1M": "Miejsce wystawienia", "P_2": "Numer faktury", "P_6": "Data sprzedaży",
    "P_15": "Kwota należności ogółem", "Adnotacje": "Adnotacje", "P_16": "Metoda kasowa",
    "P_17": "Samofakturowanie", "P_18": "Odwrotne obciążenie", "P_18A": "Mechanizm podzielonej płatności",
    "Zwolnienie": "Zwolnienie od podatku", "P_19": "Zwolnienie od podatku", "P_19A": "Podstawa zwolnienia",
    "P_19B": "Podstawa zwolnienia", "P_19C": "Podstawa zwolnienia", "P_19N": "Zwolnienie od podatku",
    "NoweSrodkiTransportu": "Nowe środki transportu", "P_22N": "Nowe środki transportu",
    "P_23": "Procedura trójstronna", "PMarzy": "Procedura marży", "P_PMarzyN": "Procedura marży",
    "RodzajFaktury": "Rodzaj faktury", "PrzyczynaKorekty": "Przyczyna korekty", "TypKorekty": "Typ skutku korekty",
    "DaneFaKorygowanej": "Dane faktury korygowanej", "DataWystFaKorygowanej": "Data wystawienia faktury korygowanej",
    "NrFaKorygowanej": "Numer faktury korygowanej", "NrKSeF": "Numer KSeF faktury korygowanej",
    "NrKSeFFaKorygowanej": "Numer KSeF faktury korygowanej", "NrKSeFN": "Faktura korygowana spoza KSeF",
    "DodatkowyOpis": "Dodatkowy opis", "Klucz": "Dodatkowy opis (nazwa)", "Wartosc": "Dodatkowy opis (treść)",
    "FaWiersz": "Pozycja faktury", "NrWierszaFa": "Numer pozycji", "P_7": "Nazwa towaru lub usługi",
    "P_8A": "Jednostka miary", "P_8B": "Ilość", "P_9A": "Cena jednostkowa netto",
    "P_9B": "Cena jednostkowa brutto", "P_10": "Rabat", "P_11": "Wartość netto", "P_11A": "Wartość brutto",
    "P_12": "Stawka VAT", "KursWaluty": "Kurs waluty", "StanPrzed": "Stan przed korektą", "Platnosc": "Płatność",
    "Zaplacono": "Zapłacono", "DataZaplaty": "Data zapłaty", "TerminPlatnosci": "Termin płatności",
    "Termin": "Termin płatności", "FormaPlatnosci": "Forma płatności", "RachunekBankowy": "Rachunek bankowy",
    "NrRB": "Numer rachunku bankowego", "Stopka": "Stopka", "Informacje": "Uwagi", "StopkaFaktury": "Uwagi",
}
_BUCKET_LABELS = {
    "1": "23% lub 22%", "2": "8% lub 7%", "3": "5%", "4": "4% lub 3%", "5": "OSS", "6_1": "0% – krajowe",
    "6_2": "0% – WDT", "6_3": "0% – eksport", "7": "zw", "8": "np", "9": "np – art. 100 ust. 1 pkt 4",
    "10": "odwrotne obciążenie", "11": "marża",
}
_PARTIES = {
    "Podmiot1": "sprzedawcy", "Podmiot2": "nabywcy", "Podmiot3": "podmiotu trzeciego",
    "PodmiotUpowazniony": "podmiotu upoważnionego",
}
_BUCKET_TAG = re.compile(r"P_1([34])_(\d+(?:_\d)?)(W?)")
_ELEMENT_IN_MESSAGE = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")
_EXPECTED = re.compile(r"Expected is (?:one of )?\( ([^)]*) \)")
_FACET = re.compile(r"\[facet '(\w+)'\]")
_LIMIT = re.compile(r"(?:length of|allowed) \(?'(\d+)'\)?\.?$")


def _base_label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    match = _BUCKET_TAG.fullmatch(name)
    if match and match.group(2) in _BUCKET_LABELS:
        what = "Wartość netto" if match.group(1) == "3" else "Kwota VAT"
        in_pln = " w złotych" if match.group(3) else ""
        return f"{what}{in_pln} ({_BUCKET_LABELS[match.group(2)]})"
    return name


@dataclass(frozen=True)
class _Place:
    """Where in the invoice an element sits: whose data (seller/buyer) and which line."""

    party: str | None = None
    line: str | None = None
    before: bool = False

    def subject(self, name: str) -> str:
        """Return the field's name with whose data it is: "NIP nabywcy"."""
        return _base_label(name) + (f" {self.party}" if self.party else "")

    def label(self, name: str) -> str:
        """Return the Problem.field label: "Nazwa towaru lub usługi (pozycja 2)"."""
        if not self.line:
            return self.subject(name)
        return f"{self.subject(name)} (pozycja {self.line}{', przed korektą' if self.before else ''})"

    def where(self) -> str:
        """Return the line for a sentence: " w pozycji 2"."""
        if not self.line:
            return ""
        return f" w pozycji {self.line}" + (" (przed korektą)" if self.before else "")


def _local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def _place_of(element: etree._Element | None) -> _Place:
    """Find the party and the FaWiersz an element belongs to (the element itself included)."""
    party = line = None
    before = False
    node = element
    while node is not None:
        name = _local_name(node)
        if party is None and name in _PARTIES:
            party = _PARTIES[name]
        if line is None and name == "FaWiersz":
            line, before = _line_number(node), node.find(f"{{{NS}}}StanPrzed") is not None
        node = node.getparent()
    return _Place(party, line, before)


def _line_number(row: etree._Element) -> str:
    number = _text(row.find(f"{{{NS}}}NrWierszaFa"))
    if number.isdigit():
        return number
    return str(1 + sum(1 for _ in row.itersiblings(f"{{{NS}}}FaWiersz", preceding=True)))


def _chars(count: int) -> str:
    if count == 1:
        return "znak"
    if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
        return "znaki"
    return "znaków"


def _value_sentence(message: str, subject: str, where: str) -> str:
    """Say in Polish what is wrong with a value, from the kind of libxml2 failure."""
    facet = _FACET.search(message)
    kind = facet.group(1) if facet else ""
    limit_match = _LIMIT.search(message)
    limit = int(limit_match.group(1)) if limit_match else 0
    start = f"Pole «{subject}»{where}"
    if kind == "maxLength":
        return f"{start} jest za długie (najwyżej {limit} {_chars(limit)})."
    if kind == "minLength" and limit <= 1:
        return f"{start} nie może być puste."
    if kind == "minLength":
        return f"{start} jest za krótkie (co najmniej {limit} {_chars(limit)})."
    if kind == "fractionDigits":
        return f"{start} ma za dużo cyfr po przecinku (najwyżej {limit})."
    if kind == "totalDigits":
        return f"{start} ma za dużo cyfr."
    if kind in ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive"):
        return f"{start} ma wartość spoza dozwolonego zakresu."
    if kind == "enumeration":
        return f"{start} ma niedozwoloną wartość."
    if kind == "pattern" or "is not a valid value" in message:
        return f"{start} ma nieprawidłowy format."
    return f"{start} ma nieprawidłową wartość."


def _structure_problem(message: str, name: str, element: etree._Element | None, expected: list[str]) -> Problem:
    """Describe a missing or misplaced element (libxml2 "Missing child" / "This element is not expected")."""
    missing_child = "Missing child" in message
    place = _place_of(element if missing_child or element is None else element.getparent())
    if missing_child or len(expected) == 1:
        wanted = expected[0] if expected else name
        sentence = f"Brakuje wymaganego pola «{place.subject(wanted)}»{place.where()}."
        return Problem(place.label(wanted), sentence, message)
    start = f"Pole «{place.subject(name)}»{place.where()}"
    if not expected:
        return Problem(place.label(name), f"{start} nie jest dozwolone w tym miejscu.", message)
    options = ", ".join(dict.fromkeys(f"«{place.subject(other)}»" for other in expected[:5]))
    sentence = f"{start} jest w niewłaściwym miejscu; przed nim powinno być jedno z pól: {options}."
    return Problem(place.label(name), sentence, message)


def _expected_names(message: str) -> list[str]:
    """Return the local names libxml2 lists after "Expected is (one of)"."""
    match = _EXPECTED.search(message)
    if not match:
        return []
    return [re.sub(r"^\{[^}]*\}", "", item.strip()) for item in match.group(1).split(",")]


def _problem(tree: etree._ElementTree, error: etree._LogEntry) -> Problem:
    message = error.message
    if "No matching global declaration" in message:
        return Problem("Faktura", "Plik nie jest fakturą w formacie FA(3).", message)
    element = _error_element(tree, error.path)
    found = _ELEMENT_IN_MESSAGE.search(message)
    name = _local_name(element) if element is not None else (found.group(1) if found else "Faktura")
    if "Missing child" in message or "not expected" in message:
        return _structure_problem(message, name, element, _expected_names(message))
    place = _place_of(element)
    return Problem(place.label(name), _value_sentence(message, place.subject(name), place.where()), message)


def _error_element(tree: etree._ElementTree, path: str | None) -> etree._Element | None:
    """Return the element an error's positional path (/*/*[4]/*[11]/*[3]) points at, if any."""
    if not path:
        return None
    try:
        found = tree.xpath(path)
    except etree.XPathError:
        return None
    first = found[0] if isinstance(found, list) and found else None
    return first if isinstance(first, etree._Element) and isinstance(first.tag, str) else None


def _schema_problems(root: etree._Element) -> list[Problem]:
    validator = _validator()
    with validator.lock:
        validator.schema.validate(root)
        errors = list(validator.schema.error_log)
    tree = root.getroottree()
    problems: dict[str, Problem] = {}
    for error in errors:
        problem = _problem(tree, error)
        # libxml2 may report one bad value twice (a facet, then the type); the first is the more precise.
        problems.setdefault(problem.field, problem)
    return list(problems.values())


def _not_xml(error: etree.XMLSyntaxError) -> Problem:
    line = f" (wiersz {error.lineno})" if error.lineno else ""
    return Problem("Plik faktury", f"Plik nie jest poprawnym dokumentem XML{line}.", str(error))


def validate(xml: bytes) -> list[Problem]:
    """Validate FA(3) XML against the official XSD; return the problems (an empty list when it is valid)."""
    try:
        root = etree.fromstring(xml, _safe_parser())
    except etree.XMLSyntaxError as error:
        return [_not_xml(error)]
    return _schema_problems(root)


# --- KSeF file rules ------------------------------------------------------------------------------------------

_FILE = "Plik faktury"
_FILE_MESSAGES = {
    "size": "Plik faktury jest za duży: KSeF przyjmuje najwyżej 1\u00a0000\u00a0000 bajtów.",
    "bom": "Plik faktury zaczyna się znacznikiem BOM, którego KSeF nie przyjmuje.",
    "encoding": "Plik faktury nie jest zapisany w kodowaniu UTF-8.",
    "declared": "Nagłówek pliku deklaruje kodowanie inne niż UTF-8.",
    "doctype": "Plik faktury zawiera deklarację DOCTYPE, której KSeF nie przyjmuje.",
    "characters": "Plik faktury zawiera niedozwolone znaki sterujące.",
    "instruction": "Plik faktury zawiera instrukcje przetwarzania (np. <?xml-stylesheet?>), "
    "których KSeF nie przyjmuje.",
}
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


def _file_problem(rule: str, detail: str) -> Problem:
    return Problem(_FILE, _FILE_MESSAGES[rule], detail)


def _byte_problems(xml: bytes) -> list[Problem]:
    """Check the rules KSeF applies to the file's bytes (weryfikacja-faktury.md), before parsing it."""
    problems = []
    if len(xml) > MAX_DOCUMENT_BYTES:
        problems.append(_file_problem("size", f"{len(xml)} bytes"))
    if xml.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        problems.append(_file_problem("bom", repr(xml[:3])))
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError as error:
        return problems + [_file_problem("encoding", str(error))]
    declared = _DECLARED_ENCODING.match(xml.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).decode("ascii").lower() not in ("utf-8", "utf8"):
        problems.append(_file_problem("declared", declared.group(0).decode("ascii", "replace")))
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        problems.append(_file_problem("doctype", "DOCTYPE"))
    if _DISCOURAGED.search(text):
        problems.append(_file_problem("characters", "discouraged Unicode characters"))
    return problems


def check_document(xml: bytes) -> list[Problem]:
    """Check an invoice file as KSeF will: file rules, then well-formedness, then the FA(3) XSD."""
    problems = _byte_problems(xml)
    if problems:
        return problems
    try:
        root = etree.fromstring(xml, _safe_parser())
    except etree.XMLSyntaxError as error:
        return [_not_xml(error)]
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        return [_file_problem("doctype", "DOCTYPE")]
    instructions = tree.xpath("//processing-instruction()")
    if instructions:
        return [_file_problem("instruction", str(instructions[0]))]
    return _schema_problems(root)


# --- reading --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    """The key data of an FA(3) invoice made by another program."""

    kind: str
    number: str
    issue_date: date
    sale_date: date | None
    seller_nip: str
    seller_name: str
    buyer_name: str | None
    buyer_id_text: str | None
    buyer_nip: str | None
    currency: str
    net: Decimal
    vat: Decimal
    gross: Decimal


def _text(element: etree._Element | None) -> str:
    """Return an element's text without comments, whitespace collapsed."""
    return _token(element.xpath("string()")) if element is not None else ""


def _value(root: etree._Element, path: str) -> str | None:
    found = root.xpath(path, namespaces=_NSMAP)
    return (_text(found[0]) or None) if found else None


def _sum(elements: list) -> Decimal:
    return sum((Decimal(_text(element)) for element in elements), money.ZERO)


def _buyer_id_text(root: etree._Element) -> str | None:
    ids = "f:Podmiot2/f:DaneIdentyfikacyjne/f:"
    nip, vat_eu, other = (_value(root, ids + tag) for tag in ("NIP", "NrVatUE", "NrID"))
    if nip:
        return nip
    if vat_eu:
        return f"UE {_value(root, ids + 'KodUE') or ''}{vat_eu}"
    return other


def parse_summary(xml: bytes) -> ImportSummary:
    """Read the summary of an FA(3) invoice; call it only on XML that passed check_document."""
    root = etree.fromstring(xml, _safe_parser())
    fa = root.find(f"{{{NS}}}Fa")
    if fa is None:
        raise ValueError("not an FA(3) invoice")
    names = [(_local_name(child), child) for child in fa if isinstance(child.tag, str)]
    sale_date = _value(fa, "f:P_6")
    party = "f:DaneIdentyfikacyjne/f:"
    return ImportSummary(
        kind=_value(fa, "f:RodzajFaktury") or "",
        number=_value(fa, "f:P_2") or "",
        issue_date=date.fromisoformat(_value(fa, "f:P_1") or ""),
        sale_date=date.fromisoformat(sale_date) if sale_date else None,
        seller_nip=_value(root, f"f:Podmiot1/{party}NIP") or "",
        seller_name=_value(root, f"f:Podmiot1/{party}Nazwa") or "",
        buyer_name=_value(root, f"f:Podmiot2/{party}Nazwa"),
        buyer_id_text=_buyer_id_text(root),
        buyer_nip=_value(root, f"f:Podmiot2/{party}NIP"),
        currency=_value(fa, "f:KodWaluty") or "",
        net=_sum([child for name, child in names if name.startswith("P_13_")]),
        vat=_sum([child for name, child in names if name.startswith("P_14_") and not name.endswith("W")]),
        gross=Decimal(_value(fa, "f:P_15") or "0"),
    )
