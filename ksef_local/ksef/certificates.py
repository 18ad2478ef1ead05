"""KSeF certificates (CIRFMF/ksef-docs certyfikaty-KSeF.md; OpenAPI /certificates/*): limits, the data a
request must copy, enrollment with a locally made key, its status, retrieval, the list and revocation.

Two types, one purpose each: Authentication (keyUsage digitalSignature; logs in by XAdES) and Offline
(keyUsage nonRepudiation; signs KOD II of offline invoices only). Only a session that logged in by
signature may enroll (a token session gets 25001/25002); one logged in with a KSeF certificate may, so
renewal needs no new signature by the user.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from ksef_local.ksef import errors
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.models import parse_datetime

AUTHENTICATION, OFFLINE = "Authentication", "Offline"
TYPES = (AUTHENTICATION, OFFLINE)
ORGANIZATION_IDENTIFIER = ObjectIdentifier("2.5.4.97")
# The order of the subject in the official C# client's CSR: CN, SN, GN, O, 2.5.4.97, C, serialNumber,
# uniqueIdentifier (2.5.4.45); C and serialNumber as PrintableString, the rest UTF8String, which is what
# cryptography chooses for these attributes by default.
SUBJECT_FIELDS = (
    ("commonName", NameOID.COMMON_NAME), ("surname", NameOID.SURNAME), ("givenName", NameOID.GIVEN_NAME),
    ("organizationName", NameOID.ORGANIZATION_NAME), ("organizationIdentifier", ORGANIZATION_IDENTIFIER),
    ("countryName", NameOID.COUNTRY_NAME), ("serialNumber", NameOID.SERIAL_NUMBER),
    ("uniqueIdentifier", NameOID.X500_UNIQUE_IDENTIFIER),
)
MAX_PAGES = 100


@dataclass(frozen=True)
class Limits:
    can_request: bool
    enrollments_left: int
    certificates_left: int


@dataclass(frozen=True)
class EnrollmentStatus:
    code: int
    description: str
    details: tuple[str, ...]
    serial: str | None

    @property
    def is_issued(self) -> bool:
        return self.code == 200

    @property
    def is_pending(self) -> bool:
        return self.code == 100


@dataclass(frozen=True)
class Issued:
    """A certificate KSeF issued, as retrieved."""

    serial: str
    name: str
    type: str
    certificate: x509.Certificate


@dataclass(frozen=True)
class Listed:
    """One certificate as KSeF lists it (POST /certificates/query)."""

    serial: str
    name: str
    type: str
    status: str  # Active, Blocked, Revoked, Expired
    valid_from: datetime | None
    valid_to: datetime | None
    last_use: datetime | None


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh EC P-256 key, the type KSeF recommends for its certificates."""
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(data: dict, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A PKCS#10 request (DER) whose subject copies the enrollment data exactly (any change: 25003)."""
    attributes = [x509.NameAttribute(oid, data[field]) for field, oid in SUBJECT_FIELDS if data.get(field)]
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.DER)


def limits(client: KsefClient) -> Limits:
    """GET /certificates/limits."""
    body = client.call("GET", "/certificates/limits").json()
    return Limits(bool(body.get("canRequest")), int(body["enrollment"]["remaining"]),
                  int(body["certificate"]["remaining"]))


def enrollment_data(client: KsefClient) -> dict:
    """GET /certificates/enrollments/data: the subject fields the CSR must carry."""
    return client.call("GET", "/certificates/enrollments/data").json()


def enroll(client: KsefClient, name: str, certificate_type: str, csr_der: bytes) -> str:
    """POST /certificates/enrollments; return the request's reference number."""
    if certificate_type not in TYPES:
        raise ValueError(f"unknown KSeF certificate type {certificate_type!r}")
    body = {"certificateName": name, "certificateType": certificate_type,
            "csr": base64.b64encode(csr_der).decode("ascii")}
    return client.call("POST", "/certificates/enrollments", json_body=body, ok=(202,)).json()["referenceNumber"]


def enrollment_status(client: KsefClient, reference: str) -> EnrollmentStatus:
    """GET /certificates/enrollments/{ref}: 100 in progress, 200 issued (with the serial), else refused."""
    body = client.call("GET", f"/certificates/enrollments/{reference}").json()
    status = body.get("status") or {}
    return EnrollmentStatus(int(status.get("code", 0)), status.get("description") or "",
                            tuple(status.get("details") or ()), body.get("certificateSerialNumber"))


def retrieve(client: KsefClient, serials: list[str]) -> list[Issued]:
    """POST /certificates/retrieve: the issued certificates (DER) by serial number."""
    body = client.call("POST", "/certificates/retrieve", json_body={"certificateSerialNumbers": serials}).json()
    return [Issued(item["certificateSerialNumber"], item.get("certificateName") or "", item["certificateType"],
                   x509.load_der_x509_certificate(base64.b64decode(item["certificate"])))
            for item in body.get("certificates") or ()]


def query(client: KsefClient, *, status: str | None = None, page_size: int = 50) -> list[Listed]:
    """POST /certificates/query, every page: the context's KSeF certificates."""
    found: list[Listed] = []
    filters = {"status": status} if status else {}
    for page in range(MAX_PAGES):
        body = client.call("POST", f"/certificates/query?pageSize={page_size}&pageOffset={page}",
                           json_body=filters).json()
        found += [Listed(item["certificateSerialNumber"], item.get("name") or "", item["type"], item["status"],
                         parse_datetime(item.get("validFrom")), parse_datetime(item.get("validTo")),
                         parse_datetime(item.get("lastUseDate")))
                  for item in body.get("certificates") or ()]
        if not body.get("hasMore"):
            return found
    raise errors.KsefUnavailable("Lista certyfikatów KSeF nie kończy się; przerwano pobieranie")


def revoke(client: KsefClient, serial: str, reason: str = "Unspecified") -> None:
    """POST /certificates/{serial}/revoke (Unspecified, Superseded or KeyCompromise)."""
    client.call("POST", f"/certificates/{serial}/revoke", json_body={"revocationReason": reason}, ok=(204,))


def is_ksef_certificate(certificate: x509.Certificate) -> bool:
    """Was it issued by KSeF's certificate authority (its name carries "KSeF", e.g. "TI CCK KSeF" on TEST)?"""
    names = certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return any("KSeF" in str(attribute.value) for attribute in names)


def certificate_type_of(certificate: x509.Certificate) -> str | None:
    """Authentication or Offline by the key usage KSeF gives each type; None when it is neither."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if usage.content_commitment and not usage.digital_signature:
        return OFFLINE
    if usage.digital_signature and not usage.content_commitment:
        return AUTHENTICATION
    return None
