"""create_app(): the one wiring point. Nothing runs at import time and no thread starts here."""
from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask

from ksef_local import config
from ksef_local.clock import local_now
from ksef_local.services import Services
from ksef_local.store import backup
from ksef_local.store import db as dbmod
from ksef_local.version import VERSION
from ksef_local.web import damaged, init_app

DATABASE_PROBLEM = "ksef_local_database_problem"


def create_app(home: Path | str | None = None, testing: bool = False, launch_secret: str | None = None) -> Flask:
    """Build the Flask app on a data folder: check and migrate the database, register the screens.

    When the database fails the startup check, the app serves only the page that explains it (web/damaged.py)
    and touches nothing. launch_secret: required from every browser as a cookie (handed over once by the
    entry URL, see web/security.py); the launcher always sets one. Without it (tests, scripts) the cookie is
    not asked for.
    """
    home_path = config.data_dir(home)
    resources = config.resources_dir()
    app = Flask("ksef_local", template_folder=str(resources / "templates"), static_folder=str(resources / "static"))
    app.config.update(
        SECRET_KEY=secrets.token_urlsafe(32),
        TESTING=testing,
        # Larger than any certificate or signed file we accept, so we can say why; the invoice import has its
        # own limits (web/uploads.py).
        MAX_CONTENT_LENGTH=6 * 1024 * 1024,
        VERSION=VERSION,
        LAUNCH_SECRET=launch_secret,
    )
    # Check the file before anything writes to it; back up before migrations change it (docs/architecture.md).
    db_path, now = config.database_path(home_path), local_now()
    problem = backup.on_start(home_path, db_path, now)
    if problem:
        app.extensions[DATABASE_PROBLEM] = problem
        damaged.init_app(app, problem, home_path)
        return app
    services = Services(home_path)
    dbmod.migrate(services.db(), before_migration=backup.before_migration(home_path, db_path, now))
    app.extensions["ksef_local"] = services
    init_app(app)
    return app


def database_problem(app: Flask) -> str | None:
    """Return why the database could not be opened when create_app served the damaged-database page."""
    return app.extensions.get(DATABASE_PROBLEM)
