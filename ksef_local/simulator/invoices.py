"""What the simulator reads from an invoice: XML rules, FA(3) XSD problems and the business key.

XML rules and the checks' order follow docs/ksef-protocol.md §3.3 and §12 (BOM → 430: CIRFMF/ksef-api
issue #779). The XSD check uses ksef_local.fa3.validate when that module exists, otherwise the official
XSD files shipped by the ksef-client package. FA(3) element names are allowed here (house-style rule 12: simulator).
"""
from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lxml import etree

MAX_INVOICE_BYTES = 1_000_000  # ksef-docs faktury/weryfikacja-faktury.md (without attachments)
_ETD_PREFIX = "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/"
_DISCOURAGED = re.compile("[\u007f-\u0084\u0086-\u009f\ufdd0-\ufdef]")


@dataclass(frozen=True)
class InvoiceFacts:
    """The fields the simulator needs: duplicate key (NIP + RodzajFaktury + P_2) and P_1."""

    seller_nip: str
    kind: str
    number: str
    issue_date: date | None
    buyer_nip: str | None = None


def xml_problems(xml: bytes) -> list[str]:
    """Return 430-style problems: size, BOM, encoding, well-formedness, PIs, discouraged characters, XSD."""
    if len(xml) > MAX_INVOICE_BYTES:
        return [f"Rozmiar faktury {len(xml)} B przekracza dozwolone {MAX_INVOICE_BYTES} B."]
    if xml.startswith(b"\xef\xbb\xbf"):
        return ["Plik faktury zawiera znacznik BOM; wymagane jest kodowanie UTF-8 bez BOM."]
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError:
        return ["Plik faktury nie jest poprawnie zakodowany w UTF-8."]
    if _DISCOURAGED.search(text):
        return ["Plik faktury zawiera niedozwolone znaki sterujące."]
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        return [f"Plik faktury nie jest poprawnym dokumentem XML: {exc}"]
    if any(isinstance(node, etree._ProcessingInstruction) for node in root.itersiblings(preceding=True)) or \
            root.xpath("//processing-instruction()"):
        return ["Plik faktury zawiera instrukcje przetwarzania, które są niedozwolone."]
    return schema_problems(xml, root)


def schema_problems(xml: bytes, root: etree._Element) -> list[str]:
    """Return FA(3) XSD problems, one string per validator message."""
    fa3 = _fa3_module()
    if fa3 is not None:
        return [f"{p.field}: {p.message}" if getattr(p, "field", None) else str(p.message) for p in fa3.validate(xml)]
    schema = _schema()
    if schema.validate(root):
        return []
    return [f"Linia {e.line}: {e.message}" for e in schema.error_log]


def read_facts(xml: bytes) -> InvoiceFacts:
    """Return the invoice's business key and dates (call only after xml_problems found nothing)."""
    root = etree.fromstring(xml, _parser())

    def text(path: str) -> str | None:
        found = root.xpath(path)
        return found[0].strip() if found else None

    p1 = text("/*[local-name()='Faktura']/*[local-name()='Fa']/*[local-name()='P_1']/text()")
    return InvoiceFacts(
        seller_nip=text("/*/*[local-name()='Podmiot1']/*[local-name()='DaneIdentyfikacyjne']"
                        "/*[local-name()='NIP']/text()") or "",
        kind=text("/*/*[local-name()='Fa']/*[local-name()='RodzajFaktury']/text()") or "",
        number=text("/*/*[local-name()='Fa']/*[local-name()='P_2']/text()") or "",
        issue_date=_date_or_none(p1),
        buyer_nip=text("/*/*[local-name()='Podmiot2']/*[local-name()='DaneIdentyfikacyjne']/*[local-name()='NIP']/text()"),
    )


def is_valid_nip(nip: str) -> bool:
    """Return True for a 10-digit NIP with a correct checksum (weights 6,5,7,2,3,4,5,6,7)."""
    if not re.fullmatch(r"[1-9]\d{9}", nip or ""):
        return False
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    total = sum(int(d) * w for d, w in zip(nip, weights, strict=False))  # the 10th digit is the check digit
    return total % 11 == int(nip[9])


def _date_or_none(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _fa3_module():
    try:
        from ksef_local import fa3  # written by another issue; used when present
    except ImportError:
        return None
    return fa3 if hasattr(fa3, "validate") else None


class _EtdResolver(etree.Resolver):
    """Map the crd.gov.pl URLs of the imported base schemas to the local copies (no network)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def resolve(self, system_url, public_id, context):
        if system_url and system_url.startswith(_ETD_PREFIX):
            return self.resolve_filename(str(self.folder / system_url[len(_ETD_PREFIX):]), context)
        return None


@functools.lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    folder = Path(str(importlib.resources.files("ksef_client"))) / "documents" / "fa3" / "schemas"
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_EtdResolver(folder))
    return etree.XMLSchema(etree.parse(str(folder / "schemat_FA(3)_v1-0E.xsd"), parser))
