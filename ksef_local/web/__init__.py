"""The web screens: one blueprint per screen, plus what they share (CSRF, errors, formats, htmx)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, Response, current_app, g, make_response, redirect, render_template, request

from ksef_local.store import settings as ksef_settings, outbox, parties
from ksef_local.core import money
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.core.model import Party
from ksef_local.web.security import csrf_token, check_request, security_headers



def db():
    """This thread's database connection."""
    return current_app.extensions["ksef_local"].db()


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render(page: str, fragment: str | None = None, status: int = 200, **context: Any) -> Response:
    """Render the whole page, or only its partial for an htmx request (one copy of each piece of markup)."""
    template = fragment if (fragment and is_htmx()) else page
    response = make_response(render_template(template, **context), status)
    response.headers["Vary"] = "HX-Request"
    return response


def navigate(url: str) -> Response:
    """Redirect a normal request, or tell htmx to navigate to the URL."""
    if is_htmx():
        response = Response(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def _user_error(exc: UserError) -> Response:
    errors = exc.errors if isinstance(exc, ValidationFailed) else {}
    if is_htmx():
        response = make_response(render_template("_message.html", message=exc.message, errors=errors), exc.status)
        # htmx does not swap error responses by default; retarget to the page's message area.
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return make_response(render_template("error.html", message=exc.message, errors=errors), exc.status)


HTTP_MESSAGES = {
    404: "Nie ma takiej strony.",
    405: "Tej operacji nie można wykonać w ten sposób.",
    413: "Przesłane pliki są za duże. Faktura FA(3) może mieć najwyżej 1 MB.",
}


def _http_error(exc) -> Response:
    """Render Werkzeug's HTTP errors in Polish (our own abort() calls already carry Polish text)."""
    message = HTTP_MESSAGES.get(exc.code) or exc.description or "Błąd."
    if exc.code == 404 and exc.description and not exc.description.startswith("The requested URL"):
        message = exc.description
    return _user_error(UserError(message, status=exc.code or 400))


def pl_date(value: str | date | None) -> str:
    """24.11.2026"""
    if not value:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value:%d.%m.%Y}"


def pl_datetime(value: str | datetime | None) -> str:
    """24.11.2026 09:30, in the computer's local time."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone()
    return f"{value:%d.%m.%Y %H:%M}"


def grosze(value: int | None, currency: str = "PLN") -> str:
    """Format an amount stored in grosze: 1 234,56 zł"""
    return "" if value is None else money.format_money(money.from_grosze(value), currency)


def buyer_label(buyer) -> str:
    """The buyer's tax identifier as shown in lists, from a Party or a buyers row."""
    if buyer is None:
        return ""
    return parties.buyer_identifier(buyer if isinstance(buyer, Party) else parties.buyer_party(buyer))


def init_app(app: Flask) -> None:
    from ksef_local.web import backup, buyers, company, invoices, ksef, printing, settings

    app.before_request(check_request)
    app.after_request(security_headers)
    app.register_error_handler(UserError, _user_error)
    for code in (400, 403, 404, 405, 413):
        app.register_error_handler(code, _http_error)
    app.jinja_env.filters.update(
        pl_date=pl_date, pl_datetime=pl_datetime, grosze=grosze, money=money.format_money, number=money.format_flexible,
        nip=parties.format_nip, account=parties.format_account,
    )
    app.jinja_env.globals.update(csrf_token=csrf_token, buyer_label=buyer_label, rates=money.RATES,
                                 ksef_letters=outbox.LETTERS)
    app.register_blueprint(company.bp)
    app.register_blueprint(buyers.bp)
    app.register_blueprint(invoices.bp)
    app.register_blueprint(ksef.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(backup.bp)
    app.register_blueprint(printing.bp)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"company": getattr(g, "company", None), "environment_badge": environment_badge}


def environment_badge() -> tuple[str, bool]:
    """The always-visible KSeF environment badge (text, is production), read without touching the token."""
    rows = list(db().query("SELECT environment, base_url FROM ksef_settings WHERE id = 1"))
    current = ksef_settings.KsefSettings(**rows[0]) if rows else ksef_settings.KsefSettings()
    return ksef_settings.describe(current), current.is_production
