"""Read a purchase invoice: an FA(3) invoice another company issued to us, as the purchase list shows it.

The seller is not us here, so nothing is checked against the company: what KSeF gave us is what we keep.
The summary reuses parse_summary (document.py) and adds what paying needs: the first due date and bank account
(Platnosc/TerminPlatnosci, Platnosc/RachunekBankowy), and the VAT in PLN of a foreign-currency invoice
(P_14_xW, "kwota podatku … przeliczona na złote", schemat_FA(3)_v1-0E.xsd).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from ksef_local.fa3.document import ImportSummary, parse_summary
from ksef_local.fa3.names import _NSMAP, NS, _text
from ksef_local.fa3.schema import _safe_parser


@dataclass(frozen=True)
class PurchaseSummary:
    """What the purchase list shows of one invoice, read from its XML."""

    summary: ImportSummary
    due_date: date | None
    bank_account: str | None
    vat_pln: Decimal
    paid_on_invoice: bool  # the seller wrote Zaplacono = 1 (already paid, e.g. by card)
    paid_date: date | None  # DataZaplaty, when paid_on_invoice


def _first(root: etree._Element, path: str) -> str:
    found = root.xpath(path, namespaces=_NSMAP)
    return _text(found[0]) if found else ""


def parse_purchase(xml: bytes) -> PurchaseSummary:
    """Read a purchase invoice; raise ValueError when it is not FA(3) XML we can read."""
    try:
        summary = parse_summary(xml)
        root = etree.fromstring(xml, _safe_parser())
    except (etree.XMLSyntaxError, InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a readable FA(3) invoice: {exc}") from exc
    fa = root.find(f"{{{NS}}}Fa")
    due = _day(_first(fa, "f:Platnosc/f:TerminPlatnosci/f:Termin"))
    account = _first(fa, "f:Platnosc/f:RachunekBankowy/f:NrRB") or None
    if summary.currency == "PLN":
        vat_pln = summary.vat
    else:
        vat_pln = sum((Decimal(_text(e)) for e in fa.xpath("*[starts-with(local-name(), 'P_14_') and "
                                                           "substring(local-name(), string-length(local-name())) "
                                                           "= 'W']", namespaces=_NSMAP) if _text(e)),
                      Decimal("0"))
    paid = _first(fa, "f:Platnosc/f:Zaplacono") == "1"
    return PurchaseSummary(summary, due, account, vat_pln, paid, _day(_first(fa, "f:Platnosc/f:DataZaplaty")))


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None
