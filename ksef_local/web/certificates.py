"""Ustawienia → Certyfikaty KSeF: how the program logs in, the certificates it keeps (type, serial, validity,
days left), adding one, "Przejdź na certyfikat" with a file signed outside the program, the list in KSeF with
revocation, and the progress of the KSeF tasks the sender runs for these screens."""
from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from ksef_local import credentials, formats
from ksef_local.clock import utc_now, warsaw_day
from ksef_local.core.settings import describe, environment_key
from ksef_local.errors import UserError
from ksef_local.forms.certificates import load_files
from ksef_local.ksef import certificates as ksef_certificates
from ksef_local.ksef import errors as ksef_errors
from ksef_local.ksef import messages
from ksef_local.store import certificates, ksef_state, tasks
from ksef_local.web.responses import db, navigate, render, services

bp = Blueprint("certificates", __name__, url_prefix="/ustawienia")

MAX_SIGNED_FILE = 1_000_000   # a signed AuthTokenRequest is a few kilobytes
SIGNED_FILE_MINUTES = 10      # the challenge inside lives 10 minutes (CIRFMF/ksef-docs uwierzytelnianie.md)
TYPE_NAMES = {"Authentication": "KSeF – logowanie", "Offline": "KSeF – offline (KOD II)"}


def _read(name: str) -> bytes:
    upload = request.files.get(name)
    return upload.read(MAX_SIGNED_FILE + 1) if upload and upload.filename else b""


def _kind(certificate: certificates.StoredCertificate) -> str:
    if certificate.ksef_type:
        return TYPE_NAMES[certificate.ksef_type]
    return "demonstracyjna pieczęć symulatora" if certificate.origin == "demo" else "certyfikat kwalifikowany"


@bp.route("/certyfikaty")
def index():
    settings = services().settings()
    environment, now = environment_key(settings), utc_now()
    kept = certificates.listed(db(), environment, settings.nip, states=("active", "retired", "revoked"))
    return render("certificates/index.html", settings=settings, badge=describe(settings), now=now,
                  method=services().login_method(), certificates=kept, kind=_kind,
                  pending=certificates.open_requests(db(), environment, settings.nip or ""),
                  renewal=(ksef_state.get_meta(db(), "renewal") or {}).get("warning"),
                  task=tasks.latest(db(), "renewal"), added=request.args.get("dodano"),
                  removed=request.args.get("usunieto"))


@bp.route("/certyfikaty/dodaj", methods=["POST"])
def add():
    """Keep a certificate for logging in (usage=login) or for KOD II (usage=offline)."""
    settings = services().settings()
    usage = request.form.get("usage", "login")
    try:
        pair = load_files(_read("certificate"), _read("key"), request.form.get("password", ""))
        if usage == "offline":
            credentials.add_offline_certificate(db(), services().secrets, settings, *pair)
        else:
            credentials.add_login_certificate(db(), services().secrets, settings, *pair)
    except UserError as exc:
        raise UserError(exc.message, status=422) from None
    services().wake_sender()
    return navigate(url_for("certificates.index", dodano=1))


@bp.route("/certyfikaty/<int:certificate_id>/usun", methods=["POST"])
def remove(certificate_id: int):
    found = next((c for c in certificates.listed(db()) if c.id == certificate_id), None)
    if found is None:
        raise UserError("Nie ma takiego certyfikatu na liście (może został już usunięty).", 404)
    certificates.set_state(db(), certificate_id, "retired", utc_now())
    ksef_state.credentials_changed(db(), utc_now())
    return navigate(url_for("certificates.index", usunieto=1))


# -- "Przejdź na certyfikat": a file signed outside the program ---------------------------------------------

@bp.route("/certyfikaty/podpis")
def sign():
    return render("certificates/sign.html", settings=services().settings(), badge=describe(services().settings()),
                  task=tasks.latest(db(), "signed_login"), minutes=SIGNED_FILE_MINUTES,
                  requested=request.args.get("pobrano"))


@bp.route("/certyfikaty/podpis/plik", methods=["POST"])
def file_to_sign():
    """The AuthTokenRequest to sign (a fresh challenge from KSeF), as a download."""
    settings = services().settings()
    if not settings.nip:
        raise UserError("Uzupełnij NIP w danych firmy albo w Ustawieniach KSeF.")
    try:
        document = services().anonymous_client().auth_request_to_sign(settings.nip)
    except ksef_errors.KsefError as exc:
        message = messages.user_message(exc)
        raise UserError(f"{message.title}: {message.advice}", 503) from None
    name = f"logowanie-KSeF-{settings.nip}-{warsaw_day(utc_now()).isoformat()}.xml"
    response = Response(document, mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{formats.safe_filename(name)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/certyfikaty/podpis/wczytaj", methods=["POST"])
def signed_file():
    """Hand the signed file to the sender: it logs in with it and gets the program's own KSeF certificates."""
    data = _read("signed")
    if not data:
        raise UserError("Wybierz podpisany plik (XML z podpisem XAdES).", 422)
    if len(data) > MAX_SIGNED_FILE:
        raise UserError("Ten plik jest za duży jak na podpisany dokument logowania. Wybierz plik XML zapisany "
                        "przez program do podpisu.", 422)
    task_id = tasks.create(db(), "signed_login", utc_now(), payload=data)
    services().wake_sender()
    return navigate(url_for("certificates.sign", zadanie=task_id))


# -- the list in KSeF, revocation, renewal ----------------------------------------------------------------

@bp.route("/certyfikaty/ksef", methods=["POST"])
def in_ksef():
    """The certificates KSeF holds for this context (a session signed by a certificate is needed)."""
    try:
        client = services().make_client()
        listed = ksef_certificates.query(client)
        error = None
    except ksef_errors.KsefError as exc:
        listed, error = [], messages.user_message(exc)
    except UserError as exc:
        listed, error = [], messages.UserMessage("Nie można połączyć się z KSeF", exc.message)
    return render("certificates/_ksef_list.html", listed=listed, error=error, now=utc_now())


@bp.route("/certyfikaty/ksef/<serial>/odwolaj", methods=["POST"])
def revoke(serial: str):
    if not (serial.isascii() and serial.isalnum()) or len(serial) > 40:  # isalnum() alone takes "５" or "ą"
        raise UserError("Nieprawidłowy numer seryjny certyfikatu.")
    try:
        ksef_certificates.revoke(services().make_client(), serial)
    except ksef_errors.KsefError as exc:
        message = messages.user_message(exc)
        raise UserError(f"{message.title}: {message.advice}") from None
    for kept in certificates.listed(db()):
        if kept.serial == serial:
            certificates.set_state(db(), kept.id, "revoked", utc_now())
    ksef_state.credentials_changed(db(), utc_now())
    return in_ksef()


@bp.route("/certyfikaty/odnow", methods=["POST"])
def renew():
    task_id = tasks.create(db(), "renewal", utc_now())
    services().wake_sender()
    return render("certificates/_task.html", task=tasks.get(db(), task_id))


@bp.route("/zadania/<int:task_id>")
def task(task_id: int):
    """The progress of one KSeF task; polls while it runs and stops when it ends."""
    found = tasks.get(db(), task_id)
    if found is None:
        raise UserError("Nie ma takiego zadania.", 404)
    return render("certificates/_task.html", task=found)
