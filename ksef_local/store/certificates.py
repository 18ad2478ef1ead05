"""The KSeF "Offline" certificate that signs KOD II on offline invoices (ksef-docs kody-qr.md, certyfikaty-KSeF.md).

Imported as PKCS#12 (with its password) or as PEM certificate + key. The private key goes to the
SecretStore only (house rule 14); the certificate and what we show about it live in their own table.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ksef_local.clock import utc_now
from ksef_local.forms.certificates import PrivateKey, check, serial_text
from ksef_local.store import db as dbmod
from ksef_local.store.secrets import SecretStore

SECRET_NAME = "ksef-offline-certificate/private-key"


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


# -- reading the files (pure) -----------------------------------------------------------------------


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
    """Return the stored certificate's details, or None."""
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
    if not details.is_valid_at(now or utc_now()):
        return None
    key_pem = store.get(SECRET_NAME)
    if not key_pem:
        return None
    key = serialization.load_pem_private_key(key_pem.encode("ascii"), None)
    return OfflineSigner(details.serial, key, context_type, context_value)  # type: ignore[arg-type]
