"""Dla księgowej: a chosen month's package (a ZIP with every sales and purchase invoice as XML and PDF, the UPOs
of our sales and the CSV register), made by the month packages' worker (accounting/worker.py) while the page
shows its progress, then saved from the data folder's eksport/ folder."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, request, send_file

from ksef_local import clock, formats
from ksef_local.accounting.package import empty_month
from ksef_local.accounting.worker import package_path
from ksef_local.core.settings import describe
from ksef_local.errors import UserError
from ksef_local.forms.purchases import optional_month, parse_month
from ksef_local.store import invoice_list, month_exports, purchases
from ksef_local.web.purchases import environment
from ksef_local.web.responses import db, render, services

bp = Blueprint("accounting", __name__, url_prefix="/dla-ksiegowej")

RECENT_MONTHS = 13   # this month and the twelve before it, beside every month that has invoices


def previous_month(today: date) -> str:
    """The month an accountant usually asks for: the one before today's."""
    return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"


def month_options(today: date, env: str) -> list[tuple[str, str]]:
    """(YYYY-MM, "listopad 2026 – sprzedaż: 12, zakupy: 4") for the picker, newest first."""
    recent = {f"{today.year + (today.month - 1 - back) // 12}-{(today.month - 1 - back) % 12 + 1:02d}"
              for back in range(RECENT_MONTHS)}
    months = sorted(recent | set(invoice_list.months_with_invoices(db())) |
                    set(purchases.months_with_purchases(db(), env)), reverse=True)
    options = []
    for month in months:
        sales, bought = month_exports.counts(db(), month, env)
        options.append((month, f"{formats.pl_month(month)} – sprzedaż: {sales}, zakupy: {bought}"))
    return options


def _export_context(export: month_exports.MonthExport | None, auto: bool = False) -> dict:
    return {"export": export, "path": package_path(services(), export) if export else None, "auto": auto,
            "waiting": services().exporter is None}


@bp.route("")
def index():
    today, env = clock.today(), environment()
    chosen = optional_month(request.args.get("miesiac")) or previous_month(today)   # a bad one: Polish 400
    latest = month_exports.latest(db())
    return render("accounting/index.html", months=month_options(today, env), chosen=chosen,
                  badge=describe(services().settings()), **_export_context(latest))


@bp.route("/paczka", methods=["POST"])
def request_package():
    """"Pobierz paczkę ZIP": refuse a bad or empty month at once, else hand the month to the worker."""
    month = parse_month(request.form.get("miesiac"))   # UserError 400 in Polish
    env = environment()
    if month_exports.counts(db(), month, env) == (0, 0):
        raise UserError(empty_month(month), 422)
    export_id = month_exports.request(db(), month, env, clock.utc_now())
    services().wake_exporter()
    return render("accounting/_export.html", **_export_context(month_exports.get(db(), export_id), auto=True),
                  clear_messages=True)


@bp.route("/paczka/<int:export_id>")
def progress(export_id: int):
    """The package's progress; polls while it is made; the ready link saves itself once after waiting (auto)."""
    export = month_exports.get(db(), export_id)
    if export is None:
        raise UserError("Nie ma takiej paczki.", 404)
    return render("accounting/_export.html", **_export_context(export, auto=request.args.get("czekam") == "1"))


@bp.route("/paczka/<int:export_id>/plik")
def download(export_id: int):
    export = month_exports.get(db(), export_id)
    path = package_path(services(), export) if export else None
    if export is None or path is None:
        raise UserError("Tej paczki już nie ma (program trzyma tylko najnowszą). Przygotuj ją ponownie.", 404)
    try:
        handle = path.open("rb")   # open before answering: a newer package may remove the file meanwhile
    except FileNotFoundError:
        raise UserError("Tej paczki już nie ma (program trzyma tylko najnowszą). Przygotuj ją ponownie.",
                        404) from None
    response = send_file(handle, mimetype="application/zip", as_attachment=True, download_name=export.file_name,
                         max_age=0, conditional=False)
    response.headers["Cache-Control"] = "no-store"
    return response
