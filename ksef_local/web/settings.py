"""Ustawienia KSeF: environment, context NIP, the token (stored encrypted, never shown back), a test."""
from __future__ import annotations

from flask import Blueprint, request, url_for

from ksef_local.core.settings import ENVIRONMENTS, describe
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.ksef import errors as ksef_errors
from ksef_local.store import ksef_state
from ksef_local.store import settings as ksef_settings
from ksef_local.web.responses import db, navigate, render, services

bp = Blueprint("settings", __name__, url_prefix="/ustawienia")


@bp.route("/ksef", methods=["GET", "POST"])
def ksef():
    store = services().secrets
    wizard = request.values.get("kreator") == "1"
    current = ksef_settings.load(db(), store)
    errors: dict[str, str] = {}
    values = {"environment": current.environment, "base_url": current.base_url or "",
              "nip": "" if current.nip_follows_company else current.nip,
              "batch_threshold": current.batch_threshold}
    if request.method == "POST":
        try:
            saved = ksef_settings.save(db(), store, request.form)
        except ValidationFailed as exc:
            errors = exc.errors
            values = {k: v for k, v in request.form.items() if k != "ksef_token"}
        else:
            if saved.has_token:
                # A new token (or environment) may be what a paused queue was waiting for.
                ksef_state.resume(db())
                services().wake_sender()
            services().reset_client()
            if wizard:
                return navigate(url_for("invoices.index", gotowe=1))
            return navigate(url_for("settings.ksef", zapisano=1))
    return render("settings/ksef.html", settings=current, values=values, errors=errors, wizard=wizard,
                  environments=ENVIRONMENTS, badge=describe(current),
                  backend=store.backend_name, saved=request.args.get("zapisano"),
                  status=422 if errors else 200)


@bp.route("/ksef/test", methods=["POST"])
def test_connection():
    """'Testuj połączenie': log in to KSeF with the stored token and say what happened, in Polish."""
    try:
        client = services().make_client()
        client.authenticate()
    except ksef_errors.KsefError as exc:
        message = ksef_errors.user_message(exc)
        return render("settings/_test_result.html", ok=False, title=message.title, advice=message.advice)
    except UserError as exc:
        return render("settings/_test_result.html", ok=False, title="Nie można połączyć się z KSeF",
                      advice=exc.message)
    return render("settings/_test_result.html", ok=True, title="Połączenie z KSeF działa",
                  advice="Zalogowano do KSeF tokenem zapisanym w ustawieniach.")


@bp.route("/ksef/token/usun", methods=["POST"])
def forget_token():
    ksef_settings.forget_token(db(), services().secrets)
    services().reset_client()
    return navigate(url_for("settings.ksef", zapisano=1))
