"""HTTP to KSeF on an injected requests.Session: one request, its typed error, a scrubbed log line.

Error bodies (docs/ksef-protocol.md §7): the legacy 400 ExceptionResponse, problem+json (400 with
X-Error-Format: problem-details; 401/403/410 always), 429 with Retry-After (§6), gateway HTML on 5xx
(CIRFMF/ksef-api issue #852).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import requests

from ksef_local.clock import utc_now
from ksef_local.ksef import errors

Clock = Callable[[], datetime]
SECRET_KEYS = frozenset({
    "token", "accessToken", "refreshToken", "authenticationToken", "encryptedToken", "ksefToken",
    "encryptedSymmetricKey", "initializationVector", "encryptedInvoiceContent", "authorization",
})
SCRUBBED = "***"
AUTH_METHOD_NOT_ALLOWED = "auth-method-not-allowed"  # 403 reasonCode (OpenAPI ForbiddenProblemDetails)
WARNING_HEADER = "X-System-Warning"  # "[code]: message | [code]: message" (OpenAPI SystemWarning)
KEPT_WARNINGS = 20
log = logging.getLogger("ksef_local.ksef")


def scrub(value: Any) -> Any:
    """Return a copy of a JSON value with tokens, keys and encrypted content replaced by ***."""
    if isinstance(value, dict):
        return {k: (SCRUBBED if k in SECRET_KEYS or k.lower() in SECRET_KEYS else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return seconds to wait from Retry-After given in seconds or as an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _json_or_none(response: requests.Response) -> Any:
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _exception_entries(body: Any) -> list[tuple[int, str, tuple[str, ...]]]:
    """Return (code, description, details) from a legacy or a problem+json 400 body."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("errors"), list):  # BadRequestProblemDetails
        return [(int(e.get("code", 0)), e.get("description") or "", tuple(e.get("details") or ()))
                for e in body["errors"] if isinstance(e, dict)]
    exception = body.get("exception") or {}
    return [(int(e.get("exceptionCode", 0)), e.get("exceptionDescription") or "", tuple(e.get("details") or ()))
            for e in exception.get("exceptionDetailList") or () if isinstance(e, dict)]


def error_from_response(response: requests.Response, now: datetime) -> errors.KsefError:
    """Return the typed error for a non-success KSeF response."""
    status = response.status_code
    body = _json_or_none(response)
    detail = body.get("detail", "") if isinstance(body, dict) else ""
    if status == 429:
        legacy = body.get("status") if isinstance(body, dict) else None  # TooManyRequestsResponse
        details = tuple(legacy.get("details") or ()) if isinstance(legacy, dict) else ()
        return errors.KsefRateLimited(detail or "Too Many Requests", http_status=429, details=details,
                                      retry_after=parse_retry_after(response.headers.get("Retry-After"), now))
    if status >= 500:
        return errors.KsefUnavailable(f"KSeF odpowiedział kodem HTTP {status}", http_status=status)
    if status == 401:
        return errors.KsefUnauthenticated(detail or "Unauthorized", http_status=401)
    if status == 403:
        reason = body.get("reasonCode") if isinstance(body, dict) else None
        if reason == AUTH_METHOD_NOT_ALLOWED:
            return errors.KsefAuthMethodNotAllowed(detail or "Forbidden", http_status=403, reason_code=reason)
        return errors.KsefUnauthorized(detail or "Forbidden", http_status=403, reason_code=reason)
    if status == 410:
        return errors.KsefUnauthenticated(detail or "Gone", http_status=410)
    entries = _exception_entries(body)
    if entries:
        return errors.error_for_exception(*entries[0], http_status=status)
    return errors.KsefRequestInvalid(detail or f"KSeF odpowiedział kodem HTTP {status}", http_status=status)


class Transport:
    """Send requests to one base URL and turn failures into typed errors; no retries, no threads."""

    def __init__(self, base_url: str, session: requests.Session, clock: Clock = utc_now,
                 timeout: float = 30.0, problem_details: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.clock = clock
        self.timeout = timeout
        self.problem_details = problem_details
        self.warnings: list[str] = []  # the latest X-System-Warning texts, newest last

    def request(self, method: str, path_or_url: str, *, json_body: Any = None, data: bytes | None = None,
                bearer: str | None = None, headers: dict[str, str] | None = None,
                ok: tuple[int, ...] = (200,), plain: bool = False) -> requests.Response:
        """Send one request; return the response if its status is in ok, else raise a KsefError.

        plain sends only the given headers (pre-signed upload links want exactly those).
        """
        url = path_or_url if "://" in path_or_url else f"{self.base_url}{path_or_url}"
        all_headers = {"Accept": "application/json"} if data is None and not plain else {}
        if self.problem_details and not plain:
            all_headers["X-Error-Format"] = "problem-details"
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        all_headers.update(headers or {})
        try:
            response = self.session.request(method, url, json=json_body, data=data, headers=all_headers,
                                            timeout=self.timeout)
        except requests.Timeout as exc:
            log.info("KSeF %s %s: timeout", method, _path_only(url))
            raise errors.KsefUnavailable("Przekroczono czas oczekiwania na odpowiedź KSeF") from exc
        except requests.ConnectionError as exc:
            log.info("KSeF %s %s: connection error", method, _path_only(url))
            raise errors.KsefUnavailable("Brak połączenia z KSeF") from exc
        _log_exchange(method, url, json_body, response)
        warnings = self._note_warnings(method, url, response)
        if response.status_code in ok:
            return response
        error = error_from_response(response, self.clock())
        error.warnings = warnings
        raise error

    def _note_warnings(self, method: str, url: str, response: requests.Response) -> tuple[str, ...]:
        """Log KSeF's X-System-Warning (e.g. a signature it will refuse later) and keep it for "Szczegóły"."""
        header = response.headers.get(WARNING_HEADER, "")
        found = tuple(part.strip() for part in header.split(" | ") if part.strip())
        for text in found:
            log.warning("KSeF %s %s: ostrzeżenie %s", method, _path_only(url), text)
            if text not in self.warnings:
                self.warnings = (self.warnings + [text])[-KEPT_WARNINGS:]
        return found


def _path_only(url: str) -> str:
    # Pre-signed URLs carry their signature in the query; never log it.
    return url.split("?", 1)[0]


def _log_exchange(method: str, url: str, json_body: Any, response: requests.Response) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    answer = _json_or_none(response)
    shown = scrub(answer) if answer is not None else f"<{len(response.content)} B>"
    log.debug("KSeF %s %s %s -> %s %s", method, _path_only(url), json.dumps(scrub(json_body), ensure_ascii=False),
              response.status_code, shown)
