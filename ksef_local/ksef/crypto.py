"""Pure KSeF cryptography: hashes, RSA-OAEP, AES-256-CBC and the QR verification links.

Everything takes its inputs (keys, random bytes, dates) as arguments and returns values; no I/O.
Sources (CIRFMF/ksef-docs): uwierzytelnianie.md (token encryption), sesja-interaktywna.md (session key and
invoice encryption), kody-qr.md (QR codes).
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AES_KEY_BYTES = 32  # AES-256 (ksef-docs sesja-interaktywna.md)
AES_BLOCK_BYTES = 16  # also the IV length


class CryptoError(ValueError):
    """Input that cannot be encrypted, decrypted or parsed."""


# -- encodings and hashes ---------------------------------------------------------------------------

def b64(data: bytes) -> str:
    """Return standard Base64 with padding (the API's "format: byte")."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode strict standard Base64; raise CryptoError on anything else."""
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise CryptoError("niepoprawny Base64") from exc


def b64url(data: bytes) -> str:
    """Return Base64URL without padding (RFC 4648 §5), as used in the QR links (ksef-docs kody-qr.md)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def sha256_b64(data: bytes) -> str:
    """Return Base64 of SHA-256, the form of invoiceHash, fileHash and x-ms-meta-hash."""
    return b64(hashlib.sha256(data).digest())


# -- MF public-key certificates (ksef-docs bezpieczenstwo/klucze-publiczne-do-szyfrowania.md) -------

def load_certificate(der: bytes) -> x509.Certificate:
    """Parse a DER X.509 certificate."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CryptoError("niepoprawny certyfikat X.509") from exc


def certificate_id(der: bytes) -> str:
    """Return certificateId: Base64 SHA-256 of the certificate DER."""
    return sha256_b64(der)


def public_key_id(certificate: x509.Certificate) -> str:
    """Return publicKeyId: Base64 SHA-256 of the SubjectPublicKeyInfo DER (44 characters)."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256_b64(spki)


# -- RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) ----------------------------------------------------

def _oaep() -> asym_padding.OAEP:
    return asym_padding.OAEP(mgf=asym_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def rsa_oaep_encrypt(public_key: rsa.RSAPublicKey, data: bytes) -> bytes:
    """Encrypt with RSAES-OAEP, SHA-256 and MGF1-SHA-256 (ksef-docs uwierzytelnianie.md, sesja-interaktywna.md)."""
    return public_key.encrypt(data, _oaep())


def rsa_oaep_decrypt(private_key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """Decrypt RSAES-OAEP/SHA-256; raise CryptoError when it does not decrypt."""
    try:
        return private_key.decrypt(data, _oaep())
    except ValueError as exc:
        raise CryptoError("nie można odszyfrować (RSA-OAEP)") from exc


def encrypt_for_certificate(
    cert_der: bytes, data: bytes, random_bytes: Callable[[int], bytes] = os.urandom
) -> bytes:
    """Encrypt data for an MF certificate: RSA-OAEP, or ECDH+AES-GCM for an EC key (docs/ksef-protocol.md §13.5)."""
    key = load_certificate(cert_der).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return rsa_oaep_encrypt(key, data)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _ecdh_aes_gcm_encrypt(key, data, random_bytes)
    raise CryptoError("nieobsługiwany typ klucza publicznego MF")


def _ecdh_aes_gcm_encrypt(
    key: ec.EllipticCurvePublicKey, data: bytes, random_bytes: Callable[[int], bytes]
) -> bytes:
    # Ephemeral P-256 ECDH, AES-256-GCM keyed with the raw 32-byte shared secret, 12-byte nonce; output
    # SPKI(ephemeral) || nonce || ciphertext+tag. The official clients differ (docs/ksef-protocol.md §13.5).
    ephemeral = ec.derive_private_key(int.from_bytes(random_bytes(32), "big") % (2**255) + 1, ec.SECP256R1())
    secret = ephemeral.exchange(ec.ECDH(), key)[:32]
    nonce = random_bytes(12)
    spki = ephemeral.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return spki + nonce + AESGCM(secret).encrypt(nonce, data, None)


def ksef_token_plaintext(ksef_token: str, timestamp_ms: int) -> bytes:
    """Return the UTF-8 bytes of "token|timestampMs" that get encrypted (ksef-docs uwierzytelnianie.md)."""
    return f"{ksef_token}|{timestamp_ms}".encode("utf-8")


# -- AES-256-CBC with PKCS#7, IV not prepended (docs/ksef-protocol.md §3.1, §13.1) --------------------

@dataclass(frozen=True)
class SessionKey:
    """The AES-256 key and IV of one session; repr never shows them."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != AES_KEY_BYTES or len(self.iv) != AES_BLOCK_BYTES:
            raise CryptoError("klucz AES musi mieć 32 bajty, a IV 16 bajtów")


def new_session_key(random_bytes: Callable[[int], bytes] = os.urandom) -> SessionKey:
    """Return a fresh random AES-256 key and IV."""
    return SessionKey(random_bytes(AES_KEY_BYTES), random_bytes(AES_BLOCK_BYTES))


def aes_cbc_encrypt(session_key: SessionKey, plaintext: bytes) -> bytes:
    """Encrypt with AES-256-CBC and PKCS#7 padding; the IV is not prepended."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(session_key.key), modes.CBC(session_key.iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def aes_cbc_decrypt(session_key: SessionKey, ciphertext: bytes) -> bytes:
    """Decrypt AES-256-CBC with PKCS#7 padding; raise CryptoError on a wrong key or damaged data."""
    if not ciphertext or len(ciphertext) % AES_BLOCK_BYTES:
        raise CryptoError("długość szyfrogramu nie jest wielokrotnością 16 bajtów")
    decryptor = Cipher(algorithms.AES(session_key.key), modes.CBC(session_key.iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise CryptoError("niepoprawne dopełnienie PKCS#7") from exc


@dataclass(frozen=True)
class EncryptedInvoice:
    """An invoice ready for SendInvoiceRequest (OpenAPI #/components/schemas/SendInvoiceRequest)."""

    invoice_hash: str
    invoice_size: int
    encrypted_hash: str
    encrypted_size: int
    encrypted_content: bytes = field(repr=False)

    def request_body(self, offline_mode: bool = False, hash_of_corrected_invoice: str | None = None) -> dict:
        """Return the JSON body of POST /sessions/online/{ref}/invoices."""
        body = {
            "invoiceHash": self.invoice_hash,
            "invoiceSize": self.invoice_size,
            "encryptedInvoiceHash": self.encrypted_hash,
            "encryptedInvoiceSize": self.encrypted_size,
            "encryptedInvoiceContent": b64(self.encrypted_content),
            "offlineMode": offline_mode,
        }
        if hash_of_corrected_invoice is not None:
            body["hashOfCorrectedInvoice"] = hash_of_corrected_invoice
        return body


def encrypt_invoice(session_key: SessionKey, xml: bytes) -> EncryptedInvoice:
    """Encrypt the exact invoice bytes and compute both hashes and sizes."""
    ciphertext = aes_cbc_encrypt(session_key, xml)
    return EncryptedInvoice(sha256_b64(xml), len(xml), sha256_b64(ciphertext), len(ciphertext), ciphertext)


# -- QR codes (ksef-docs kody-qr.md) ----------------------------------------------------------------

def _qr_root(qr_host: str) -> str:
    root = qr_host.rstrip("/")
    return root if root.startswith(("http://", "https://")) else f"https://{root}"


def invoice_verification_url(qr_host: str, seller_nip: str, issue_date: date | str, xml_bytes: bytes) -> str:
    """Return the KOD I link: {qr}/invoice/{NIP}/{P_1 as DD-MM-YYYY}/{SHA-256 of the XML, Base64URL}."""
    day = date.fromisoformat(issue_date) if isinstance(issue_date, str) else issue_date
    digest = b64url(hashlib.sha256(xml_bytes).digest())
    return f"{_qr_root(qr_host)}/invoice/{seller_nip}/{day:%d-%m-%Y}/{digest}"


def certificate_verification_path(
    qr_host: str, context_type: str, context_value: str, seller_nip: str, cert_serial: str, xml_bytes: bytes
) -> str:
    """Return the KOD II link without its signature segment (ksef-docs kody-qr.md, KOD II)."""
    digest = b64url(hashlib.sha256(xml_bytes).digest())
    return f"{_qr_root(qr_host)}/certificate/{context_type}/{context_value}/{seller_nip}/{cert_serial}/{digest}"


def sign_certificate_verification_url(unsigned_url: str,
                                      private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """Sign the KOD II link (RSASSA-PSS/SHA-256/salt 32, or ECDSA P-256 r||s) and append the signature."""
    signed = unsigned_url.split("://", 1)[-1].rstrip("/").encode("utf-8")
    if isinstance(private_key, rsa.RSAPrivateKey):
        pss = asym_padding.PSS(mgf=asym_padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = private_key.sign(signed, pss, hashes.SHA256())
    else:
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(private_key.sign(signed, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{unsigned_url.rstrip('/')}/{b64url(signature)}"
