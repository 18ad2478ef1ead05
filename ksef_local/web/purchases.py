"""Faktury zakupowe: the list (month, seller and payment filters, search, sort, "nowa" since the user last looked),
one invoice with its lines, totals and payment, "Pobierz XML", "Drukuj / PDF", "Oznacz jako zapłaconą", "Pobierz
teraz" with its progress, the sync's status and earlier start, and the top bar's counter that announces new
invoices once (desktop/notifications.py says who shows the notification)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for

from ksef_local import clock, formats
from ksef_local.core import money
from ksef_local.core.settings import environment_key
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.forms.purchases import optional_month, parse_paid_date, parse_sync_start
from ksef_local.forms.text import is_ascii_digits
from ksef_local.printing.purchases import purchase_pdf
from ksef_local.sending.purchases import INTERVAL
from ksef_local.store import purchase_sync, purchases, tasks
from ksef_local.store.db import iso
from ksef_local.web import params
from ksef_local.web.invoices import month_choices
from ksef_local.web.responses import db, is_htmx, navigate, render, services, wants_fragment

bp = Blueprint("purchases", __name__, url_prefix="/zakupy")

PAID_FILTERS = {"niezaplacone": "niezapłacone", "po-terminie": "po terminie", "zaplacone": "zapłacone"}
MONTH_OF = {"otrzymano": "otrzymania w KSeF", "wystawiono": "wystawienia"}
POLL_SECONDS = 30        # the top bar's counter; the sync itself runs every 15 minutes (sending/purchases.py)
CHANGED = "purchases-changed"
NOTIFICATION_TITLE = "Faktury zakupowe"


def environment() -> str:
    """The KSeF environment whose purchases the screens show (core.settings.environment_key)."""
    return environment_key(services().settings())


def poll_seconds() -> int:
    return int(current_app.config.get("PURCHASES_POLL_SECONDS", POLL_SECONDS))


# -- the list -------------------------------------------------------------------------------------------------

def _filters() -> dict[str, Any]:
    args = request.args
    page = args.get("strona", "1")
    seller = args.get("sprzedawca", "")
    return {
        "month": optional_month(args.get("miesiac")), "month_of": "wystawiono" if args.get("wg") == "wystawiono"
        else "otrzymano", "seller": seller if is_ascii_digits(seller) and len(seller) == 10 else None,
        "paid": args.get("zaplata") if args.get("zaplata") in PAID_FILTERS else None,
        "q": params.search_text(args.get("q")) or None, "sort": args.get("sort") if args.get("sort") in purchases.SORTS
        else "otrzymano", "desc": args.get("kier", "desc") != "asc",
        "page": int(page) if is_ascii_digits(page) and len(page) < 7 and int(page) > 0 else 1,
    }


def _seen_moment() -> str | None:
    """The moment of the visit whose "nowa" marks the table keeps showing while the user filters and sorts."""
    value = request.args.get("widziane", "")
    try:
        return iso(datetime.fromisoformat(value)) if value else None
    except ValueError:
        return None


def _list_context(filters: dict[str, Any], env: str) -> dict[str, Any]:
    today = clock.today()
    rows, total = purchases.list_purchases(
        db(), month=filters["month"], month_of="issued" if filters["month_of"] == "wystawiono" else "received",
        seller_nip=filters["seller"], paid={"zaplacone": True, "niezaplacone": False}.get(filters["paid"]),
        overdue_on=today if filters["paid"] == "po-terminie" else None, q=filters["q"], sort=filters["sort"],
        desc=filters["desc"], page=filters["page"], environment=env)
    return {"rows": rows, "total": total, "pages": max(1, -(-total // purchases.PAGE_SIZE)), "filters": filters,
            "args": request.args, "today": today.isoformat()}


@bp.route("")
def index():
    """The list; a whole page marks every new invoice as seen and shows them marked "nowa" until the next visit."""
    filters, env = _filters(), environment()
    seen = _seen_moment()
    if not wants_fragment():
        moment = clock.utc_now()
        purchases.mark_seen(db(), moment, environment=env)
        seen = iso(moment)
    context = _list_context(filters, env)
    if not wants_fragment():
        context.update(status_context(env), sellers=purchases.sellers(db(), env), month_of=MONTH_OF,
                       paid_filters=PAID_FILTERS, unpaid=purchases.unpaid(db(), env, clock.today()),
                       months=month_choices(clock.today(), filters["month"],
                                            purchases.months_with_purchases(db(), env)),
                       page_notifications=services().notifier is None)
    return render("purchases/list.html", "purchases/_table.html", seen=seen, **context)


# -- one invoice ----------------------------------------------------------------------------------------------

def _payment_context(purchase_id: int, errors: dict[str, str] | None = None,
                     value: str | None = None) -> dict[str, Any]:
    found = purchases.document(db(), purchase_id)   # NotFound in Polish
    row = found.row
    today = clock.today()
    overdue = not row["paid"] and bool(row["due_date"]) and row["due_date"] < today.isoformat()
    late_days = (today - date.fromisoformat(row["due_date"])).days if overdue else 0
    return {"row": row, "inv": found.printable, "xml": found.xml, "errors": errors or {},
            "paid_value": value if value is not None else today.isoformat(), "overdue": overdue,
            "late_days": late_days}


@bp.route("/<int:purchase_id>")
def show(purchase_id: int):
    context = _payment_context(purchase_id)
    purchases.mark_seen(db(), clock.utc_now(), ids=[purchase_id])
    inv = context["inv"]
    return render("purchases/view.html", xml_text=context["xml"].decode("utf-8", errors="replace"),
                  words=money.amount_in_words(abs(inv.total), inv.currency), **context)


@bp.route("/<int:purchase_id>/xml")
def download_xml(purchase_id: int):
    row = purchases.get_purchase(db(), purchase_id)
    name = formats.safe_filename(f"{row['seller_nip']}_{row['number']}", ".xml", "Zakup_")
    response = Response(purchases.xml_bytes(db(), purchase_id), mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:purchase_id>/pdf")
def pdf(purchase_id: int):
    """The official layout of our invoices, KOD I pointing at the seller's invoice (inline; ?pobierz=1 saves)."""
    data, name = purchase_pdf(services(), purchase_id)
    response = Response(data, mimetype="application/pdf")
    disposition = "attachment" if request.args.get("pobierz") else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:purchase_id>/zaplata", methods=["POST"])
def paid(purchase_id: int):
    """"Oznacz jako zapłaconą" with the date (not after today, not before the issue date), or undo it."""
    row = purchases.get_purchase(db(), purchase_id)   # NotFound in Polish
    if request.form.get("zaplacona") == "0":
        purchases.mark_paid(db(), purchase_id, None)
    else:
        typed = request.form.get("data_zaplaty", "")
        try:
            day = parse_paid_date(typed, date.fromisoformat(row["issue_date"]), clock.today())
        except ValidationFailed as exc:
            if not wants_fragment():
                raise   # without htmx: the error page says what is wrong
            # The form comes back with its field message (htmx swaps 2xx answers into the page).
            return render("purchases/_payment.html", **_payment_context(purchase_id, exc.errors, typed))
        purchases.mark_paid(db(), purchase_id, day)
    if not is_htmx():
        return navigate(url_for("purchases.show", purchase_id=purchase_id))
    response = render("purchases/_payment.html", **_payment_context(purchase_id))
    response.headers["HX-Trigger"] = CHANGED
    return response


# -- the sync: "Pobierz teraz", its progress, the status, the earlier start ------------------------------------

RECENT = timedelta(minutes=10)   # how long the outcome of "Pobierz teraz" stays on the status card


def status_context(env: str) -> dict[str, Any]:
    sync = purchase_sync.status(db())
    covered = purchase_sync.covered_since(db(), env)
    task = sync.task
    if task is not None and task.is_final and clock.utc_now() - task.updated_at > RECENT:
        task = None
    return {"sync": sync, "covered": clock.warsaw_day(covered) if covered else None, "task": task,
            "interval_minutes": int(INTERVAL.total_seconds() // 60), "start_errors": {}, "start_value": ""}


@bp.route("/stan")
def status():
    return render("purchases/_status.html", **status_context(environment()))


@bp.route("/pobierz", methods=["POST"])
def sync_now():
    """"Pobierz teraz": a task for the sender (after its sending work); the page follows its progress."""
    task_id = purchase_sync.request_sync(db(), clock.utc_now())
    services().wake_sender()
    return render("purchases/_task.html", task=tasks.get(db(), task_id))


@bp.route("/pobierz/<int:task_id>")
def sync_task(task_id: int):
    """The progress of one "Pobierz teraz"; when it ends, the list, status and counter refresh themselves."""
    found = tasks.get(db(), task_id)
    if found is None or found.kind != purchase_sync.TASK:
        raise UserError("Nie ma takiego pobierania faktur zakupowych.", 404)
    response = render("purchases/_task.html", task=found)
    if found.is_final:
        response.headers["HX-Trigger"] = CHANGED
    return response


@bp.route("/od-kiedy", methods=["POST"])
def sync_start():
    """Read KSeF from an earlier day than the first sync did (the next round reads the older months)."""
    env = environment()
    typed = request.form.get("od_dnia", "")
    try:
        day = parse_sync_start(typed, clock.today())
    except ValidationFailed as exc:
        if not wants_fragment():
            raise
        return render("purchases/_status.html", **{**status_context(env), "start_errors": exc.errors,
                                                    "start_value": typed})
    purchase_sync.set_sync_start(db(), day, clock.utc_now())
    services().wake_sender()
    context = {**status_context(env), "start_saved": day}
    if not is_htmx():
        return navigate(url_for("purchases.index"))
    return render("purchases/_status.html", **context)


# -- the top bar's counter ------------------------------------------------------------------------------------

def counter_context(announce: bool = False) -> dict[str, Any]:
    """The count of new purchase invoices; with announce, new arrivals are announced once, by the system's
    notification (services().notifier) or, without one, by the page that asked (powiadom=1)."""
    env = environment()
    text = None
    if announce:
        fresh = purchases.announce(db(), env)
        if fresh:
            text = f"{formats.plural(fresh, 'nowa faktura zakupowa')} z KSeF"
            notifier = services().notifier
            if notifier is not None:
                notifier(NOTIFICATION_TITLE, text)
                text = None
    return {"new_count": purchases.count_new(db(), env), "announce": text, "poll": poll_seconds(),
            "notification_title": NOTIFICATION_TITLE}


@bp.route("/licznik")
def counter():
    wanted = services().notifier is not None or request.args.get("powiadom") == "1"
    return render("purchases/_counter.html", counter=counter_context(announce=wanted))
