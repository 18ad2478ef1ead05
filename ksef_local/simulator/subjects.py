"""Who a certificate identifies: the subject rules of CIRFMF/ksef-docs auth/podpis-xades.md and the
enrollment data of certyfikaty-KSeF.md §2, shared by XAdES login, enrollment and the demo certificates.

A personal certificate carries serialNumber `PNOPL-`/`PESEL-` + 11 digits or `TINPL-`/`NIP-` + 10 digits,
plus givenName, surname, commonName, countryName; a company seal carries organizationIdentifier
(2.5.4.97) `VATPL-` + 10 digits plus organizationName, commonName, countryName and no givenName/surname.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ksef_local.simulator.common import SimError

ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
# (enrollment data field, OID) in the order of certyfikaty-KSeF.md §2's table.
FIELDS = (
    ("commonName", NameOID.COMMON_NAME), ("surname", NameOID.SURNAME), ("serialNumber", NameOID.SERIAL_NUMBER),
    ("countryName", NameOID.COUNTRY_NAME), ("organizationName", NameOID.ORGANIZATION_NAME),
    ("givenName", NameOID.GIVEN_NAME), ("uniqueIdentifier", NameOID.X500_UNIQUE_IDENTIFIER),
    ("organizationIdentifier", ORGANIZATION_IDENTIFIER),
)
_PERSONAL = (("Pesel", re.compile(r"(PNOPL|PESEL).*?(\d{11})")), ("Nip", re.compile(r"(TINPL|NIP).*?(\d{10})")))
_SEAL = re.compile(r"(VATPL).*?(\d{10})")


@dataclass(frozen=True)
class Identity:
    """The authenticated subject: identifier type (Nip | Pesel | Fingerprint) and value, and its kind."""

    kind: str          # "seal" | "person" | "fingerprint"
    id_type: str
    id_value: str
    fingerprint: str   # SHA-256 of the certificate DER, upper-case hex

    @property
    def nip(self) -> str | None:
        return self.id_value if self.id_type == "Nip" else None


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex().upper()


def values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def identify(certificate: x509.Certificate, subject_type: str) -> Identity:
    """Apply the subject rules (21115 with a detail when the certificate fits none)."""
    _check_key(certificate)
    print_ = fingerprint(certificate)
    if subject_type == "certificateFingerprint":
        return Identity("fingerprint", "Fingerprint", print_, print_)
    name = certificate.subject
    organization = " ".join(values(name, ORGANIZATION_IDENTIFIER))
    if organization:
        found = _SEAL.search(organization)
        if not found:
            raise bad_certificate(f"organizationIdentifier {organization!r} nie ma postaci VATPL-<NIP>.")
        _require(name, ("organizationName", "commonName", "countryName"), "pieczęci")
        if values(name, NameOID.GIVEN_NAME) or values(name, NameOID.SURNAME):
            raise bad_certificate("Certyfikat pieczęci nie może zawierać atrybutów givenName ani surname.")
        return Identity("seal", "Nip", found.group(2), print_)
    serial = " ".join(values(name, NameOID.SERIAL_NUMBER))
    for id_type, pattern in _PERSONAL:
        found = pattern.search(serial)
        if found:
            _require(name, ("givenName", "surname", "commonName", "countryName"), "osoby fizycznej")
            return Identity("person", id_type, found.group(2), print_)
    raise bad_certificate("Certyfikat nie identyfikuje podmiotu: brak serialNumber PNOPL-/PESEL-/TINPL-/NIP- "
                          "i organizationIdentifier VATPL-. Użyj certificateFingerprint po nadaniu uprawnień "
                          "na odcisk palca certyfikatu.")


def enrollment_data(name: x509.Name) -> dict[str, str]:
    """Return CertificateEnrollmentDataResponse fields present in a subject (repeated values space-joined)."""
    data = {}
    for field_name, oid in FIELDS:
        found = values(name, oid)
        if found:
            data[field_name] = " ".join(found)
    return data


def unknown_attributes(name: x509.Name) -> list[str]:
    """Return dotted OIDs in a subject that enrollment data never carries."""
    known = {oid for _, oid in FIELDS}
    return [attribute.oid.dotted_string for attribute in name if attribute.oid not in known]


def bad_certificate(detail: str) -> SimError:
    return SimError(400, 21115, "Nieprawidłowy certyfikat.", [detail])


def _require(name: x509.Name, fields: tuple[str, ...], kind: str) -> None:
    oids = dict(FIELDS)
    missing = [field_name for field_name in fields if not values(name, oids[field_name])]
    if missing:
        raise bad_certificate(f"Certyfikat {kind} nie zawiera wymaganych atrybutów: {', '.join(missing)}.")


def _check_key(certificate: x509.Certificate) -> None:
    """podpis-xades.md: RSA keys of at least 2048 bits, EC curves of at least 256 bits."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise bad_certificate(f"Klucz RSA ma {key.key_size} bitów; wymagane co najmniej 2048.")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        raise bad_certificate(f"Krzywa EC ma {key.curve.key_size} bitów; wymagane co najmniej 256.")
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise bad_certificate("Obsługiwane są wyłącznie klucze RSA i EC.")
