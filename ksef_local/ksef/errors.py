"""The KSeF error tree and the one table that maps each error to a message for the user.

    KsefError                        base; never raised itself
    ├── KsefUnavailable              no answer, timeout, dropped connection, 5xx (also gateway HTML pages),
    │                                auth status 500/550                        → "Serwis KSeF nie odpowiada"
    ├── KsefRateLimited              429 + Retry-After (seconds or HTTP date), 21155, 21182
    │                                                                           → "Limit żądań osiągnięty"
    ├── KsefUnauthenticated          401, 21304, 21111, auth status 450 (bad token/challenge), 470
    │   │                                                                       → "Brak uwierzytelnienia"
    │   ├── KsefSignatureRejected    400 at /auth/xades-signature: 9101, 9102, 9103, 9105, 21001, 21115,
    │   │                            21117, 21217, 21401, 21406 → a message per code
    │   └── KsefCertificateRejected  auth status 460 (the certificate: invalid, chain, revoked, suspended)
    ├── KsefUnauthorized             403 (reasonCode), 21301, auth status 415, 480
    │   │                                                                       → "Brak autoryzacji"
    │   └── KsefAuthMethodNotAllowed 403 reasonCode auth-method-not-allowed: tokens no longer log in
    ├── KsefTokenRevoked             auth status 450 "Token unieważniony"/"Token nieaktywny", 425,
    │                                21301 "Token KSeF został unieważniony."   → "Token unieważniony"
    ├── KsefNoSession                21173, 21180                              → "Brak sesji"
    ├── KsefSessionUnavailable       21184 (API 2.8): the invoice was not taken; send it in a new session
    ├── KsefRequestInvalid           21405 and every other 400 exception code
    │   │                                                            → "Dokument nie jest zgodny ze schemą (json)"
    │   └── KsefCertificateRequestRejected  25001-25011 (KSeF certificates: limits, CSR, revoke)
    ├── KsefInvoiceRejected          invoice status 410/415/430/435/450/500/550 → rejection message
    │   └── KsefDuplicateInvoice     invoice status 440, with the original KSeF number and session
    └── KsefHashMismatch             downloaded bytes whose SHA-256 is not the one KSeF gave with them
                                     (x-ms-meta-hash, invoiceHash, an export part's hash) → "Pobrany plik …"

Sources: the official OpenAPI (error tables of /auth/*, /sessions/*, /certificates/*; auth statuses in
AuthenticationOperationStatusResponse) and docs/ksef-protocol.md §7. The Polish messages are in
ksef/messages.py. No error ever carries a token, a key or encrypted content (house-style rule 14).
"""
from __future__ import annotations


class KsefError(Exception):
    """Something KSeF (or the way to it) did not do; carries what KSeF said, never a secret."""

    def __init__(self, detail: str = "", *, http_status: int | None = None, code: int | None = None,
                 details: tuple[str, ...] = ()) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        self.http_status = http_status
        self.code = code
        self.details = tuple(details)
        self.warnings: tuple[str, ...] = ()  # X-System-Warning headers of the answer, for "Szczegóły"


class KsefUnavailable(KsefError):
    """KSeF did not answer usefully: transport failure, timeout, 5xx or a processing 500/550."""


class KsefRateLimited(KsefError):
    """KSeF refused because a request limit was reached (ksef-docs limity/limity-api.md)."""

    def __init__(self, detail: str = "", *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class KsefUnauthenticated(KsefError):
    """KSeF did not verify who we are (401, 21304, failed token authentication)."""


class KsefUnauthorized(KsefError):
    """KSeF knows who we are but refuses the action (403, 21301, no permissions)."""

    def __init__(self, detail: str = "", *, reason_code: str | None = None, **kwargs) -> None:
        super().__init__(detail, **kwargs)
        self.reason_code = reason_code


class KsefSignatureRejected(KsefUnauthenticated):
    """KSeF refused the signed login document (its structure, signature or certificate), HTTP 400."""


class KsefCertificateRejected(KsefUnauthenticated):
    """Authentication status 460: KSeF did not accept the certificate; details name why."""


class KsefAuthMethodNotAllowed(KsefUnauthorized):
    """403 auth-method-not-allowed: KSeF no longer accepts this way of logging in (a KSeF token)."""


class KsefTokenRevoked(KsefError):
    """The KSeF token (or the authentication) was revoked or is not active."""


class KsefNoSession(KsefError):
    """The session does not exist or its status does not allow the operation (21173, 21180)."""


class KsefSessionUnavailable(KsefError):
    """21184 "Sesja tymczasowo niedostępna" (API 2.8): KSeF did not take the invoice; a new session will."""


class KsefRequestInvalid(KsefError):
    """KSeF rejected the request itself (21405 and other 400 exception codes)."""


class KsefCertificateRequestRejected(KsefRequestInvalid):
    """KSeF refused a certificate request, query or revocation (25001-25011)."""


class KsefInvoiceRejected(KsefError):
    """KSeF processed the invoice and rejected it; detail is KSeF's description."""

    def __init__(self, detail: str = "", *, invoice_number: str | None = None, **kwargs) -> None:
        super().__init__(detail, **kwargs)
        self.invoice_number = invoice_number


class KsefDuplicateInvoice(KsefInvoiceRejected):
    """Invoice status 440: an invoice with this seller NIP, kind and number was already accepted."""

    def __init__(self, detail: str = "", *, original_ksef_number: str | None = None,
                 original_session: str | None = None, **kwargs) -> None:
        super().__init__(detail, **kwargs)
        self.original_ksef_number = original_ksef_number
        self.original_session = original_session


class KsefHashMismatch(KsefError):
    """What we downloaded is not what KSeF says it sent (its SHA-256 differs): nothing of it is kept."""


# -- KSeF codes to classes (docs/ksef-protocol.md §7, §7.1) ------------------------------------------

REVOKED_TOKEN_TEXT = "Token KSeF został unieważniony."
_EXCEPTION_CODES: dict[int, type[KsefError]] = {
    21111: KsefUnauthenticated,  # Nieprawidłowe wyzwanie autoryzacyjne
    21155: KsefRateLimited,      # Przekroczono dozwoloną liczbę faktur w sesji (§7.1)
    21173: KsefNoSession,
    21180: KsefNoSession,
    21184: KsefSessionUnavailable,
    21182: KsefRateLimited,      # Osiągnięto limit trwających eksportów
    21301: KsefUnauthorized,
    21304: KsefUnauthenticated,
    21308: KsefUnauthenticated,  # metody autoryzacyjne osoby zmarłej
    21405: KsefRequestInvalid,
    **{code: KsefSignatureRejected for code in (9101, 9102, 9103, 9105, 21001, 21115, 21117, 21217, 21401, 21406)},
    **{code: KsefCertificateRequestRejected for code in range(25001, 25012)},
}


def error_for_exception(code: int, description: str, details: tuple[str, ...], http_status: int = 400) -> KsefError:
    """Return the typed error for one KSeF exception (400 body entry)."""
    if code == 21301 and any(REVOKED_TOKEN_TEXT in item for item in details):
        return KsefTokenRevoked(description, http_status=http_status, code=code, details=details)
    cls = _EXCEPTION_CODES.get(code, KsefRequestInvalid)
    return cls(description, http_status=http_status, code=code, details=details)


_REVOKED_AUTH_DETAILS = ("Token unieważniony", "Token nieaktywny")


def error_for_auth_status(code: int, description: str, details: tuple[str, ...]) -> KsefError:
    """Return the typed error for a final, unsuccessful authentication status (docs/ksef-protocol.md §2.1 step 5)."""
    kwargs = {"code": code, "details": details}
    if code == 425 or (code == 450 and any(d.startswith(_REVOKED_AUTH_DETAILS) for d in details)):
        return KsefTokenRevoked(description, **kwargs)
    if code in (415, 480):
        return KsefUnauthorized(description, **kwargs)
    if code in (500, 550):
        return KsefUnavailable(description, **kwargs)
    if code == 460:
        return KsefCertificateRejected(description, **kwargs)
    return KsefUnauthenticated(description, **kwargs)  # 450 other details, 470, unknown


def error_for_invoice_status(code: int, description: str, details: tuple[str, ...],
                             extensions: dict | None, invoice_number: str | None) -> KsefInvoiceRejected:
    """Return the typed rejection for an invoice status >= 400 (docs/ksef-protocol.md §3.4)."""
    if code == 440:
        ext = extensions or {}
        return KsefDuplicateInvoice(
            description, code=code, details=details, invoice_number=invoice_number,
            original_ksef_number=ext.get("originalKsefNumber"),
            original_session=ext.get("originalSessionReferenceNumber"),
        )
    return KsefInvoiceRejected(description, code=code, details=details, invoice_number=invoice_number)
