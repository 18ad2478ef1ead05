"""Invoices: the list (main screen), the editor, issuing, XML download and import."""
from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

from flask import Blueprint, Response, request, url_for

from ksef_local import clock, formats, printing
from ksef_local.core import money
from ksef_local.core.model import BUYER_KINDS, CORRECTION_TYPES, EXEMPTION_KINDS, INVOICE_KINDS, PAYMENT_FORMS
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.forms import parties as party_forms
from ksef_local.store import drafts, imports, invoice_list, invoices, outbox, parties
from ksef_local.web import ksef, params, uploads
from ksef_local.web.responses import db, navigate, render, services, wants_fragment

bp = Blueprint("invoices", __name__)


# --- the list ----------------------------------------------------------------------------------------

def _list_args() -> dict[str, Any]:
    """The list's filters from the address; one the list's own links never make is a Polish 400/404."""
    args = request.args
    page_max = params.MAX_RECORD_ID // invoice_list.PAGE_SIZE  # the page's offset must fit SQLite's INTEGER
    return {
        "month": params.month(args.get("miesiac")), "status": args.get("status") or None,
        "buyer_id": params.positive_int(args.get("kontrahent"), params.BUYER_NOT_FOUND, 404),
        "q": params.search_text(args.get("q")) or None, "sort": args.get("sort", "data"),
        "desc": args.get("kier", "desc") != "asc",
        "page": params.positive_int(args.get("strona"), params.PAGE_ERROR, maximum=page_max) or 1,
    }


def month_choices(today: date, chosen: str | None, with_invoices: list[str]) -> list[tuple[str, str]]:
    """The months to filter by as (YYYY-MM, "listopad 2026"), newest first: those with invoices, the current
    one (where a new invoice lands) and the chosen one (a link may name any month)."""
    values = {*with_invoices, f"{today:%Y-%m}", *([chosen] if chosen else [])}
    return [(v, formats.pl_month(v)) for v in sorted(values, reverse=True)]


@bp.route("/")
def index():
    filters = _list_args()
    rows, total = invoice_list.list_invoices(db(), **filters)
    pages = max(1, -(-total // invoice_list.PAGE_SIZE))
    buyer = parties.get_buyer(db(), filters["buyer_id"]) if filters["buyer_id"] else None
    context = {"ksef_statuses": outbox.statuses(db(), [r["id"] for r in rows])}
    if not wants_fragment():
        context.update(ksef.banner_context())
    return render("invoices/list.html", "invoices/_table.html", rows=rows, total=total, pages=pages,
                  filters=filters, statuses=invoice_list.STATUSES, kinds=INVOICE_KINDS, filter_buyer=buyer,
                  args=request.args, **context,
                  months=month_choices(clock.today(), filters["month"], invoice_list.months_with_invoices(db())))


# --- creating and editing drafts ---------------------------------------------------------------------

@bp.route("/faktury/nowa", methods=["POST"])
def new():
    kind = request.form.get("rodzaj", "VAT")
    if kind not in INVOICE_KINDS:
        raise UserError("Nieznany rodzaj faktury.")
    invoice_id = drafts.start_draft(db(), clock.today(), kind)
    return navigate(url_for("invoices.show", invoice_id=invoice_id))


@bp.route("/faktury/korekta")
def pick_corrected():
    """'Nowa korekta': choose the invoice to correct (one with a KSeF number); the draft is filled from it."""
    q = params.search_text(request.args.get("q"))
    return render("invoices/correct.html", "invoices/_correctable.html", q=q,
                  rows=invoice_list.correctable(db(), q, limit=20))


@bp.route("/faktury/<int:invoice_id>/korekta", methods=["POST"])
def correct(invoice_id: int):
    new_id = invoices.create_draft(db(), clock.today(), "KOR", corrected_id=invoice_id)
    return navigate(url_for("invoices.show", invoice_id=new_id))


def _editor_context(invoice_id: int, errors: dict[str, str] | None = None, oob: bool = False) -> dict[str, Any]:
    row = invoices.get_invoice(db(), invoice_id)
    lines = invoices.get_lines(db(), invoice_id)
    doc = invoices.draft_document(db(), invoice_id)
    totals = doc.totals()
    company = parties.get_company(db())
    context = {
        "inv": row, "lines": lines, "doc": doc, "totals": totals, "errors": errors or {}, "oob": oob,
        "line_values": _line_values(lines, doc),
        "buyer": invoices.buyer_of(row), "words": money.amount_in_words(abs(totals.gross), row["currency"]),
        "payment_forms": PAYMENT_FORMS, "exemption_kinds": EXEMPTION_KINDS,
        "correction_types": CORRECTION_TYPES, "kinds": INVOICE_KINDS, "buyer_kinds": BUYER_KINDS,
        "eu_prefixes": party_forms.EU_VAT_PREFIXES
    }
    if row["status"] == "draft" and company:
        context["next_number"] = invoices.next_number(db(), company, row["kind"],
                                                      date.fromisoformat(row["issue_date"]))
    if row["kind"] == "KOR":
        context["totals_before"], context["totals_after"] = doc.totals_before(), doc.totals_after()
    return context


def _line_values(rows: list[dict[str, Any]], doc) -> dict[int, Any]:
    """Each line's value (net or gross by the price mode), keyed by line id, computed on the server."""
    return {r["id"]: money.line_amounts(ln).value for r, ln in zip(rows, doc.lines, strict=True)}


@bp.route("/faktury/<int:invoice_id>")
def show(invoice_id: int):
    row = invoices.get_invoice(db(), invoice_id)
    if row["status"] == "draft":
        return render("invoices/editor.html", **_editor_context(invoice_id))
    return render("invoices/view.html", **{**_view_context(row), **ksef.panel_context(invoice_id)})


def _view_context(row: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {"inv": row, "buyer": invoices.buyer_of(row), "kinds": INVOICE_KINDS,
                               "payment_forms": PAYMENT_FORMS, "correction_types": CORRECTION_TYPES,
                               "xml_text": row["xml"].decode("utf-8", errors="replace"),
                               "lacks_kod2": printing.lacks_kod2(services(), row["id"])}
    if row["source"] == "editor":
        lines = invoices.get_lines(db(), row["id"])
        doc = invoices.document(row, lines, invoices.seller_of(row))
        context.update(doc=doc, totals=doc.totals(), lines=lines, line_values=_line_values(lines, doc))
        if row["kind"] == "KOR":
            context["totals_before"], context["totals_after"] = doc.totals_before(), doc.totals_after()
    context["words"] = money.amount_in_words(money.from_grosze(row["gross_total"]), row["currency"])
    return context


@bp.route("/faktury/<int:invoice_id>/zapisz", methods=["POST"])
def save(invoice_id: int):
    """Save as the user types: on bad input show what is wrong and keep the stored draft as it was."""
    try:
        invoices.save_draft(db(), invoice_id, request.form)
    except ValidationFailed as exc:
        return render("invoices/_summary.html", **_editor_context(invoice_id, exc.errors))
    context = _editor_context(invoice_id, oob=True)
    # The server took the due date away (a switch to cash): the field on the screen must show it.
    context["payment_changed"] = bool(request.form.get("due_date")) and not context["inv"]["due_date"]
    return render("invoices/_summary.html", **context)


@bp.route("/faktury/<int:invoice_id>/wiersze", methods=["POST"])
def add_line(invoice_id: int):
    return _change_lines(invoice_id, lambda: invoices.add_line(
        db(), invoice_id, before=request.args.get("przed") == "1"))


@bp.route("/faktury/<int:invoice_id>/wiersze/<int:line_id>/usun", methods=["POST"])
def remove_line(invoice_id: int, line_id: int):
    return _change_lines(invoice_id, lambda: invoices.remove_line(db(), invoice_id, line_id))


def _change_lines(invoice_id: int, change) -> Response:
    """Save what was typed, then change the lines and redraw the editor's form."""
    try:
        invoices.save_draft(db(), invoice_id, request.form)
    except ValidationFailed as exc:
        return render("invoices/_summary.html", **_editor_context(invoice_id, exc.errors))
    change()
    response = render("invoices/_editor_form.html", **_editor_context(invoice_id))
    response.headers["HX-Retarget"] = "#editor"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


@bp.route("/faktury/<int:invoice_id>/wystaw", methods=["POST"])
def issue(invoice_id: int):
    invoices.save_draft(db(), invoice_id, request.form)
    invoices.issue(db(), invoice_id, clock.today())
    return navigate(url_for("invoices.show", invoice_id=invoice_id, wystawiono=1))


@bp.route("/faktury/<int:invoice_id>/usun", methods=["POST"])
def delete(invoice_id: int):
    invoices.delete_draft(db(), invoice_id)
    return navigate(url_for("invoices.index"))


# --- buyer in the editor -----------------------------------------------------------------------------

@bp.route("/faktury/<int:invoice_id>/nabywcy")
def buyer_search(invoice_id: int):
    found = parties.search_buyers(db(), params.search_text(request.args.get("q")), limit=10)
    return render("invoices/_buyer_results.html", buyers=found, inv=invoices.get_invoice(db(), invoice_id))


@bp.route("/faktury/<int:invoice_id>/nabywca/<int:buyer_id>", methods=["POST"])
def pick_buyer(invoice_id: int, buyer_id: int):
    invoices.set_buyer(db(), invoice_id, buyer_id)
    return render("invoices/_buyer.html", **_editor_context(invoice_id))


@bp.route("/faktury/<int:invoice_id>/nabywca/nowy", methods=["POST"])
def new_buyer(invoice_id: int):
    """Add a buyer inline from the editor and put it on the invoice."""
    invoices.get_invoice(db(), invoice_id)
    try:
        cleaned = party_forms.validate_buyer(request.form)
    except ValidationFailed as exc:
        context = _editor_context(invoice_id)
        context.update(new_buyer_errors=exc.errors, new_buyer=request.form.to_dict())
        return render("invoices/_buyer.html", **context)
    duplicates = [] if request.form.get("mimo_to") else parties.same_identifier(db(), cleaned)
    if duplicates:
        context = _editor_context(invoice_id)
        context.update(duplicates=duplicates, new_buyer=request.form.to_dict())
        return render("invoices/_buyer.html", **context)
    buyer_id = parties.create_buyer(db(), cleaned)
    invoices.set_buyer(db(), invoice_id, buyer_id)
    return render("invoices/_buyer.html", **_editor_context(invoice_id))


# --- XML and import ----------------------------------------------------------------------------------

@bp.route("/faktury/<int:invoice_id>/xml")
def download_xml(invoice_id: int):
    row = invoices.get_invoice(db(), invoice_id)
    if row["status"] != "issued":
        raise UserError("Szkic nie ma jeszcze pliku XML: najpierw wystaw fakturę.")
    filename = formats.safe_filename(row["number"], ".xml")
    response = Response(row["xml"], mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.route("/import", methods=["GET", "POST"])
def import_files():
    """Import the chosen FA(3) files one by one and report every file (web/uploads.py: how many at once)."""
    results: list[imports.ImportResult] = []
    if request.method == "POST":
        files = [f for f in request.files.getlist("pliki") if f and f.filename]
        if not files:
            raise UserError("Wybierz co najmniej jeden plik XML.")
        if len(files) > uploads.MAX_IMPORT_FILES:
            raise UserError(uploads.too_many_files_message(), 413)
        results = list(imports.import_each(db(), ((f.filename, partial(_read_upload, f)) for f in files)))
    ok = sum(1 for r in results if r.ok)
    return render("invoices/import.html", results=results, imported=ok, max_files=uploads.MAX_IMPORT_FILES,
                  status=200 if ok == len(results) else 422)


def _read_upload(upload) -> bytes:
    try:
        return imports.read_limited(upload.stream)
    finally:
        upload.close()  # a large upload is spooled to a temporary file
