"""Check an invoice file as KSeF will (check_document) and read the summary of an imported one (parse_summary)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

from ksef_local.core import money
from ksef_local.fa3.names import _DISCOURAGED, _NSMAP, MAX_DOCUMENT_BYTES, NS, _text
from ksef_local.fa3.schema import Problem, _local_name, _not_xml, _safe_parser, _schema_problems

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
