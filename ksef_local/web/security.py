"""Local security: any web page the user visits can send requests to localhost, and other users of the
machine can reach its ports. So every request must prove it comes from our window or browser tab.

- A secret per launch, never in a URL: the window or browser opens a one-time entry code (``?wejscie=``),
  which becomes the secret as an HttpOnly, SameSite=Strict cookie; requests without it are refused (other
  users, other sites). A browser's command line is readable by every local user (ps, /proc/PID/cmdline),
  so what it carries is useless once used or a short while later. A second launch gets a fresh code from
  the running instance, proving itself with the secret from the 0600 instance file in a request header.
- Every state-changing request carries a CSRF token (header or form field).
- The Host header must be 127.0.0.1/localhost with our port (DNS rebinding); a foreign Origin is refused.
- No CORS headers are ever sent; a Content-Security-Policy allows no inline script.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from typing import Callable
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, abort, current_app, redirect, request

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
COOKIE = "ksef_local_klucz"
ENTRY_PARAM = "wejscie"
ENTRY_PATH = "/wejscie"                 # POST with SECRET_HEADER: a fresh entry code for a second launch
SECRET_HEADER = "X-Ksef-Local-Launch"
CODE_SECONDS = 120.0                    # a browser may take a while to start; a used code is gone at once


class EntryCodes:
    """One-time codes that open the app; each works once, and only within CODE_SECONDS."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._codes: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = self._clock()
            self._codes = {c: until for c, until in self._codes.items() if until > now}
            self._codes[code] = now + CODE_SECONDS
        return code

    def redeem(self, code: str) -> bool:
        with self._lock:
            until = self._codes.pop(code, None)
        return until is not None and until > self._clock()


def entry_codes(app: Flask) -> EntryCodes:
    return app.extensions.setdefault("ksef_local_entry_codes", EntryCodes())


def entry_url(base_url: str, code: str) -> str:
    """The URL that opens the app in a window or browser once and sets the launch cookie."""
    return f"{base_url.rstrip('/')}/?{urlencode({ENTRY_PARAM: code})}"


def new_entry_url(app: Flask, base_url: str) -> str:
    """A fresh one-time entry URL of this app (for the window, the browser, the fallback)."""
    return entry_url(base_url, entry_codes(app).issue())


def _same(sent: str, expected: str) -> bool:
    """Compare in constant time; as bytes, because hmac.compare_digest() raises TypeError for non-ASCII str."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def csrf_token() -> str:
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"csrf", "sha256").hexdigest()


def check_request():
    """Run before every request; returns a response (the cookie hand-off) or aborts, else None."""
    _check_host()
    handoff = _check_launch_secret()
    if handoff is not None:
        return handoff
    if request.method not in SAFE_METHODS:
        _check_origin_and_csrf()
    return None


def _check_host() -> None:
    name, _, port = (request.host or "").rpartition(":") if ":" in (request.host or "") else (request.host, "", "")
    name = name.strip("[]")
    expected_port = current_app.config.get("SERVER_PORT")
    if name not in LOCAL_HOSTS or (expected_port and port != str(expected_port)):
        abort(400, "Nieprawidłowy adres serwera.")


def _check_launch_secret() -> Response | None:
    secret = current_app.config.get("LAUNCH_SECRET")
    if not secret or request.endpoint == "static":
        return None
    if _same(request.cookies.get(COOKIE, ""), secret):
        return None
    if request.method == "POST" and request.path == ENTRY_PATH:
        if _same(request.headers.get(SECRET_HEADER, ""), secret):
            response = Response(entry_codes(current_app).issue(), mimetype="text/plain")
            response.headers["Cache-Control"] = "no-store"
            return response
        abort(403, "Brak dostępu.")
    offered = request.args.get(ENTRY_PARAM, "")
    if request.method == "GET" and offered and entry_codes(current_app).redeem(offered):
        # Hand-off: set the cookie and drop the code from the address bar at once.
        response = redirect(request.path)
        response.set_cookie(COOKIE, secret, httponly=True, samesite="Strict", path="/")
        return response
    abort(403, "Brak dostępu: otwórz ksef-local z ikony programu (albo poleceniem ksef-local run). "
               "Ta strona nie pochodzi z okna programu.")


def _check_origin_and_csrf() -> None:
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        abort(403, "Żądanie z innej strony zostało odrzucone.")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    if not _same(sent, csrf_token()):
        abort(403, "Brak lub nieprawidłowy token formularza: odśwież stronę i spróbuj jeszcze raz.")


def security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
