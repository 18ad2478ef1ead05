"""Buyers (Kontrahenci): list with search-as-you-type, add and edit."""
from __future__ import annotations

from flask import Blueprint, redirect, request, url_for

from ksef_local.core.model import BUYER_KINDS
from ksef_local.errors import ValidationFailed
from ksef_local.forms import parties as party_forms
from ksef_local.store import parties
from ksef_local.web import params
from ksef_local.web.responses import db, render

bp = Blueprint("buyers", __name__, url_prefix="/kontrahenci")


@bp.route("/")
def index():
    q = params.search_text(request.args.get("q"))
    found = parties.search_buyers(db(), q, limit=200)
    return render("buyers/list.html", "buyers/_results.html", buyers=found, q=q)


@bp.route("/nowy", methods=["GET", "POST"])
def new():
    return _form(None)


@bp.route("/<int:buyer_id>", methods=["GET", "POST"])
def edit(buyer_id: int):
    return _form(buyer_id)


def _form(buyer_id: int | None):
    values = parties.get_buyer(db(), buyer_id) if buyer_id else {"kind": request.args.get("rodzaj", "company")}
    errors: dict[str, str] = {}
    duplicates: list[dict] = []
    if request.method == "POST":
        try:
            cleaned = party_forms.validate_buyer(request.form)
        except ValidationFailed as exc:
            errors, values = exc.errors, request.form.to_dict()
        else:
            duplicates = _duplicates(cleaned, buyer_id)
            if not duplicates:
                if buyer_id:
                    parties.update_buyer(db(), buyer_id, cleaned)
                else:
                    buyer_id = parties.create_buyer(db(), cleaned)
                return redirect(url_for("buyers.index", zapisano=buyer_id))
            values = request.form.to_dict()
    return render("buyers/form.html", values=values, errors=errors, kinds=BUYER_KINDS, buyer_id=buyer_id,
                  eu_prefixes=party_forms.EU_VAT_PREFIXES, duplicates=duplicates,
                  status=422 if errors else (409 if duplicates else 200))


def _duplicates(cleaned: dict, buyer_id: int | None = None) -> list[dict]:
    """Saved buyers with the same NIP or EU VAT number, unless the user chose to save this one anyway."""
    if request.form.get("mimo_to"):
        return []
    return parties.same_identifier(db(), cleaned, exclude_id=buyer_id)
