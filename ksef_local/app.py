"""create_app(): the one wiring point. Nothing runs at import time and no thread starts here."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Callable

from flask import Flask

from ksef_local import config
from ksef_local.clock import local_now
from ksef_local.errors import UserError
from ksef_local.services import Services
from ksef_local.store import backup, numbering, recovery
from ksef_local.store import db as dbmod
from ksef_local.version import VERSION
from ksef_local.web import damaged, init_app

DATABASE_PROBLEM = "ksef_local_database_problem"
REPAIRED = "ksef_local_on_repaired"


def create_app(home: Path | str | None = None, testing: bool = False, launch_secret: str | None = None) -> Flask:
    """Build the Flask app on a data folder: check and migrate the database, register the screens.

    When the data folder fails the startup check (store/recovery.py: the folder cannot be written, the
    database is damaged, or it is missing or empty although backups or used numbers prove there was one),
    the app serves only the page that explains it (web/damaged.py) and touches nothing; once that page has
    repaired the files, this same app object serves the full app (see _reopen).

    launch_secret: required from every browser as a cookie (handed over once by the
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
    problem = recovery.check_at_start(home_path, db_path, now)
    if problem:
        app.extensions[DATABASE_PROBLEM] = problem
        damaged.init_app(app, problem, home_path, reopen=lambda: _reopen(app, home_path, testing, launch_secret))
        return app
    services = Services(home_path)
    dbmod.migrate(services.db(), before_migration=backup.before_migration(home_path, db_path, now))
    numbering.sync(services.db(), home_path)  # every number the journal knows stays used (never twice)
    app.extensions["ksef_local"] = services
    init_app(app)
    return app


def database_problem(app: Flask) -> str | None:
    """Return why the database could not be opened when create_app served the damaged-database page."""
    problem = app.extensions.get(DATABASE_PROBLEM)
    return problem.message if problem else None


def on_repaired(app: Flask, hook: Callable[[Flask], None]) -> None:
    """Call hook(full_app) when the damaged-database page has repaired the files (the launcher starts the
    sender then)."""
    app.extensions.setdefault(REPAIRED, []).append(hook)


def _reopen(app: Flask, home: Path, testing: bool, launch_secret: str | None) -> Flask:
    """After a repair, build the full app and let the app object the server holds pass every request to it.

    The server (and the window) keep their address and launch cookie. Raises UserError when the folder
    still fails the startup check.
    """
    full = create_app(home, testing=testing, launch_secret=launch_secret)
    if database_problem(full):
        raise UserError(database_problem(full), 503)
    # Same port for the Host check, same key so the forms already open in the window stay valid.
    full.config.update(SERVER_PORT=app.config.get("SERVER_PORT"), SECRET_KEY=app.config["SECRET_KEY"])
    app.extensions.pop(DATABASE_PROBLEM, None)
    app.extensions["ksef_local"] = full.extensions["ksef_local"]
    app.wsgi_app = full.wsgi_app  # type: ignore[method-assign]
    for hook in app.extensions.get(REPAIRED, []):
        hook(full)
    return full
