"""Certificate files as users give them: PKCS#12 (.p12/.pfx with its password) or a PEM/DER certificate with a
PEM private key. Reading them and checking the pair; Polish messages, nothing stored here.
"""
from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ksef_local.errors import UserError

MIN_RSA_BITS = 2048  # ksef-docs kody-qr.md (KOD II signed with RSA)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


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
    """Read a PEM or DER certificate (.crt, .cer, .pem) and its private key (.key: PEM or DER, encrypted with
    password or not) — e.g. a KSeF certificate as the MF app gives it. One PEM file may hold both."""
    try:
        certificate = (x509.load_pem_x509_certificate(certificate_pem) if b"-----BEGIN" in certificate_pem
                       else x509.load_der_x509_certificate(certificate_pem))
    except ValueError as exc:
        raise UserError("Plik certyfikatu nie jest certyfikatem X.509 (PEM ani DER).") from exc
    if not key_pem.strip() and b"PRIVATE KEY-----" in certificate_pem:
        key_pem = certificate_pem
    if not key_pem.strip():
        raise UserError("Dodaj plik klucza prywatnego (.key).")
    secret = password.encode("utf-8") or None
    loader = serialization.load_pem_private_key if b"-----BEGIN" in key_pem else serialization.load_der_private_key
    try:
        key = loader(key_pem, secret)
    except TypeError as exc:  # encrypted without a password, or a password for a plain key
        message = ("Klucz prywatny jest zaszyfrowany: podaj jego hasło." if secret is None
                   else "Ten klucz prywatny nie ma hasła: zostaw pole hasła puste.")
        raise UserError(message) from exc
    except ValueError as exc:
        raise UserError("Nie można odczytać klucza prywatnego: sprawdź plik i hasło.") from exc
    return certificate, key  # type: ignore[return-value]


def load_files(certificate_or_bundle: bytes, key: bytes = b"", password: str = "") -> tuple[x509.Certificate,
                                                                                             PrivateKey]:
    """Read what the user chose: a .p12/.pfx alone, or a certificate with its key (see load_pem)."""
    if not certificate_or_bundle:
        raise UserError("Wybierz plik certyfikatu: .p12/.pfx albo .crt/.pem z plikiem klucza .key.")
    is_pem_or_der_certificate = b"-----BEGIN" in certificate_or_bundle or key
    if not is_pem_or_der_certificate:
        try:
            return load_pkcs12(certificate_or_bundle, password)
        except UserError as refused:
            if not _is_der_certificate(certificate_or_bundle):
                raise refused from None
            raise UserError("Dodaj plik klucza prywatnego (.key) do tego certyfikatu.") from None
    return load_pem(certificate_or_bundle, key, password)


def _is_der_certificate(data: bytes) -> bool:
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        return False
    return True


def check(certificate: x509.Certificate, key: PrivateKey) -> str:
    """Check the pair can sign for KSeF (XAdES login, KOD II); return the key type label or raise UserError."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise UserError(f"Klucz RSA ma {key.key_size} bitów; KSeF wymaga co najmniej {MIN_RSA_BITS}.")
        label = f"RSA {key.key_size}"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        label = "ECDSA P-256"
    else:
        raise UserError("Nieobsługiwany klucz: KSeF przyjmuje podpis kluczem RSA albo ECDSA P-256.")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != certificate.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise UserError("Klucz prywatny nie pasuje do certyfikatu.")
    return label
