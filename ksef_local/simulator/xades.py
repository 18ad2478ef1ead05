"""Verifying the XAdES signature of an AuthTokenRequest (CIRFMF/ksef-docs auth/podpis-xades.md).

Two layers. This module checks in its own code what makes a signature acceptable to KSeF: exactly one
ds:Signature (9102, 9103), enveloped or enveloping (detached refused), transforms from the documented
list, XAdES qualifying properties (SignedProperties referenced with the SignedProperties Type,
SigningTime, SigningCertificate or SigningCertificateV2) and that the signed references cover the
AuthTokenRequest. The cryptography (reference digests after their transforms, SignedInfo
canonicalisation, RSA PKCS#1 v1.5 / RSA-PSS / ECDSA with R‖S, the SigningCertificate digest against the
KeyInfo certificate) is left to signxml's XAdESVerifier: a maintained, pure-Python implementation on
lxml + cryptography, so the simulator needs no native xmlsec at run time, and its tests can prove it
against a different implementation (python-xmlsec, which the PyPI SDK signs with). signxml reads the
bytes exactly as received; nothing is re-serialised before verifying.

Certificate validity, trust and revocation are not decided here: KSeF reports them as auth status 460
after the 202, so signxml is told to check validity at the certificate's own start date and the
simulator's clock decides later (ksef_local/simulator/xades_auth.py).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, SignXMLException
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from ksef_local.simulator.authrequest import DS
from ksef_local.simulator.common import SimError, bad_request

XADES_NAMESPACES = ("http://uri.etsi.org/01903/v1.3.2#", "http://uri.etsi.org/01903/v1.4.1#")
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
# Transforms KSeF lists that the verifier implements; XPath and XPath Filter 2.0 are refused (docs/simulator.md).
TRANSFORMS = frozenset({
    ENVELOPED,
    "http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11", "http://www.w3.org/2006/12/xml-c14n11#WithComments",
})
NOT_XADES = "Format podpisu niezgodny z akceptowanymi profilami XAdES"
_CONFIG = XAdESSignatureConfiguration(
    expect_references=True,
    signature_methods=frozenset(m for m in SignatureMethod if not m.name.startswith(("HMAC", "DSA"))),
    digest_algorithms=frozenset(DigestAlgorithm),
)


@dataclass(frozen=True)
class VerifiedSignature:
    """What a verified signature tells: the signing certificate and the declared signing time."""

    certificate: x509.Certificate
    signing_time: str
    signature_method: str


def the_signature(root: etree._Element) -> etree._Element:
    """Return the only ds:Signature: 9102 when there is none, 9103 when there are several."""
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    if not signatures:
        raise bad_request(9102, "Brak podpisu.", "Dokument nie zawiera elementu ds:Signature.")
    if len(signatures) > 1:
        raise bad_request(9103, "Przekroczona liczba dozwolonych podpisów.",
                          f"Dokument zawiera {len(signatures)} podpisy; dozwolony jest jeden.")
    return signatures[0]


def verify(raw: bytes, root: etree._Element, request: etree._Element) -> VerifiedSignature:
    """Check the profile and verify the signature over the received bytes; 9101 or 9105 otherwise."""
    signature = the_signature(root)
    _check_unique_ids(root)
    references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    if not references:
        raise invalid_signature("SignedInfo nie zawiera referencji.")
    for reference in references:
        _check_reference(reference)
    _check_request_is_signed(root, signature, request, references)
    signed_properties = _signed_properties(signature, references)
    signing_time = _signing_time(signed_properties)
    certificate = _key_info_certificate(signature, signed_properties)
    try:
        XAdESVerifier().verify(raw, x509_cert=certificate, expect_config=_with_time(certificate),
                               parser=_parser())
    except InvalidDigest as exc:
        raise invalid_signature(f"Skrót danych nie zgadza się z podpisem: {exc}") from exc
    except (SignXMLException, etree.LxmlError, ValueError) as exc:
        raise invalid_signature(f"Podpis nie został zweryfikowany: {exc}") from exc
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod").get("Algorithm", "")
    return VerifiedSignature(certificate, signing_time, method)


def invalid_signature(detail: str) -> SimError:
    return bad_request(9105, "Nieprawidłowy podpis.", detail)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)


def _with_time(certificate: x509.Certificate) -> XAdESSignatureConfiguration:
    return replace(_CONFIG, verification_time=certificate.not_valid_before_utc + timedelta(seconds=1))


def _check_unique_ids(root: etree._Element) -> None:
    """Refuse repeated Id values: a reference must resolve to one element only (no signature wrapping)."""
    seen: set[str] = set()
    for element in root.iter():
        for name in ("Id", "ID", "id"):
            value = element.get(name) if isinstance(element.tag, str) else None
            if value is None:
                continue
            if value in seen:
                raise bad_request(9101, "Nieprawidłowy dokument.", f"Identyfikator {value!r} występuje wielokrotnie.")
            seen.add(value)


def _check_reference(reference: etree._Element) -> None:
    uri = reference.get("URI")
    if uri is None or (uri and not uri.startswith("#")):
        raise invalid_signature("Podpis zewnętrzny (detached) nie jest akceptowany; referencje muszą wskazywać "
                                "dane wewnątrz dokumentu.")
    for transform in reference.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform"):
        algorithm = transform.get("Algorithm")
        if algorithm not in TRANSFORMS:
            raise invalid_signature(f"Nieobsługiwana transformata: {algorithm}.")


def _check_request_is_signed(root, signature, request, references) -> None:
    """The signed data must be the AuthTokenRequest: enveloped (URI="" or the root's Id) or enveloping."""
    if signature is not root:
        if signature.getparent() is not request:
            raise bad_request(9101, "Nieprawidłowy dokument.", "Podpis musi być elementem potomnym AuthTokenRequest.")
        targets = {""} | {f"#{request.get(n)}" for n in ("Id", "ID", "id") if request.get(n)}
        covering = [r for r in references if r.get("URI") in targets]
        if not any(_has_transform(r, ENVELOPED) for r in covering):
            raise invalid_signature("Żadna referencja nie obejmuje dokumentu AuthTokenRequest z transformatą "
                                    "enveloped-signature.")
        return
    holder = request.getparent()
    targets = {f"#{el.get(n)}" for el in (holder, request) for n in ("Id", "ID", "id") if el.get(n)}
    if not any(r.get("URI") in targets for r in references):
        raise invalid_signature("Żadna referencja podpisu otaczającego nie obejmuje AuthTokenRequest.")


def _has_transform(reference: etree._Element, algorithm: str) -> bool:
    return any(t.get("Algorithm") == algorithm for t in reference.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform"))


def _signed_properties(signature: etree._Element, references: list[etree._Element]) -> etree._Element:
    """Return xades:SignedProperties inside the signature, referenced with the SignedProperties Type."""
    found = [el for ns in XADES_NAMESPACES
             for el in signature.iterfind(f"{{{DS}}}Object/{{{ns}}}QualifyingProperties/{{{ns}}}SignedProperties")]
    if not found:
        raise invalid_signature(f"{NOT_XADES}: brak xades:QualifyingProperties/SignedProperties.")
    properties = found[0]
    ids = {f"#{properties.get(n)}" for n in ("Id", "ID", "id") if properties.get(n)}
    typed = [r for r in references if r.get("URI") in ids and r.get("Type") == SIGNED_PROPERTIES_TYPE]
    if not typed:
        raise invalid_signature(f"{NOT_XADES}: SignedProperties nie są podpisane referencją o typie "
                                f"{SIGNED_PROPERTIES_TYPE}.")
    return properties


def _signing_time(properties: etree._Element) -> str:
    ns = etree.QName(properties).namespace
    signature_properties = properties.find(f"{{{ns}}}SignedSignatureProperties")
    if signature_properties is None:
        raise invalid_signature(f"{NOT_XADES}: brak SignedSignatureProperties.")
    time = signature_properties.find(f"{{{ns}}}SigningTime")
    if time is None or not (time.text or "").strip():
        raise invalid_signature(f"{NOT_XADES}: brak SigningTime.")
    if signature_properties.find(f"{{{ns}}}SigningCertificate") is None and \
            signature_properties.find(f"{{{ns}}}SigningCertificateV2") is None:
        raise invalid_signature(f"{NOT_XADES}: brak SigningCertificate.")
    return time.text.strip()


def _key_info_certificate(signature: etree._Element, properties: etree._Element) -> x509.Certificate:
    """Return the KeyInfo certificate named by the first SigningCertificate digest (a chain may follow it)."""
    nodes = signature.findall(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    if not nodes:
        raise invalid_signature("KeyInfo nie zawiera certyfikatu X509Certificate.")
    try:
        certificates = [x509.load_der_x509_certificate(base64.b64decode("".join((n.text or "").split())))
                        for n in nodes]
    except (ValueError, TypeError) as exc:
        raise invalid_signature("Certyfikat w KeyInfo jest nieczytelny.") from exc
    digest = properties.find(f".//{{{DS}}}DigestValue")
    wanted = base64.b64decode(digest.text or "") if digest is not None else b""
    for certificate in certificates:
        if wanted in (certificate.fingerprint(hashes.SHA256()), certificate.fingerprint(hashes.SHA1()),
                      certificate.fingerprint(hashes.SHA512())):
            return certificate
    return certificates[0]  # signxml then reports the SigningCertificate digest mismatch
