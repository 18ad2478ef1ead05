"""KSeF certificates in the sender: the tasks the screens ask for, and renewal.

- A login by a file signed outside the program (Profil Zaufany, a signature card): its bytes go to KSeF as
  they are, and in that session the program enrolls its own KSeF certificates — Authentication for every
  later login and Offline for KOD II — with keys made here (EC P-256). One signature gives two years.
- "Testuj połączenie": a real login, then what sending needs (InvoiceWrite) checked by opening and closing
  an online session, the one way KSeF tells it for every kind of credential.
- Renewal: ~60 days before a KSeF certificate expires (and whenever the program logs in by a qualified or
  demonstration certificate without its own KSeF certificate yet) successors are enrolled in a session
  signed with the current certificate; when that is impossible the banner says so early.
- Requests a crash interrupted (key and reference are committed before KSeF is asked) are finished first.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from ksef_local.clock import warsaw_day
from ksef_local.core.settings import environment_key
from ksef_local.errors import UserError
from ksef_local.formats import format_nip, pl_date
from ksef_local.ksef import certificates as ksef_certificates
from ksef_local.ksef import errors, messages
from ksef_local.ksef.client import KsefClient
from ksef_local.sending.remote import Remote, describe
from ksef_local.store import certificates, ksef_state, tasks
from ksef_local.store.db import iso, parse, write

log = logging.getLogger("ksef_local.sender")

RENEW_BEFORE_DAYS = 60
CHECK_EVERY = timedelta(hours=6)
ENROLLMENT_WAIT = 300.0   # seconds to wait for KSeF to issue a requested certificate in one go
USAGE_OF = {ksef_certificates.AUTHENTICATION: certificates.LOGIN, ksef_certificates.OFFLINE: certificates.OFFLINE_USE}
TASK_KINDS = ("signed_login", "connection_test", "renewal")   # "purchases_sync" is sending/purchases.py's
TYPE_LABEL = {ksef_certificates.AUTHENTICATION: "Uwierzytelnianie", ksef_certificates.OFFLINE: "Offline"}


class CertificateWork:
    """Tasks and renewal; services gives the settings, the secret store and fresh clients."""

    def __init__(self, services, remote: Remote, clock: Callable[[], datetime],
                 sleep: Callable[[float], None]) -> None:
        self.services = services
        self.remote = remote
        self.clock = clock
        self.sleep = sleep

    # -- tasks ---------------------------------------------------------------------------------------

    def run_task(self, db, now: datetime) -> bool:
        """Do the oldest task the screens asked for; return whether there was one."""
        found = tasks.next_queued(db, TASK_KINDS)
        if found is None:
            return False
        task, payload = found
        progress = self._progress_of(db, task.id)
        try:
            if task.kind == "connection_test":
                title, advice, detail = self._connection_test(progress)
            elif task.kind == "signed_login":
                title, advice, detail = self._signed_login(db, payload or b"", progress)
            else:
                renewed = self._renew(db, now, force=True, progress=progress)
                if renewed is None:   # forced, so there was nothing to renew: no KSeF certificate logs in
                    tasks.finish(db, task.id, self.clock(), False, "Nie ma certyfikatu KSeF do odnowienia",
                                 "Program nie loguje się certyfikatem KSeF, więc nie ma czego odnawiać. "
                                 "Przejdź na certyfikat: wystarczy raz podpisać plik, a program sam uzyska "
                                 "certyfikaty KSeF i będzie je odnawiał.")
                    return True
                title, advice, detail = renewed
        except _NoInvoiceWrite as exc:
            tasks.finish(db, task.id, self.clock(), False, exc.title, exc.advice, describe(exc, at=self.clock()))
        except errors.KsefError as exc:
            message = messages.user_message(exc)
            tasks.finish(db, task.id, self.clock(), False, message.title, message.advice,
                         describe(exc, at=self.clock()))
        except UserError as exc:
            tasks.finish(db, task.id, self.clock(), False, "Nie można połączyć się z KSeF", exc.message)
        else:
            tasks.finish(db, task.id, self.clock(), True, title, advice, detail)
        return True

    def _progress_of(self, db, task_id: int) -> Callable[[str], None]:
        return lambda text: tasks.progress(db, task_id, self.clock(), text)

    def _fresh(self, client: KsefClient, progress: Callable[[str], None]) -> KsefClient:
        client.auth.on_progress = progress
        return client

    def _connection_test(self, progress) -> tuple[str, str, str]:
        progress("Łączenie z KSeF")
        client = self._fresh(self.services.make_client(clock=self.clock, sleep=self.sleep), progress)
        client.authenticate()
        who = self.services.login_method()
        how = (f"certyfikatem ({_common_name(who.certificate)})" if who.kind == "certificate" else "tokenem KSeF")
        progress("Sprawdzanie uprawnienia do wysyłania faktur (pusta sesja KSeF)")
        try:
            session = client.open_online_session()
        except errors.KsefUnauthorized as exc:
            if getattr(exc, "reason_code", None) != "missing-permissions":
                raise
            nip = format_nip(self.services.settings().nip)
            return_title = "Brak uprawnienia do wysyłania faktur"
            raise _NoInvoiceWrite(return_title, f"Logowanie {how} działa, ale KSeF nie pozwala wysyłać faktur dla "
                                                f"NIP {nip} (brak uprawnienia InvoiceWrite). Nadaj je w Aplikacji "
                                                "Podatnika KSeF albo użyj certyfikatu właściciela firmy; token "
                                                "musi mieć uprawnienie do wystawiania faktur.", exc) from exc
        client.close_online_session(session.reference_number)
        warnings = "\n".join(f"Ostrzeżenie KSeF: {text}" for text in client.transport.warnings)
        return ("Połączenie z KSeF działa",
                f"Zalogowano {how} i KSeF pozwala wysyłać faktury dla NIP {format_nip(self.services.settings().nip)} "
                "(uprawnienie InvoiceWrite).", warnings)

    def _signed_login(self, db, document: bytes, progress) -> tuple[str, str, str]:
        client = self._fresh(self.services.client_signed_in_by(document, clock=self.clock, sleep=self.sleep),
                             progress)
        client.authenticate()
        settings = self.services.settings()
        issued = self.enroll(db, client, environment_key(settings), settings.nip,
                             (ksef_certificates.AUTHENTICATION, ksef_certificates.OFFLINE), progress)
        ksef_state.credentials_changed(db, self.clock())
        until = ", ".join(f"{TYPE_LABEL[c.ksef_type].lower()} – ważny do {pl_date(c.not_after)}" for c in issued)
        return ("Zalogowano podpisem i uzyskano certyfikaty KSeF",
                f"Program ma teraz własne certyfikaty KSeF ({until}). Od teraz loguje się sam; kolejny podpis "
                "nie będzie potrzebny, a certyfikaty odnowi przed wygaśnięciem.", "")

    # -- enrollment ----------------------------------------------------------------------------------

    def enroll(self, db, client: KsefClient, environment: str, nip: str, types: tuple[str, ...],
               progress: Callable[[str], None], replaces: dict[str, int] | None = None
               ) -> list[certificates.StoredCertificate]:
        """Request KSeF certificates of these types in the client's (signed) session and keep them."""
        progress("Pobieranie danych do wniosku o certyfikat KSeF")
        data = ksef_certificates.enrollment_data(client)
        now = self.clock()
        for certificate_type in types:
            key = ksef_certificates.new_key()
            request_id = certificates.new_request(
                db, self.services.secrets, environment=environment, nip=nip, ksef_type=certificate_type,
                name=f"ksef-local {TYPE_LABEL[certificate_type]} {warsaw_day(now).isoformat()}", key=key, now=now,
                replaces=(replaces or {}).get(certificate_type))
            progress(f"Wysyłanie wniosku o certyfikat KSeF ({TYPE_LABEL[certificate_type]})")
            reference = ksef_certificates.enroll(client, certificates.request(db, request_id)["name"], certificate_type,
                                                 ksef_certificates.make_csr(data, key))
            certificates.update_request(db, request_id, self.clock(), reference=reference, state="submitted")
        return self.finish_requests(db, client, environment, nip, progress)

    def finish_requests(self, db, client: KsefClient, environment: str, nip: str,
                        progress: Callable[[str], None]) -> list[certificates.StoredCertificate]:
        """Wait for KSeF to issue what was requested, retrieve it and keep it with its key."""
        issued = []
        for request in certificates.open_requests(db, environment, nip):
            if not request["reference"]:   # a crash before KSeF was asked: that key was never used
                certificates.update_request(db, request["id"], self.clock(), state="failed",
                                            error="przerwane przed wysłaniem wniosku")
                continue
            serial = self._wait_until_issued(client, request, progress)
            [found] = ksef_certificates.retrieve(client, [serial])
            key = certificates.request_key(self.services.secrets, request)
            stored = certificates.add(db, self.services.secrets, environment=environment, nip=nip,
                                      usage=USAGE_OF[request["ksef_type"]], origin="enrolled",
                                      ksef_type=request["ksef_type"], name=request["name"],
                                      certificate=found.certificate, key=key, now=self.clock(),
                                      key_secret=request["key_secret"])
            certificates.update_request(db, request["id"], self.clock(), state="issued")
            if request["replaces"]:
                certificates.set_state(db, request["replaces"], "retired", self.clock(), replaced_by=stored.id)
            issued.append(stored)
        return issued

    def _wait_until_issued(self, client: KsefClient, request: dict, progress) -> str:
        started = self.clock()
        while True:
            status = ksef_certificates.enrollment_status(client, request["reference"])
            if status.is_issued and status.serial:
                return status.serial
            if not status.is_pending:
                raise errors.KsefCertificateRequestRejected(status.description or "Wniosek odrzucony",
                                                            code=status.code, details=status.details)
            waited = (self.clock() - started).total_seconds()
            if waited >= ENROLLMENT_WAIT:
                raise errors.KsefUnavailable("KSeF nie wydał jeszcze certyfikatu; program spróbuje ponownie później")
            progress(f"KSeF wystawia certyfikat ({TYPE_LABEL[request['ksef_type']]}; czekamy {int(waited)} s)")
            self.sleep(2.0)

    # -- renewal -------------------------------------------------------------------------------------

    def renew_if_due(self, db, now: datetime) -> bool:
        """Every few hours, and at once after the credentials changed: enroll successors when due.

        Return whether KSeF was asked anything (the sender's step then counts as done).
        """
        state = ksef_state.get_meta(db, "renewal") or {}
        checked = parse(state.get("checked_at"))
        stamp = ksef_state.credentials_stamp(db)
        if checked is not None and now - checked < CHECK_EVERY and state.get("stamp") == stamp:
            return False
        try:
            asked = self._renew(db, now, force=False, progress=lambda text: None) is not None
        except (errors.KsefError, UserError) as exc:
            self._warn(db, now, exc)
            asked = True
        with write(db):
            latest = ksef_state.get_meta(db, "renewal") or {}
            ksef_state.set_meta(db, "renewal", {**latest, "checked_at": iso(now),
                                                "stamp": ksef_state.credentials_stamp(db)})
        return asked

    def _renew(self, db, now: datetime, *, force: bool, progress) -> tuple[str, str, str] | None:
        settings = self.services.settings()
        environment, nip = environment_key(settings), settings.nip
        login = certificates.login_certificate(db, environment, nip, now)
        if login is None:
            return None   # a token or nothing: the banner leads to the certificate set-up
        offline = certificates.offline_certificate(db, environment, nip, now)
        due: dict[str, int | None] = {}
        if login.ksef_type != ksef_certificates.AUTHENTICATION or login.days_left(now) <= RENEW_BEFORE_DAYS or force:
            due[ksef_certificates.AUTHENTICATION] = login.id if login.ksef_type else None
        if offline is None or offline.days_left(now) <= RENEW_BEFORE_DAYS or force:
            due[ksef_certificates.OFFLINE] = offline.id if offline else None
        pending = certificates.open_requests(db, environment, nip)
        if not due and not pending:
            self._clear_warning(db)
            return None
        client = self.remote.client(db, now)
        client.auth.access_token()   # logs in with the current certificate when needed
        if client.auth.method != "xades":
            return None
        if pending:
            self.finish_requests(db, client, environment, nip, progress)
        issued = self.enroll(db, client, environment, nip, tuple(due), progress,
                             {t: i for t, i in due.items() if i}) if due else []
        ksef_state.credentials_changed(db, self.clock())
        self._clear_warning(db)
        return ("Odnowiono certyfikaty KSeF",
                "; ".join(f"{TYPE_LABEL[c.ksef_type]}: ważny do {pl_date(c.not_after)}" for c in issued), "")

    def _warn(self, db, now: datetime, exc: Exception) -> None:
        settings = self.services.settings()
        login = certificates.login_certificate(db, environment_key(settings), settings.nip, now)
        text = messages.user_message(exc).title if isinstance(exc, errors.KsefError) else exc.message
        when = f" Certyfikat logowania wygasa {pl_date(login.not_after)}." if login is not None else ""
        log.warning("certificate renewal failed: %s", text)
        with write(db):
            state = ksef_state.get_meta(db, "renewal") or {}
            ksef_state.set_meta(db, "renewal", {**state, "warning": f"Nie udało się uzyskać nowego certyfikatu "
                                                f"KSeF: {text}. Program spróbuje ponownie za kilka godzin.{when}"})

    def _clear_warning(self, db) -> None:
        with write(db):
            state = ksef_state.get_meta(db, "renewal") or {}
            if state.get("warning"):
                ksef_state.set_meta(db, "renewal", {**state, "warning": None})


class _NoInvoiceWrite(errors.KsefUnauthorized):
    """The login works but the context lacks InvoiceWrite: its own message for "Testuj połączenie"."""

    def __init__(self, title: str, advice: str, cause: errors.KsefUnauthorized) -> None:
        super().__init__(cause.detail, http_status=cause.http_status, reason_code=cause.reason_code)
        self.title, self.advice = title, advice


def _common_name(stored: certificates.StoredCertificate | None) -> str:
    if stored is None:
        return "certyfikat"
    from cryptography.x509.oid import NameOID

    names = stored.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else stored.subject
