"""The simulator's two certificate authorities, kept in its state like its other keys.

- "ksef": issues KSeF certificates from CSRs (CIRFMF/ksef-docs certyfikaty-KSeF.md), the certificates
  KOD II and XAdES login with a KSeF certificate rely on.
- "demo": a DEMONSTRATION "qualified" CA for the app's demo mode and for tests (POST /sim/certificates).
  Its certificates are NOT qualified certificates: no trust service issued them and they are worthless
  outside this simulator. They only carry the subject a qualified seal or signature would carry.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ksef_local.simulator.common import SimContext

NAMES = {
    "ksef": "Symulator ksef-local - CA certyfikatow KSeF (nie KSeF)",
    "demo": "Symulator ksef-local - demonstracyjne CA (NIE kwalifikowane)",
}


@dataclass(frozen=True)
class Authority:
    """One CA: its EC P-256 key and self-signed certificate."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

    def issued(self, certificate: x509.Certificate) -> bool:
        """Return whether this CA signed the certificate."""
        if certificate.issuer != self.certificate.subject:
            return False
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def issue(self, subject: x509.Name, public_key, *, serial: int, not_before: datetime, not_after: datetime,
              non_repudiation: bool) -> x509.Certificate:
        """Sign an end-entity certificate: digitalSignature, or nonRepudiation (certyfikaty-KSeF.md)."""
        usage = x509.KeyUsage(digital_signature=not non_repudiation, content_commitment=non_repudiation,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.certificate.subject)
            .public_key(public_key).serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if not non_repudiation:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def to_pem(self) -> dict:
        return {"key": self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode("ascii"),
                "certificate": self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")}


def authority(ctx: SimContext, name: str) -> Authority:
    """Return the named CA, made once and then loaded from the simulator's state."""
    cache = ctx.__dict__.setdefault("_authorities", {})
    if name not in cache:
        stored = ctx.store.get("meta", f"ca-{name}")
        if stored:
            found = Authority(name, serialization.load_pem_private_key(stored["key"].encode("ascii"), None),
                              x509.load_pem_x509_certificate(stored["certificate"].encode("ascii")))
        else:
            found = _new_authority(name, ctx.now())
            ctx.store.put("meta", f"ca-{name}", found.to_pem())
        cache[name] = found
    return cache[name]


def _new_authority(name: str, now: datetime) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ksef-local simulator (not KSeF)"),
                         x509.NameAttribute(NameOID.COMMON_NAME, NAMES[name])])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(name, key, certificate)


def new_serial(taken) -> tuple[int, str]:
    """Return a fresh serial as an int and as the 16 upper-case hex digits KSeF prints (KOD II carries it)."""
    while True:
        value = secrets.randbits(63) | (1 << 56)  # positive, and never shorter than 16 hex digits once padded
        text = f"{value:016X}"
        if not taken(text):
            return value, text


def serial_text(certificate: x509.Certificate) -> str:
    return f"{certificate.serial_number:016X}"


def issuer_of(ctx: SimContext, certificate: x509.Certificate) -> str | None:
    """Return "ksef", "demo" or None (self-signed or foreign)."""
    for name in NAMES:
        if authority(ctx, name).issued(certificate):
            return name
    return None
