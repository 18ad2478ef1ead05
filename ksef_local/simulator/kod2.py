"""The KOD II check behind GET /certificate/... on the QR host (CIRFMF/ksef-docs kody-qr.md, KOD II).

The signed string is the link without its scheme and without the trailing slash, up to the invoice hash
(ksef_local/ksef/crypto.py builds it the same way against the simulator's QR base); the signature is
RSASSA-PSS/SHA-256/MGF1-SHA-256 with a 32-byte salt, or ECDSA P-256 as r‖s (DER is accepted too).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ksef_local.simulator.common import SimContext
from ksef_local.simulator.enrollment import settle, status_of
from ksef_local.simulator.permissions import permissions_for
from ksef_local.simulator.subjects import Identity

ISSUING = ("InvoiceWrite", "PefInvoiceWrite")


@dataclass(frozen=True)
class Line:
    ok: bool
    text: str


def check_link(ctx: SimContext, signed_text: str, parts: dict) -> list[Line]:
    """Return the result lines for one KOD II link, in the order KSeF's page shows them."""
    settle(ctx)
    record = ctx.store.get("kcert", parts["serial"])
    if record is None:
        return [Line(False, "Certyfikat nie istnieje")]
    lines = [Line(True, "Certyfikat istnieje")]
    if record["type"] != "Offline":
        lines.append(Line(False, "Certyfikat nie jest certyfikatem typu Offline: certyfikatem uwierzytelniającym "
                                 "nie wolno podpisywać kodu QR II"))
    status = status_of(ctx, record)
    lines.append(Line(True, "Certyfikat jest aktywny") if status == "Active"
                 else Line(False, f"Certyfikat nie jest aktywny ({'odwołany' if status == 'Revoked' else 'wygasł'})"))
    certificate = x509.load_der_x509_certificate(base64.b64decode(record["der"]))
    good = _signature_ok(certificate.public_key(), signed_text.encode("utf-8"), parts["signature"])
    lines.append(Line(good, "Podpis wystawcy jest prawidłowy" if good else "Podpis wystawcy jest nieprawidłowy"))
    allowed = _may_issue(ctx, record, parts)
    lines.append(Line(allowed, "Wystawca posiada uprawnienia do wystawienia faktury" if allowed
                      else "Wystawca nie posiada uprawnień do wystawienia faktury"))
    return lines


def _signature_ok(key, message: bytes, encoded: str) -> bool:
    try:
        signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                       hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) == 64:
                signature = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                                 int.from_bytes(signature[32:], "big"))
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _may_issue(ctx: SimContext, record: dict, parts: dict) -> bool:
    """The certificate's owner may issue invoices in the context, and the context for that seller."""
    owner = record["owner"]
    identity = Identity("ksef", owner["type"], owner["value"], record["fingerprint"])
    held = permissions_for(ctx, parts["ctx_type"], parts["ctx_value"], identity)
    same_seller = parts["ctx_type"] != "Nip" or parts["ctx_value"] == parts["nip"]
    return same_seller and any(p in held for p in ISSUING)
