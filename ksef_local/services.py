"""The app's services, without Flask: the data folder, per-thread databases, the secret store, the KSeF
settings and the factories of KSeF clients. The web app, the command line and the sender share them.

The launcher adds what runs beside the app: the background sender (``sender``, so screens can wake it) and
the demo mode's built-in simulator (``simulator_url``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlite_utils

from ksef_local import config, credentials
from ksef_local.clock import utc_now
from ksef_local.core.settings import CUSTOM, DEMO_MODE, KsefSettings, describe, environment_key
from ksef_local.errors import UserError
from ksef_local.ksef import environments
from ksef_local.ksef.auth import Credentials, SignedRequest, TokenCredentials
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

    def make_client(self, **client_kwargs: Any) -> KsefClient:
        """A KSeF client for the current settings and credentials (UserError in Polish when something is missing).

        In demo mode the credentials are made at this moment when there are none yet (first run, company
        saved after the start, NIP changed).
        """
        settings = self.settings()
        demo_url = self._demo_url(settings)
        credentials.ensure_demo_credentials(self.db(), self.secrets, settings, demo_url)
        credentials.ensure_demo_purchases(self.db(), settings, demo_url)
        now = client_kwargs.get("clock", utc_now)()
        login = credentials.credentials_for(self.db(), self.secrets, settings, now)
        return client_for(settings, login, base_url_override=demo_url, **client_kwargs)

    def client_signed_in_by(self, document: bytes, **client_kwargs: Any) -> KsefClient:
        """A client for the current environment that logs in once with an AuthTokenRequest signed outside."""
        settings = self.settings()
        if not settings.nip:
            raise UserError("Uzupełnij NIP w danych firmy albo w Ustawieniach KSeF, aby łączyć się z KSeF.")
        return client_for(settings, SignedRequest(settings.nip, document),
                          base_url_override=self._demo_url(settings), **client_kwargs)

    def anonymous_client(self) -> KsefClient:
        """A client without credentials: enough for the challenge of a file to be signed outside."""
        settings = self.settings()
        return KsefClient(environment_for(settings, self._demo_url(settings)), None)

    def login_method(self) -> credentials.LoginMethod:
        return credentials.login_method(self.db(), self.secrets, self.settings())

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


def client_for(settings: KsefSettings, login: Credentials | str | None, *, base_url_override: str | None = None,
               **client_kwargs: Any) -> KsefClient:
    """Build a KsefClient for the chosen environment and context NIP with credentials (a str is a KSeF token)."""
    if not settings.nip:
        raise UserError("Uzupełnij NIP w danych firmy albo w Ustawieniach KSeF, aby łączyć się z KSeF.")
    if not login:
        raise UserError(credentials.NO_CREDENTIALS.format(where=describe(settings)))
    if isinstance(login, str):
        login = TokenCredentials(settings.nip, login)
    client = KsefClient(environment_for(settings, base_url_override), login, **client_kwargs)
    client.environment_key = environment_key(settings)
    return client


def qr_host_for_key(key: str, demo_url: str | None = None) -> str | None:
    """The QR verification host of an environment_key(); None when it cannot be known (demo mode not running)."""
    if key == DEMO_MODE:
        return environments.custom(demo_url, name="SIM").qr_base if demo_url else None
    if key.startswith(f"{CUSTOM}:"):
        url = key.split(":", 1)[1]
        return environments.custom(url, name="SIM").qr_base if url else None
    return environments.resolve(key).qr_base


def qr_host_for(settings: KsefSettings, *, base_url_override: str | None = None) -> str:
    """Return the QR verification host of the environment (KOD I links, CIRFMF/ksef-docs kody-qr.md)."""
    return environment_for(settings, base_url_override).qr_base
