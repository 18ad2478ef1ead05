"""How the program logs in to KSeF, per environment and context NIP: which credential, adding one, and the
demo mode's own (and the demo company's purchase invoices, made where its credentials are).

A certificate comes first (tokens log in only until 31.12.2026: Dz.U. 2025 poz. 1815, § 13): a KSeF
Authentication certificate, else an imported qualified seal or signature, else the demo mode's
demonstration seal; a KSeF token only where there is no certificate. Every change here is noted with
ksef_state.credentials_changed, so the sender (in any process) builds a new client and a pause caused by
credentials lifts by itself.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import requests
import sqlite_utils
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ksef_local.clock import utc_now
from ksef_local.core.settings import DEMO_MODE, KsefSettings, describe, environment_key
from ksef_local.errors import UserError
from ksef_local.forms.certificates import PrivateKey, load_files
from ksef_local.ksef import certificates as ksef_certificates
from ksef_local.ksef.auth import CertificateCredentials, Credentials, TokenCredentials
from ksef_local.store import certificates, ksef_state, parties
from ksef_local.store import settings as ksef_settings
from ksef_local.store.db import write
from ksef_local.store.secrets import SecretStore

log = logging.getLogger(__name__)
SIM_TIMEOUT = 10.0
TOKENS_UNTIL = "31.12.2026"
NO_CREDENTIALS = ("Brak danych logowania do KSeF dla środowiska {where}: dodaj certyfikat (zalecane) albo token "
                  "w Ustawieniach KSeF.")


@dataclass(frozen=True)
class LoginMethod:
    """How the program logs in now, for the screens: "certificate", "token" or None, and with what."""

    kind: str | None
    certificate: certificates.StoredCertificate | None = None
    token_hint: str = ""


def login_method(db: sqlite_utils.Database, secrets: SecretStore, settings: KsefSettings,
                 now: datetime | None = None) -> LoginMethod:
    """The credential the next login will use (a certificate before a token)."""
    found = certificates.login_certificate(db, environment_key(settings), settings.nip, now)
    if found is not None:
        return LoginMethod("certificate", found)
    if settings.has_token:
        return LoginMethod("token", token_hint=settings.token_hint)
    return LoginMethod(None)


def credentials_for(db: sqlite_utils.Database, secrets: SecretStore, settings: KsefSettings,
                    now: datetime | None = None) -> Credentials:
    """The credentials to log in with now; UserError (Polish) when there are none."""
    if not settings.nip:
        raise UserError("Uzupełnij NIP w danych firmy albo w Ustawieniach KSeF, aby łączyć się z KSeF.")
    found = certificates.login_certificate(db, environment_key(settings), settings.nip, now)
    if found is not None:
        key = certificates.private_key(secrets, found)
        if key is None:
            raise UserError("Brakuje klucza prywatnego certyfikatu w magazynie haseł. Dodaj certyfikat ponownie "
                            "w Ustawieniach KSeF.")
        return CertificateCredentials(settings.nip, found.certificate, key)
    token = ksef_settings.token_for(db, secrets, settings)
    if token:
        return TokenCredentials(settings.nip, token)
    raise UserError(NO_CREDENTIALS.format(where=describe(settings)))


def add_login_certificate(db: sqlite_utils.Database, secrets: SecretStore, settings: KsefSettings,
                          certificate: x509.Certificate, key: PrivateKey, *, origin: str = "imported",
                          now: datetime | None = None) -> certificates.StoredCertificate:
    """Keep a certificate that logs in by signature (KSeF Authentication, qualified seal or signature)."""
    moment = now or utc_now()
    _usable_now(certificate, moment)
    ksef_type = ksef_certificates.certificate_type_of(certificate) \
        if ksef_certificates.is_ksef_certificate(certificate) else None
    if ksef_type == ksef_certificates.OFFLINE:
        raise UserError("To certyfikat KSeF typu Offline: służy tylko do kodu KOD II na fakturach offline, nie do "
                        "logowania. Dodaj go jako certyfikat offline (Ustawienia → Certyfikaty KSeF).")
    if not settings.nip:
        raise UserError("Uzupełnij NIP w danych firmy albo w Ustawieniach KSeF przed dodaniem certyfikatu.")
    stored = certificates.add(db, secrets, environment=environment_key(settings), nip=settings.nip,
                              usage=certificates.LOGIN, origin=origin, ksef_type=ksef_type,
                              certificate=certificate, key=key, now=moment)
    ksef_state.credentials_changed(db, moment)
    return stored


def add_offline_certificate(db: sqlite_utils.Database, secrets: SecretStore, settings: KsefSettings,
                            certificate: x509.Certificate, key: PrivateKey,
                            now: datetime | None = None) -> certificates.StoredCertificate:
    """Keep a KSeF Offline certificate for KOD II; an Authentication certificate is refused (KSeF's rule)."""
    moment = now or utc_now()
    _usable_now(certificate, moment)
    if ksef_certificates.certificate_type_of(certificate) == ksef_certificates.AUTHENTICATION:
        raise UserError("To certyfikat KSeF typu Uwierzytelnianie (do logowania). KSeF nie pozwala podpisywać nim "
                        "kodu KOD II: potrzebny jest certyfikat KSeF typu Offline. Program uzyskuje go sam po "
                        "zalogowaniu podpisem; możesz też dodać ten certyfikat jako certyfikat logowania.")
    if not settings.nip:
        raise UserError("Uzupełnij NIP w danych firmy albo w Ustawieniach KSeF przed dodaniem certyfikatu.")
    return certificates.add(db, secrets, environment=environment_key(settings), nip=settings.nip,
                            usage=certificates.OFFLINE_USE, origin="imported", ksef_type=ksef_certificates.OFFLINE,
                            certificate=certificate, key=key, now=moment)


def import_login_files(db: sqlite_utils.Database, secrets: SecretStore, settings: KsefSettings,
                       certificate_or_bundle: bytes, key: bytes, password: str) -> certificates.StoredCertificate:
    """Read the user's files (PKCS#12, or certificate and key) and keep them as the login certificate."""
    certificate, private_key = load_files(certificate_or_bundle, key, password)
    return add_login_certificate(db, secrets, settings, certificate, private_key)


def _usable_now(certificate: x509.Certificate, moment: datetime) -> None:
    if moment > certificate.not_valid_after_utc:
        raise UserError(f"Ten certyfikat wygasł {certificate.not_valid_after_utc:%d.%m.%Y}: dodaj ważny certyfikat.")
    if moment < certificate.not_valid_before_utc:
        raise UserError(f"Ten certyfikat obowiązuje dopiero od {certificate.not_valid_before_utc:%d.%m.%Y}.")


# -- the demo mode --------------------------------------------------------------------------------------

def ensure_demo_credentials(db: sqlite_utils.Database, secrets: SecretStore, settings: KsefSettings,
                            simulator_url: str | None, *, session: requests.Session | None = None) -> bool:
    """In demo mode without a login certificate, get a demonstration company seal from the built-in simulator.

    Called whenever a client is made (first run, company saved later, NIP changed, restart): the demo mode
    needs no setting touched. It logs in by XAdES like a real seal, so the demo shows the certificate path;
    the program then gets its own KSeF certificates in that session. Return whether one was added.
    """
    if settings.environment != DEMO_MODE or not settings.nip or not simulator_url:
        return False
    if certificates.login_certificate(db, DEMO_MODE, settings.nip) is not None:
        return False
    failed = UserError("Tryb demonstracyjny: wbudowany symulator KSeF nie wydał certyfikatu. Uruchom program "
                       "ponownie; jeśli to nie pomoże, wybierz inne środowisko w Ustawieniach KSeF.", 503)
    http = session or requests.Session()
    try:
        response = http.post(f"{simulator_url.rstrip('/')}/sim/certificates", timeout=SIM_TIMEOUT,
                             json={"nip": settings.nip, "kind": "seal", "keyType": "EC"})
        body = response.json() if response.status_code == 201 else {}
        certificate = x509.load_pem_x509_certificate(body["certificate"].encode("ascii"))
        key = serialization.load_pem_private_key(body["privateKey"].encode("ascii"), None)
    except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError):
        raise failed from None
    finally:
        if session is None:
            http.close()
    add_login_certificate(db, secrets, settings, certificate, key, origin="demo")  # type: ignore[arg-type]
    return True


def ensure_demo_purchases(db: sqlite_utils.Database, settings: KsefSettings, simulator_url: str | None, *,
                          session: requests.Session | None = None) -> bool:
    """In demo mode, have the built-in simulator deliver a few purchase invoices to the demo company, once per
    NIP (POST /sim/demo-purchases, itself idempotent: docs/simulator.md); the purchase sync then brings them in
    like any other. Called where the demo credentials are (first run, company saved later, NIP changed).
    A failure only means an empty inbox in the demo: it is logged, never raised. Return whether it was asked.
    """
    if settings.environment != DEMO_MODE or not settings.nip or not simulator_url:
        return False
    done = ksef_state.get_meta(db, "demo_purchases") or []
    if settings.nip in done:
        return False
    company = parties.get_company(db)
    body = {"buyerNip": settings.nip} | ({"buyerName": company["name"]} if company else {})
    http = session or requests.Session()
    try:
        response = http.post(f"{simulator_url.rstrip('/')}/sim/demo-purchases", json=body, timeout=SIM_TIMEOUT)
    except requests.RequestException as exc:
        log.warning("demo purchase invoices: the simulator did not answer (%s)", type(exc).__name__)
        return False
    finally:
        if session is None:
            http.close()
    if response.status_code not in (200, 201):
        log.warning("demo purchase invoices: the simulator answered %s", response.status_code)
        return False
    with write(db):
        latest = ksef_state.get_meta(db, "demo_purchases") or []
        ksef_state.set_meta(db, "demo_purchases", sorted(set(latest) | {settings.nip}))
        ksef_state.note_work(db, utc_now())
    return True
