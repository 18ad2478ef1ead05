"""Ustawienia → Kopia zapasowa: list the backups, make one now, restore one (by its listed name only)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import Blueprint, Flask, current_app, request, url_for

from ksef_local import config, formats
from ksef_local.clock import local_now
from ksef_local.errors import UserError
from ksef_local.store import backup, outbox_work
from ksef_local.web.responses import db, navigate, render, services

log = logging.getLogger(__name__)

bp = Blueprint("backup", __name__, url_prefix="/ustawienia")

EXTENSION = "ksef_local_backups"


@dataclass
class DailyCheck:
    """The clock the screen and the daily backup use, and the last day a daily backup was considered."""

    clock: Callable[[], datetime] = local_now
    checked_on: date | None = field(default=None)


@bp.record_once
def _install(setup_state) -> None:
    app: Flask = setup_state.app
    # create_app ran the day's backup in backup.on_start; from here a long-running app makes the next
    # day's on the first request after midnight.
    check = DailyCheck()
    check.checked_on = check.clock().date()
    app.extensions.setdefault(EXTENSION, check)


def daily() -> DailyCheck:
    return current_app.extensions[EXTENSION]


def paths():
    home = services().home
    return config.database_path(home), backup.backups_dir(home)


@bp.before_app_request
def daily_backup_when_day_changes() -> None:
    check = daily()
    now = check.clock()
    if check.checked_on == now.date():
        return
    check.checked_on = now.date()
    db_path, folder = paths()
    try:
        backup.daily_backup_if_due(db_path, folder, now)
    except UserError as exc:  # a failed backup must not take the screens down; it is logged
        log.error("daily backup failed: %s", exc.message)


def _listed(name: str | None) -> backup.BackupInfo | None:
    if not name:
        return None
    try:
        return backup.find_backup(paths()[1], name)
    except backup.BackupError:
        return None


@bp.route("/kopie")
def index():
    db_path, folder = paths()
    return render("backup/index.html", backups=backup.list_backups(folder), folder=folder, keep=backup.KEEP,
                  made=_listed(request.args.get("zrobiono")), restored=_listed(request.args.get("przywrocono")),
                  safety=_listed(request.args.get("kopia")), pl_datetime=formats.pl_datetime)


@bp.route("/kopie/teraz", methods=["POST"])
def make_now():
    db_path, folder = paths()
    made = backup.make_backup(db_path, folder, daily().clock(), "reczna")
    backup.prune(folder, backup.KEEP, protect=made)
    return navigate(url_for("backup.index", zrobiono=made.name))


@bp.route("/kopie/przywroc", methods=["POST"])
def restore():
    db_path, folder = paths()
    chosen = backup.find_backup(folder, request.form.get("nazwa", ""))
    if request.form.get("potwierdzam") != "1":
        raise UserError("Zaznacz, że rozumiesz skutki przywrócenia kopii, i spróbuj jeszcze raz.", status=422)
    # An invoice KSeF already holds a reference for would be forgotten mid-flight: wait for the sender.
    if outbox_work.in_flight(db()):
        raise UserError("Trwa wysyłka faktur do KSeF. Poczekaj, aż wszystkie dostaną status A lub B, "
                        "i wtedy przywróć kopię.", status=409)
    safety = backup.restore(db_path, chosen.path, daily().clock(), folder)
    services().reset_client()  # the restored database may hold other KSeF settings
    return navigate(url_for("backup.index", przywrocono=chosen.name, kopia=safety.name))
