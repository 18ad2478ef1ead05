"""The Ustawienia KSeF form: environment, custom address, context NIP, batch threshold and a new token.

Every field gets a Polish message when it is wrong; the token is checked for shape only and never quoted.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from ksef_local.core.settings import (
    BATCH_MAX,
    BATCH_MIN,
    CUSTOM,
    DEFAULT_BATCH_THRESHOLD,
    ENVIRONMENTS,
    TOKEN_MAX,
    TOKEN_MIN,
    URL_MAX,
    KsefSettings,
)
from ksef_local.errors import ValidationFailed
from ksef_local.formats import plural
from ksef_local.forms import parties as party_forms
from ksef_local.forms.text import single_line

PROD_CONFIRMATION = ("Potwierdź przełączenie na środowisko produkcyjne: faktury wysłane tam są prawnie "
                     "wiążące.")


@dataclass(frozen=True)
class CleanSettings:
    """A valid Ustawienia KSeF form: what to store, and the NIP in effect."""

    environment: str
    base_url: str | None
    stored_nip: str | None      # None: follow the company's NIP
    nip: str | None             # the context NIP in effect
    batch_threshold: int
    token: str                  # "" keeps the stored token


def clean(form: Mapping[str, Any], current: KsefSettings, company_nip: str | None,
          in_flight: int) -> CleanSettings:
    """Validate the form against the current settings; raise ValidationFailed with a message per field.

    Fields: environment, base_url, nip, batch_threshold, ksef_token (empty keeps the stored one),
    confirm_prod ("1" to switch to PROD). A missing field keeps its current value. in_flight: how many
    invoices KSeF may hold a reference for (outbox_work.in_flight_count); they forbid switching the
    environment or NIP.
    """
    errors: dict[str, str] = {}
    environment = _text(form, "environment", current.environment)
    if environment not in ENVIRONMENTS:
        errors["environment"] = "Wybierz środowisko KSeF z listy."
    elif environment == "PROD" and current.environment != "PROD" and _text(form, "confirm_prod", "") != "1":
        errors["confirm_prod"] = PROD_CONFIRMATION
    base_url = current.base_url
    if environment == CUSTOM:
        base_url, message = _clean_base_url(_text(form, "base_url", current.base_url or ""))
        if message:
            errors["base_url"] = message
    stored_nip, effective_nip = _clean_nip(form, current, company_nip, errors)
    threshold = _clean_threshold(_text(form, "batch_threshold", str(current.batch_threshold)), errors)
    switching = (environment, base_url, effective_nip) != (current.environment, current.base_url, current.nip)
    if switching and in_flight and not errors:
        # KSeF holds references for these in the current environment's sessions; another KSeF would not know
        # them. Invoices still queued (W) are not counted: they go wherever the settings say when sent.
        errors["environment"] = ("Nie można teraz zmienić środowiska KSeF ani NIP, dopóki KSeF przetwarza wysłane"
                                 f" faktury (w toku: {plural(in_flight, 'faktura')}). Program sprawdza je sam; gdy"
                                 " dostaną status A lub B, zmień ustawienia ponownie. Faktury czekające w kolejce (W)"
                                 " nie blokują zmiany – wyślą się według nowych ustawień.")
    token = _text(form, "ksef_token", "")
    if token:
        message = token_error(token)
        if message:
            errors["ksef_token"] = message
    if errors:
        raise ValidationFailed(errors)
    return CleanSettings(environment, base_url, stored_nip, effective_nip, threshold, token)

def token_error(token: str) -> str | None:
    """Return a Polish message when a (stripped) token cannot be a KSeF token; it never quotes the token.

    KSeF tokens look like "20251010-EC-…-…-XX|nip-1234567890|<64 hex>"; the check stays loose on purpose.
    """
    if len(token) < TOKEN_MIN:
        return f"Token KSeF jest za krótki (najmniej {TOKEN_MIN} znaków): skopiuj go w całości."
    if len(token) > TOKEN_MAX:
        return f"Token KSeF jest za długi (najwięcej {TOKEN_MAX} znaków): czy wklejono coś więcej niż token?"
    if not re.fullmatch(r"[\x21-\x7e]+", token):
        return ("Token KSeF może zawierać tylko litery bez polskich znaków, cyfry i znaki takie jak | lub -, "
                "bez spacji: skopiuj go jeszcze raz.")
    return None


def _text(form: Mapping[str, Any], name: str, default: str) -> str:
    """A field's canonical text (forms/text.py); the token only stripped: a secret is checked, never altered."""
    value = form.get(name)
    if value is None:
        return default
    return str(value).strip() if name == "ksef_token" else single_line(value)


def _clean_nip(form: Mapping[str, Any], current: KsefSettings, company_nip: str | None,
               errors: dict[str, str]) -> tuple[str | None, str | None]:
    """Return (the NIP to store, None = follow the company; the effective NIP)."""
    default = "" if current.nip_follows_company else (current.nip or "")
    typed = party_forms.normalize_nip(_text(form, "nip", default))
    if not typed:
        if company_nip is None:
            errors["nip"] = "Podaj NIP, w imieniu którego program łączy się z KSeF, albo uzupełnij dane firmy."
        return None, company_nip
    message = party_forms.nip_error(typed)
    if message:
        errors["nip"] = message
        return None, None
    return (None if typed == company_nip else typed), typed


def _clean_threshold(text: str, errors: dict[str, str]) -> int:
    message = f"Próg wysyłki wsadowej musi być liczbą całkowitą od {BATCH_MIN} do {BATCH_MAX}."
    if not re.fullmatch(r"[0-9]{1,6}", text) or not BATCH_MIN <= int(text) <= BATCH_MAX:
        errors["batch_threshold"] = message
        return DEFAULT_BATCH_THRESHOLD
    return int(text)


def _clean_base_url(text: str) -> tuple[str | None, str | None]:
    """Return (the normalized base URL, None) or (None, a Polish message).

    http:// only to this computer (a simulator); anything else must be https://. The URL is the server's
    root: a trailing /v2 is dropped because the client adds it (environments.custom).
    """
    if not text:
        return None, "Podaj adres serwera KSeF, np. http://127.0.0.1:8765."
    if len(text) > URL_MAX or any(c.isspace() for c in text):
        return None, "Adres serwera KSeF jest nieprawidłowy: wpisz go bez spacji, np. http://127.0.0.1:8765."
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None, "Adres serwera KSeF jest nieprawidłowy (np. zły numer portu)."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, "Adres serwera KSeF musi zaczynać się od https:// (albo http:// dla tego komputera)."
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return None, "Adres serwera KSeF nie może zawierać loginu, hasła ani parametrów (?…, #…)."
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return None, ("Połączenie bez szyfrowania (http://) jest dozwolone tylko z tym komputerem "
                      "(127.0.0.1 lub localhost); inne adresy muszą zaczynać się od https://.")
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc.lower()}{path}", None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
