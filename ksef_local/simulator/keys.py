"""The simulator's own RSA keys and self-signed certificates for both usages (docs/ksef-protocol.md §2.1, §12)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ksef_local.ksef import crypto
from ksef_local.ksef.models import SYMMETRIC_KEY_ENCRYPTION, TOKEN_ENCRYPTION

USAGES = (TOKEN_ENCRYPTION, SYMMETRIC_KEY_ENCRYPTION)


@dataclass(frozen=True)
class SimKey:
    """One usage's private key and its self-signed certificate."""

    usage: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def public_key_id(self) -> str:
        return crypto.public_key_id(self.certificate)

    def as_json(self) -> dict:
        """Return the PublicKeyCertificate JSON item (OAS #/components/schemas/PublicKeyCertificate)."""
        return {
            "certificate": crypto.b64(self.der),
            "certificateId": crypto.certificate_id(self.der),
            "publicKeyId": self.public_key_id,
            "validFrom": self.certificate.not_valid_before_utc.isoformat(),
            "validTo": self.certificate.not_valid_after_utc.isoformat(),
            "usage": [self.usage],
        }

    def to_pem(self) -> dict:
        return {
            "usage": self.usage,
            "key": self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode("ascii"),
            "certificate": self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }

    @classmethod
    def from_pem(cls, doc: dict) -> "SimKey":
        key = serialization.load_pem_private_key(doc["key"].encode("ascii"), password=None)
        return cls(doc["usage"], key, x509.load_pem_x509_certificate(doc["certificate"].encode("ascii")))


def generate_key(usage: str, now: datetime, key_size: int = 2048) -> SimKey:
    """Generate an RSA key and a self-signed certificate valid from a day before now for two years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ksef-local simulator (not KSeF)"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Symulator KSeF {usage}"),
    ])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    return SimKey(usage, key, certificate)


def generate_keys(now: datetime) -> dict[str, SimKey]:
    """Return a fresh key per usage."""
    return {usage: generate_key(usage, now) for usage in USAGES}
