"""Read the QR codes of a rendered PDF back, as a phone would: pypdfium2 draws the pages, zxing-cpp decodes.

zxing-cpp ships as a wheel with its decoder inside, so the tests need no system library (pyzbar needed libzbar).

Import explicitly: `from .pdf_support import qr_texts`.
"""
from __future__ import annotations

import pypdfium2 as pdfium
import zxingcpp


def qr_texts(data: bytes, scale: float = 2.0) -> list[str]:
    """Return the text of every QR code in the PDF, page by page, top to bottom (scale 2 = 144 dpi)."""
    document = pdfium.PdfDocument(data)
    found: list[tuple[int, int, str]] = []
    try:
        for index, page in enumerate(document):
            bitmap = page.render(scale=scale)
            image = bitmap.to_pil().convert("L")  # one byte per pixel: what zxing-cpp reads without a copy
            try:
                for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
                    corners = code.position
                    top = min(corners.top_left.y, corners.top_right.y, corners.bottom_left.y, corners.bottom_right.y)
                    # The raw bytes, not zxing's character-set guess: the exact text a scanner app gets as UTF-8.
                    found.append((index, top, code.bytes.decode("utf-8")))
            finally:
                image.close()
                bitmap.close()
                page.close()
    finally:
        document.close()
    return [text for _, _, text in sorted(found)]
