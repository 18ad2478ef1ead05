"""Company profile (Sprzedawca): asked for on first run, editable later."""
from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for

from ksef_local.errors import ValidationFailed
from ksef_local.forms import parties as party_forms
from ksef_local.store import parties
from ksef_local.web.responses import db, render

bp = Blueprint("company", __name__)

DEFAULTS = {
    "number_pattern": "FV/{rrrr}/{mm}/{nr}", "number_reset": "month",
    "correction_pattern": "KOR/{rrrr}/{mm}/{nr}", "correction_reset": "month",
}


@bp.before_app_request
def require_company():
    """On first run every screen leads to the company form."""
    g.company = parties.get_company(db())
    # Backups stay reachable on a fresh install, so an old kopie/ folder can be restored at once.
    if g.company is None and request.endpoint not in ("company.edit", "static", "backup.index", "backup.restore",
                                                      "backup.make_now"):
        return redirect(url_for("company.edit"))
    return None


@bp.route("/firma", methods=["GET", "POST"])
def edit():
    first_run = g.company is None
    values = dict(g.company or DEFAULTS)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            cleaned = party_forms.validate_company(request.form)
        except ValidationFailed as exc:
            errors = exc.errors
            values = request.form.to_dict()
        else:
            parties.save_company(db(), cleaned)
            # First run is a two-step wizard: company data, then the KSeF environment (demo preselected).
            return redirect(url_for("settings.ksef", kreator=1) if first_run else url_for("company.edit", zapisano=1))
    status = 422 if errors else 200
    return render("company/form.html", values=values, errors=errors, first_run=first_run,
                  saved=request.args.get("zapisano"), status=status)
