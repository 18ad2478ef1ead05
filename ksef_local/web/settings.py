"""Ustawienia KSeF: environment, context NIP, the token (stored encrypted, never shown back), a test."""
from __future__ import annotations

from flask import Blueprint, request, url_for

from ksef_local.clock import utc_now
from ksef_local.core.settings import ENVIRONMENTS, describe
from ksef_local.errors import ValidationFailed
from ksef_local.store import settings as ksef_settings
from ksef_local.store import tasks
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
            ksef_settings.save(db(), store, request.form)
        except ValidationFailed as exc:
            errors = exc.errors
            values = {k: v for k, v in request.form.items() if k != "ksef_token"}
        else:
            # Saving noted the change (store/settings.py): the sender takes the new settings, and a pause
            # caused by credentials lifts, at its next step.
            services().wake_sender()
            if wizard:
                return navigate(url_for("invoices.index", gotowe=1))
            return navigate(url_for("settings.ksef", zapisano=1))
    return render("settings/ksef.html", settings=current, values=values, errors=errors, wizard=wizard,
                  environments=ENVIRONMENTS, badge=describe(current), method=services().login_method(),
                  test=tasks.latest(db(), "connection_test"),
                  backend=store.backend_name, saved=request.args.get("zapisano"),
                  status=422 if errors else 200)


@bp.route("/ksef/test", methods=["POST"])
def test_connection():
    """'Testuj połączenie': the sender logs in for real and checks InvoiceWrite; the page follows its progress."""
    task_id = tasks.create(db(), "connection_test", utc_now())
    services().wake_sender()
    return render("certificates/_task.html", task=tasks.get(db(), task_id))


@bp.route("/ksef/token/usun", methods=["POST"])
def forget_token():
    ksef_settings.forget_token(db(), services().secrets)
    services().wake_sender()
    return navigate(url_for("settings.ksef", zapisano=1))
