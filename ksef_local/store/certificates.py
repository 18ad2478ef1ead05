"""The KSeF "Offline" certificate that signs KOD II on offline invoices (ksef-api.md §8.2).

Imported as PKCS#12 (with its password) or as PEM certificate + key. The private key goes to the
SecretStore only (house rule 14); the certificate and what we show about it live in their own table.
TODO: one certificate for now; KSeF certificates belong to one environment, so a later version may keep
one per environment like the tokens (ksef_settings.secret_name).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlite_utils
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ksef_local.store import db as dbmod
from ksef_local.errors import UserError
from ksef_local.store.secrets import SecretStore

SECRET_NAME = "ksef-offline-certificate/private-key"
SCHEMA = """CREATE TABLE IF NOT EXISTS offline_certificate (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    certificate_pem TEXT NOT NULL,
    subject TEXT NOT NULL, serial TEXT NOT NULL, key_type TEXT NOT NULL,
    not_before TEXT NOT NULL, not_after TEXT NOT NULL, imported_at TEXT NOT NULL)"""
MIN_RSA_BITS = 2048  # ksef-api.md §8.2

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertificateInfo:
    """What the settings page shows about the certificate (never the key)."""

    subject: str
    serial: str
    key_type: str
    not_before: datetime
    not_after: datetime
    imported_at: datetime

    def is_valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment <= self.not_after


@dataclass(frozen=True)
class OfflineSigner:
    """What KOD II needs: the certificate serial, the signing key and the context it acts in."""

    serial: str
    private_key: PrivateKey
    context_type: str = "Nip"
    context_value: str = ""

    def __repr__(self) -> str:  # never show the key
        return f"OfflineSigner(serial={self.serial!r}, context={self.context_type}/{self.context_value})"


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the certificate table when it is missing (idempotent; call from create_app)."""
    with dbmod.write(db):
        db.execute(SCHEMA)


# -- reading the files (pure) -----------------------------------------------------------------------

def serial_text(certificate: x509.Certificate) -> str:
    """Return the serial as KSeF prints it: uppercase hex, at least 16 digits (e.g. 01F20A5D352AE590)."""
    text = f"{certificate.serial_number:X}"
    return text.zfill(max(16, len(text) + len(text) % 2))


def load_pkcs12(data: bytes, password: str) -> tuple[x509.Certificate, PrivateKey]:
    """Read a PKCS#12 file; raise UserError (in Polish) when it cannot be opened or lacks a key."""
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, password.encode("utf-8") or None)
    except ValueError as exc:
        raise UserError("Nie można otworzyć pliku PKCS#12: sprawdź hasło i czy to plik .p12/.pfx.") from exc
    if certificate is None:
        raise UserError("Plik PKCS#12 nie zawiera certyfikatu.")
    if key is None:
        raise UserError("Plik PKCS#12 nie zawiera klucza prywatnego.")
    return certificate, key  # type: ignore[return-value]


def load_pem(certificate_pem: bytes, key_pem: bytes, password: str = "") -> tuple[x509.Certificate, PrivateKey]:
    """Read a PEM (or DER) certificate and a PEM private key (optionally encrypted with password)."""
    try:
        certificate = (x509.load_pem_x509_certificate(certificate_pem) if b"-----BEGIN" in certificate_pem
                       else x509.load_der_x509_certificate(certificate_pem))
    except ValueError as exc:
        raise UserError("Plik certyfikatu nie jest certyfikatem X.509 (PEM ani DER).") from exc
    if not key_pem.strip():
        raise UserError("Dodaj plik klucza prywatnego (PEM).")
    try:
        key = serialization.load_pem_private_key(key_pem, password.encode("utf-8") or None)
    except (ValueError, TypeError) as exc:
        raise UserError("Nie można odczytać klucza prywatnego: sprawdź plik i hasło.") from exc
    return certificate, key  # type: ignore[return-value]


def check(certificate: x509.Certificate, key: PrivateKey) -> str:
    """Check the pair can sign KOD II; return the key type label or raise UserError."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise UserError(f"Klucz RSA ma {key.key_size} bitów; KSeF wymaga co najmniej {MIN_RSA_BITS}.")
        label = f"RSA {key.key_size}"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        label = "ECDSA P-256"
    else:
        raise UserError("Nieobsługiwany klucz: KOD II podpisuje się kluczem RSA albo ECDSA P-256.")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != certificate.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise UserError("Klucz prywatny nie pasuje do certyfikatu.")
    return label


# -- storing ----------------------------------------------------------------------------------------

def save(db: sqlite_utils.Database, store: SecretStore, certificate: x509.Certificate, key: PrivateKey,
         now: datetime) -> CertificateInfo:
    """Check and store the certificate (table) and its private key (SecretStore), replacing any previous one."""
    key_type = check(certificate, key)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    row = {
        "id": 1, "certificate_pem": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "subject": certificate.subject.rfc4514_string(), "serial": serial_text(certificate), "key_type": key_type,
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(), "imported_at": now.isoformat(),
    }
    store.set(SECRET_NAME, key_pem)
    with dbmod.write(db):
        db.execute("INSERT OR REPLACE INTO offline_certificate (id, certificate_pem, subject, serial, key_type,"
                   " not_before, not_after, imported_at) VALUES (:id, :certificate_pem, :subject, :serial,"
                   " :key_type, :not_before, :not_after, :imported_at)", row)
    return info(db)  # type: ignore[return-value]


def info(db: sqlite_utils.Database) -> CertificateInfo | None:
    """Return the stored certificate's details, or None (also before ensure_schema ran)."""
    if not db["offline_certificate"].exists():
        return None
    rows = list(db.query("SELECT * FROM offline_certificate WHERE id = 1"))
    if not rows:
        return None
    r = rows[0]
    return CertificateInfo(r["subject"], r["serial"], r["key_type"], datetime.fromisoformat(r["not_before"]),
                           datetime.fromisoformat(r["not_after"]), datetime.fromisoformat(r["imported_at"]))


def delete(db: sqlite_utils.Database, store: SecretStore) -> None:
    """Forget the certificate and its private key."""
    with dbmod.write(db):
        db.execute("DELETE FROM offline_certificate")
    store.delete(SECRET_NAME)


def signer(db: sqlite_utils.Database, store: SecretStore, context_value: str, *, context_type: str = "Nip",
           now: datetime | None = None) -> OfflineSigner | None:
    """Return the KOD II signer, or None without a certificate, its key, or outside its validity."""
    details = info(db)
    if details is None or not context_value:
        return None
    if not details.is_valid_at(now or datetime.now(timezone.utc)):
        return None
    key_pem = store.get(SECRET_NAME)
    if not key_pem:
        return None
    key = serialization.load_pem_private_key(key_pem.encode("ascii"), None)
    return OfflineSigner(details.serial, key, context_type, context_value)  # type: ignore[arg-type]
