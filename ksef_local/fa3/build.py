"""Build FA(3) XML from an Invoice.

Element order follows the xsd:sequence definitions of schemat_FA(3)_v1-0E.xsd exactly (CIRFMF/ksef-docs
faktury/schemy/FA/; the points we rely on are in docs/fa3-notes.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Iterable, Union

from lxml import etree

from ksef_local.core import money
from ksef_local.core.model import CASH, Invoice, Line, Party, Payment
from ksef_local.fa3.names import (
    _BUCKET_ORDER,
    _BUCKETS_WITH_PLN,
    _EXEMPTION_TAGS,
    _ISO_FOR_VAT_PREFIX,
    _UNWRITABLE,
    _VAT_PREFIX_FOR_ISO,
    NS,
    _token,
)
from ksef_local.formats import format_flexible
from ksef_local.version import VERSION

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
    """Return P_13_x/P_14_x(/P_14_xW) for the buckets present, in XSD order (docs/fa3-notes.md §3.2)."""
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
    """Return Adnotacje: every child is required, in this order (docs/fa3-notes.md §3.3)."""
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
    """Return the correction block of a KOR (docs/fa3-notes.md §3.5); nothing for other kinds."""
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
    text = f"1 {invoice.currency} = {format_flexible(invoice.exchange_rate, 4)} PLN"
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
    amounts = money.line_amounts(line)
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
        # An account belongs to a transfer: a cash invoice (FormaPlatnosci 1) keeps the draft's default account
        # out of the XML, so the buyer is not asked to pay again by transfer (docs/fa3-notes.md §7.1).
        _group("RachunekBankowy", _leaf("NrRB", None if payment.form == CASH else _compact(payment.bank_account))),
    )


def _footer(notes: str | None) -> _Node | None:
    text = _multiline(notes or "")
    if not text:
        return None
    return _Node("Stopka", children=(_Node("Informacje", children=(_Node("StopkaFaktury", text),)),))

