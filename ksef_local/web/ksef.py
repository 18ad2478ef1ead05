"""Sending to KSeF from the screens: the KSeF button, status letters that update themselves,
"Statusy w KSeF" with progress, the health banner, the history panel and the UPO."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, request, url_for

from ksef_local import clock, formats
from ksef_local.clock import utc_now
from ksef_local.core import calendar_pl
from ksef_local.core.settings import environment_key
from ksef_local.errors import UserError
from ksef_local.store import invoices, ksef_state, outbox
from ksef_local.web import params
from ksef_local.web.responses import db, navigate, render, services

bp = Blueprint("ksef", __name__)

POLL_SECONDS = 2


def _selected_ids() -> list[int]:
    return sorted(params.record_ids(request.form.getlist("zaznaczone") or request.form.getlist("id")))


def _changed(response: Response) -> Response:
    """Tell the page that invoices changed, so the list reloads its rows."""
    response.headers["HX-Trigger"] = "invoices-changed"
    return response


@bp.route("/ksef/wyslij", methods=["POST"])
def send():
    ids = _selected_ids()
    if not ids:
        raise UserError("Zaznacz na liście faktury do wysłania do KSeF.")
    health = ksef_state.health(db())
    environment = environment_key(services().settings())
    result = outbox.enqueue(db(), ids, utc_now(), reachable=health.reachable, environment=environment)
    # The KSeF button on an invoice waiting behind a pause means "send it now": resume the queue.
    resumed = bool(result.waiting) and health.paused
    if resumed:
        ksef_state.resume(db())
    if result.queued or resumed:
        services().wake_sender()
    response = render("ksef/_send_result.html", result=result, numbers=_numbers(ids), resumed=resumed,
                      pause_title=health.pause_title)
    return _changed(response)


@bp.route("/ksef/wznow", methods=["POST"])
def resume():
    """'Wznów wysyłkę' on the banner: clear the pause and try again now; nothing queued was lost."""
    ksef_state.resume(db())
    services().wake_sender()
    return _changed(render("ksef/_banner.html", **banner_context()))


def _numbers(ids: list[int]) -> dict[int, str]:
    return {i: (invoices.get_invoice(db(), i)["number"] or "(szkic)") for i in ids}


@bp.route("/ksef/statusy", methods=["POST"])
def refresh():
    """'Statusy w KSeF': fetch the current status of every invoice that has no A yet."""
    ids = _selected_ids() or None
    count = outbox.request_refresh(db(), ids, utc_now())
    if ksef_state.is_paused(db()):   # asking KSeF for statuses is asking to talk to KSeF again
        ksef_state.resume(db())
    services().wake_sender()
    return render("ksef/_progress.html", **_progress_context(count_requested=count))


@bp.route("/ksef/postep")
def progress():
    return render("ksef/_progress.html", **_progress_context())


def _progress_context(count_requested: int | None = None) -> dict:
    done, total = outbox.refresh_progress(db())
    return {"done": done, "total": total, "requested": count_requested,
            "finished": total == 0 or done >= total}


@bp.route("/ksef/wiersz/<int:invoice_id>")
def cell(invoice_id: int):
    """The KSeF cell of one list row; it polls while the invoice is W or O. When its letter changed since the
    page showed it ("byla"), the banner and the counters refresh too (event ksef-changed)."""
    row = invoices.get_invoice(db(), invoice_id)
    st = outbox.status(db(), invoice_id)
    response = render("ksef/_cell.html", r=row, st=st, today=clock.today())
    if request.args.get("byla", "") != (st.letter if st else ""):
        response.headers["HX-Trigger"] = "ksef-changed"
    return response


@bp.route("/ksef/baner")
def banner():
    return render("ksef/_banner.html", **banner_context())


def banner_context() -> dict:
    """Health, the counter, and offline invoices whose sending deadline is near or past (docs/ksef-protocol.md §9)."""
    today = clock.today()
    warnings = []
    for waiting in outbox.offline_waiting(db()):
        text = calendar_pl.deadline_warning(waiting.deadline, today)
        if text:
            warnings.append((waiting, text))
    progress = ksef_state.get_meta(db(), "login_progress") or {}
    return {"health": ksef_state.health(db()), "pending": outbox.unsent_count(db()), "deadline_warnings": warnings,
            "login": services().login_method(), "login_progress": progress.get("text"),
            "renewal_warning": (ksef_state.get_meta(db(), "renewal") or {}).get("warning"),
            "pause_cause": ksef_state.pause_cause(db())}


@bp.route("/faktury/<int:invoice_id>/ksef")
def panel(invoice_id: int):
    return render("ksef/_panel.html", **panel_context(invoice_id))


def panel_context(invoice_id: int) -> dict:
    st = outbox.status(db(), invoice_id)
    warning = None
    if st and st.offline_deadline and st.letter != "A":
        warning = calendar_pl.deadline_warning(st.offline_deadline, clock.today())
    return {"inv": invoices.get_invoice(db(), invoice_id), "st": st, "events": outbox.history(db(), invoice_id),
            "has_upo": outbox.upo(db(), invoice_id) is not None, "deadline_warning": warning,
            "letters": outbox.LETTERS, "why": why_waiting(st, ksef_state.health(db()), utc_now())}


def why_waiting(st: outbox.OutboxStatus | None, health: ksef_state.Health, now: datetime) -> str | None:
    """In plain Polish, why an invoice is not yet A: what the sender is doing or waiting for."""
    if st is None or st.letter not in ("W", "O"):
        return None
    if health.paused:
        return (f"Wysyłka do KSeF jest wstrzymana: {health.pause_title} – {health.pause_advice} "
                "Co zrobić, podpowiada komunikat nad listą faktur.")
    if health.circuit_open or health.reachable is False or \
            (health.latarnia_status and health.latarnia_status != "AVAILABLE"):
        later = f" Kolejna próba około {formats.pl_datetime(health.next_attempt_at)}." \
            if health.next_attempt_at and health.next_attempt_at > now else ""
        return "KSeF nie odpowiada – faktura czeka w kolejce i wyśle się sama, gdy KSeF odpowie." + later
    if st.state in ("unknown", "sending"):
        return "Program sprawdza w KSeF, czy faktura już tam dotarła – nie wyśle jej drugi raz."
    if st.state == "sent":
        return "KSeF przetwarza fakturę; numer KSeF pojawi się za chwilę."
    if st.state == "accepted":
        return "KSeF nadał numer; program pobiera UPO (Urzędowe Poświadczenie Odbioru)."
    if st.next_attempt_at and (st.next_attempt_at - now).total_seconds() > 5:
        return f"Faktura czeka w kolejce; kolejna próba wysłania {formats.pl_datetime(st.next_attempt_at)}."
    return "Faktura czeka w kolejce i zaraz zostanie wysłana."


@bp.route("/faktury/<int:invoice_id>/upo")
def upo(invoice_id: int):
    data = outbox.upo(db(), invoice_id)
    if data is None:
        raise UserError("Ta faktura nie ma jeszcze UPO: pojawi się, gdy KSeF przyjmie fakturę (status A).", 404)
    number = invoices.get_invoice(db(), invoice_id)["number"]
    response = Response(data, mimetype="application/xml")
    if request.args.get("pobierz"):
        name = formats.safe_filename(number, ".xml", "UPO_")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/faktury/<int:invoice_id>/popraw", methods=["POST"])
def reopen(invoice_id: int):
    invoices.reopen_rejected(db(), invoice_id)
    return navigate(url_for("invoices.show", invoice_id=invoice_id))
