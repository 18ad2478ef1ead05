"""The error tree and the one message table, code by code, with `responses` (one response shape each)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests
import responses

from ksef_local.ksef import errors, messages
from ksef_local.ksef.transport import Transport, parse_retry_after, scrub

BASE = "https://api-test.ksef.mf.gov.pl/v2"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
TITLES = {
    errors.KsefUnauthorized: "Brak autoryzacji",
    errors.KsefNoSession: "Brak sesji",
    errors.KsefSessionUnavailable: "Sesja KSeF chwilowo niedostępna",
    errors.KsefUnauthenticated: "Brak uwierzytelnienia",
    errors.KsefRateLimited: "Limit żądań osiągnięty",
    errors.KsefUnavailable: "Serwis KSeF nie odpowiada",
    errors.KsefTokenRevoked: "Token unieważniony",
    errors.KsefRequestInvalid: "Dokument nie jest zgodny ze schemą (json)",
}


def legacy(code: int, description: str, *details: str) -> dict:
    return {"exception": {"exceptionDetailList": [{"exceptionCode": code, "exceptionDescription": description,
                                                   "details": list(details)}],
                          "serviceCode": "x", "timestamp": "2026-03-02T09:00:00"}}


def problem(code: int, description: str, *details: str) -> dict:
    return {"title": "Bad Request", "status": 400, "instance": "/v2/x", "detail": "Żądanie jest nieprawidłowe.",
            "errors": [{"code": code, "description": description, "details": list(details)}],
            "timestamp": "2026-03-02T09:00:00Z", "traceId": "t"}


def call(status: int, *, json=None, body=None, headers=None, content_type=None) -> errors.KsefError:
    with responses.RequestsMock() as mock, requests.Session() as session:
        kwargs = {"json": json} if json is not None else {"body": body or ""}
        if content_type:
            kwargs["content_type"] = content_type
        mock.add(responses.GET, f"{BASE}/x", status=status, headers=headers or {}, **kwargs)
        with pytest.raises(errors.KsefError) as caught:
            Transport(BASE, session, clock=lambda: NOW).request("GET", "/x")
    return caught.value


CASES = [
    # (id, status, json, headers, expected class)
    ("400-21405-legacy", 400, legacy(21405, "Błąd walidacji danych wejściowych.", "x"), None,
     errors.KsefRequestInvalid),
    ("400-21405-problem", 400, problem(21405, "Błąd walidacji danych wejściowych."), None, errors.KsefRequestInvalid),
    ("400-21402", 400, legacy(21402, "Nieprawidłowy rozmiar pliku."), None, errors.KsefRequestInvalid),
    ("400-21173", 400, legacy(21173, "Brak sesji o wskazanym numerze referencyjnym."), None, errors.KsefNoSession),
    ("400-21180", 400, problem(21180, "Status sesji nie pozwala na wykonanie operacji."), None, errors.KsefNoSession),
    ("400-21184", 400, problem(21184, "Sesja tymczasowo niedostępna."), None, errors.KsefSessionUnavailable),
    ("400-21304", 400, legacy(21304, "Brak uwierzytelnienia."), None, errors.KsefUnauthenticated),
    ("400-21111", 400, legacy(21111, "Nieprawidłowe wyzwanie autoryzacyjne."), None, errors.KsefUnauthenticated,
     "Wyzwanie logowania wygasło"),
    ("400-21301", 400, legacy(21301, "Brak autoryzacji.",
                              "Tokeny dla operacji uwierzytelniania X zostały już pobrane."),
     None, errors.KsefUnauthorized),
    ("400-21301-revoked", 400, problem(21301, "Brak autoryzacji.", "Token KSeF został unieważniony."), None,
     errors.KsefTokenRevoked),
    ("400-21155", 400, legacy(21155, "Przekroczono dozwoloną liczbę faktur w sesji."), None, errors.KsefRateLimited),
    ("401", 401, {"title": "Unauthorized", "status": 401, "detail": "Wymagane jest uwierzytelnienie."}, None,
     errors.KsefUnauthenticated),
    ("403", 403, {"title": "Forbidden", "status": 403, "detail": "x", "reasonCode": "missing-permissions"}, None,
     errors.KsefUnauthorized),
    ("403-auth-method", 403, {"title": "Forbidden", "status": 403, "detail": "x",
                              "reasonCode": "auth-method-not-allowed"}, None, errors.KsefAuthMethodNotAllowed,
     "KSeF nie przyjmuje już logowania tokenem"),
    ("400-9102", 400, problem(9102, "Brak podpisu."), None, errors.KsefSignatureRejected, "Brak podpisu"),
    ("400-21401", 400, legacy(21401, "Dokument nie jest zgodny ze schemą (xsd).", "x"), None,
     errors.KsefSignatureRejected, "Plik logowania niezgodny ze schematem"),
    ("400-25003", 400, problem(25003, "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym."),
     None, errors.KsefCertificateRequestRejected, "Dane wniosku nie zgadzają się z podpisem"),
    ("400-25007", 400, legacy(25007, "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów."), None,
     errors.KsefCertificateRequestRejected, "Wyczerpany limit certyfikatów KSeF"),
    ("429", 429, {"status": {"code": 429, "description": "Too Many Requests", "details": ["Przekroczono limit."]}},
     {"Retry-After": "30"}, errors.KsefRateLimited),
    ("500", 500, {"title": "x"}, None, errors.KsefUnavailable),
    ("503", 503, {}, None, errors.KsefUnavailable),
]


@pytest.mark.parametrize("status,json,headers,expected,title", [(*c[1:5], c[5] if len(c) > 5 else None) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_http_answer_maps_to_error_class_and_title(status, json, headers, expected, title):
    error = call(status, json=json, headers=headers)
    assert type(error) is expected
    assert messages.user_message(error).title == (title or TITLES[expected])


def test_9105_message_carries_ksefs_detail():
    error = call(400, json=problem(9105, "Nieprawidłowy podpis.", "Format podpisu niezgodny z akceptowanymi "
                                                                   "profilami XAdES"))
    message = messages.user_message(error)
    assert message.title == "Nieprawidłowy podpis"
    assert "Format podpisu niezgodny z akceptowanymi profilami XAdES" in message.advice and "detached" in message.advice


def test_system_warning_header_is_kept_on_the_error_and_the_transport():
    with responses.RequestsMock() as mock, requests.Session() as session:
        mock.add(responses.GET, f"{BASE}/x", status=400, json=problem(21405, "Błąd walidacji danych wejściowych."),
                 headers={"X-System-Warning": "[sig-001]: Podpis zostanie odrzucony | [xml-002]: Znaki C1"})
        transport = Transport(BASE, session, clock=lambda: NOW)
        with pytest.raises(errors.KsefRequestInvalid) as caught:
            transport.request("GET", "/x")
    assert caught.value.warnings == ("[sig-001]: Podpis zostanie odrzucony", "[xml-002]: Znaki C1")
    assert transport.warnings == ["[sig-001]: Podpis zostanie odrzucony", "[xml-002]: Znaki C1"]


def test_502_gateway_html_page_is_unavailable():
    error = call(502, body="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
    assert isinstance(error, errors.KsefUnavailable) and error.http_status == 502


def test_connection_error_and_timeout_are_unavailable():
    for failure in (requests.ConnectionError("refused"), requests.Timeout("slow")):
        with responses.RequestsMock() as mock, requests.Session() as session:
            mock.add(responses.GET, f"{BASE}/x", body=failure)
            with pytest.raises(errors.KsefUnavailable):
                Transport(BASE, session).request("GET", "/x")


def test_403_keeps_reason_code_and_21405_keeps_details():
    forbidden = call(403, json={"title": "Forbidden", "status": 403, "detail": "x", "reasonCode": "ip-not-allowed"})
    assert forbidden.reason_code == "ip-not-allowed"
    invalid = call(400, json=problem(21405, "Błąd walidacji danych wejściowych.",
                                     "Wskazany kod formularza nie jest wspierany."))
    assert invalid.code == 21405 and invalid.details == ("Wskazany kod formularza nie jest wspierany.",)


def test_retry_after_in_seconds_and_as_http_date():
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Mon, 02 Mar 2026 09:05:00 GMT", NOW) == 300
    assert parse_retry_after("nonsense", NOW) is None
    dated = call(429, json={"title": "Too Many Requests", "status": 429, "detail": "x"},
                 headers={"Retry-After": "Mon, 02 Mar 2026 10:00:00 GMT"})
    assert dated.retry_after == 3600
    assert "Spróbuj ponownie za 1 godz." in messages.user_message(dated).advice


@pytest.mark.parametrize("code,details,expected,title", [
    (415, ("Brak przypisanych uprawnień",), errors.KsefUnauthorized, "Brak uprawnień w KSeF"),
    (425, ("Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione przez użytkownika",),
     errors.KsefTokenRevoked, None),
    (450, ("Token unieważniony",), errors.KsefTokenRevoked, None),
    (450, ("Token nieaktywny",), errors.KsefTokenRevoked, "Token KSeF nieaktywny"),
    (450, ("Nieprawidłowy token",), errors.KsefUnauthenticated, None),
    (450, ("Nieprawidłowe wyzwanie autoryzacyjne",), errors.KsefUnauthenticated, None),
    (460, ("Nieważny certyfikat",), errors.KsefCertificateRejected, "Certyfikat nieważny"),
    (460, ("Błąd weryfikacji łańcucha certyfikatów",), errors.KsefCertificateRejected,
     "KSeF nie sprawdził certyfikatu"),
    (460, ("Niezaufany łańcuch certyfikatów",), errors.KsefCertificateRejected, "Certyfikat od niezaufanego wystawcy"),
    (460, ("Certyfikat odwołany",), errors.KsefCertificateRejected, "Certyfikat odwołany"),
    (460, ("Certyfikat zawieszony",), errors.KsefCertificateRejected, "Certyfikat zawieszony"),
    (460, ("Niepoprawny certyfikat",), errors.KsefCertificateRejected, "Niepoprawny certyfikat"),
    (470, ("Próba wykorzystania metod autoryzacyjnych osoby zmarłej",), errors.KsefUnauthenticated,
     "Logowanie odrzucone"),
    (480, ("Podejrzenie incydentu bezpieczeństwa.",), errors.KsefUnauthorized, "Uwierzytelnienie zablokowane"),
    (500, (), errors.KsefUnavailable, None),
    (550, ("Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie",),
     errors.KsefUnavailable, None),
])
def test_auth_status_maps_to_typed_error(code, details, expected, title):
    error = errors.error_for_auth_status(code, "opis", details)
    assert type(error) is expected and error.code == code
    assert messages.user_message(error).title == (title or TITLES[expected])


def test_token_refusals_lead_to_the_certificate():
    """Issue: when KSeF refuses the token as a login method, the message says so and leads to a certificate."""
    for error in (errors.KsefAuthMethodNotAllowed("x", http_status=403, reason_code="auth-method-not-allowed"),
                  errors.error_for_auth_status(450, "opis", ("Token nieaktywny",)),
                  errors.error_for_auth_status(450, "opis", ("Token unieważniony",)),
                  errors.error_for_exception(21301, "Brak autoryzacji.", ("Token KSeF został unieważniony.",))):
        advice = messages.user_message(error).advice
        assert "31.12.2026" in advice and "Przejdź na certyfikat" in advice and "czekają w kolejce" in advice


@pytest.mark.parametrize("code", [410, 415, 430, 435, 450, 500, 550])
def test_invoice_rejection_message_carries_ksef_description_and_details(code):
    error = errors.error_for_invoice_status(code, "Opis KSeF", ("Szczegół 1",), None, "FV/1/2026")
    message = messages.user_message(error)
    assert message.title == "Faktura odrzucona przez KSeF"
    assert "FV/1/2026" in message.advice and "Opis KSeF" in message.advice and "Szczegół 1" in message.advice
    assert f"kod {code}" in message.advice


def test_duplicate_440_message_names_the_original_ksef_number():
    error = errors.error_for_invoice_status(440, "Duplikat faktury", (), {
        "originalKsefNumber": "5265877635-20250626-010080DD2B5E-26",
        "originalSessionReferenceNumber": "20250626-SO-2F14610000-242991F8C9-B4"}, "FV/2/2026")
    assert isinstance(error, errors.KsefDuplicateInvoice)
    assert error.original_ksef_number == "5265877635-20250626-010080DD2B5E-26"
    assert "5265877635-20250626-010080DD2B5E-26" in messages.user_message(error).advice


def test_every_error_class_has_exactly_one_row_and_connection_reminder_where_it_fits():
    classes = {errors.KsefUnavailable, errors.KsefRateLimited, errors.KsefUnauthenticated, errors.KsefUnauthorized,
               errors.KsefTokenRevoked, errors.KsefNoSession, errors.KsefRequestInvalid, errors.KsefInvoiceRejected,
               errors.KsefDuplicateInvoice, errors.KsefSignatureRejected, errors.KsefCertificateRejected,
               errors.KsefAuthMethodNotAllowed, errors.KsefCertificateRequestRejected, errors.KsefSessionUnavailable}
    for cls in classes:
        assert messages.message_class(cls()) in messages.MESSAGES
    for cls in (errors.KsefUnavailable, errors.KsefUnauthenticated):
        assert messages.CHECK_CONNECTION in messages.MESSAGES[cls].advice
    # "Brak sesji" is KSeF's side: the program looks the invoice up by hash, the user has nothing to check
    assert "nic nie trzeba robić" in messages.MESSAGES[errors.KsefNoSession].advice


@pytest.mark.parametrize("code", [9101, 9102, 9103, 9105, 21001, 21111, 21115, 21117, 21217, 21401, 21406,
                                  *range(25001, 25012)])
def test_every_signature_and_certificate_code_has_its_own_message(code):
    error = errors.error_for_exception(code, "opis KSeF", ())
    message = messages.user_message(error)
    assert message == messages.CODE_MESSAGES[code] and message.title and message.advice


def test_unavailable_message_shows_latarnia_status():
    message = messages.user_message(errors.KsefUnavailable(), "MAINTENANCE")
    assert "przerwa konserwacyjna" in message.advice
    assert "Latarnia" not in messages.user_message(errors.KsefUnavailable()).advice


def test_scrub_hides_tokens_keys_and_encrypted_content():
    body = {"challenge": "c", "encryptedToken": "secret", "authenticationToken": {"token": "jwt"},
            "encryption": {"encryptedSymmetricKey": "k", "initializationVector": "iv", "publicKeyId": "id"},
            "encryptedInvoiceContent": "blob", "invoiceHash": "h"}
    cleaned = scrub(body)
    assert "secret" not in repr(cleaned) and "jwt" not in repr(cleaned) and "blob" not in repr(cleaned)
    assert cleaned["challenge"] == "c" and cleaned["invoiceHash"] == "h"
    assert cleaned["encryption"]["publicKeyId"] == "id" and cleaned["encryption"]["encryptedSymmetricKey"] == "***"


def test_format_wait_in_polish():
    assert [messages.format_wait(s) for s in (0.2, 45, 61, 3600, 3725)] == ["1 s", "45 s", "2 min", "1 godz.",
                                                                            "1 godz. 3 min"]


def test_a_403_without_timestamp_or_detail_is_still_understood():
    """API 2.8: a 403 may come without `timestamp`; the reason code is what matters."""
    missing = call(403, json={"title": "Forbidden", "status": 403, "reasonCode": "missing-permissions"},
                   content_type="application/problem+json")
    assert isinstance(missing, errors.KsefUnauthorized) and missing.reason_code == "missing-permissions"
    assert messages.user_message(missing).title == "Brak autoryzacji"
    method = call(403, json={"status": 403, "reasonCode": "auth-method-not-allowed", "detail": "Token"})
    assert isinstance(method, errors.KsefAuthMethodNotAllowed)
    bare = call(403, body="")
    assert isinstance(bare, errors.KsefUnauthorized) and bare.http_status == 403
