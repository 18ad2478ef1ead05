"""Logging in to KSeF and the access token's life (CIRFMF/ksef-docs uwierzytelnianie.md).

Three ways in, one ending:
- a KSeF token: challenge → RSA-OAEP("token|timestampMs") → POST /auth/ksef-token;
- a certificate with its key: challenge → AuthTokenRequest signed here (XAdES, ksef/xades.py) →
  POST /auth/xades-signature;
- a document signed outside the program (Profil Zaufany, a signature card): its bytes as they are →
  POST /auth/xades-signature;
then poll GET /auth/{ref} (a qualified certificate may stay at 100 for minutes while KSeF asks its
issuer: we wait patiently and report progress) → redeem → refresh before validUntil and once after a 401.
No threads: time passes through the injected clock and sleep.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from cryptography import x509

from ksef_local.ksef import crypto, errors, xades
from ksef_local.ksef.models import (
    SYMMETRIC_KEY_ENCRYPTION,
    TOKEN_ENCRYPTION,
    IssuedToken,
    PublicKeyCertificate,
    pick_certificate,
)
from ksef_local.ksef.transport import Clock, Transport

# How long to wait for KSeF to check a signature's certificate before giving up on this login (it keeps
# answering 100 meanwhile); the program tries again later, so nothing is lost.
SIGNATURE_WAIT = 600.0
KEY_NOT_SUPPORTED = 21470  # unknown or withdrawn publicKeyId → refetch the keys (OpenAPI POST /auth/ksef-token)


@dataclass(frozen=True)
class TokenCredentials:
    """A KSeF token and the context it is used in; repr never shows the token."""

    nip: str
    ksef_token: str = field(repr=False)
    context_type: str = "Nip"


@dataclass(frozen=True)
class CertificateCredentials:
    """A certificate and its private key (a KSeF certificate, or a qualified seal or signature)."""

    nip: str
    certificate: x509.Certificate
    private_key: xades.PrivateKey = field(repr=False)
    context_type: str = "Nip"
    subject_type: str = "certificateSubject"


@dataclass(frozen=True)
class SignedRequest:
    """An AuthTokenRequest signed outside the program; it logs in once (its challenge is single-use)."""

    nip: str
    document: bytes = field(repr=False)
    context_type: str = "Nip"


Credentials = TokenCredentials | CertificateCredentials | SignedRequest
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Tokens:
    """The redeemed pair (OpenAPI POST /auth/token/redeem)."""

    reference_number: str
    access: IssuedToken
    refresh: IssuedToken


class CertificateCache:
    """MF public-key certificates, fetched once and again when KSeF says a key is unknown."""

    def __init__(self, transport: Transport, clock: Clock) -> None:
        self._transport = transport
        self._clock = clock
        self._certificates: list[PublicKeyCertificate] | None = None

    def all(self, refresh: bool = False) -> list[PublicKeyCertificate]:
        """Return the certificates, fetching GET /security/public-key-certificates when needed."""
        if self._certificates is None or refresh:
            response = self._transport.request("GET", "/security/public-key-certificates")
            self._certificates = [PublicKeyCertificate.from_json(item) for item in response.json()]
        return self._certificates

    def for_usage(self, usage: str, refresh: bool = False) -> PublicKeyCertificate:
        """Return the certificate to use now for usage; refetch once if none in the cache is valid."""
        chosen = pick_certificate(self.all(refresh), usage, self._clock())
        if chosen is None and not refresh:
            return self.for_usage(usage, refresh=True)
        if chosen is None:
            raise errors.KsefUnavailable(f"KSeF nie udostępnia ważnego certyfikatu klucza publicznego ({usage})")
        return chosen

    def token_key(self) -> PublicKeyCertificate:
        return self.for_usage(TOKEN_ENCRYPTION)

    def symmetric_key(self) -> PublicKeyCertificate:
        return self.for_usage(SYMMETRIC_KEY_ENCRYPTION)


def retry_on_unknown_key(certificates: CertificateCache, attempt: Callable[[], object]):
    """Run attempt; after a 21470 answer refetch the keys and run it once more."""
    try:
        return attempt()
    except errors.KsefRequestInvalid as exc:
        if exc.code != KEY_NOT_SUPPORTED:
            raise
        certificates.all(refresh=True)
        return attempt()


class Authenticator:
    """Hold the tokens of one context and keep a valid access token at hand."""

    def __init__(self, transport: Transport, certificates: CertificateCache, credentials: Credentials | None,
                 clock: Clock, sleep: Callable[[float], None], poll_interval: float = 1.0,
                 max_polls: int = 60, refresh_margin: timedelta = timedelta(seconds=60),
                 signature_wait: float = SIGNATURE_WAIT, on_progress: Progress | None = None) -> None:
        self._transport = transport
        self._certificates = certificates
        self._credentials = credentials
        self._clock = clock
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._max_polls = max_polls
        self._margin = refresh_margin
        self._signature_wait = signature_wait
        self._used_signed_request = False
        self.on_progress = on_progress
        self.tokens: Tokens | None = None
        self.method: str | None = None  # "token" or "xades" once logged in: KSeF lets only "xades" enroll

    @property
    def credentials(self) -> Credentials | None:
        """What this authenticator logs in with (never logged or shown: it may hold a token or a key)."""
        return self._credentials

    def access_token(self) -> str:
        """Return an access token valid for at least the margin, authenticating or refreshing as needed."""
        now = self._clock()
        if self.tokens is None or self.tokens.refresh.valid_until - self._margin <= now:
            self.tokens = self.authenticate()
        elif self.tokens.access.valid_until - self._margin <= now:
            self.refresh()
        return self.tokens.access.token

    def after_unauthorized(self) -> str:
        """Refresh once after a 401 and return the new access token (re-authenticate if refresh is refused)."""
        if self.tokens is None:
            return self.access_token()
        self.refresh()
        return self.tokens.access.token

    def refresh(self) -> None:
        """POST /auth/token/refresh; re-authenticate when KSeF no longer knows the refresh token."""
        assert self.tokens is not None
        try:
            response = self._transport.request("POST", "/auth/token/refresh", bearer=self.tokens.refresh.token)
        except errors.KsefUnauthenticated:
            self.tokens = self.authenticate()
            return
        access = IssuedToken.from_json(response.json()["accessToken"])
        self.tokens = Tokens(self.tokens.reference_number, access, self.tokens.refresh)

    def authenticate(self) -> Tokens:
        """Log in with the credentials and return the redeemed tokens."""
        credentials = self._credentials
        if credentials is None:
            raise errors.KsefUnauthenticated("Brak danych logowania do KSeF")
        if isinstance(credentials, TokenCredentials):
            challenge = self._challenge()
            init = retry_on_unknown_key(self._certificates, lambda: self._submit_token(challenge))
            self._wait_for_success(init, patient=False)
            self.method = "token"
        else:
            if isinstance(credentials, SignedRequest):
                if self._used_signed_request:
                    raise errors.KsefUnauthenticated("Podpisany plik logowania został już użyty; podpisz nowy.")
                self._used_signed_request = True
                document = credentials.document
            else:
                challenge = self._challenge()["challenge"]
                self._progress("Podpisywanie dokumentu logowania")
                request = xades.auth_token_request(challenge, credentials.nip, context_type=credentials.context_type,
                                                   subject_type=credentials.subject_type)
                document = xades.sign_enveloped(request, credentials.certificate, credentials.private_key,
                                                self._clock())
            init = self.submit_signed(document)
            self._wait_for_success(init, patient=True)
            self.method = "xades"
        self._progress("Pobieranie tokenów dostępu")
        response = self._transport.request("POST", "/auth/token/redeem", bearer=init["authenticationToken"]["token"])
        body = response.json()
        return Tokens(init["referenceNumber"], IssuedToken.from_json(body["accessToken"]),
                      IssuedToken.from_json(body["refreshToken"]))

    def _challenge(self) -> dict:
        self._progress("Łączenie z KSeF")
        return self._transport.request("POST", "/auth/challenge").json()

    def submit_signed(self, document: bytes) -> dict:
        """POST /auth/xades-signature with the signed bytes exactly as they are; return the 202 answer."""
        self._progress("Wysyłanie podpisanego dokumentu logowania")
        return self._transport.request("POST", "/auth/xades-signature", data=document, ok=(202,),
                                       headers={"Content-Type": "application/xml"}).json()

    def _progress(self, text: str) -> None:
        if self.on_progress is not None:
            self.on_progress(text)

    def _submit_token(self, challenge: dict) -> dict:
        certificate = self._certificates.token_key()
        plaintext = crypto.ksef_token_plaintext(self._credentials.ksef_token, int(challenge["timestampMs"]))
        body = {
            "challenge": challenge["challenge"],
            "contextIdentifier": {"type": self._credentials.context_type, "value": self._credentials.nip},
            "encryptedToken": crypto.b64(crypto.encrypt_for_certificate(certificate.certificate_der, plaintext)),
            "publicKeyId": certificate.public_key_id,
        }
        return self._transport.request("POST", "/auth/ksef-token", json_body=body, ok=(202,)).json()

    def _wait_for_success(self, init: dict, *, patient: bool) -> None:
        """Poll GET /auth/{ref} until 200; a signature may take minutes (KSeF checks the issuer's OCSP/CRL)."""
        reference, auth_token = init["referenceNumber"], init["authenticationToken"]["token"]
        started = self._clock()
        for attempt in range(10_000 if patient else self._max_polls):
            status = self._transport.request("GET", f"/auth/{reference}", bearer=auth_token).json()["status"]
            if status["code"] == 200:
                return
            if status["code"] != 100:
                raise errors.error_for_auth_status(status["code"], status.get("description", ""),
                                                   tuple(status.get("details") or ()))
            waited = (self._clock() - started).total_seconds()
            if patient:
                if waited >= self._signature_wait:
                    break
                self._progress(f"KSeF sprawdza certyfikat u jego wystawcy (to może potrwać kilka minut; "
                               f"czekamy {int(waited)} s)")
                self._sleep(min(5.0, self._poll_interval * (1 + attempt // 5)))
            elif attempt + 1 < self._max_polls:
                self._sleep(self._poll_interval)
        raise errors.KsefUnavailable("Uwierzytelnianie w KSeF trwa zbyt długo; spróbuj ponownie później")
