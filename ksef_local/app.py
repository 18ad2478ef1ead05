"""create_app(): the one wiring point. Nothing runs at import time and no thread starts here."""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from flask import Flask

from ksef_local.store import backup, db as dbmod, settings as ksef_settings, certificates as offline_cert
from ksef_local import config
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.latarnia import LatarniaClient
from ksef_local.store.secrets import SecretStore
from ksef_local.version import VERSION


class AppState:
    """What the app holds for its lifetime: the data folder, per-thread databases, the secret store,
    and what the launcher adds: the background sender and the in-app simulator of the demo mode."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.databases = dbmod.Databases(config.database_path(home))
        self.secrets = SecretStore(home)
        self.sender = None  # set by the launcher (cli.run) or a test
        self.simulator_url: str | None = None  # the demo mode's simulator, when running

    def db(self):
        return self.databases.get()

    def settings(self) -> ksef_settings.KsefSettings:
        return ksef_settings.load(self.db(), self.secrets)

    def _demo_url(self, settings: ksef_settings.KsefSettings) -> str | None:
        return self.simulator_url if settings.environment == ksef_settings.DEMO_MODE else None

    def make_client(self) -> KsefClient:
        """A KSeF client for the current settings (raises UserError in Polish when something is missing)."""
        settings = self.settings()
        token = ksef_settings.token_for(self.db(), self.secrets, settings)
        return ksef_settings.client_for(settings, token, base_url_override=self._demo_url(settings))

    def make_latarnia(self) -> LatarniaClient:
        settings = self.settings()
        return LatarniaClient(ksef_settings.environment_for(settings, self._demo_url(settings)))

    def reset_client(self) -> None:
        """Forget the sender's client after the settings changed (environment, NIP or token)."""
        if self.sender is not None:
            self.sender.reset_client()


def create_app(home: Path | str | None = None, testing: bool = False, launch_secret: str | None = None) -> Flask:
    """Build the Flask app on a data folder: migrate the database and register the screens.

    launch_secret: required from every browser as a cookie (handed over once by the entry URL, see
    web/security.py); the launcher always sets one. Without it (tests, scripts) the cookie is not asked for.
    """
    from ksef_local import web

    home_path = config.data_dir(home)
    resources = config.resources_dir()
    app = Flask(
        "ksef_local",
        template_folder=str(resources / "templates"),
        static_folder=str(resources / "static"),
    )
    app.config.update(
        SECRET_KEY=secrets.token_urlsafe(32),
        TESTING=testing,
        MAX_CONTENT_LENGTH=6 * 1024 * 1024,  # larger than any import we accept, so we can say why
        VERSION=VERSION,
        LAUNCH_SECRET=launch_secret,
    )
    # lessons.md 17: check the file before anything writes to it; back up before migrations change it.
    db_path, now = config.database_path(home_path), datetime.now()
    problem = backup.on_start(home_path, db_path, now)
    if problem:
        return backup.integrity_error_app(problem, home_path)
    state = AppState(home_path)
    dbmod.migrate(state.db(), before_migration=backup.before_migration(home_path, db_path, now))
    ksef_settings.ensure_schema(state.db())
    offline_cert.ensure_schema(state.db())
    app.extensions["ksef_local"] = state
    web.init_app(app)
    return app
