"""Read FA(3) XML into a print model: what the printed invoice shows, without FA(3) element names.

The printing package lays this model out; only this module knows which element holds what
(house rule 12). Labels follow MF's visualisation (CIRFMF/ksef-pdf-generator pl.json; docs/fa3-notes.md §7.1).
The XML is read with the fa3 safe parser, so imported (untrusted) files print too.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from ksef_local.core.model import CASH
from ksef_local.fa3.names import _BUCKET_ORDER, _NSMAP, NS, _text
from ksef_local.fa3.schema import _safe_parser

KIND_LABELS = {
    "VAT": "Faktura podstawowa",
    "KOR": "Faktura korygująca",
    "ZAL": "Faktura zaliczkowa",
    "ROZ": "Faktura rozliczeniowa",
    "UPR": "Faktura uproszczona",
    "KOR_ZAL": "Faktura korygująca zaliczkową",
    "KOR_ROZ": "Faktura korygująca rozliczeniową",
}

# Row labels of "Podsumowanie stawek podatku" per summary bucket (CIRFMF/ksef-pdf-generator
# FA3/PodsumowanieStawekPodatkuVat.ts).
BUCKET_LABELS = {
    "1": "23% lub 22%", "2": "8% lub 7%", "3": "5%", "4": "4% lub 3%", "5": "OSS",
    "6_1": "0% - krajowe", "6_2": "0% - wdt", "6_3": "0% - eksport", "7": "zwolnione od podatku",
    "8": "np z wyłączeniem art. 100 ust 1 pkt 4 ustawy", "9": "np na podstawie art. 100 ust. 1 pkt 4 ustawy",
    "10": "odwrotne obciążenie", "11": "marża",
}
_BUCKETS_WITH_VAT = ("1", "2", "3", "4", "5")

PAYMENT_FORM_LABELS = {"1": "Gotówka", "2": "Karta", "3": "Bon", "4": "Czek", "5": "Kredyt", "6": "Przelew",
                       "7": "Mobilna"}
CORRECTION_TYPE_LABELS = {
    "1": "Korekta skutkująca w dacie ujęcia faktury pierwotnej",
    "2": "Korekta skutkująca w dacie wystawienia faktury korygującej",
    "3": "Korekta skutkująca w dacie innej, w tym gdy dla różnych pozycji faktury korygującej daty te są różne",
}
ROLE_LABELS = {"1": "Faktor", "2": "Odbiorca", "3": "Podmiot pierwotny", "4": "Dodatkowy nabywca",
               "5": "Wystawca faktury", "6": "Dokonujący płatności", "7": "Jednostka samorządu terytorialnego",
               "8": "JST – odbiorca", "9": "Członek grupy VAT", "10": "Członek grupy VAT – odbiorca",
               "11": "Pracownik"}
# Adnotacje flags worth printing when set ("1"), in MF's order (ksef-pdf-generator FA3/Adnotacje.ts).
_FLAGS = (("P_16", "Metoda kasowa"), ("P_17", "Samofakturowanie"), ("P_18", "Odwrotne obciążenie"),
          ("P_18A", "Mechanizm podzielonej płatności"), ("P_23", "Procedura trójstronna uproszczona"))
_MARGIN = (("P_PMarzy_2", "Procedura marży: biura podróży"), ("P_PMarzy_3_1", "Procedura marży: towary używane"),
           ("P_PMarzy_3_2", "Procedura marży: dzieła sztuki"),
           ("P_PMarzy_3_3", "Procedura marży: przedmioty kolekcjonerskie i antyki"))


@dataclass(frozen=True)
class PrintParty:
    name: str = ""
    tax_ids: tuple[tuple[str, str], ...] = ()  # (label, value): NIP, Numer VAT-UE, Identyfikator podatkowy inny …
    address: tuple[str, ...] = ()
    correspondence_address: tuple[str, ...] = ()
    contacts: tuple[tuple[str, str], ...] = ()  # (label, value): E-mail, Tel.
    extra: tuple[tuple[str, str], ...] = ()  # Numer klienta, Rola, Udział …


@dataclass(frozen=True)
class PrintLine:
    number: str
    name: str
    unit: str
    quantity: Decimal | None
    unit_price: Decimal | None
    discount: Decimal | None
    value: Decimal | None
    rate: str
    before: bool


@dataclass(frozen=True)
class RateRow:
    label: str
    net: Decimal
    vat: Decimal | None
    gross: Decimal
    vat_pln: Decimal | None


@dataclass(frozen=True)
class PrintCorrection:
    reason: str
    type_label: str
    corrected: tuple[tuple[date | None, str, str | None], ...]  # (issue date, number, KSeF number or None)


@dataclass(frozen=True)
class PrintPayment:
    form: str = ""
    paid: bool = False
    paid_date: date | None = None
    due_dates: tuple[str, ...] = ()
    accounts: tuple[tuple[str, str, str], ...] = ()  # (number, SWIFT, bank name)
    description: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.form or self.paid or self.due_dates or self.accounts or self.description)


@dataclass(frozen=True)
class PrintableInvoice:
    """Everything the printed invoice shows, read from the FA(3) XML."""

    kind: str
    kind_label: str
    number: str
    issue_date: date
    place: str
    sale_date: date | None
    sale_period: tuple[date, date] | None
    currency: str
    prices_gross: bool
    seller_nip: str
    seller: PrintParty
    buyer: PrintParty
    others: tuple[PrintParty, ...]
    lines: tuple[PrintLine, ...]
    rates: tuple[RateRow, ...]
    total: Decimal
    annotations: tuple[str, ...]
    exemption_basis: str
    correction: PrintCorrection | None
    extra_info: tuple[tuple[str, str], ...]
    payment: PrintPayment
    footer: tuple[str, ...]
    registers: tuple[tuple[str, str, str, str], ...]  # (full name, KRS, REGON, BDO)
    system_info: str = ""
    split_payment: bool = False

    @property
    def has_before_lines(self) -> bool:
        return any(line.before for line in self.lines)

    @property
    def has_discounts(self) -> bool:
        return any(line.discount for line in self.lines)


def _find(parent: etree._Element | None, path: str) -> etree._Element | None:
    if parent is None:
        return None
    found = parent.xpath(path, namespaces=_NSMAP)
    return found[0] if found else None


def _all(parent: etree._Element | None, path: str) -> list[etree._Element]:
    return [] if parent is None else parent.xpath(path, namespaces=_NSMAP)


def _str(parent: etree._Element | None, path: str) -> str:
    return _text(_find(parent, path))


def _dec(parent: etree._Element | None, path: str) -> Decimal | None:
    text = _str(parent, path)
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def _day(parent: etree._Element | None, path: str) -> date | None:
    text = _str(parent, path)
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _is_set(parent: etree._Element | None, path: str) -> bool:
    return _str(parent, path) == "1"


def _address(element: etree._Element | None) -> tuple[str, ...]:
    if element is None:
        return ()
    lines = [_str(element, "f:AdresL1"), _str(element, "f:AdresL2")]
    country = _str(element, "f:KodKraju")
    if country and country != "PL":
        lines.append(country)
    return tuple(line for line in lines if line)


def _tax_ids(ids: etree._Element | None) -> list[tuple[str, str]]:
    result = []
    if _str(ids, "f:NIP"):
        result.append(("NIP", _str(ids, "f:NIP")))
    if _str(ids, "f:NrVatUE"):
        result.append(("Numer VAT-UE", _str(ids, "f:KodUE") + _str(ids, "f:NrVatUE")))
    if _str(ids, "f:NrID"):
        result.append(("Identyfikator podatkowy inny", f"{_str(ids, 'f:KodKraju')} {_str(ids, 'f:NrID')}".strip()))
    if _is_set(ids, "f:BrakID"):
        result.append(("Brak identyfikatora", ""))
    if _str(ids, "f:IDWew"):
        result.append(("Identyfikator wewnętrzny", _str(ids, "f:IDWew")))
    return result


def _party(element: etree._Element | None, extra: list[tuple[str, str]] | None = None) -> PrintParty:
    if element is None:
        return PrintParty()
    ids = _find(element, "f:DaneIdentyfikacyjne")
    tax_ids = _tax_ids(ids)
    if _str(element, "f:PrefiksPodatnika"):
        tax_ids.append(("Prefiks VAT", _str(element, "f:PrefiksPodatnika")))
    if _str(element, "f:NrEORI"):
        tax_ids.append(("Numer EORI", _str(element, "f:NrEORI")))
    contacts = []
    for block in _all(element, "f:DaneKontaktowe"):
        contacts += [("E-mail", _str(block, "f:Email"))] if _str(block, "f:Email") else []
        contacts += [("Tel.", _str(block, "f:Telefon"))] if _str(block, "f:Telefon") else []
    more = list(extra or [])
    for path, label in (("f:NrKlienta", "Numer klienta"), ("f:IDNabywcy", "Identyfikator nabywcy")):
        if _str(element, path):
            more.append((label, _str(element, path)))
    return PrintParty(_str(ids, "f:Nazwa"), tuple(tax_ids), _address(_find(element, "f:Adres")),
                      _address(_find(element, "f:AdresKoresp")), tuple(contacts), tuple(more))


def _third_party(element: etree._Element) -> PrintParty:
    role = _str(element, "f:Rola")
    extra = [("Rola", ROLE_LABELS.get(role, _str(element, "f:OpisRoli") or role))]
    if _str(element, "f:Udzial"):
        extra.append(("Udział", _str(element, "f:Udzial") + "%"))
    return _party(element, extra)


def _rate_label(code: str) -> str:
    """Print a P_12 rate code as MF does: "23%", "0% KR", "zw", "np I"."""
    if code.isdigit():
        return f"{code}%"
    if code.startswith("0 "):
        return "0% " + code[2:]
    return code


def _line(row: etree._Element, gross: bool) -> PrintLine:
    return PrintLine(
        number=_str(row, "f:NrWierszaFa"),
        name=_str(row, "f:P_7"),
        unit=_str(row, "f:P_8A"),
        quantity=_dec(row, "f:P_8B"),
        unit_price=_dec(row, "f:P_9B") if gross else _dec(row, "f:P_9A"),
        discount=_dec(row, "f:P_10"),
        value=_dec(row, "f:P_11A") if gross else _dec(row, "f:P_11"),
        rate=_rate_label(_str(row, "f:P_12")),
        before=_is_set(row, "f:StanPrzed"),
    )


def _rates(fa: etree._Element) -> tuple[RateRow, ...]:
    rows = []
    for bucket in _BUCKET_ORDER:
        net = _dec(fa, f"f:P_13_{bucket}")
        if net is None:
            continue
        vat = _dec(fa, f"f:P_14_{bucket}") if bucket in _BUCKETS_WITH_VAT else None
        rows.append(RateRow(BUCKET_LABELS[bucket], net, vat, net + (vat or Decimal("0")),
                            _dec(fa, f"f:P_14_{bucket}W")))
    return tuple(rows)


def _annotations(fa: etree._Element) -> tuple[tuple[str, ...], str]:
    notes = _find(fa, "f:Adnotacje")
    flags = [label for tag, label in _FLAGS if _is_set(notes, f"f:{tag}")]
    if _is_set(notes, "f:PMarzy/f:P_PMarzy"):
        flags += [label for tag, label in _MARGIN if _is_set(notes, f"f:PMarzy/f:{tag}")] or ["Procedura marży"]
    basis = ""
    if _is_set(notes, "f:Zwolnienie/f:P_19"):
        basis = next((_str(notes, f"f:Zwolnienie/f:{tag}") for tag in ("P_19A", "P_19B", "P_19C")
                      if _str(notes, f"f:Zwolnienie/f:{tag}")), "")
    if _is_set(notes, "f:NoweSrodkiTransportu/f:P_22"):
        flags.append("Wewnątrzwspólnotowa dostawa nowych środków transportu")
    return tuple(flags), basis


def _correction(fa: etree._Element) -> PrintCorrection | None:
    if not fa.xpath("f:RodzajFaktury[starts-with(., 'KOR')]", namespaces=_NSMAP):
        return None
    corrected = tuple(
        (_day(block, "f:DataWystFaKorygowanej"), _str(block, "f:NrFaKorygowanej"),
         _str(block, "f:NrKSeFFaKorygowanej") or None)
        for block in _all(fa, "f:DaneFaKorygowanej")
    )
    type_code = _str(fa, "f:TypKorekty")
    return PrintCorrection(_str(fa, "f:PrzyczynaKorekty"), CORRECTION_TYPE_LABELS.get(type_code, type_code), corrected)


def _payment(fa: etree._Element) -> PrintPayment:
    pay = _find(fa, "f:Platnosc")
    if pay is None:
        return PrintPayment()
    dues = []
    for term in _all(pay, "f:TerminPlatnosci"):
        day = _day(term, "f:Termin")
        dues.append(f"{day:%d.%m.%Y}" if day else _str(term, "f:TerminOpis"))
    # A cash payment (FormaPlatnosci 1) prints no bank account: one in its XML is the seller's default carried
    # over, and on the buyer's copy it would ask for a transfer of what was paid in cash.
    accounts = () if _str(pay, "f:FormaPlatnosci") == CASH else tuple(
        (_str(acc, "f:NrRB"), _str(acc, "f:SWIFT"), _str(acc, "f:NazwaBanku"))
        for acc in _all(pay, "f:RachunekBankowy"))
    form = PAYMENT_FORM_LABELS.get(_str(pay, "f:FormaPlatnosci"), "")
    if not form and _is_set(pay, "f:PlatnoscInna"):
        form = _str(pay, "f:OpisPlatnosci") or "Inna"
    return PrintPayment(form, _is_set(pay, "f:Zaplacono"), _day(pay, "f:DataZaplaty"), tuple(d for d in dues if d),
                        accounts, _str(pay, "f:OpisPlatnosci") if form != _str(pay, "f:OpisPlatnosci") else "")


def _footer(root: etree._Element) -> tuple[tuple[str, ...], tuple[tuple[str, str, str, str], ...]]:
    texts = []
    for element in _all(root, "f:Stopka/f:Informacje/f:StopkaFaktury"):
        # StopkaFaktury is free text with line breaks (TTekstowy): keep them, unlike _text.
        texts += [line.strip() for line in "".join(element.itertext()).splitlines() if line.strip()]
    registers = tuple((_str(reg, "f:PelnaNazwa"), _str(reg, "f:KRS"), _str(reg, "f:REGON"), _str(reg, "f:BDO"))
                      for reg in _all(root, "f:Stopka/f:Rejestry"))
    return tuple(texts), registers


def read_printable(xml: bytes) -> PrintableInvoice:
    """Read an FA(3) invoice for printing; raise ValueError when it is not FA(3) XML."""
    try:
        root = etree.fromstring(xml, _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ValueError("not XML") from exc
    fa = root.find(f"{{{NS}}}Fa")
    if fa is None:
        raise ValueError("not an FA(3) invoice")
    gross = bool(_all(fa, "f:FaWiersz/f:P_11A | f:FaWiersz/f:P_9B")) and not _all(fa, "f:FaWiersz/f:P_11")
    period = (_day(fa, "f:OkresFa/f:P_6_Od"), _day(fa, "f:OkresFa/f:P_6_Do"))
    flags, basis = _annotations(fa)
    footer, registers = _footer(root)
    kind = _str(fa, "f:RodzajFaktury")
    return PrintableInvoice(
        kind=kind,
        kind_label=KIND_LABELS.get(kind, kind),
        number=_str(fa, "f:P_2"),
        issue_date=_day(fa, "f:P_1") or date.min,
        place=_str(fa, "f:P_1M"),
        sale_date=_day(fa, "f:P_6"),
        sale_period=period if period[0] and period[1] else None,  # type: ignore[arg-type]
        currency=_str(fa, "f:KodWaluty") or "PLN",
        prices_gross=gross,
        seller_nip=_str(root, "f:Podmiot1/f:DaneIdentyfikacyjne/f:NIP"),
        seller=_party(_find(root, "f:Podmiot1")),
        buyer=_party(_find(root, "f:Podmiot2")),
        others=tuple(_third_party(element) for element in _all(root, "f:Podmiot3")),
        lines=tuple(_line(row, gross) for row in _all(fa, "f:FaWiersz")),
        rates=_rates(fa),
        total=_dec(fa, "f:P_15") or Decimal("0"),
        annotations=flags,
        exemption_basis=basis,
        correction=_correction(fa),
        extra_info=tuple((_str(block, "f:Klucz"), _str(block, "f:Wartosc")) for block in _all(fa, "f:DodatkowyOpis")),
        payment=_payment(fa),
        footer=footer,
        registers=registers,
        system_info=_str(root, "f:Naglowek/f:SystemInfo"),
        split_payment=_is_set(fa, "f:Adnotacje/f:P_18A"),
    )
