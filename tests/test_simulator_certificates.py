"""KSeF certificates in the simulator: enrollment and its refusals, retrieve, query, revoke, renewal by a
session signed with a KSeF certificate, and the KOD II verification page."""
from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ksef_local.ksef import crypto
from tests.ksef_support import (
    OTHER_NIP,
    SELLER_NIP,
    contract_session,
    invoice_xml,
    new_key,
    self_signed,
)

SEAL_KEY = new_key("EC")
SEAL = self_signed(SEAL_KEY)


def csr_for(data: dict, key=None, drop: str | None = None, add: tuple | None = None) -> str:
    """Build a CSR whose subject is the enrollment data (optionally changed)."""
    oids = {"commonName": NameOID.COMMON_NAME, "surname": NameOID.SURNAME, "serialNumber": NameOID.SERIAL_NUMBER,
            "countryName": NameOID.COUNTRY_NAME, "organizationName": NameOID.ORGANIZATION_NAME,
            "givenName": NameOID.GIVEN_NAME, "uniqueIdentifier": NameOID.X500_UNIQUE_IDENTIFIER,
            "organizationIdentifier": x509.ObjectIdentifier("2.5.4.97")}
    attributes = [x509.NameAttribute(oids[k], v) for k, v in data.items() if k != drop]
    if add:
        attributes.append(x509.NameAttribute(*add))
    key = key or new_key("EC")
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


def api(sim, method: str, path: str, headers: dict, http=None, **kwargs):
    return getattr(http or sim.http, method)(f"{sim.base_url}/v2{path}", headers=headers, timeout=10, **kwargs)


def code_of(response) -> int:
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def enroll(sim, headers, kind: str = "Authentication", key=None, name: str = "Certyfikat ksef-local", http=None):
    """Enroll and wait for the certificate; return (serial, private key, certificate)."""
    data = api(sim, "get", "/certificates/enrollments/data", headers, http).json()
    key = key or new_key("EC")
    sent = api(sim, "post", "/certificates/enrollments", headers, http,
               json={"certificateName": name, "certificateType": kind, "csr": csr_for(data, key)})
    assert sent.status_code == 202, sent.text
    status_path = f"/certificates/enrollments/{sent.json()['referenceNumber']}"
    assert api(sim, "get", status_path, headers, http).json()["status"]["code"] == 100
    sim.clock.advance(2)
    status = api(sim, "get", status_path, headers, http).json()
    assert status["status"]["code"] == 200, status
    serial = status["certificateSerialNumber"]
    found = api(sim, "post", "/certificates/retrieve", headers, http,
                json={"certificateSerialNumbers": [serial]}).json()
    (item,) = found["certificates"]
    assert item["certificateSerialNumber"] == serial and item["certificateType"] == kind
    return serial, key, x509.load_der_x509_certificate(base64.b64decode(item["certificate"]))


def test_enrollment_issues_a_ksef_certificate_that_logs_in(simulator):
    with contract_session() as (http, contract):
        session = simulator.xades_login(SEAL_KEY, SEAL, session=http)
        limits = api(simulator, "get", "/certificates/limits", session["access"], http).json()
        assert limits == {"canRequest": True, "enrollment": {"remaining": 300, "limit": 300},
                          "certificate": {"remaining": 100, "limit": 100}}
        serial, key, cert = enroll(simulator, session["access"], http=http)
        assert len(serial) == 16 and serial == serial.upper() and f"{cert.serial_number:016X}" == serial
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
        assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 730
        assert {(a.oid, a.value) for a in cert.subject} == {(a.oid, a.value) for a in SEAL.subject}
        ksef = simulator.xades_login(key, cert, session=http)
        assert ksef["authenticationMethod"] == "InternalCertificate"
        assert ksef["authenticationMethodInfo"]["code"] == "xades.internal-certificate"
        listed = api(simulator, "post", "/certificates/query", ksef["access"], http, json={"status": "Active"}).json()
        assert [c["certificateSerialNumber"] for c in listed["certificates"]] == [serial]
        assert listed["certificates"][0]["subjectIdentifier"] == {"type": "Nip", "value": SELLER_NIP}
        assert listed["certificates"][0]["lastUseDate"] and listed["hasMore"] is False
    assert contract.validated_count() >= 10


def test_token_sessions_cannot_enroll_query_or_revoke(simulator):
    headers = _token_headers(simulator, simulator.create_token())
    assert api(simulator, "get", "/certificates/limits", headers).json()["canRequest"] is False
    assert code_of(api(simulator, "get", "/certificates/enrollments/data", headers)) == 25001
    data = {"commonName": "Firma Testowa", "countryName": "PL"}
    refused = api(simulator, "post", "/certificates/enrollments", headers,
                  json={"certificateName": "Nowy certyfikat", "certificateType": "Offline", "csr": csr_for(data)})
    assert code_of(refused) == 25002
    for response in (api(simulator, "post", "/certificates/query", headers, json={}),
                     api(simulator, "post", "/certificates/0123456789ABCDEF/revoke", headers, json={})):
        assert response.status_code == 403
        assert response.json()["reasonCode"] == "auth-method-not-allowed"
        assert response.json()["security"] == {"authenticationMethodCategory": "Token"}


def _token_headers(sim, token: str) -> dict:
    from tests.test_ksef_simulator import DocsClient

    docs = DocsClient(sim.base_url, sim.http)
    docs.login(SELLER_NIP, token, sim.clock)
    return docs.headers


@pytest.mark.parametrize("change, code", [
    ({"drop": "organizationName"}, 25003),
    ({"add": (NameOID.LOCALITY_NAME, "Warszawa")}, 25003),
    ({"key": "RSA1024"}, 25010),
    ({"key": "RSA3072"}, 25010),
    ({"csr": "AAAA"}, 25004),
])
def test_enrollment_refusals(simulator, change, code):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    data = api(simulator, "get", "/certificates/enrollments/data", session["access"]).json()
    key = new_key(change["key"]) if "key" in change else None
    csr = change.get("csr") or csr_for(data, key, change.get("drop"), change.get("add"))
    response = api(simulator, "post", "/certificates/enrollments", session["access"],
                   json={"certificateName": "Certyfikat testowy", "certificateType": "Authentication", "csr": csr})
    assert response.status_code == 400 and code_of(response) == code


@pytest.mark.parametrize("name", ["abcd", "x" * 101, "Zły/znak", "Ćma!"])
def test_certificate_names_follow_the_openapi_pattern(simulator, name):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    data = api(simulator, "get", "/certificates/enrollments/data", session["access"]).json()
    response = api(simulator, "post", "/certificates/enrollments", session["access"],
                   json={"certificateName": name, "certificateType": "Offline", "csr": csr_for(data)})
    assert code_of(response) == 21405


def test_polish_letters_and_spaces_are_a_valid_name_and_a_bad_csr_signature_is_25004(simulator):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    enroll(simulator, session["access"], name="Pieczęć źródłowa_1-ŻÓŁW")
    data = api(simulator, "get", "/certificates/enrollments/data", session["access"]).json()
    der = bytearray(base64.b64decode(csr_for(data)))
    der[-5] ^= 0xFF  # inside the signature
    response = api(simulator, "post", "/certificates/enrollments", session["access"], json={
        "certificateName": "Zepsuty podpis", "certificateType": "Offline",
        "csr": base64.b64encode(bytes(der)).decode()})
    assert code_of(response) == 25004


def test_revoked_certificate_cannot_log_in_and_cannot_be_revoked_twice(simulator):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    serial, key, cert = enroll(simulator, session["access"])
    revoked = api(simulator, "post", f"/certificates/{serial}/revoke", session["access"],
                  json={"revocationReason": "KeyCompromise"})
    assert revoked.status_code == 204
    again = api(simulator, "post", f"/certificates/{serial}/revoke", session["access"], json={})
    assert code_of(again) == 25009
    assert code_of(api(simulator, "post", "/certificates/00000000000000AA/revoke", session["access"], json={})) == 25008
    status = simulator.xades_login(key, cert, expect=460)
    assert status["status"]["details"] == ["Certyfikat odwołany"]
    listed = api(simulator, "post", "/certificates/query", session["access"], json={"status": "Revoked"}).json()
    assert [c["certificateSerialNumber"] for c in listed["certificates"]] == [serial]


def test_offline_certificates_cannot_log_in(simulator):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    serial, key, cert = enroll(simulator, session["access"], kind="Offline")
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    assert simulator.xades_login(key, cert, expect=460)["status"]["details"] == ["Niepoprawny certyfikat"]


def test_renewal_a_session_signed_with_a_ksef_certificate_enrolls_its_successor(simulator):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    serial, key, cert = enroll(simulator, session["access"])
    shortened = simulator.http.put(f"{simulator.base_url}/sim/certificates/{serial}",
                                   json={"validTo": "2026-03-10T00:00:00+00:00"})
    assert shortened.status_code == 200, shortened.text
    (item,) = api(simulator, "post", "/certificates/retrieve", session["access"],
                  json={"certificateSerialNumbers": [serial]}).json()["certificates"]
    cert = x509.load_der_x509_certificate(base64.b64decode(item["certificate"]))
    assert cert.not_valid_after_utc.isoformat().startswith("2026-03-10")
    expiring = api(simulator, "post", "/certificates/query", session["access"],
                   json={"expiresAfter": "2026-04-01T00:00:00+00:00"}).json()
    assert expiring["certificates"] == []
    ksef_session = simulator.xades_login(key, cert)
    new_serial, new_key_, new_cert = enroll(simulator, ksef_session["access"], name="Następca")
    assert new_serial != serial and new_cert.subject == cert.subject
    simulator.clock.advance(10 * 86400)
    assert simulator.xades_login(key, cert, expect=460)["status"]["details"] == ["Nieważny certyfikat"]
    simulator.xades_login(new_key_, new_cert)


def test_query_pages_and_filters(simulator):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    serials = [enroll(simulator, session["access"], kind=kind, name=f"Certyfikat {i}")[0]
               for i, kind in enumerate(["Offline"] * 11 + ["Authentication"])]
    page = api(simulator, "post", "/certificates/query?pageSize=10&pageOffset=0", session["access"], json={}).json()
    assert len(page["certificates"]) == 10 and page["hasMore"] is True
    assert page["certificates"][0]["certificateSerialNumber"] == serials[-1]  # newest request first
    rest = api(simulator, "post", "/certificates/query?pageSize=10&pageOffset=1", session["access"], json={}).json()
    assert len(rest["certificates"]) == 2 and rest["hasMore"] is False
    auth_only = api(simulator, "post", "/certificates/query", session["access"], json={"type": "Authentication"})
    assert [c["certificateSerialNumber"] for c in auth_only.json()["certificates"]] == [serials[-1]]
    by_name = api(simulator, "post", "/certificates/query", session["access"], json={"name": "Certyfikat 3"}).json()
    assert [c["name"] for c in by_name["certificates"]] == ["Certyfikat 3"]
    assert code_of(api(simulator, "post", "/certificates/query?pageSize=51", session["access"], json={})) == 21405
    assert code_of(api(simulator, "get", "/certificates/enrollments/20260302-EH-0000000000-0000000000-00",
                       session["access"])) == 25005
    limits = api(simulator, "get", "/certificates/limits", session["access"]).json()
    assert limits["certificate"]["remaining"] == 100 - 12 and limits["enrollment"]["remaining"] == 300 - 12


# -- KOD II --------------------------------------------------------------------------------------------

def kod2_page(sim, serial: str, key, *, nip: str = SELLER_NIP, signer=None) -> str:
    unsigned = crypto.certificate_verification_path(sim.base_url, "Nip", nip, nip, serial, invoice_xml())
    url = crypto.sign_certificate_verification_url(unsigned, signer or key)
    response = sim.http.get(url, timeout=10)
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_kod2_page_confirms_a_valid_offline_certificate_and_signature(simulator, key_type):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    serial, key, _ = enroll(simulator, session["access"], kind="Offline", key=new_key(key_type))
    page = kod2_page(simulator, serial, key)
    for line in ("Certyfikat istnieje", "Certyfikat jest aktywny", "Podpis wystawcy jest prawidłowy",
                 "Wystawca posiada uprawnienia do wystawienia faktury", "Certyfikat zweryfikowany pozytywnie"):
        assert line in page


def test_kod2_page_refuses_authentication_revoked_bad_signature_and_unknown(simulator):
    session = simulator.xades_login(SEAL_KEY, SEAL)
    auth_serial, auth_key, _ = enroll(simulator, session["access"])
    page = kod2_page(simulator, auth_serial, auth_key)
    assert "nie jest certyfikatem typu Offline" in page and "zakończona negatywnie" in page
    serial, key, _ = enroll(simulator, session["access"], kind="Offline")
    bad = kod2_page(simulator, serial, key, signer=new_key("EC"))
    assert "Podpis wystawcy jest nieprawidłowy" in bad and "zakończona negatywnie" in bad
    assert "Wystawca nie posiada uprawnień" in kod2_page(simulator, serial, key, nip=OTHER_NIP)
    api(simulator, "post", f"/certificates/{serial}/revoke", session["access"], json={})
    revoked = kod2_page(simulator, serial, key)
    assert "Certyfikat nie jest aktywny (odwołany)" in revoked and "zakończona negatywnie" in revoked
    unknown = kod2_page(simulator, "0000000000000ABC", key)
    assert "Certyfikat nie istnieje" in unknown


def test_kod2_page_escapes_what_it_echoes(simulator):
    response = simulator.http.get(f"{simulator.base_url}/certificate/Nip/%3Cb%3E/1/%3Cscript%3E/x/y", timeout=10)
    assert "<script>" not in response.text and "&lt;b&gt;" in response.text


def test_demo_certificate_validity_and_ksef_certificate_days_option(simulator):
    simulator.options(ksefCertificateDays=30)
    session = simulator.xades_login(SEAL_KEY, SEAL)
    _, _, cert = enroll(simulator, session["access"])
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=30)
    demo = simulator.demo_certificate(nip=SELLER_NIP, validDays=5)
    assert "pkcs12" not in demo and len(demo["fingerprint"]) == 64
