"""The damaged-database page: what create_app serves instead of the screens when the startup check fails.

It opens no database and registers no screen, but it has the same local security as every page
(web/security.py: the launch secret, Host, Origin, CSRF, CSP), because it shows the data folder's paths.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from ksef_local import config, formats
from ksef_local.store import backup
from ksef_local.web.security import check_request, security_headers


def init_app(app: Flask, problem: str, home: Path) -> None:
    """Answer every URL with the page that explains the problem and lists the backups."""
    folder = backup.backups_dir(home)

    def page(path: str = ""):
        body = render_template("backup/integrity_error.html", problem=problem, folder=folder,
                               db_file=config.database_path(Path(home)), backups=backup.list_backups(folder),
                               pl_datetime=formats.pl_datetime, human_size=formats.human_size)
        return body, 503, {"Cache-Control": "no-store"}

    app.before_request(check_request)
    app.after_request(security_headers)
    # The refusals of check_request carry Polish text; this app has no base page to render them in.
    app.register_error_handler(HTTPException, lambda exc: (exc.description or "Błąd.", exc.code or 400))
    app.add_url_rule("/", "damaged", page)
    app.add_url_rule("/<path:path>", "damaged_any", page, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
