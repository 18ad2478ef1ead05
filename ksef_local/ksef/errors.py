"""The KSeF error tree and the one table that maps each error to a message for the user.

    KsefError                        base; never raised itself
    ├── KsefUnavailable              no answer, timeout, dropped connection, 5xx (also gateway HTML pages),
    │                                auth status 500/550                        → "Serwis KSeF nie odpowiada"
    ├── KsefRateLimited              429 + Retry-After (seconds or HTTP date), 21155, 21182
    │                                                                           → "Limit żądań osiągnięty"
    ├── KsefUnauthenticated          401, 21304, 21111, auth status 450 (bad token/challenge), 460, 470
    │                                                                           → "Brak uwierzytelnienia"
    ├── KsefUnauthorized             403 (reasonCode), 21301, auth status 415, 480
    │                                                                           → "Brak autoryzacji"
    ├── KsefTokenRevoked             auth status 450 "Token unieważniony"/"Token nieaktywny", 425,
    │                                21301 "Token KSeF został unieważniony."   → "Token unieważniony"
    ├── KsefNoSession                21173, 21180                              → "Brak sesji"
    ├── KsefRequestInvalid           21405 and every other 400 exception code
    │                                                                → "Dokument nie jest zgodny ze schemą (json)"
    └── KsefInvoiceRejected          invoice status 410/415/430/435/450/500/550 → rejection message
        └── KsefDuplicateInvoice     invoice status 440, with the original KSeF number and session

Sources: docs/ksef-protocol.md §2.1 (auth statuses), §3.4 (invoice statuses), §6 (429), §7 (error bodies
and codes), §7.1 (which KSeF answers produce which of the program's messages). No message ever contains
a token, a key or encrypted content (house-style rule 14).
"""
from __future__ import annotations

from dataclasses import dataclass

CHECK_CONNECTION = "Sprawdź też połączenie z internetem."


class KsefError(Exception):
    """Something KSeF (or the way to it) did not do; carries what KSeF said, never a secret."""

    def __init__(self, detail: str = "", *, http_status: int | None = None, code: int | None = None,
                 details: tuple[str, ...] = ()) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        self.http_status = http_status
        self.code = code
        self.details = tuple(details)


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


class KsefTokenRevoked(KsefError):
    """The KSeF token (or the authentication) was revoked or is not active."""


class KsefNoSession(KsefError):
    """The session does not exist or its status does not allow the operation (21173, 21180)."""


class KsefRequestInvalid(KsefError):
    """KSeF rejected the request itself (21405 and other 400 exception codes)."""


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


# -- the one message table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class UserMessage:
    """What the user sees: a fixed title and advice (Polish)."""

    title: str
    advice: str

    def __str__(self) -> str:
        return f"{self.title}. {self.advice}"


MESSAGES: dict[type[KsefError], UserMessage] = {
    KsefUnauthorized: UserMessage(
        "Brak autoryzacji",
        "Próba dostępu do zasobów KSeF została odrzucona z powodu braku uprawnień. Upewnij się, że token "
        "jest prawidłowy i aktualny i że ma uprawnienia do tej czynności.",
    ),
    KsefNoSession: UserMessage(
        "Brak sesji",
        "Sesja z KSeF wygasła lub nie została poprawnie ustanowiona. Program próbuje najpierw sam otworzyć "
        "nową sesję; jeśli to nie pomoże, wyloguj się i zaloguj ponownie, aby odświeżyć sesję. "
        + CHECK_CONNECTION,
    ),
    KsefUnauthenticated: UserMessage(
        "Brak uwierzytelnienia",
        "KSeF nie zweryfikował tożsamości, najczęściej z powodu błędnych danych logowania. Sprawdź dane "
        "logowania i ustawienia połączenia z KSeF. " + CHECK_CONNECTION,
    ),
    KsefRateLimited: UserMessage(
        "Limit żądań osiągnięty",
        "Przekroczono limit żądań do KSeF w określonym czasie. Odczekaj, aż limit zostanie zresetowany.",
    ),
    KsefUnavailable: UserMessage(
        "Serwis KSeF nie odpowiada",
        "Problemy techniczne po stronie KSeF, np. przejściowa awaria lub przerwa konserwacyjna. Spróbuj "
        "ponownie później lub sprawdź status KSeF. " + CHECK_CONNECTION,
    ),
    KsefTokenRevoked: UserMessage(
        "Token unieważniony",
        "Token został unieważniony i nie można już nim pracować. Wygeneruj nowy token w KSeF i zapisz go "
        "w ustawieniach.",
    ),
    KsefRequestInvalid: UserMessage(
        "Dokument nie jest zgodny ze schemą (json)",
        "KSeF odrzucił strukturę żądania; to zwykle błąd po stronie Ministerstwa Finansów. Poczekaj na "
        "rozwiązanie problemu i spróbuj później.",
    ),
    KsefInvoiceRejected: UserMessage("Faktura odrzucona przez KSeF", ""),
}

LATARNIA_TEXTS = {
    "AVAILABLE": "Latarnia KSeF: system dostępny.",
    "MAINTENANCE": "Latarnia KSeF: trwa przerwa konserwacyjna.",
    "FAILURE": "Latarnia KSeF: ogłoszono awarię systemu.",
    "TOTAL_FAILURE": "Latarnia KSeF: ogłoszono awarię całkowitą.",
}

# Advice per invoice status code (docs/ksef-protocol.md §3.4); the description and details come from KSeF.
_REJECTION_ADVICE = {
    410: "Kontekst, w którym program jest zalogowany, nie może wystawiać faktur dla tego sprzedawcy. "
         "Sprawdź NIP sprzedawcy na fakturze i NIP w ustawieniach KSeF.",
    415: "KSeF nie przyjmuje faktur z załącznikami od tego podatnika. Usuń załącznik albo włącz tę "
         "możliwość w e-Urzędzie Skarbowym.",
    430: "Plik faktury nie przeszedł weryfikacji. Popraw fakturę zgodnie ze szczegółami i wyślij ją ponownie.",
    435: "KSeF nie odszyfrował faktury. Wyślij ją ponownie; jeśli błąd się powtórzy, zgłoś go do pomocy technicznej.",
    450: "Dane faktury nie przeszły weryfikacji. Popraw fakturę zgodnie ze szczegółami i wyślij ją ponownie.",
    500: "Wystąpił nieznany błąd po stronie KSeF. Wyślij fakturę ponownie później.",
    550: "KSeF przerwał przetwarzanie z przyczyn wewnętrznych. Wyślij fakturę ponownie później.",
}


def message_class(error: KsefError) -> type[KsefError]:
    """Return the class whose row of MESSAGES describes error."""
    for cls in type(error).__mro__:
        if cls in MESSAGES:
            return cls
    raise LookupError(f"no message for {type(error).__name__}")


def user_message(error: KsefError, latarnia_status: str | None = None) -> UserMessage:
    """Return the user's message for error; add the wait time and Latarnia's status where known."""
    cls = message_class(error)
    if cls is KsefInvoiceRejected:
        return rejection_message(error)  # type: ignore[arg-type]
    base = MESSAGES[cls]
    extra = ""
    if isinstance(error, KsefRateLimited) and error.retry_after is not None:
        extra = f" Spróbuj ponownie za {format_wait(error.retry_after)}."
    elif isinstance(error, KsefUnavailable) and latarnia_status in LATARNIA_TEXTS:
        extra = " " + LATARNIA_TEXTS[latarnia_status]
    return UserMessage(base.title, base.advice + extra)


def rejection_message(error: KsefInvoiceRejected) -> UserMessage:
    """Build the rejection message from KSeF's status code, description and details."""
    subject = f"Faktura {error.invoice_number}" if error.invoice_number else "Faktura"
    lines = [f"{subject} została odrzucona przez KSeF (kod {error.code}): {error.detail}."]
    lines.extend(f"Szczegóły: {item}" for item in error.details)
    if isinstance(error, KsefDuplicateInvoice):
        if error.original_ksef_number:
            lines.append(f"Ta faktura jest już w KSeF pod numerem {error.original_ksef_number}"
                         + (f" (sesja {error.original_session})." if error.original_session else "."))
        lines.append("Nie wysyłaj jej ponownie; jeśli to inna faktura, nadaj jej nowy numer.")
    else:
        lines.append(_REJECTION_ADVICE.get(error.code or 0, "Sprawdź fakturę i spróbuj ponownie później."))
    return UserMessage(MESSAGES[KsefInvoiceRejected].title, " ".join(lines))


def format_wait(seconds: float) -> str:
    """Return a Polish duration such as "45 s", "3 min" or "2 godz. 5 min"."""
    total = max(0, int(-(-seconds // 1)))
    if total < 60:
        return f"{total} s"
    minutes = -(-total // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} godz." + (f" {rest} min" if rest else "")


# -- KSeF codes to classes (docs/ksef-protocol.md §7, §7.1) -------------------------------------------

REVOKED_TOKEN_TEXT = "Token KSeF został unieważniony."
_EXCEPTION_CODES: dict[int, type[KsefError]] = {
    21111: KsefUnauthenticated,  # Nieprawidłowe wyzwanie autoryzacyjne
    21155: KsefRateLimited,      # Przekroczono dozwoloną liczbę faktur w sesji (§7.1)
    21173: KsefNoSession,
    21180: KsefNoSession,
    21182: KsefRateLimited,      # Osiągnięto limit trwających eksportów
    21301: KsefUnauthorized,
    21304: KsefUnauthenticated,
    21308: KsefUnauthenticated,  # metody autoryzacyjne osoby zmarłej
    21405: KsefRequestInvalid,
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
    return KsefUnauthenticated(description, **kwargs)  # 450 other details, 460, 470, unknown


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
