"""Ustawienia KSeF: the environment, the context NIP, the batch threshold and the KSeF token.

The settings row lives in its own table (``ensure_schema``); the token lives only in the SecretStore,
under a name per environment and NIP (lessons.md §14: credentials per environment, default to a safe
environment, a visible badge). House rule 14: the token is never logged, rendered back, put in a URL or
in an exception message; only ``has_token`` and a masked ``token_hint`` leave this module.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests
import sqlite_utils

from ksef_local.store import db as dbmod
from ksef_local.store import outbox, parties
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.ksef import environments
from ksef_local.ksef.auth import TokenCredentials
from ksef_local.ksef.client import KsefClient
from ksef_local.store.secrets import SecretStore, SecretStoreError, mask

DEMO_MODE = "demo"
CUSTOM = "custom"
# Form value → label, in the order of the form's list.
ENVIRONMENTS: dict[str, str] = {
    DEMO_MODE: "Tryb demonstracyjny",
    "TEST": "TEST (testowe MF)",
    "DEMO": "DEMO (przedprodukcyjne MF)",
    "PROD": "Produkcyjne – faktury prawnie wiążące",
    CUSTOM: "Własny adres (np. symulator uruchomiony ręcznie)",
}
BADGES = {DEMO_MODE: "Tryb demonstracyjny (symulator)", "TEST": "TEST", "DEMO": "DEMO (przedprodukcyjne MF)",
          "PROD": "PRODUKCJA"}
DEFAULT_ENVIRONMENT = DEMO_MODE
DEFAULT_BATCH_THRESHOLD = 50
BATCH_MIN, BATCH_MAX = 2, 1000
TOKEN_MIN, TOKEN_MAX = 20, 400
URL_MAX = 300
SIM_TIMEOUT = 10.0

PROD_CONFIRMATION = ("Potwierdź przełączenie na środowisko produkcyjne: faktury wysłane tam są prawnie "
                     "wiążące.")

SCHEMA = """CREATE TABLE IF NOT EXISTS ksef_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    environment TEXT NOT NULL,
    base_url TEXT,
    nip TEXT,
    batch_threshold INTEGER NOT NULL,
    updated_at TEXT NOT NULL)"""


@dataclass(frozen=True)
class KsefSettings:
    """What the Ustawienia KSeF screen shows; never the token itself."""

    environment: str = DEFAULT_ENVIRONMENT
    base_url: str | None = None      # used by "custom" only; kept when switching away
    nip: str | None = None           # the context NIP: the stored one, else the company's
    batch_threshold: int = DEFAULT_BATCH_THRESHOLD
    has_token: bool = False
    token_hint: str = ""             # mask() of the token, for display
    updated_at: str | None = None
    nip_follows_company: bool = True
    token_problem: str | None = None  # a Polish message when the secret store cannot be read

    @property
    def label(self) -> str:
        return ENVIRONMENTS[self.environment]

    @property
    def is_production(self) -> bool:
        return self.environment == "PROD"


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the settings table when it is missing (idempotent; outside db.py's numbered migrations)."""
    with dbmod.write(db):
        db.execute(SCHEMA)


# -- reading ------------------------------------------------------------------------------------------

def load(db: sqlite_utils.Database, store: SecretStore) -> KsefSettings:
    """Return the settings (defaults on first run: demo mode, the company's NIP, threshold 50)."""
    rows = list(db.query("SELECT * FROM ksef_settings WHERE id = 1"))
    row = rows[0] if rows else {}
    company_nip = _company_nip(db)
    settings = KsefSettings(
        environment=row.get("environment") if row.get("environment") in ENVIRONMENTS else DEFAULT_ENVIRONMENT,
        base_url=row.get("base_url"),
        nip=row.get("nip") or company_nip,
        batch_threshold=row.get("batch_threshold") or DEFAULT_BATCH_THRESHOLD,
        updated_at=row.get("updated_at"),
        nip_follows_company=not row.get("nip"),
    )
    try:
        token = _stored_token(store, settings)
    except SecretStoreError as exc:
        return replace(settings, token_problem=exc.message)
    return replace(settings, has_token=token is not None, token_hint=mask(token))


def token_for(db: sqlite_utils.Database, store: SecretStore, settings: KsefSettings | None = None) -> str | None:
    """Return the KSeF token stored for the settings' environment and NIP, or None."""
    return _stored_token(store, settings or load(db, store))


def secret_name(settings: KsefSettings) -> str | None:
    """Return the SecretStore name of the token for this environment and NIP (None without a NIP).

    A custom server gets its own name per URL, so a token typed for one server is never sent to another.
    """
    if not settings.nip:
        return None
    place = settings.environment
    if settings.environment == CUSTOM:
        digest = hashlib.sha256((settings.base_url or "").encode("utf-8")).hexdigest()[:16]
        place = f"{CUSTOM}-{digest}"
    return f"ksef-token/{place}/{settings.nip}"


def describe(settings: KsefSettings) -> str:
    """Return the text of the always-visible environment badge."""
    if settings.environment == CUSTOM:
        host = urlsplit(settings.base_url or "").netloc or "brak adresu"
        return f"Własny serwer KSeF ({host})"
    return BADGES[settings.environment]


# -- saving -------------------------------------------------------------------------------------------

def save(db: sqlite_utils.Database, store: SecretStore, form: Mapping[str, Any]) -> KsefSettings:
    """Validate the form (Polish messages per field), store the token if a new one came, save the row.

    Fields: environment, base_url, nip, batch_threshold, ksef_token (empty keeps the stored one),
    confirm_prod ("1" to switch to PROD). A missing field keeps its current value. On any error
    nothing changes.
    """
    current = load(db, store)
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
    stored_nip, effective_nip = _clean_nip(db, form, current, errors)
    threshold = _clean_threshold(_text(form, "batch_threshold", str(current.batch_threshold)), errors)
    switching = (environment, base_url, effective_nip) != (current.environment, current.base_url, current.nip)
    in_flight = outbox.pending_count(db)
    if switching and in_flight and not errors:
        # Invoices in flight belong to the current environment's sessions; another KSeF would not know them.
        errors["environment"] = (f"Nie można teraz zmienić środowiska KSeF ani NIP: {in_flight} faktur jest w trakcie "
                                 "wysyłki (W/O). Poczekaj, aż dostaną status A lub B, i spróbuj ponownie.")
    token = _text(form, "ksef_token", "")
    if token:
        message = token_error(token)
        if message:
            errors["ksef_token"] = message
    if errors:
        raise ValidationFailed(errors)
    chosen = KsefSettings(environment=environment, base_url=base_url, nip=effective_nip,
                          batch_threshold=threshold)
    if token:
        store.set(secret_name(chosen), token)  # before the row: a store failure leaves the settings as they were
    row = {"environment": environment, "base_url": base_url, "nip": stored_nip, "batch_threshold": threshold,
           "updated_at": parties.now_iso()}
    with dbmod.write(db):
        db.execute("INSERT OR REPLACE INTO ksef_settings (id, environment, base_url, nip, batch_threshold,"
                   " updated_at) VALUES (1, :environment, :base_url, :nip, :batch_threshold, :updated_at)", row)
    return load(db, store)


def forget_token(db: sqlite_utils.Database, store: SecretStore) -> None:
    """Delete the token of the current environment and NIP from the SecretStore."""
    name = secret_name(load(db, store))
    if name is not None:
        store.delete(name)


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


# -- using --------------------------------------------------------------------------------------------

def environment_for(settings: KsefSettings, base_url_override: str | None = None) -> environments.Environment:
    """Return where KSeF is for these settings; demo mode needs the in-app simulator's base URL."""
    if settings.environment == DEMO_MODE:
        if not base_url_override:
            raise UserError("Tryb demonstracyjny jest niedostępny: wbudowany symulator KSeF nie działa. "
                            "Uruchom program ponownie albo wybierz inne środowisko w Ustawieniach KSeF.", 503)
        return environments.custom(base_url_override, name="SIM")
    if base_url_override:
        raise ValueError("base_url_override applies to the demo mode only")
    if settings.environment == CUSTOM:
        if not settings.base_url:
            raise UserError("Podaj adres serwera KSeF w Ustawieniach KSeF.")
        return environments.custom(settings.base_url, name="SIM")
    return environments.resolve(settings.environment)


def client_for(settings: KsefSettings, token: str | None, *, base_url_override: str | None = None,
               **client_kwargs: Any) -> KsefClient:
    """Build a KsefClient for the chosen environment, context NIP and token."""
    if not settings.nip:
        raise UserError("Uzupełnij NIP w danych firmy albo w Ustawieniach KSeF, aby łączyć się z KSeF.")
    if not token:
        raise UserError(f"Brak tokena KSeF dla środowiska {describe(settings)}: wpisz go w Ustawieniach KSeF.")
    environment = environment_for(settings, base_url_override)
    return KsefClient(environment, TokenCredentials(settings.nip, token), **client_kwargs)


def environment_key(settings: KsefSettings) -> str:
    """Name the KSeF an invoice goes to, for the outbox: demo, TEST, DEMO, PROD or custom:<base URL>."""
    if settings.environment == CUSTOM:
        return f"{CUSTOM}:{settings.base_url or ''}"
    return settings.environment


def qr_host_for_key(key: str, demo_url: str | None = None) -> str | None:
    """The QR verification host of an environment_key(); None when it cannot be known (demo mode not running)."""
    if key == DEMO_MODE:
        return environments.custom(demo_url, name="SIM").qr_base if demo_url else None
    if key.startswith(f"{CUSTOM}:"):
        url = key.split(":", 1)[1]
        return environments.custom(url, name="SIM").qr_base if url else None
    return environments.resolve(key).qr_base


def qr_host_for(settings: KsefSettings, *, base_url_override: str | None = None) -> str:
    """Return the QR verification host of the environment (KOD I links; lessons.md §14)."""
    return environment_for(settings, base_url_override).qr_base


def ensure_demo_token(db: sqlite_utils.Database, store: SecretStore, settings: KsefSettings,
                      simulator_base_url: str, *, replace: bool = False,
                      session: requests.Session | None = None) -> None:
    """In demo mode without a stored token, get one from the simulator (POST /sim/tokens) and store it.

    replace=True gets a new one even when a token is stored (e.g. a simulator that forgot its state).
    """
    if settings.environment != DEMO_MODE or not settings.nip:
        return
    name = secret_name(settings)
    if not replace and store.get(name) is not None:
        return
    failed = UserError("Tryb demonstracyjny: wbudowany symulator KSeF nie wydał tokena. Uruchom program "
                       "ponownie; jeśli to nie pomoże, wybierz inne środowisko w Ustawieniach KSeF.", 503)
    http = session or requests.Session()
    try:
        response = http.post(f"{simulator_base_url.rstrip('/')}/sim/tokens", json={"nip": settings.nip},
                             timeout=SIM_TIMEOUT)
        token = response.json().get("token") if response.status_code == 201 else None
    except (requests.RequestException, ValueError, AttributeError):
        raise failed from None
    finally:
        if session is None:
            http.close()
    if not isinstance(token, str) or token_error(token):
        raise failed
    store.set(name, token)


# -- helpers ------------------------------------------------------------------------------------------

def _stored_token(store: SecretStore, settings: KsefSettings) -> str | None:
    name = secret_name(settings)
    return store.get(name) if name else None


def _text(form: Mapping[str, Any], name: str, default: str) -> str:
    value = form.get(name)
    return default if value is None else str(value).strip()


def _company_nip(db: sqlite_utils.Database) -> str | None:
    company = parties.get_company(db)
    return company["nip"] if company else None


def _clean_nip(db: sqlite_utils.Database, form: Mapping[str, Any], current: KsefSettings,
               errors: dict[str, str]) -> tuple[str | None, str | None]:
    """Return (the NIP to store, None = follow the company; the effective NIP)."""
    company_nip = _company_nip(db)
    default = "" if current.nip_follows_company else (current.nip or "")
    typed = parties.normalize_nip(_text(form, "nip", default))
    if not typed:
        if company_nip is None:
            errors["nip"] = "Podaj NIP, w imieniu którego program łączy się z KSeF, albo uzupełnij dane firmy."
        return None, company_nip
    message = parties.nip_error(typed)
    if message:
        errors["nip"] = message
        return None, None
    return (None if typed == company_nip else typed), typed


def _clean_threshold(text: str, errors: dict[str, str]) -> int:
    message = f"Próg wysyłki wsadowej musi być liczbą całkowitą od {BATCH_MIN} do {BATCH_MAX}."
    if not re.fullmatch(r"\d{1,6}", text) or not BATCH_MIN <= int(text) <= BATCH_MAX:
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
