"""The KSeF 2.0 client: certificates, token authentication, online sessions, statuses and UPO.

Base URL (via the environment), requests.Session, clock and sleep are injected; the client starts no
threads and keeps no queue. Waiting helpers poll a bounded number of times. Sources: docs/ksef-protocol.md §2-§3.
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import urlencode

import requests

from ksef_local.clock import utc_now
from ksef_local.ksef import crypto, errors, xades
from ksef_local.ksef.auth import (
    SIGNATURE_WAIT,
    Authenticator,
    CertificateCache,
    Credentials,
    retry_on_unknown_key,
)
from ksef_local.ksef.environments import Environment, resolve
from ksef_local.ksef.models import (
    FA3,
    FormCode,
    InvoiceStatus,
    OnlineSession,
    SentInvoice,
    SessionStatus,
    Upo,
    parse_datetime,
)
from ksef_local.ksef.transport import Clock, Transport

MAX_PAGES = 1000  # bound for continuation-token loops


class KsefClient:
    """Talk to one KSeF environment in one context (NIP), logged in with a token or a certificate."""

    def __init__(self, environment: str | Environment, credentials: Credentials | None, *,
                 session: requests.Session | None = None, clock: Clock = utc_now,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 30.0,
                 poll_interval: float = 1.0, max_polls: int = 60,
                 random_bytes: Callable[[int], bytes] = os.urandom,
                 refresh_margin: timedelta = timedelta(seconds=60),
                 signature_wait: float = SIGNATURE_WAIT) -> None:
        self.environment = resolve(environment)
        # The app's name for where this client sends (core.settings.environment_key), set by services.client_for:
        # the outbox records it with every invoice sent.
        self.environment_key: str | None = None
        self.transport = Transport(self.environment.api_base, session or requests.Session(), clock, timeout)
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.max_polls = max_polls
        self.random_bytes = random_bytes
        self.certificates = CertificateCache(self.transport, clock)
        self.auth = Authenticator(self.transport, self.certificates, credentials, clock, sleep,
                                  poll_interval, max_polls, refresh_margin, signature_wait)

    @property
    def context_nip(self) -> str | None:
        """The context (NIP) this client logs in to."""
        return getattr(self.auth.credentials, "nip", None)

    # -- plumbing -----------------------------------------------------------------------------------

    def call(self, method: str, path: str, *, json_body=None, ok: tuple[int, ...] = (200,),
             headers: dict[str, str] | None = None) -> requests.Response:
        """Send an authenticated request; after a 401 refresh the access token once and repeat."""
        token = self.auth.access_token()
        try:
            return self.transport.request(method, path, json_body=json_body, bearer=token, ok=ok, headers=headers)
        except errors.KsefUnauthenticated as exc:
            if exc.http_status != 401:
                raise
        token = self.auth.after_unauthorized()
        return self.transport.request(method, path, json_body=json_body, bearer=token, ok=ok, headers=headers)

    def authenticate(self) -> None:
        """Authenticate now (normally this happens on the first call)."""
        self.auth.tokens = self.auth.authenticate()

    def auth_request_to_sign(self, nip: str, context_type: str = "Nip") -> bytes:
        """A fresh AuthTokenRequest for a signature made outside the program (valid 10 minutes, single use)."""
        challenge = self.transport.request("POST", "/auth/challenge").json()["challenge"]
        return xades.auth_token_request(challenge, nip, context_type=context_type)

    # -- online session (CIRFMF/ksef-docs sesja-interaktywna.md) ------------------------------------

    def open_online_session(self, form_code: FormCode = FA3,
                            session_key: crypto.SessionKey | None = None) -> OnlineSession:
        """POST /sessions/online with a fresh AES key encrypted for SymmetricKeyEncryption."""
        key = session_key or crypto.new_session_key(self.random_bytes)

        def attempt() -> dict:
            body = {"formCode": form_code.as_json(), "encryption": self.encryption_info(key)}
            return self.call("POST", "/sessions/online", json_body=body, ok=(201,)).json()

        answer = retry_on_unknown_key(self.certificates, attempt)
        return OnlineSession(answer["referenceNumber"], parse_datetime(answer.get("validUntil")), key, form_code)

    def encryption_info(self, key: crypto.SessionKey) -> dict:
        """Return EncryptionInfo: the AES key under the MF SymmetricKeyEncryption key, and the IV."""
        certificate = self.certificates.symmetric_key()
        encrypted = crypto.encrypt_for_certificate(certificate.certificate_der, key.key, self.random_bytes)
        return {"encryptedSymmetricKey": crypto.b64(encrypted), "initializationVector": crypto.b64(key.iv),
                "publicKeyId": certificate.public_key_id}

    def send_invoice(self, session: OnlineSession, xml: bytes, *, offline_mode: bool = False,
                     hash_of_corrected_invoice: str | None = None) -> SentInvoice:
        """Encrypt the exact XML bytes and POST them; never retried here (a resend can make a 440)."""
        encrypted = crypto.encrypt_invoice(session.session_key, xml)
        body = encrypted.request_body(offline_mode, hash_of_corrected_invoice)
        path = f"/sessions/online/{session.reference_number}/invoices"
        answer = self.call("POST", path, json_body=body, ok=(202,)).json()
        return SentInvoice(session.reference_number, answer["referenceNumber"], encrypted.invoice_hash,
                           encrypted.invoice_size)

    def close_online_session(self, reference_number: str) -> None:
        """POST /sessions/online/{ref}/close; KSeF then builds the session UPO."""
        self.call("POST", f"/sessions/online/{reference_number}/close", ok=(204,))

    # -- statuses -----------------------------------------------------------------------------------

    def session_status(self, reference_number: str) -> SessionStatus:
        """GET /sessions/{ref}."""
        return SessionStatus.from_json(self.call("GET", f"/sessions/{reference_number}").json())

    def invoice_status(self, session_reference: str, invoice_reference: str) -> InvoiceStatus:
        """GET /sessions/{ref}/invoices/{invoiceRef}."""
        answer = self.call("GET", f"/sessions/{session_reference}/invoices/{invoice_reference}").json()
        return InvoiceStatus.from_json(answer)

    def session_invoices(self, session_reference: str, *, failed_only: bool = False,
                         page_size: int = 100) -> list[InvoiceStatus]:
        """Return every invoice of a session, following x-continuation-token (docs/ksef-protocol.md §3.4)."""
        path = f"/sessions/{session_reference}/invoices" + ("/failed" if failed_only else "")
        result: list[InvoiceStatus] = []
        continuation: str | None = None
        for _ in range(MAX_PAGES):
            headers = {"x-continuation-token": continuation} if continuation else None
            answer = self.call("GET", f"{path}?pageSize={page_size}", headers=headers).json()
            result.extend(InvoiceStatus.from_json(item) for item in answer.get("invoices") or ())
            continuation = answer.get("continuationToken")
            if not continuation:
                return result
        raise errors.KsefUnavailable("Lista faktur sesji nie kończy się; przerwano pobieranie")

    def list_sessions(self, session_type: str, created_from: datetime, created_to: datetime,
                      page_size: int = 100, max_pages: int = 10) -> list[str]:
        """GET /sessions: references of this login's sessions of one type (Online, Batch) opened in a period,
        newest first (docs/ksef-protocol.md §11: finding the session of an invoice found by its hash)."""
        query = urlencode({"sessionType": session_type, "pageSize": page_size,
                           "dateCreatedFrom": created_from.isoformat(), "dateCreatedTo": created_to.isoformat()})
        found: list[str] = []
        continuation: str | None = None
        for _ in range(max_pages):
            headers = {"x-continuation-token": continuation} if continuation else None
            answer = self.call("GET", f"/sessions?{query}", headers=headers).json()
            found.extend(item["referenceNumber"] for item in answer.get("sessions") or ())
            continuation = answer.get("continuationToken")
            if not continuation:
                break
        return found

    def find_invoice_by_hash(self, session_reference: str, invoice_hash: str) -> InvoiceStatus | None:
        """Reconcile after a lost answer: find our invoice in the session by SHA-256 (docs/ksef-protocol.md §11)."""
        for status in self.session_invoices(session_reference):
            if status.invoice_hash == invoice_hash:
                return status
        return None

    def wait_for_invoice(self, session_reference: str, invoice_reference: str,
                         max_polls: int | None = None) -> InvoiceStatus:
        """Poll the invoice status until it is final or the poll budget is spent; return the last status."""
        polls = max_polls or self.max_polls
        status = self.invoice_status(session_reference, invoice_reference)
        for _ in range(polls - 1):
            if status.is_final:
                break
            self.sleep(self.poll_interval)
            status = self.invoice_status(session_reference, invoice_reference)
        return status

    def wait_for_session(self, reference_number: str, max_polls: int | None = None) -> SessionStatus:
        """Poll the session status until KSeF is done with it or the poll budget is spent."""
        polls = max_polls or self.max_polls
        status = self.session_status(reference_number)
        for _ in range(polls - 1):
            if status.is_final:
                break
            self.sleep(self.poll_interval)
            status = self.session_status(reference_number)
        return status

    # -- UPO (docs/ksef-protocol.md §3.8) -------------------------------------------------------------

    def invoice_upo(self, session_reference: str, invoice_reference: str) -> Upo:
        """GET /sessions/{ref}/invoices/{invoiceRef}/upo."""
        return _upo(self.call("GET", f"/sessions/{session_reference}/invoices/{invoice_reference}/upo"))

    def invoice_upo_by_ksef_number(self, session_reference: str, ksef_number: str) -> Upo:
        """GET /sessions/{ref}/invoices/ksef/{ksefNumber}/upo."""
        return _upo(self.call("GET", f"/sessions/{session_reference}/invoices/ksef/{ksef_number}/upo"))

    def session_upo(self, session_reference: str, upo_reference: str) -> Upo:
        """GET /sessions/{ref}/upo/{upoRef}."""
        return _upo(self.call("GET", f"/sessions/{session_reference}/upo/{upo_reference}"))

    def download_presigned(self, url: str) -> Upo:
        """GET a pre-signed UPO URL without Authorization."""
        return _upo(self.transport.request("GET", url, headers={"Accept": "application/xml"}))


def _upo(response: requests.Response) -> Upo:
    return Upo(response.content, response.headers.get("x-ms-meta-hash"))
