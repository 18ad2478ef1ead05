"""The damaged-database page: what create_app serves instead of the screens when the startup check fails.

It opens no database and registers no screen, but it has the same local security as every page
(web/security.py: the launch secret, Host, Origin, CSRF, CSP), because it shows the data folder's paths and
can change its files. A damaged, emptied or missing database is repaired here with one click: the newest
(or a chosen) backup is put in its place, or, when the database is missing or empty, a new one is started;
either keeps every used invoice number (store/recovery.py). Then ``reopen`` makes the server pass every
request to the full app (app._reopen) and the user lands on the screens.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ksef_local import config, disk, formats
from ksef_local.clock import local_now
from ksef_local.errors import UserError
from ksef_local.store import backup, recovery
from ksef_local.web.security import check_request, csrf_token, security_headers

TITLES = {
    recovery.DAMAGED: "Baza danych jest uszkodzona",
    recovery.EMPTY: "Baza danych zniknęła albo jest pusta",
    recovery.FOLDER: "Nie można zapisywać w folderze danych",
}


def init_app(app: Flask, problem: recovery.StartProblem, home: Path, reopen: Callable[[], Flask]) -> None:
    """Answer every URL with the page that explains the problem; POST repairs when the problem allows it."""
    folder, db_file = backup.backups_dir(home), config.database_path(Path(home))
    repairing = threading.Lock()  # two clicks, two tabs: one repair

    def page(path: str = "", error: str | None = None, status: int = 503):
        body = render_template("backup/integrity_error.html", problem=problem.message, kind=problem.kind,
                               title=TITLES[problem.kind], repairable=problem.repairable, error=error,
                               folder=folder, db_file=db_file, backups=backup.list_backups(folder),
                               pl_datetime=formats.pl_datetime, human_size=formats.human_size,
                               csrf_token=csrf_token)
        return body, status, {"Cache-Control": "no-store"}

    def repair(action: Callable[[], object], landing: Callable[[], str]):
        if not problem.repairable:
            raise UserError("Tego nie da się naprawić z poziomu programu: najpierw zrób to, co opisano niżej.", 409)
        with repairing:
            if app.extensions.get("ksef_local") is None:  # not repaired yet by a request before this one
                action()
                full = reopen()
            else:
                full = None
        if full is None:
            return redirect("/")
        with full.test_request_context():
            return redirect(landing())

    def restore():
        name = request.form.get("nazwa", "")
        return repair(lambda: recovery.restore_in_place(home, db_file, name, local_now()),
                      lambda: url_for("backup.index", przywrocono=name))

    def start_new():
        if problem.kind != recovery.EMPTY:
            raise UserError("Nową bazę można założyć tylko wtedy, gdy pliku bazy brakuje albo jest pusty.", 409)
        if request.form.get("potwierdzam") != "1":
            raise UserError("Zaznacz, że rozumiesz, że nowa baza będzie pusta, i spróbuj jeszcze raz.", 422)
        return repair(lambda: recovery.start_new(home, db_file, local_now()), lambda: url_for("invoices.index"))

    def disk_failure(exc: Exception):
        message = disk.describe(exc, home)
        if message is None:
            raise exc
        return page(error=message, status=disk.status_of(message))

    app.before_request(check_request)
    app.after_request(security_headers)
    # The refusals of check_request carry Polish text; this app has no base page to render them in.
    app.register_error_handler(HTTPException, lambda exc: (exc.description or "Błąd.", exc.code or 400))
    app.register_error_handler(UserError, lambda exc: page(error=exc.message, status=exc.status))
    for failure in (sqlite3.OperationalError, OSError):
        app.register_error_handler(failure, disk_failure)
    app.add_url_rule("/naprawa/przywroc", "damaged_restore", restore, methods=["POST"])
    app.add_url_rule("/naprawa/nowa-baza", "damaged_start_new", start_new, methods=["POST"])
    app.add_url_rule("/", "damaged", page)
    app.add_url_rule("/<path:path>", "damaged_any", page, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
