"""KSeF's default PRD request limits per endpoint group (ksef-docs limity/limity-api.md; group names as in
GET /rate-limits).

One table for both sides: the simulator enforces it and the sender keeps its own budget from it.
"""
from __future__ import annotations

# group → requests per (1 s, 60 s, 3600 s) sliding window; None = no such window.
Limits = dict[str, tuple[int | None, int | None, int | None]]

PRD_LIMITS: Limits = {
    "onlineSession": (10, 30, 120),
    "onlineSessionClose": (20, 60, 240),   # API 2.8: closing sessions has groups of its own
    "batchSessionClose": (20, 40, 120),
    "invoiceSend": (10, 30, 180),
    "batchSession": (10, 20, 60),
    "invoiceStatus": (30, 120, 1200),
    "sessionList": (5, 10, 60),
    "sessionInvoiceList": (10, 20, 200),
    "sessionMisc": (10, 120, 1200),
    "invoiceMetadata": (8, 16, 20),
    "invoiceExport": (8, 16, 20),
    "invoiceExportStatus": (10, 60, 600),
    "invoiceDownload": (8, 16, 64),
    "other": (10, 30, 120),
    # API 2.8 "anonymous": the endpoints that need no token (challenge, logging in by a token or a signature,
    # MF's public keys), counted per IP.
    "anonymous": (None, 60, None),
    "public": (60, None, None),  # ours, per IP: the other steps of logging in (status, redeem, refresh)
}
WINDOW_SECONDS = (1, 60, 3600)
