"""The XAdES login document: AuthTokenRequest, signed as KSeF accepts it.

KSeF's rules (CIRFMF/ksef-docs uwierzytelnianie.md §2.1 and auth/podpis-xades.md): an enveloped or
enveloping XAdES-BES (or stronger) signature — a plain XMLDSig without XAdES properties is refused (9105),
a detached one too; RSA ≥ 2048 with PKCS#1 v1.5 or ECDSA ≥ 256 bits with SignatureValue as R‖S. We make
what the official clients make: an enveloped ds:Signature as the last child of the root, SignedInfo with
exclusive C14N, a reference to the whole document (enveloped-signature + exclusive C14N, SHA-256), a
reference to xades:SignedProperties with SigningTime and SigningCertificate (SHA-256 CertDigest and
IssuerSerial), and the certificate in KeyInfo.

The signing itself is done by libxmlsec1 (python-xmlsec), a well-kept implementation of XML-DSig; this
module only builds the XAdES properties around it. The signed bytes are sent as they are: never parse and
re-serialise a signed document (ksef-api issue #121: pretty-printing breaks the signature).
"""
from __future__ import annotations

import base64
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

AUTH_NS = "http://ksef.mf.gov.pl/auth/token/2.0"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
SUBJECT_TYPES = ("certificateSubject", "certificateFingerprint")
# The official C# client backdates SigningTime by a minute so a slightly fast clock is not "in the future".
CLOCK_SKEW = timedelta(minutes=1)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SigningError(Exception):
    """The document could not be signed with this key (the message is for the user, in Polish)."""


def auth_token_request(challenge: str, context_value: str, *, context_type: str = "Nip",
                       subject_type: str = "certificateSubject") -> bytes:
    """Return the unsigned AuthTokenRequest for a challenge and a context (UTF-8, no BOM)."""
    if context_type not in CONTEXT_TYPES or subject_type not in SUBJECT_TYPES:
        raise ValueError(f"unknown context {context_type!r} or subject identifier {subject_type!r}")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<AuthTokenRequest xmlns="{AUTH_NS}">\n'
            f"  <Challenge>{escape(challenge)}</Challenge>\n"
            f"  <ContextIdentifier>\n    <{context_type}>{escape(context_value)}</{context_type}>\n"
            f"  </ContextIdentifier>\n"
            f"  <SubjectIdentifierType>{subject_type}</SubjectIdentifierType>\n"
            f"</AuthTokenRequest>\n").encode("utf-8")


def sign_enveloped(document: bytes, certificate: x509.Certificate, key: PrivateKey, now: datetime) -> bytes:
    """Return the document with an enveloped XAdES-BES signature made with key (certificate in KeyInfo)."""
    algorithm = _signature_transform(key)
    root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True,
                                                      remove_blank_text=False))
    signature = xmlsec.template.create(root, xmlsec.Transform.EXCL_C14N, algorithm, ns="ds", name="Podpis")
    root.append(signature)
    whole = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="")
    xmlsec.template.add_transform(whole, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(whole, xmlsec.Transform.EXCL_C14N)
    properties = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="#WlasciwosciPodpisu",
                                               type=SIGNED_PROPERTIES_TYPE)
    xmlsec.template.add_transform(properties, xmlsec.Transform.EXCL_C14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.add_x509_data(key_info)
    signed_properties = _qualifying_properties(signature, certificate, now - CLOCK_SKEW)

    context = xmlsec.SignatureContext()
    context.register_id(signed_properties, "Id")
    context.key = _xmlsec_key(certificate, key)
    try:
        context.sign(signature)
    except xmlsec.Error as exc:
        raise SigningError("Nie udało się podpisać dokumentu logowania tym kluczem.") from exc
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _signature_transform(key: PrivateKey):
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SigningError(f"Klucz RSA ma {key.key_size} bitów; KSeF wymaga co najmniej 2048.")
        return xmlsec.Transform.RSA_SHA256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size < 256:
            raise SigningError("Klucz ECDSA jest za krótki; KSeF wymaga co najmniej 256 bitów.")
        return xmlsec.Transform.ECDSA_SHA256
    raise SigningError("Nieobsługiwany rodzaj klucza: KSeF przyjmuje podpis kluczem RSA albo ECDSA.")


def _qualifying_properties(signature, certificate: x509.Certificate, signing_time: datetime):
    """Add ds:Object/xades:QualifyingProperties with SigningTime and SigningCertificate; return SignedProperties."""
    signature.set("Id", "Podpis")
    holder = etree.SubElement(signature, f"{{{DS_NS}}}Object")
    qualifying = etree.SubElement(holder, f"{{{XADES_NS}}}QualifyingProperties", Target="#Podpis",
                                  nsmap={"xades": XADES_NS})
    signed = etree.SubElement(qualifying, f"{{{XADES_NS}}}SignedProperties", Id="WlasciwosciPodpisu")
    signature_properties = etree.SubElement(signed, f"{{{XADES_NS}}}SignedSignatureProperties")
    etree.SubElement(signature_properties, f"{{{XADES_NS}}}SigningTime").text = \
        signing_time.isoformat(timespec="seconds")
    signing_certificate = etree.SubElement(signature_properties, f"{{{XADES_NS}}}SigningCertificate")
    cert = etree.SubElement(signing_certificate, f"{{{XADES_NS}}}Cert")
    digest = etree.SubElement(cert, f"{{{XADES_NS}}}CertDigest")
    etree.SubElement(digest, f"{{{DS_NS}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(digest, f"{{{DS_NS}}}DigestValue").text = \
        base64.b64encode(certificate.fingerprint(hashes.SHA256())).decode("ascii")
    issuer_serial = etree.SubElement(cert, f"{{{XADES_NS}}}IssuerSerial")
    etree.SubElement(issuer_serial, f"{{{DS_NS}}}X509IssuerName").text = certificate.issuer.rfc4514_string()
    etree.SubElement(issuer_serial, f"{{{DS_NS}}}X509SerialNumber").text = str(certificate.serial_number)
    return signed


def _xmlsec_key(certificate: x509.Certificate, key: PrivateKey) -> xmlsec.Key:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    loaded = xmlsec.Key.from_memory(pem, xmlsec.KeyFormat.PEM)
    loaded.load_cert_from_memory(certificate.public_bytes(serialization.Encoding.PEM), xmlsec.KeyFormat.CERT_PEM)
    return loaded
