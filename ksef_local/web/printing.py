"""Drukuj / PDF (one invoice or a selection in one file) and the KSeF Offline certificate settings page."""
from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from ksef_local import credentials, formats, printing
from ksef_local.clock import utc_now
from ksef_local.core.settings import environment_key
from ksef_local.errors import UserError
from ksef_local.forms import certificates as certificate_files
from ksef_local.store import certificates
from ksef_local.store.invoices import get_invoice
from ksef_local.web import params
from ksef_local.web.responses import db, navigate, render, services

bp = Blueprint("printing", __name__)

MAX_SELECTION = 500  # invoices in one PDF; their lines are bounded too (printing/render.py)


def _filename(number: str | None, invoice_id: int) -> str:
    """Faktura_FV_2026_11_1.pdf for FV/2026/11/1 (a draft: Faktura_szkic_7.pdf)."""
    return formats.safe_filename(number or f"szkic_{invoice_id}", ".pdf", "Faktura_")


def _pdf_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    disposition = "attachment" if request.args.get("pobierz") else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/faktury/<int:invoice_id>/pdf")
def invoice_pdf(invoice_id: int):
    """The invoice as PDF (inline; ?pobierz=1 downloads it); a draft prints as PODGLĄD."""
    row = get_invoice(db(), invoice_id)
    qr_host, signer = printing.verification_setup(services())
    data = printing.render_invoice_pdf(db(), invoice_id, qr_host=qr_host, offline_cert=signer)
    return _pdf_response(data, _filename(row["number"], invoice_id))


@bp.route("/faktury/pdf", methods=["GET", "POST"])
def many_pdf():
    """The selected invoices (repeated "id" fields) in one PDF, each starting on a new page."""
    values = request.values.getlist("id") or request.values.getlist("zaznaczone")  # the list's checkboxes
    ids = params.record_ids(values)
    if not ids:
        raise UserError("Zaznacz faktury do wydruku.")
    if len(ids) > MAX_SELECTION:
        raise UserError(f"Naraz można wydrukować najwyżej {MAX_SELECTION} faktur.")
    for invoice_id in ids:
        get_invoice(db(), invoice_id)  # NotFound in Polish before any rendering
    qr_host, signer = printing.verification_setup(services())
    data = printing.render_many(db(), ids, qr_host=qr_host, offline_cert=signer)
    return _pdf_response(data, "Faktury.pdf" if len(ids) > 1 else _filename(get_invoice(db(), ids[0])["number"],
                                                                             ids[0]))


@bp.route("/ustawienia/certyfikat-offline", methods=["GET", "POST"])
def offline_certificate():
    """Show and import (PKCS#12 or PEM/DER) the KSeF Offline certificate that signs KOD II."""
    error = None
    settings = services().settings()
    if request.method == "POST":
        try:
            certificate, key = _uploaded_pair()
            credentials.add_offline_certificate(db(), services().secrets, settings, certificate, key)
        except UserError as exc:
            error = exc.message
        else:
            return navigate(url_for("printing.offline_certificate", zapisano=1))
    kept = certificates.offline_certificate(db(), environment_key(settings), settings.nip)
    return render("printing/offline_certificate.html", info=kept, error=error, now=utc_now(),
                  saved=request.args.get("zapisano"), deleted=request.args.get("usunieto"),
                  status=422 if error else 200)


@bp.route("/ustawienia/certyfikat-offline/usun", methods=["POST"])
def delete_offline_certificate():
    settings = services().settings()
    kept = certificates.offline_certificate(db(), environment_key(settings), settings.nip)
    if kept is not None:
        certificates.set_state(db(), kept.id, "retired", utc_now())
    return navigate(url_for("printing.offline_certificate", usunieto=1))


def _read(name: str) -> bytes:
    upload = request.files.get(name)
    return upload.read() if upload and upload.filename else b""


def _uploaded_pair():
    password = request.form.get("password", "")
    bundle = _read("pkcs12")
    if bundle:
        return certificate_files.load_pkcs12(bundle, password)
    certificate = _read("certificate")
    if not certificate:
        raise UserError("Wybierz plik .p12/.pfx albo plik certyfikatu z kluczem prywatnym (PEM).")
    return certificate_files.load_pem(certificate, _read("key"), password)
