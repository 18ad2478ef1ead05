"""What the user reads about a KSeF error: a title and what to do, in Polish — one table for the whole program.

Each error class of ksef/errors.py has a row; where KSeF's code says more (a signature refused for a
reason, a certificate status 460 with its detail, a certificate request 25001-25011, an authentication
status 415/470/480) that code has its own row. Texts follow KSeF's own wording of the code (the official
OpenAPI error tables) and add what the user can do. The copyable "Szczegóły" (code, time, references,
KSeF's warnings) are made by sending/remote.describe().
"""
from __future__ import annotations

from dataclasses import dataclass

from ksef_local.ksef.errors import (
    KsefAuthMethodNotAllowed,
    KsefCertificateRejected,
    KsefCertificateRequestRejected,
    KsefDuplicateInvoice,
    KsefError,
    KsefHashMismatch,
    KsefInvoiceRejected,
    KsefNoSession,
    KsefRateLimited,
    KsefRequestInvalid,
    KsefSessionUnavailable,
    KsefSignatureRejected,
    KsefTokenRevoked,
    KsefUnauthenticated,
    KsefUnauthorized,
    KsefUnavailable,
)

CHECK_CONNECTION = "Sprawdź też połączenie z internetem."
# Where a certificate is the way out: every message about tokens ending points there.
TO_CERTIFICATE = ("Przejdź na certyfikat (przycisk „Przejdź na certyfikat” albo Ustawienia KSeF → Certyfikaty KSeF):"
                  " wystarczy raz podpisać plik Profilem Zaufanym albo podpisem kwalifikowanym, a program sam"
                  " uzyska certyfikaty KSeF. Faktury czekają w kolejce.")
TOKENS_END = "Tokeny KSeF działają tylko do 31.12.2026; od 1.01.2027 KSeF przyjmuje logowanie wyłącznie certyfikatem."
SIGN_AGAIN = "Pobierz nowy plik do podpisania, podpisz go bez zmieniania treści i wczytaj w ciągu 10 minut."


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
        "KSeF nie rozpoznał sesji, w której program wysłał fakturę (sesja wygasła albo KSeF chwilowo jej nie "
        "widzi). Program najpierw sprawdza w KSeF, czy faktura już tam jest, i wyśle ją w nowej sesji tylko "
        "wtedy, gdy jej tam nie ma – nic nie trzeba robić. Jeśli trwa to ponad godzinę, sprawdź komunikaty "
        "KSeF (Latarnia) i zgłoś problem pomocy technicznej KSeF, podając szczegóły poniżej.",
    ),
    KsefSessionUnavailable: UserMessage(
        "Sesja KSeF chwilowo niedostępna",
        "KSeF nie przyjął faktury, bo sesja była chwilowo niedostępna. Program wyśle ją sam w nowej sesji – "
        "nic nie trzeba robić.",
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
        "KSeF nie przyjmuje tego tokena: został unieważniony. " + TOKENS_END + " " + TO_CERTIFICATE,
    ),
    KsefAuthMethodNotAllowed: UserMessage(
        "KSeF nie przyjmuje już logowania tokenem", TOKENS_END + " " + TO_CERTIFICATE,
    ),
    KsefSignatureRejected: UserMessage("Podpis odrzucony przez KSeF", SIGN_AGAIN),
    KsefCertificateRejected: UserMessage("Błąd certyfikatu", "KSeF nie przyjął certyfikatu. Sprawdź Szczegóły i użyj "
                                                             "innego ważnego certyfikatu."),
    KsefCertificateRequestRejected: UserMessage("KSeF odrzucił wniosek o certyfikat",
                                                "Sprawdź Szczegóły i spróbuj ponownie."),
    KsefRequestInvalid: UserMessage(
        "Dokument nie jest zgodny ze schemą (json)",
        "KSeF odrzucił strukturę żądania; to zwykle błąd po stronie Ministerstwa Finansów. Poczekaj na "
        "rozwiązanie problemu i spróbuj później.",
    ),
    KsefInvoiceRejected: UserMessage("Faktura odrzucona przez KSeF", ""),
    KsefHashMismatch: UserMessage(
        "Pobrany plik różni się od zapisanego w KSeF",
        "Skrót SHA-256 pobranego pliku nie zgadza się ze skrótem podanym przez KSeF, więc pliku nie zapisano. "
        "Program pobierze go ponownie później; jeśli błąd się powtarza, zgłoś go (Szczegóły). " + CHECK_CONNECTION,
    ),
}

# Purchase invoices (sending/purchases.py): what reading invoices from KSeF needs that sending does not.
NO_INVOICE_READ = UserMessage(
    "Brak uprawnienia do odczytu faktur",
    "KSeF nie pozwala pobierać faktur zakupowych dla NIP {nip} (brak uprawnienia InvoiceRead – przeglądanie "
    "faktur). Nadaj je w Aplikacji Podatnika KSeF albo zaloguj się certyfikatem właściciela firmy; token musi mieć "
    "uprawnienie do przeglądania faktur. Wysyłanie faktur działa dalej, a pobieranie ruszy samo po zmianie "
    "uprawnień lub danych logowania.",
)
PURCHASE_DAMAGED = UserMessage(
    "Pobrana faktura zakupowa jest niezgodna z KSeF",
    "Faktury nie zapisano, bo jej treść nie zgadza się ze skrótem (invoiceHash) podanym przez KSeF albo nie jest "
    "plikiem FA(3). Program spróbuje pobrać ją ponownie później; jeśli błąd się powtarza, zgłoś go (Szczegóły).",
)
PURCHASE_FORBIDDEN = UserMessage(
    "KSeF nie udostępnia tej faktury",
    "KSeF odmówił pobrania faktury dla NIP z Ustawień KSeF. Jeśli firma nie jest jej nabywcą ani podmiotem "
    "trzecim, można to zignorować; program spróbuje jeszcze raz za dobę.",
)
PURCHASE_NOT_YET = UserMessage(
    "Faktura jeszcze niedostępna w KSeF",
    "KSeF nadał numer, ale faktury nie da się jeszcze pobrać. Program spróbuje ponownie za kilka minut.",
)


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
    base = specific_message(error) or MESSAGES[cls]
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


def specific_message(error: KsefError) -> UserMessage | None:
    """The message of KSeF's code or detail when it has its own row, else None."""
    if isinstance(error, KsefCertificateRejected):
        return next((m for detail, m in CERTIFICATE_DETAILS.items() if any(d.startswith(detail)
                                                                           for d in error.details)), None)
    if isinstance(error, KsefTokenRevoked) and any(d.startswith("Token nieaktywny") for d in error.details):
        return UserMessage("Token KSeF nieaktywny", "KSeF nie przyjmuje tego tokena: token jest nieaktywny. "
                           + TOKENS_END + " " + TO_CERTIFICATE)
    if error.code in CODE_MESSAGES and error.code is not None and error.code >= 9000:
        message = CODE_MESSAGES[error.code]
        if error.code == 9105 and error.details:
            return UserMessage(message.title, f"{message.advice} KSeF podał: {'; '.join(error.details)}")
        return message
    if isinstance(error, (KsefUnauthorized, KsefUnauthenticated)) and error.code in AUTH_STATUS_MESSAGES:
        return AUTH_STATUS_MESSAGES[error.code]
    return None


# Exception codes with their own message (official OpenAPI: the 400 tables of /auth/xades-signature,
# /certificates/enrollments and /certificates/{serial}/revoke).
CODE_MESSAGES: dict[int, UserMessage] = {
    9101: UserMessage("Nieprawidłowy dokument logowania",
                      "KSeF nie rozpoznał wczytanego pliku jako podpisanego dokumentu logowania. " + SIGN_AGAIN),
    9102: UserMessage("Brak podpisu",
                      "Wczytany plik nie jest podpisany. Wczytaj plik zapisany przez Profil Zaufany lub program do "
                      "podpisu (a nie plik pobrany z ksef-local przed podpisaniem)."),
    9103: UserMessage("Za dużo podpisów",
                      "Plik ma więcej niż jeden podpis, a KSeF przyjmuje dokładnie jeden. " + SIGN_AGAIN),
    9105: UserMessage("Nieprawidłowy podpis",
                      "KSeF nie przyjął podpisu. Podpis musi być w formacie XAdES otaczanym lub otoczonym (nie "
                      "zewnętrznym – „detached”) i obejmować cały plik. " + SIGN_AGAIN),
    21001: UserMessage("Nieczytelny plik",
                       "KSeF nie mógł odczytać przesłanego pliku. Wczytaj plik XML podpisany w Profilu Zaufanym lub "
                       "programem do podpisu – nie PDF ani zrzut ekranu."),
    21111: UserMessage("Wyzwanie logowania wygasło",
                       "Plik do podpisania jest ważny 10 minut i można go użyć tylko raz. " + SIGN_AGAIN),
    21115: UserMessage("Nieprawidłowy certyfikat",
                       "KSeF nie przyjął certyfikatu użytego do podpisu. Użyj ważnego certyfikatu kwalifikowanego "
                       "(podpisu albo pieczęci firmy), certyfikatu KSeF albo Profilu Zaufanego."),
    21117: UserMessage("Certyfikat nie pasuje do NIP logowania",
                       "Identyfikator w certyfikacie (NIP albo PESEL) nie pasuje do rodzaju kontekstu logowania. "
                       "Sprawdź NIP w Ustawieniach KSeF i certyfikat, którym podpisujesz."),
    21217: UserMessage("Nieprawidłowe kodowanie znaków",
                       "Podpisany plik nie jest zapisany w UTF-8. Nie otwieraj i nie zapisuj go w edytorze – wczytaj "
                       "dokładnie taki plik, jaki zapisał program do podpisu."),
    21401: UserMessage("Plik logowania niezgodny ze schematem",
                       "Treść pliku zmieniła się przed podpisaniem albo to nie jest plik z ksef-local. " + SIGN_AGAIN),
    21406: UserMessage("Podpis nie pasuje do sposobu logowania",
                       "Rodzaj podpisu nie pasuje do sposobu wskazania podmiotu w pliku logowania. " + SIGN_AGAIN),
    25001: UserMessage("Certyfikat KSeF wymaga logowania podpisem",
                       "Dane do certyfikatu KSeF można pobrać tylko w sesji otwartej podpisem, nie tokenem. "
                       + TO_CERTIFICATE),
    25002: UserMessage("Certyfikat KSeF wymaga logowania podpisem",
                       "Wniosek o certyfikat KSeF można złożyć tylko w sesji otwartej podpisem, nie tokenem. "
                       + TO_CERTIFICATE),
    25003: UserMessage("Dane wniosku nie zgadzają się z podpisem",
                       "Dane we wniosku o certyfikat różnią się od danych osoby lub firmy, która się podpisała. "
                       "Spróbuj ponownie; jeśli błąd się powtarza, zgłoś go (Szczegóły)."),
    25004: UserMessage("Niepoprawny wniosek o certyfikat",
                       "KSeF nie przyjął wniosku o certyfikat (format lub podpis wniosku). Spróbuj ponownie; jeśli "
                       "błąd się powtarza, zgłoś go (Szczegóły)."),
    25005: UserMessage("KSeF nie zna wniosku o certyfikat",
                       "Wniosek nie istnieje albo minęło 30 dni, przez które KSeF go przechowuje. Program złoży nowy "
                       "wniosek przy następnym logowaniu podpisem."),
    25006: UserMessage("Wyczerpany limit wniosków o certyfikaty",
                       "Dla tego NIP złożono już najwięcej wniosków o certyfikaty KSeF, na ile KSeF pozwala. "
                       "Skorzystaj z certyfikatów już wydanych albo zapytaj w Ministerstwie Finansów."),
    25007: UserMessage("Wyczerpany limit certyfikatów KSeF",
                       "Masz już najwięcej aktywnych certyfikatów KSeF. Odwołaj nieużywane (Certyfikaty KSeF → lista "
                       "w KSeF → Odwołaj) i spróbuj ponownie."),
    25008: UserMessage("Nie ma takiego certyfikatu", "KSeF nie zna certyfikatu o tym numerze seryjnym."),
    25009: UserMessage("Certyfikatu nie można odwołać",
                       "Certyfikat jest już odwołany, zablokowany albo nieważny – nie trzeba nic robić."),
    25010: UserMessage("Nieprawidłowy klucz certyfikatu",
                       "KSeF przyjmuje klucze RSA 2048 albo EC P-256. Spróbuj ponownie; program tworzy klucze "
                       "EC P-256."),
    25011: UserMessage("Nieprawidłowy podpis wniosku o certyfikat",
                       "KSeF nie przyjął algorytmu podpisu wniosku. Spróbuj ponownie; jeśli błąd się powtarza, "
                       "zgłoś go (Szczegóły)."),
}

# Final authentication statuses with their own message (AuthenticationOperationStatusResponse, docs §2.1).
AUTH_STATUS_MESSAGES: dict[int, UserMessage] = {
    415: UserMessage("Brak uprawnień w KSeF",
                     "Osoba lub firma z certyfikatu nie ma w KSeF uprawnień dla NIP z Ustawień KSeF. Zaloguj się "
                     "certyfikatem właściciela (pieczęć firmy albo podpis osoby z NIP firmy) albo poproś "
                     "właściciela o nadanie uprawnień w Aplikacji Podatnika KSeF."),
    470: UserMessage("Logowanie odrzucone",
                     "KSeF odrzucił próbę użycia metody logowania osoby zmarłej. Zaloguj się certyfikatem innej "
                     "osoby uprawnionej albo pieczęcią firmy."),
    480: UserMessage("Uwierzytelnienie zablokowane",
                     "KSeF zablokował logowanie w tym kontekście z powodu podejrzenia incydentu bezpieczeństwa. "
                     "Skontaktuj się z Ministerstwem Finansów przez formularz zgłoszeniowy KSeF."),
}

# Status 460: KSeF names the certificate problem in its detail.
CERTIFICATE_DETAILS: dict[str, UserMessage] = {
    "Nieważny certyfikat": UserMessage(
        "Certyfikat nieważny", "Certyfikat wygasł albo jeszcze nie obowiązuje. Dodaj ważny certyfikat w Ustawieniach "
                               "KSeF albo podpisz plik logowania, aby program uzyskał nowy certyfikat KSeF."),
    "Błąd weryfikacji łańcucha certyfikatów": UserMessage(
        "KSeF nie sprawdził certyfikatu", "KSeF nie mógł sprawdzić u wystawcy, czy certyfikat jest ważny. "
                                          "Spróbuj ponownie za kilka minut."),
    "Niezaufany łańcuch certyfikatów": UserMessage(
        "Certyfikat od niezaufanego wystawcy", "KSeF przyjmuje certyfikaty kwalifikowane, certyfikaty KSeF i "
                                               "Profil Zaufany; ten certyfikat wystawił ktoś inny."),
    "Certyfikat odwołany": UserMessage(
        "Certyfikat odwołany", "Certyfikat został unieważniony. Dodaj inny certyfikat albo podpisz plik logowania, "
                               "aby program uzyskał nowy certyfikat KSeF."),
    "Certyfikat zawieszony": UserMessage(
        "Certyfikat zawieszony", "Wystawca zawiesił certyfikat. Wyjaśnij to z wystawcą albo użyj innego "
                                 "certyfikatu."),
    "Niepoprawny certyfikat": UserMessage(
        "Niepoprawny certyfikat", "KSeF uznał certyfikat za niepoprawny. Użyj innego certyfikatu."),
}
