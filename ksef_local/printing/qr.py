"""The verification QR codes of a printed invoice (CIRFMF/ksef-docs kody-qr.md), as data: URI images.

Pure: the links come from ksef.crypto (KOD I, KOD II), the images from qrcode; nothing touches the disk.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from ksef_local.ksef import crypto
from ksef_local.store.certificates import OfflineSigner

OFFLINE_CAPTION = "OFFLINE"
CERTIFICATE_CAPTION = "CERTYFIKAT"


@dataclass(frozen=True)
class QrCode:
    """One printed code: its link, the PNG as a data: URI and the caption under it."""

    url: str
    image: str
    caption: str


def qr_png(text: str, box_size: int = 4) -> bytes:
    """Encode text as a QR symbol (ISO/IEC 18004, level M, 4-module quiet zone) in PNG bytes."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    buffer = io.BytesIO()
    with code.make_image().get_image() as image:  # the PIL image; closed so no ResourceWarning
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_data_uri(text: str, box_size: int = 4) -> str:
    """Return the QR code of text as a data:image/png;base64 URI, for <img> without file access."""
    return "data:image/png;base64," + base64.b64encode(qr_png(text, box_size)).decode("ascii")


def invoice_code(qr_host: str, seller_nip: str, issue_date, xml: bytes, ksef_number: str | None) -> QrCode:
    """KOD I: the invoice verification link, captioned with the KSeF number or OFFLINE (ksef-docs kody-qr.md)."""
    url = crypto.invoice_verification_url(qr_host, seller_nip, issue_date, xml)
    return QrCode(url, qr_data_uri(url), ksef_number or OFFLINE_CAPTION)


def certificate_code(qr_host: str, seller_nip: str, xml: bytes, signer: OfflineSigner) -> QrCode:
    """KOD II: the signed certificate verification link of an offline invoice (ksef-docs kody-qr.md)."""
    unsigned = crypto.certificate_verification_path(
        qr_host, signer.context_type, signer.context_value, seller_nip, signer.serial, xml)
    url = crypto.sign_certificate_verification_url(unsigned, signer.private_key)
    return QrCode(url, qr_data_uri(url), CERTIFICATE_CAPTION)
