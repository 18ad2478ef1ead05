"""What every screen shares: this request's services and database, page-or-fragment rendering, redirects,
and the one place where errors become a page or an htmx fragment in Polish."""
from __future__ import annotations

from typing import Any

import sqlite_utils
from flask import Response, current_app, make_response, redirect, render_template, request

from ksef_local import disk
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.services import Services
from ksef_local.web.uploads import too_large_message

HTTP_MESSAGES = {
    400: "Program nie zrozumiał tego żądania: odśwież stronę i spróbuj jeszcze raz.",
    403: "Brak dostępu do tej strony.",
    404: "Nie ma takiej strony.",
    405: "Tej operacji nie można wykonać w ten sposób.",
}


def services() -> Services:
    """The app's services (data folder, databases, secret store, KSeF settings and clients)."""
    return current_app.extensions["ksef_local"]


def db() -> sqlite_utils.Database:
    """This thread's database connection."""
    return services().db()


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_fragment() -> bool:
    """An htmx request for a part of the page, not htmx restoring a page of its history (Back): that request
    also says HX-Request, but the answer replaces the whole body (htmx docs, "History Support")."""
    return is_htmx() and request.headers.get("HX-History-Restore-Request") != "true"


def render(page: str, fragment: str | None = None, status: int = 200, **context: Any) -> Response:
    """Render the whole page, or only its partial for an htmx request (one copy of each piece of markup)."""
    template = fragment if (fragment and wants_fragment()) else page
    response = make_response(render_template(template, **context), status)
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


def navigate(url: str) -> Response:
    """Redirect a normal request, or tell htmx to navigate to the URL."""
    if is_htmx():
        response = Response(status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def user_error(exc: UserError) -> Response:
    """Render a UserError: into the page's message area for htmx, else as an error page."""
    errors = exc.errors if isinstance(exc, ValidationFailed) else {}
    if is_htmx():
        response = make_response(render_template("_message.html", message=exc.message, errors=errors), exc.status)
        # htmx does not swap error responses by default; retarget to the page's message area.
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return make_response(render_template("error.html", message=exc.message, errors=errors), exc.status)


def http_error(exc) -> Response:
    """Render Werkzeug's HTTP errors in Polish: our own abort() calls carry Polish text, Werkzeug's defaults do not."""
    if exc.code == 413:
        message = too_large_message()
    elif exc.description and exc.description != type(exc).description:
        message = exc.description
    else:
        message = HTTP_MESSAGES.get(exc.code or 400, "Błąd.")
    return user_error(UserError(message, status=exc.code or 400))


def disk_error(exc: Exception) -> Response:
    """Render a full disk or a read-only data folder in Polish; any other error stays an error (a 500).

    The write that failed was rolled back (store/db.write), so nothing changed; an htmx request keeps what
    the user typed in the page, because the message goes to the page's message area.
    """
    home = current_app.extensions["ksef_local"].home if "ksef_local" in current_app.extensions else None
    message = disk.describe(exc, home)
    if message is None:
        raise exc
    current_app.logger.error("write failed: %s", exc)
    return user_error(UserError(message, status=disk.status_of(message)))
