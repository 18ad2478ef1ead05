"""Local security: any web page the user visits can send requests to localhost, and other users of the
machine can reach its ports. So every request must prove it comes from our window or browser tab.

- A secret per launch, handed to the window/browser once in the entry URL and turned into an HttpOnly,
  SameSite=Strict cookie; requests without it are refused (other users, other sites).
- Every state-changing request carries a CSRF token (header or form field).
- The Host header must be 127.0.0.1/localhost with our port (DNS rebinding); a foreign Origin is refused.
- No CORS headers are ever sent; a Content-Security-Policy allows no inline script.
"""
from __future__ import annotations

import hmac
from urllib.parse import urlencode, urlsplit

from flask import Response, abort, current_app, redirect, request

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
COOKIE = "ksef_local_klucz"
ENTRY_PARAM = "klucz"


def entry_url(base_url: str, launch_secret: str) -> str:
    """The one URL that opens the app in a window or browser and sets the launch cookie."""
    return f"{base_url.rstrip('/')}/?{urlencode({ENTRY_PARAM: launch_secret})}"


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
    offered = request.args.get(ENTRY_PARAM, "")
    if request.method == "GET" and offered and _same(offered, secret):
        # Hand-off: set the cookie and drop the secret from the address bar at once.
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
