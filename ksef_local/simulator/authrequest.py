"""Reading a signed AuthTokenRequest: bytes → parsed tree → the XSD's rules checked in code.

The rules are those of the official schemas `schemat_auth_v2-0.xsd` and `schemat_auth_v2-1.xsd`
(CIRFMF/ksef-docs auth/schemy/; OpenAPI operation POST /auth/xades-signature). They are checked here
rather than by loading the XSDs because no installed package ships them, and because the 2.0 schema
cannot be compiled by libxml2 at all (its IPv4 patterns use `\\b`, which XSD regular expressions lack).
Where the two schemas differ only in how they spell a pattern, the checker follows what the pattern
evidently means (anchored, as .NET reads `^...$`), and tests/test_simulator_xades.py compares it with
the official 2.1 XSD. ds:Signature children of the root are not part of the schema and are skipped: the
schema describes the document that was signed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from ksef_local.simulator.common import SimError, bad_request

NAMESPACES = ("http://ksef.mf.gov.pl/auth/token/2.0", "http://ksef.mf.gov.pl/auth/token/2.1")
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
SUBJECT_TYPES = ("certificateSubject", "certificateFingerprint")

_NIP = r"[1-9]((\d[1-9])|([1-9]\d))\d{7}"
_EU_VAT = (r"((AT)(U\d{8})|(BE)([01]{1}\d{9})|(BG)(\d{9,10})|(CY)(\d{8}[A-Z])|(CZ)(\d{8,10})|(DE)(\d{9})|(DK)(\d{8})"
           r"|(EE)(\d{9})|(EL)(\d{9})|(ES)([A-Z]\d{8}|\d{8}[A-Z]|[A-Z]\d{7}[A-Z])|(FI)(\d{8})|(FR)[A-Z0-9]{2}\d{9}"
           r"|(HR)(\d{11})|(HU)(\d{8})|(IE)(\d{7}[A-Z]{2}|\d[A-Z0-9+*]\d{5}[A-Z])|(IT)(\d{11})|(LT)(\d{9}|\d{12})"
           r"|(LU)(\d{8})|(LV)(\d{11})|(MT)(\d{8})|(NL)([A-Z0-9+*]{12})|(PT)(\d{9})|(RO)(\d{2,10})|(SE)(\d{12})"
           r"|(SI)(\d{8})|(SK)(\d{10})|(XI)((\d{9}|(\d{12}))|(GD|HA)(\d{3})))")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IP = rf"({_OCTET}\.){{3}}{_OCTET}"
# XSD simple types of the schema (TNIP, TIID, TNipVatUE, TPeppolId) and the AllowedIps patterns.
CONTEXT_PATTERNS = {
    "Nip": re.compile(_NIP),
    "InternalId": re.compile(rf"{_NIP}-\d{{5}}"),
    "NipVatUe": re.compile(rf"({_NIP}-{_EU_VAT})"),
    "PeppolId": re.compile(r"P[A-Z]{2}[0-9]{6}"),
}
CHALLENGE = re.compile(r"\d{8}-CR-[A-F0-9]{10}-[A-F0-9]{10}-[A-F0-9]{2}")
IP_LISTS = (("Ip4Address", re.compile(_IP)), ("Ip4Range", re.compile(rf"{_IP}-{_IP}")),
            ("Ip4Mask", re.compile(rf"{_IP}/(0|[1-9]|[12][0-9]|3[0-2])")))


@dataclass
class AuthRequest:
    """What the schema-valid AuthTokenRequest says, plus the parsed tree it came from."""

    root: etree._Element = field(repr=False)
    namespace: str
    challenge: str
    context_type: str
    context_value: str
    subject_type: str
    allowed_ips: dict[str, list[str]]


def parse_document(raw: bytes) -> etree._Element:
    """Parse the bytes as received: 21217 when not UTF-8, 21001 when not well-formed XML (no DTDs)."""
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(21217, "Nieprawidłowe kodowanie znaków.",
                          f"Dokument nie jest zapisany w UTF-8 (bajt {exc.start}).") from exc
    declared = re.match(rb"<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']", body.lstrip())
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise bad_request(21217, "Nieprawidłowe kodowanie znaków.",
                          f"Zadeklarowano kodowanie {declared.group(1).decode('ascii')}; wymagane jest UTF-8.")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_blank_text=False)
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise bad_request(21001, "Nieczytelna treść.", f"Dokument nie jest poprawnym XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise bad_request(21001, "Nieczytelna treść.", "Dokument nie może zawierać deklaracji DOCTYPE.")
    return root


def signed_request_element(root: etree._Element) -> etree._Element:
    """Return the AuthTokenRequest: the root (enveloped) or the one inside ds:Object (enveloping)."""
    if root.tag == f"{{{DS}}}Signature":
        found = [el for el in root.iterfind(f"{{{DS}}}Object/*") if etree.QName(el).localname == "AuthTokenRequest"]
        if len(found) != 1:
            raise bad_request(9101, "Nieprawidłowy dokument.",
                              "Podpis otaczający musi zawierać dokładnie jeden element AuthTokenRequest.")
        return found[0]
    return root


def check_request(element: etree._Element) -> AuthRequest:
    """Check the AuthTokenRequest against the schema's rules; 21401 with the first violation."""
    qname = etree.QName(element)
    if qname.localname != "AuthTokenRequest" or qname.namespace not in NAMESPACES:
        _schema_error(f"Oczekiwano elementu AuthTokenRequest w przestrzeni nazw {' lub '.join(NAMESPACES)}, "
                      f"jest {{{qname.namespace}}}{qname.localname}.")
    ns = qname.namespace
    children = _children(element, ns, skip_signatures=True)
    names = [etree.QName(child).localname for child in children]
    expected = ["Challenge", "ContextIdentifier", "SubjectIdentifierType"]
    if names[:3] != expected or names[3:] not in ([], ["AuthorizationPolicy"]):
        _schema_error(f"Oczekiwano elementów {', '.join(expected)} i opcjonalnie AuthorizationPolicy; są: "
                      f"{', '.join(names) or 'brak'}.")
    challenge = _collapsed(_simple_text(children[0]))
    if len(challenge) != 36 or not CHALLENGE.fullmatch(challenge):
        _schema_error("Element Challenge ma nieprawidłową wartość (36 znaków, wzorzec RRRRMMDD-CR-…).")
    context_type, context_value = _context(children[1], ns)
    subject = _collapsed(_simple_text(children[2]))
    if subject not in SUBJECT_TYPES:
        _schema_error(f"Element SubjectIdentifierType musi mieć wartość {' albo '.join(SUBJECT_TYPES)}.")
    ips = _allowed_ips(children[3], ns) if len(children) == 4 else {}
    return AuthRequest(element, ns, challenge, context_type, context_value, subject, ips)


def _context(element: etree._Element, ns: str) -> tuple[str, str]:
    children = _children(element, ns)
    if len(children) != 1 or etree.QName(children[0]).localname not in CONTEXT_TYPES:
        _schema_error(f"ContextIdentifier musi zawierać dokładnie jeden z elementów {', '.join(CONTEXT_TYPES)}.")
    kind = etree.QName(children[0]).localname
    value = _simple_text(children[0])  # xsd:string: whitespace is kept, so it must match as it stands
    if not CONTEXT_PATTERNS[kind].fullmatch(value):
        _schema_error(f"Element {kind} ma nieprawidłową wartość.")
    return kind, value


def _allowed_ips(policy: etree._Element, ns: str) -> dict[str, list[str]]:
    allowed = _children(policy, ns)
    if [etree.QName(el).localname for el in allowed] != ["AllowedIps"]:
        _schema_error("AuthorizationPolicy musi zawierać dokładnie jeden element AllowedIps.")
    entries = _children(allowed[0], ns)
    result: dict[str, list[str]] = {name: [] for name, _ in IP_LISTS}
    order = [name for name, _ in IP_LISTS]
    position = 0
    for entry in entries:
        name = etree.QName(entry).localname
        if name not in order or order.index(name) < position:
            _schema_error("AllowedIps zawiera nieoczekiwany element lub elementy w złej kolejności "
                          "(Ip4Address, Ip4Range, Ip4Mask).")
        position = order.index(name)
        value = _collapsed(_simple_text(entry))
        if not dict(IP_LISTS)[name].fullmatch(value):
            _schema_error(f"Element {name} ma nieprawidłową wartość.")
        result[name].append(value)
    for name, values in result.items():
        if len(values) > 10:
            _schema_error(f"Element {name} może wystąpić najwyżej 10 razy.")
    return result


def _children(element: etree._Element, ns: str, skip_signatures: bool = False) -> list[etree._Element]:
    """Element children in the schema's namespace; text between them must be blank (element-only content)."""
    _check_attributes(element)
    if (element.text or "").strip():
        _schema_error(f"Element {etree.QName(element).localname} nie może zawierać tekstu.")
    found = []
    for child in element:
        if (child.tail or "").strip():
            _schema_error(f"Element {etree.QName(element).localname} nie może zawierać tekstu.")
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions are not content
        if skip_signatures and child.tag == f"{{{DS}}}Signature":
            continue
        if etree.QName(child).namespace != ns:
            _schema_error(f"Nieoczekiwany element {child.tag}.")
        found.append(child)
    return found


def _simple_text(element: etree._Element) -> str:
    _check_attributes(element)
    if any(isinstance(child.tag, str) for child in element):
        _schema_error(f"Element {etree.QName(element).localname} nie może zawierać elementów.")
    return "".join(element.itertext())


def _check_attributes(element: etree._Element) -> None:
    for name in element.attrib:
        if etree.QName(name).namespace != XSI:
            _schema_error(f"Element {etree.QName(element).localname} nie może mieć atrybutu {name}.")


def _collapsed(text: str) -> str:
    """xsd:token's whiteSpace="collapse" (only the four XML whitespace characters count)."""
    return re.sub(r"[ \t\n\r]+", " ", text).strip(" ")


def _schema_error(detail: str) -> None:
    raise SimError(400, 21401, "Dokument nie jest zgodny ze schemą (xsd).", [detail])
