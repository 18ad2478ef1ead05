"""create_app(): the one wiring point. Nothing runs at import time."""
from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask

from . import config, db as dbmod
from .version import VERSION


class AppState:
    """What the app holds for its lifetime: the data folder and the per-thread databases."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.databases = dbmod.Databases(config.database_path(home))

    def db(self):
        return self.databases.get()


def create_app(home: Path | str | None = None, testing: bool = False) -> Flask:
    """Build the Flask app on a data folder: migrate the database and register the screens."""
    from . import web

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
    )
    state = AppState(home_path)
    dbmod.migrate(state.db())
    app.extensions["ksef_local"] = state
    web.init_app(app)
    return app
