"""FA(3) names and character rules shared by the fa3 modules: the namespace, limits, bucket order, text helpers."""
from __future__ import annotations

import re

from lxml import etree

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


def writable(value: str) -> str:
    """Return the text without the characters an FA(3) file cannot carry (XML 1.0 and KSeF's discouraged list)."""
    return _UNWRITABLE.sub("", value)


def _token(value: str) -> str:
    """Return the text as xsd:token keeps it: unwritable characters dropped, XML whitespace collapsed."""
    return _XML_SPACE.sub(" ", _UNWRITABLE.sub("", value)).strip(" ")


def _text(element: etree._Element | None) -> str:
    """Return an element's text without comments, whitespace collapsed."""
    return _token(element.xpath("string()")) if element is not None else ""
