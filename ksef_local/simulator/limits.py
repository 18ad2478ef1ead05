"""Rate limits of the PRD table: sliding 1 s / 1 min / 1 h windows per endpoint group (ksef-docs limity/limity-api.md).

Counted per (context, client IP) pair, or per IP for the public auth endpoints; a refused request is
answered 429 with Retry-After in seconds and is not counted.
"""
from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from ksef_local.ksef.limits import PRD_LIMITS

# (method, path under /v2, group); first match wins. Group names as in GET /rate-limits.
_GROUPS: tuple[tuple[str, re.Pattern, str], ...] = tuple((m, re.compile(p), g) for m, p, g in (
    ("POST", r"^/sessions/online$", "onlineSession"),
    ("POST", r"^/sessions/online/[^/]+/close$", "onlineSessionClose"),
    ("POST", r"^/sessions/online/[^/]+/invoices$", "invoiceSend"),
    ("POST", r"^/sessions/batch$", "batchSession"),
    ("POST", r"^/sessions/batch/[^/]+/close$", "batchSessionClose"),
    ("GET", r"^/sessions$", "sessionList"),
    ("GET", r"^/sessions/[^/]+/invoices(/failed)?$", "sessionInvoiceList"),
    ("GET", r"^/sessions/[^/]+/invoices/[^/]+$", "invoiceStatus"),
    ("GET", r"^/sessions/.+$", "sessionMisc"),
    ("POST", r"^/invoices/query/metadata$", "invoiceMetadata"),
    ("POST", r"^/invoices/exports$", "invoiceExport"),
    ("GET", r"^/invoices/exports/[^/]+$", "invoiceExportStatus"),
    ("GET", r"^/invoices/ksef/[^/]+$", "invoiceDownload"),
    ("POST", r"^/auth/(challenge|ksef-token|xades-signature)$", "anonymous"),
    ("GET", r"^/security/public-key-certificates$", "anonymous"),
    ("POST", r"^/auth/token/(redeem|refresh)$", "public"),
    ("GET", r"^/auth/(?!sessions$)[^/]+$", "public"),
))
LIMITS = PRD_LIMITS
_WINDOWS = ((1, "sekundę"), (60, "minutę"), (3600, "godzinę"))


def group_of(method: str, path: str) -> str:
    """Return the rate-limit group of a request to path (relative to /v2)."""
    for group_method, pattern, group in _GROUPS:
        if group_method == method and pattern.match(path):
            return group
    return "other"


@dataclass(frozen=True)
class Refusal:
    """A 429: how long to wait and the legacy body's detail text."""

    retry_after: int
    detail: str


class RateLimiter:
    """Sliding-window counters; the clock is injected."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def check(self, subject: str, group: str, now: datetime) -> Refusal | None:
        """Count one request, or return a Refusal without counting it."""
        if not self.enabled:
            return None
        stamp = now.timestamp()
        hits = self._hits.setdefault((subject, group), deque())
        while hits and hits[0] <= stamp - 3600:
            hits.popleft()
        for limit, (seconds, unit) in zip(LIMITS[group], _WINDOWS, strict=True):
            if limit is None:
                continue
            inside = [t for t in hits if t > stamp - seconds]
            if len(inside) >= limit:
                wait = max(1, math.ceil(inside[-limit] + seconds - stamp))
                return Refusal(wait,
                               f"Przekroczono limit {limit} żądań na {unit}. Spróbuj ponownie po {wait} sekundach.")
        hits.append(stamp)
        return None
