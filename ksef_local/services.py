"""The app's services, without Flask: the data folder, per-thread databases, the secret store, the KSeF
settings and the factories of KSeF clients. The web app, the command line and the sender share them.

The launcher adds what runs beside the app: the background sender (``sender``, so screens can wake it) and
the demo mode's built-in simulator (``simulator_url``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
import sqlite_utils

from ksef_local import config
from ksef_local.core.settings import CUSTOM, DEMO_MODE, KsefSettings, describe
from ksef_local.errors import UserError
from ksef_local.forms.ksef_settings import token_error
from ksef_local.ksef import environments
from ksef_local.ksef.auth import TokenCredentials
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.latarnia import LatarniaClient
from ksef_local.store import db as dbmod
from ksef_local.store import settings as ksef_settings
from ksef_local.store.secrets import SecretStore


class Services:
    """What the app holds for its lifetime on one data folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.databases = dbmod.Databases(config.database_path(home))
        self.secrets = SecretStore(home)
        self.sender = None  # set by the launcher (desktop/launcher.py) or a test
        self.simulator_url: str | None = None  # the demo mode's simulator, when running

    def db(self) -> sqlite_utils.Database:
        return self.databases.get()

    def settings(self) -> KsefSettings:
        return ksef_settings.load(self.db(), self.secrets)

    def _demo_url(self, settings: KsefSettings) -> str | None:
        return self.simulator_url if settings.environment == DEMO_MODE else None

    def make_client(self) -> KsefClient:
        """A KSeF client for the current settings (raises UserError in Polish when something is missing)."""
        settings = self.settings()
        token = ksef_settings.token_for(self.db(), self.secrets, settings)
        return client_for(settings, token, base_url_override=self._demo_url(settings))

    def make_latarnia(self) -> LatarniaClient:
        settings = self.settings()
        return LatarniaClient(environment_for(settings, self._demo_url(settings)))

    def qr_host_for_key(self, key: str) -> str | None:
        """The QR verification host of an outbox environment key (see qr_host_for_key)."""
        return qr_host_for_key(key, demo_url=self.simulator_url)

    def wake_sender(self) -> None:
        """Wake the background sender, when the launcher started one."""
        if self.sender is not None:
            self.sender.wake()

    def reset_client(self) -> None:
        """Forget the sender's client after the settings changed (environment, NIP or token)."""
        if self.sender is not None:
            self.sender.reset_client()


SIM_TIMEOUT = 10.0


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


def qr_host_for_key(key: str, demo_url: str | None = None) -> str | None:
    """The QR verification host of an environment_key(); None when it cannot be known (demo mode not running)."""
    if key == DEMO_MODE:
        return environments.custom(demo_url, name="SIM").qr_base if demo_url else None
    if key.startswith(f"{CUSTOM}:"):
        url = key.split(":", 1)[1]
        return environments.custom(url, name="SIM").qr_base if url else None
    return environments.resolve(key).qr_base


def qr_host_for(settings: KsefSettings, *, base_url_override: str | None = None) -> str:
    """Return the QR verification host of the environment (KOD I links; ksef-docs kody-qr.md)."""
    return environment_for(settings, base_url_override).qr_base


def ensure_demo_token(db: sqlite_utils.Database, store: SecretStore, settings: KsefSettings,
                      simulator_base_url: str, *, replace: bool = False,
                      session: requests.Session | None = None) -> None:
    """In demo mode without a stored token, get one from the simulator (POST /sim/tokens) and store it.

    replace=True gets a new one even when a token is stored (e.g. a simulator that forgot its state).
    """
    if settings.environment != DEMO_MODE or not settings.nip:
        return
    name = ksef_settings.secret_name(settings)
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
