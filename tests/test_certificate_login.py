"""Logging in by certificate: our XAdES signature checked by verifiers that are not our code, the client's
three ways in against the simulator, and the errors and warnings a signature login can meet."""
from __future__ import annotations

import base64
import logging
from datetime import timedelta

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from lxml import etree

from ksef_local.ksef import errors, messages, xades
from ksef_local.ksef.auth import CertificateCredentials, SignedRequest
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.environments import custom
from tests.ksef_support import (
    DS_NS,
    OPENAPI_PATH,
    SELLER_NIP,
    START,
    XADES_NS,
    contract_session,
    invoice_xml,
    new_key,
    running_simulator,
    self_signed,
    sign_xmlsec,
)

AUTH_XSD = OPENAPI_PATH.parent / "schemas" / "auth" / "schemat_auth_v2-1.xsd"
CHALLENGE = "20261124-CR-0123456789-ABCDEF0123-45"


def signed(key_type: str):
    key = new_key(key_type)
    certificate = self_signed(key)
    document = xades.auth_token_request(CHALLENGE, SELLER_NIP)
    return key, certificate, xades.sign_enveloped(document, certificate, key, START)


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_our_signature_verifies_with_signxml_an_independent_verifier(key_type):
    from signxml.xades import XAdESVerifier

    key, certificate, document = signed(key_type)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    results = XAdESVerifier().verify(document, x509_cert=pem, expect_references=2)
    assert results, "signxml found nothing to verify"
    tampered = document.replace(SELLER_NIP.encode(), b"7342867148")
    with pytest.raises(Exception, match="(?i)digest"):
        XAdESVerifier().verify(tampered, x509_cert=pem, expect_references=2)


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_our_signature_has_the_shape_ksef_asks_for(key_type):
    key, certificate, document = signed(key_type)
    assert not document.startswith(b"\xef\xbb\xbf")
    root = etree.fromstring(document)
    signature = root[-1]
    assert signature.tag == f"{{{DS_NS}}}Signature"   # enveloped, the root's last child
    ns = {"ds": DS_NS, "xades": XADES_NS}
    assert signature.find("ds:SignedInfo/ds:CanonicalizationMethod", ns).get("Algorithm") == \
        "http://www.w3.org/2001/10/xml-exc-c14n#"
    references = signature.findall("ds:SignedInfo/ds:Reference", ns)
    assert [r.get("URI") for r in references] == ["", "#WlasciwosciPodpisu"]
    assert references[1].get("Type") == "http://uri.etsi.org/01903#SignedProperties"
    properties = signature.find("ds:Object/xades:QualifyingProperties/xades:SignedProperties", ns)
    assert properties.findtext(".//xades:SigningTime", namespaces=ns).startswith("2026-03-02T08:59")
    digest = properties.findtext(".//xades:CertDigest/ds:DigestValue", namespaces=ns)
    from cryptography.hazmat.primitives import hashes
    assert base64.b64decode(digest) == certificate.fingerprint(hashes.SHA256())
    assert properties.findtext(".//xades:IssuerSerial/ds:X509SerialNumber", namespaces=ns) == \
        str(certificate.serial_number)
    value = base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=ns))
    if key_type == "EC":
        assert len(value) == 64   # R‖S, not DER (auth/podpis-xades.md)
        r, s = int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        assert r and s and encode_dss_signature(r, s)


def test_the_unsigned_request_is_valid_against_the_official_xsd():
    if not AUTH_XSD.exists():
        pytest.skip(f"AuthTokenRequest XSD not available at {AUTH_XSD} (../shared is absent)")
    schema = etree.XMLSchema(etree.parse(str(AUTH_XSD)))
    document = etree.fromstring(xades.auth_token_request(CHALLENGE, SELLER_NIP).replace(
        b"auth/token/2.0", b"auth/token/2.1"))
    assert schema.validate(document), schema.error_log


def test_a_key_too_short_is_refused_in_polish():
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(xades.SigningError, match="co najmniej 2048"):
        xades.sign_enveloped(xades.auth_token_request(CHALLENGE, SELLER_NIP), self_signed(key), key, START)


def client(sim, credentials, session, **kwargs) -> KsefClient:
    options = dict(clock=sim.clock, sleep=sim.clock.advance, poll_interval=0.5, max_polls=20, timeout=10)
    return KsefClient(custom(sim.base_url), credentials, session=session, **{**options, **kwargs})


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_the_client_logs_in_by_certificate_and_sends_an_invoice(key_type):
    with running_simulator(xades_delay_ms=0) as sim, contract_session() as (session, contract):
        key = new_key(key_type)
        ksef = client(sim, CertificateCredentials(SELLER_NIP, self_signed(key), key), session)
        session_ref = ksef.open_online_session()
        assert ksef.auth.method == "xades"
        sent = ksef.send_invoice(session_ref, invoice_xml("FV/C/1"))
        sim.clock.advance(2)
        assert ksef.wait_for_invoice(session_ref.reference_number, sent.reference_number).code == 200
        assert contract.validated_count() > 3


def test_a_slow_certificate_check_is_waited_for_with_progress():
    """A qualified certificate may stay at 100 for minutes while KSeF asks its issuer: wait, report, succeed."""
    with running_simulator(xades_delay_ms=150_000) as sim, requests.Session() as session:
        key = new_key("EC")
        seen: list[str] = []
        ksef = client(sim, CertificateCredentials(SELLER_NIP, self_signed(key), key), session)
        ksef.auth.on_progress = seen.append
        ksef.authenticate()
        waits = [text for text in seen if text.startswith("KSeF sprawdza certyfikat")]
        assert len(waits) >= 10 and "czekamy" in waits[-1]
        assert seen[0] == "Łączenie z KSeF" and seen[-1] == "Pobieranie tokenów dostępu"


def test_a_check_that_never_ends_gives_up_as_unavailable():
    with running_simulator(xades_delay_ms=10_000_000) as sim, requests.Session() as session:
        key = new_key("EC")
        ksef = client(sim, CertificateCredentials(SELLER_NIP, self_signed(key), key), session, signature_wait=60)
        with pytest.raises(errors.KsefUnavailable, match="zbyt długo"):
            ksef.authenticate()


def test_a_file_signed_outside_logs_in_once():
    with running_simulator(xades_delay_ms=0) as sim, requests.Session() as session:
        key = new_key("RSA")
        anonymous = client(sim, None, session)
        request = anonymous.auth_request_to_sign(SELLER_NIP)
        document = sign_xmlsec(request, key, self_signed(key))   # the user's signing tool
        ksef = client(sim, SignedRequest(SELLER_NIP, document), session)
        ksef.authenticate()
        assert ksef.auth.tokens.access.token and ksef.auth.method == "xades"
        with pytest.raises(errors.KsefUnauthenticated, match="już użyty"):
            ksef.authenticate()


def test_an_unsigned_file_is_refused_with_its_own_message():
    with running_simulator(xades_delay_ms=0) as sim, requests.Session() as session:
        request = client(sim, None, session).auth_request_to_sign(SELLER_NIP)
        with pytest.raises(errors.KsefSignatureRejected) as caught:
            client(sim, SignedRequest(SELLER_NIP, request), session).authenticate()
        assert caught.value.code == 9102
        assert messages.user_message(caught.value).title == "Brak podpisu"


@pytest.mark.parametrize("status, detail, title", [
    (460, "Certyfikat odwołany", "Certyfikat odwołany"),
    (460, "Certyfikat zawieszony", "Certyfikat zawieszony"),
    (470, None, "Logowanie odrzucone"),
    (480, None, "Uwierzytelnienie zablokowane"),
])
def test_refused_logins_get_their_own_message(status, detail, title):
    with running_simulator(xades_delay_ms=0) as sim, requests.Session() as session:
        sim.auth_outcome(authStatus=status, **({"authDetail": detail} if detail else {}))
        key = new_key("EC")
        with pytest.raises(errors.KsefError) as caught:
            client(sim, CertificateCredentials(SELLER_NIP, self_signed(key), key), session).authenticate()
        assert caught.value.code == status
        assert messages.user_message(caught.value).title == title


def test_a_system_warning_is_logged_and_kept(caplog):
    with running_simulator(xades_delay_ms=0) as sim, requests.Session() as session:
        sim.auth_outcome(systemWarning="[sig-001]: Podpis zostanie odrzucony od 1.03.2027.")
        key = new_key("EC")
        ksef = client(sim, CertificateCredentials(SELLER_NIP, self_signed(key), key), session)
        with caplog.at_level(logging.WARNING, logger="ksef_local.ksef"):
            ksef.authenticate()
        assert any("[sig-001]" in text for text in ksef.transport.warnings)
        assert "[sig-001]" in caplog.text


def test_no_key_or_token_reaches_the_log(caplog):
    with running_simulator(xades_delay_ms=0) as sim, requests.Session() as session:
        key = new_key("EC")
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        ksef = client(sim, CertificateCredentials(SELLER_NIP, self_signed(key), key), session)
        with caplog.at_level(logging.DEBUG):
            ksef.authenticate()
        secret_line = pem.splitlines()[1]
        assert secret_line not in caplog.text and ksef.auth.tokens.access.token not in caplog.text
        assert "private_key" not in repr(CertificateCredentials(SELLER_NIP, self_signed(key), key))


def test_a_certificate_valid_only_later_is_refused_by_ksef():
    with running_simulator(xades_delay_ms=0) as sim, requests.Session() as session:
        key = new_key("EC")
        later = self_signed(key, not_before=START + timedelta(days=10))
        with pytest.raises(errors.KsefCertificateRejected) as caught:
            client(sim, CertificateCredentials(SELLER_NIP, later, key), session).authenticate()
        assert messages.user_message(caught.value).title == "Certyfikat nieważny"
