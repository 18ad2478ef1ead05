"""XAdES login to the simulator: signatures by two independent signers, every refusal, subject rules,
permissions, statuses, the AuthTokenRequest checker against the official XSD, and the XAdES UPO."""
from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from functools import lru_cache

import pytest
from cryptography.hazmat.primitives import hashes
from lxml import etree

from ksef_local.simulator import authrequest
from ksef_local.simulator.common import SimError
from tests.ksef_support import (
    C14N11,
    C14N_INCLUSIVE,
    OPENAPI_PATH,
    OTHER_NIP,
    SELLER_NIP,
    START,
    auth_request_xml,
    contract_session,
    invoice_xml,
    new_key,
    running_simulator,
    self_signed,
    sign_signxml,
    sign_xmlsec,
)

AUTH_XSD_21 = OPENAPI_PATH.parent / "schemas" / "auth" / "schemat_auth_v2-1.xsd"
UPO_XSD = OPENAPI_PATH.parent / "schemas" / "upo" / "upo-v4-3.xsd"


@lru_cache(maxsize=None)
def key_pair(key_type: str = "EC", kind: str = "seal", nip: str = SELLER_NIP, pesel: str | None = None):
    key = new_key(key_type)
    return key, self_signed(key, kind=kind, nip=nip, pesel=pesel)


def error_code(response) -> int:
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def error_details(response) -> str:
    return " ".join(response.json()["exception"]["exceptionDetailList"][0]["details"] or [])


SIGNERS = [
    pytest.param(lambda xml, key, cert, env: sign_xmlsec(xml, key, cert, enveloping=env), id="xmlsec"),
    pytest.param(lambda xml, key, cert, env: sign_signxml(xml, key, cert, enveloping=env, c14n=C14N11),
                 id="signxml-c14n11"),
    pytest.param(lambda xml, key, cert, env: sign_signxml(xml, key, cert, enveloping=env, c14n=C14N_INCLUSIVE),
                 id="signxml-c14n"),
]


@pytest.mark.parametrize("sign", SIGNERS)
@pytest.mark.parametrize("key_type", ["RSA", "EC"])
@pytest.mark.parametrize("enveloping", [False, True], ids=["enveloped", "enveloping"])
def test_xades_login_accepts_both_signers_both_keys_both_forms(simulator, sign, key_type, enveloping):
    key, cert = key_pair(key_type)
    signed = sign(auth_request_xml(simulator.challenge()), key, cert, enveloping)
    with contract_session() as (http, _):
        init = simulator.post_xades(signed, http)
        assert init.status_code == 202, init.text
        auth = {"Authorization": f"Bearer {init.json()['authenticationToken']['token']}"}
        status_url = f"{simulator.base_url}/v2/auth/{init.json()['referenceNumber']}"
        assert http.get(status_url, headers=auth).json()["status"]["code"] == 100
        simulator.clock.advance(2)
        status = http.get(status_url, headers=auth).json()
        assert status["status"]["code"] == 200
        assert status["authenticationMethod"] == "QualifiedSeal"
        assert status["authenticationMethodInfo"] == {"category": "XadesSignature", "code": "xades.qualified-seal",
                                                      "displayName": "Pieczęć kwalifikowana"}
        tokens = http.post(f"{simulator.base_url}/v2/auth/token/redeem", headers=auth)
        assert tokens.status_code == 200


def _tamper(signed: bytes) -> bytes:
    return signed.replace(f"<Nip>{SELLER_NIP}</Nip>".encode(), f"<Nip>{OTHER_NIP}</Nip>".encode())


def _wrong_digest(signed: bytes) -> bytes:
    return re.sub(rb"<ds:DigestValue>[^<]{4}", b"<ds:DigestValue>AAAA", signed, count=1)


def _wrong_signature_value(signed: bytes) -> bytes:
    return re.sub(rb"<ds:SignatureValue>(.)", lambda m: b"<ds:SignatureValue>" + (b"B" if m.group(1) == b"A" else b"A"),
                  signed, count=1)


def _detached(signed: bytes) -> bytes:
    return signed.replace(b'URI=""', b'URI="http://example.invalid/auth.xml"')


@pytest.mark.parametrize("key_type", ["RSA", "EC"])
@pytest.mark.parametrize("damage, code, detail", [
    (_tamper, 9105, "Skrót danych"),
    (_wrong_digest, 9105, "nie został zweryfikowany"),  # SignedInfo changed: its signature fails first
    (_wrong_signature_value, 9105, "nie został zweryfikowany"),
    (_detached, 9105, "detached"),
])
def test_damaged_signatures_are_refused(simulator, key_type, damage, code, detail):
    key, cert = key_pair(key_type)
    damaged = damage(sign_xmlsec(auth_request_xml(simulator.challenge()), key, cert))
    response = simulator.post_xades(damaged)
    assert response.status_code == 400
    assert error_code(response) == code and detail in error_details(response)


def test_plain_xmldsig_and_missing_signing_time_fail_the_xades_profile(simulator):
    key, cert = key_pair()
    plain = simulator.post_xades(sign_xmlsec(auth_request_xml(simulator.challenge()), key, cert, xades=False))
    assert error_code(plain) == 9105
    assert "Format podpisu niezgodny z akceptowanymi profilami XAdES" in error_details(plain)
    no_time = simulator.post_xades(sign_xmlsec(auth_request_xml(simulator.challenge()), key, cert, signing_time=False))
    assert error_code(no_time) == 9105 and "SigningTime" in error_details(no_time)


def test_no_signature_two_signatures_and_unreadable_documents(simulator):
    key, cert = key_pair()
    unsigned = simulator.post_xades(auth_request_xml(simulator.challenge()))
    assert error_code(unsigned) == 9102
    once = sign_xmlsec(auth_request_xml(simulator.challenge()), key, cert)
    twice = etree.fromstring(once)
    twice.append(etree.fromstring(etree.tostring(twice[-1])))
    assert error_code(simulator.post_xades(etree.tostring(twice))) == 9103
    assert error_code(simulator.post_xades(b"<AuthTokenRequest><unclosed>")) == 21001
    assert error_code(simulator.post_xades("<a>zażółć</a>".encode("iso-8859-2"))) == 21217
    latin = b'<?xml version="1.0" encoding="ISO-8859-2"?><a/>'
    assert error_code(simulator.post_xades(latin)) == 21217


def test_schema_violations_are_21401_and_a_bad_challenge_21111(simulator):
    key, cert = key_pair()
    bad_order = auth_request_xml(simulator.challenge(), extra="<Extra/>")
    response = simulator.post_xades(sign_xmlsec(bad_order, key, cert))
    assert error_code(response) == 21401 and "Extra" in error_details(response)
    unknown = sign_xmlsec(auth_request_xml("20260302-CR-0000000000-0000000000-00"), key, cert)
    assert error_code(simulator.post_xades(unknown)) == 21111
    used = simulator.challenge()
    assert simulator.post_xades(sign_xmlsec(auth_request_xml(used), key, cert)).status_code == 202
    assert error_code(simulator.post_xades(sign_xmlsec(auth_request_xml(used), key, cert))) == 21111
    stale = simulator.challenge()
    simulator.clock.advance(601)
    assert error_code(simulator.post_xades(sign_xmlsec(auth_request_xml(stale), key, cert))) == 21111


def test_namespace_2_1_is_accepted_and_others_are_not(simulator):
    key, cert = key_pair()
    assert simulator.post_xades(sign_xmlsec(auth_request_xml(simulator.challenge(), version="2.1"), key,
                                            cert)).status_code == 202
    other = auth_request_xml(simulator.challenge()).replace(b"token/2.0", b"token/9.9")
    assert error_code(simulator.post_xades(sign_xmlsec(other, key, cert))) == 21401


@pytest.mark.parametrize("kind, pesel, method", [("person", "90010112345", "QualifiedSignature"),
                                                 ("person", None, "QualifiedSignature")])
def test_personal_certificates_log_in_with_pesel_grants_or_own_nip(simulator, kind, pesel, method):
    key, cert = key_pair("EC", kind, SELLER_NIP, pesel)
    if pesel:
        simulator.xades_login(key, cert, expect=415)
        simulator.grant(SELLER_NIP, "Pesel", pesel, ["InvoiceWrite"])
    status = simulator.xades_login(key, cert)
    assert status["authenticationMethod"] == method
    assert status["authenticationMethodInfo"]["code"] == "xades.qualified-signature"


def test_subject_rules_refuse_certificates_without_identifiers_21115(simulator):
    key, cert = key_pair("EC", "bare")
    response = simulator.post_xades(sign_xmlsec(auth_request_xml(simulator.challenge()), key, cert))
    assert error_code(response) == 21115 and "certificateFingerprint" in error_details(response)
    small = new_key("RSA1024")
    response = simulator.post_xades(sign_xmlsec(auth_request_xml(simulator.challenge()), small, self_signed(small)))
    assert error_code(response) == 21115 and "2048" in error_details(response)


def test_fingerprint_login_needs_a_grant_to_the_fingerprint(simulator):
    key, cert = key_pair("RSA", "bare")
    simulator.xades_login(key, cert, subject_type="certificateFingerprint", expect=415)
    print_ = cert.fingerprint(hashes.SHA256()).hex().upper()
    simulator.grant(SELLER_NIP, "Fingerprint", print_, ["InvoiceRead"])
    status = simulator.xades_login(key, cert, subject_type="certificateFingerprint")
    assert status["status"]["code"] == 200


def test_a_seal_of_another_nip_needs_permissions_in_the_context(simulator):
    key, cert = key_pair("EC", "seal", OTHER_NIP)
    status = simulator.xades_login(key, cert, SELLER_NIP, expect=415)
    assert status["status"]["details"] == ["Brak przypisanych uprawnień"]
    simulator.grant(SELLER_NIP, "Nip", OTHER_NIP, ["InvoiceWrite", "InvoiceRead"])
    simulator.xades_login(key, cert, SELLER_NIP)


def test_peppol_context_refuses_a_personal_certificate_21117(simulator):
    key, cert = key_pair("EC", "person")
    xml = auth_request_xml(simulator.challenge(), "PPL123456", context_tag="PeppolId")
    assert error_code(simulator.post_xades(sign_xmlsec(xml, key, cert))) == 21117


def test_expired_and_untrusted_certificates_end_with_460(simulator):
    key = new_key("EC")
    old = self_signed(key, not_before=START - timedelta(days=400), days=30)
    assert simulator.xades_login(key, old, expect=460)["status"]["details"] == ["Nieważny certyfikat"]
    key, cert = key_pair()
    signed = sign_xmlsec(auth_request_xml(simulator.challenge()), key, cert)
    init = simulator.post_xades(signed, verifyCertificateChain="true").json()
    auth = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
    simulator.clock.advance(2)
    status = simulator.http.get(f"{simulator.base_url}/v2/auth/{init['referenceNumber']}", headers=auth).json()
    assert status["status"] == {"code": 460, "description": "Uwierzytelnianie zakończone niepowodzeniem z powodu "
                                "błędu certyfikatu", "details": ["Niezaufany łańcuch certyfikatów"]}


def test_demo_certificates_are_trusted_even_with_chain_verification(simulator):
    issued = simulator.demo_certificate(nip=SELLER_NIP, kind="seal", keyType="RSA", password="tajne")
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

    key = load_pem_private_key(issued["privateKey"].encode(), None)
    cert = x509.load_pem_x509_certificate(issued["certificate"].encode())
    bundle_key, bundle_cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(issued["pkcs12"]), b"tajne")
    assert bundle_cert == cert and "NIE jest certyfikatem kwalifikowanym" in issued["notice"]
    signed = sign_signxml(auth_request_xml(simulator.challenge()), key, cert)
    assert simulator.post_xades(signed, verifyCertificateChain="true").status_code == 202
    person = simulator.demo_certificate(nip=SELLER_NIP, kind="person", pesel="90010112345", givenName="Ewa",
                                        surname="Lis")
    assert "PNOPL-90010112345" in person["subject"] and "Ewa" in person["subject"]


@pytest.mark.parametrize("status, detail", [(460, "Certyfikat zawieszony"), (470, None), (480, None)])
def test_forced_outcomes_and_system_warning(simulator, status, detail):
    key, cert = key_pair()
    body = {"authStatus": status, "systemWarning": "[sig-001]: Podpis zostanie odrzucony w przyszlosci"}
    simulator.auth_outcome(**body | ({"authDetail": detail} if detail else {}))
    signed = sign_xmlsec(auth_request_xml(simulator.challenge()), key, cert)
    init = simulator.post_xades(signed)
    assert init.headers["X-System-Warning"].startswith("[sig-001]:")
    auth = {"Authorization": f"Bearer {init.json()['authenticationToken']['token']}"}
    simulator.clock.advance(2)
    shown = simulator.http.get(f"{simulator.base_url}/v2/auth/{init.json()['referenceNumber']}", headers=auth).json()
    assert shown["status"]["code"] == status
    assert shown["status"]["details"][0] == (detail or {470: "Próba wykorzystania metod autoryzacyjnych osoby zmarłej",
                                                        480: shown["status"]["details"][0]}[status])
    assert simulator.xades_login(key, cert)["status"]["code"] == 200  # only the next login was forced


def test_xades_delay_keeps_status_100_for_qualified_certificates():
    with running_simulator(xades_delay_ms=30_000) as sim:
        key, cert = key_pair()
        init = sim.post_xades(sign_xmlsec(auth_request_xml(sim.challenge()), key, cert)).json()
        auth = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
        url = f"{sim.base_url}/v2/auth/{init['referenceNumber']}"
        sim.clock.advance(29)
        assert sim.http.get(url, headers=auth).json()["status"]["code"] == 100
        sim.clock.advance(2)
        assert sim.http.get(url, headers=auth).json()["status"]["code"] == 200


def test_xades_session_upo_carries_the_signed_document_digest(simulator):
    key, cert = key_pair()
    challenge = simulator.challenge()
    signed = sign_xmlsec(auth_request_xml(challenge), key, cert)
    init = simulator.post_xades(signed).json()
    auth = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
    simulator.clock.advance(2)
    tokens = simulator.http.post(f"{simulator.base_url}/v2/auth/token/redeem", headers=auth).json()
    from tests.test_ksef_simulator import DocsClient, _aes, _open, _sha  # the docs-only client's session steps

    docs = DocsClient(simulator.base_url, simulator.http)
    docs.headers = {"Authorization": f"Bearer {tokens['accessToken']['token']}"}
    session_key, iv = bytes(range(32)), bytes(range(16))
    reference = _open(docs, session_key, iv)
    xml = invoice_xml("X/1/2026")
    encrypted = _aes(session_key, iv, xml)
    sent = docs.http.post(f"{docs.api}/sessions/online/{reference}/invoices", headers=docs.headers, json={
        "invoiceHash": _sha(xml), "invoiceSize": len(xml), "encryptedInvoiceHash": _sha(encrypted),
        "encryptedInvoiceSize": len(encrypted), "encryptedInvoiceContent": base64.b64encode(encrypted).decode()})
    assert sent.status_code == 202, sent.text
    simulator.clock.advance(3)
    upo = docs.http.get(f"{docs.api}/sessions/{reference}/invoices/{sent.json()['referenceNumber']}/upo",
                        headers=docs.headers).content
    digest = base64.b64encode(hashlib.sha256(signed).digest()).decode()
    assert f"<SkrotDokumentuUwierzytelniajacego>{digest}</SkrotDokumentuUwierzytelniajacego>".encode() in upo
    assert b"NumerReferencyjnyTokenaKSeF" not in upo
    if not UPO_XSD.exists():
        pytest.skip(f"UPO XSD not available at {UPO_XSD} (../shared is absent)")
    schema = etree.XMLSchema(etree.parse(str(UPO_XSD)))
    schema.validate(etree.fromstring(upo))
    # Like the official TE examples, only NazwaPodmiotuPrzyjmujacego's fixed value differs (simulator suffix).
    assert [e.message for e in schema.error_log if "NazwaPodmiotuPrzyjmujacego" not in e.message] == []


# -- the AuthTokenRequest checker against the official XSD ----------------------------------------------

def _doc(version: str, body: str) -> bytes:
    return f'<AuthTokenRequest xmlns="{authrequest.NAMESPACES[version == "2.1"]}">{body}</AuthTokenRequest>'.encode()


CH = "<Challenge>20250625-CR-20F5EE4000-DA48AE4124-46</Challenge>"
SUBJ = "<SubjectIdentifierType>certificateSubject</SubjectIdentifierType>"
CORPUS = [
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ,
    CH + "<ContextIdentifier><Nip> 5265877635</Nip></ContextIdentifier>" + SUBJ,
    CH + "<ContextIdentifier><Nip>0265877635</Nip></ContextIdentifier>" + SUBJ,
    CH + "<ContextIdentifier><InternalId>5265877635-12345</InternalId></ContextIdentifier>" + SUBJ,
    CH + "<ContextIdentifier><NipVatUe>5265877635-XX1</NipVatUe></ContextIdentifier>" + SUBJ,
    CH + "<ContextIdentifier><Nip>5265877635</Nip><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ,
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>"
       + "<SubjectIdentifierType> certificateFingerprint </SubjectIdentifierType>",
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier><SubjectIdentifierType>x</SubjectIdentifierType>",
    "<Challenge>20250625-CR-20F5EE4000-DA48AE4124-4</Challenge><ContextIdentifier><Nip>5265877635</Nip>"
    "</ContextIdentifier>" + SUBJ,
    "<Challenge> 20250625-CR-20F5EE4000-DA48AE4124-46 </Challenge><ContextIdentifier><Nip>5265877635</Nip>"
    "</ContextIdentifier>" + SUBJ,
    "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + CH + SUBJ,
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>",
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ + "<AuthorizationPolicy><AllowedIps>"
       "<Ip4Address>10.0.0.1</Ip4Address><Ip4Range>10.0.0.1-10.0.0.9</Ip4Range><Ip4Mask>10.0.0.0/8</Ip4Mask>"
       "</AllowedIps></AuthorizationPolicy>",
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ + "<AuthorizationPolicy><AllowedIps>"
       "<Ip4Mask>10.0.0.0/8</Ip4Mask><Ip4Address>10.0.0.1</Ip4Address></AllowedIps></AuthorizationPolicy>",
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ + "<AuthorizationPolicy><AllowedIps>"
       "<Ip4Address>256.0.0.1</Ip4Address></AllowedIps></AuthorizationPolicy>",
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ
       + "<AuthorizationPolicy><AllowedIps/></AuthorizationPolicy>",
    CH + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ + "<AuthorizationPolicy/>",
    CH + "text<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ,
    CH.replace("<Challenge>",
               '<Challenge a="1">') + "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>" + SUBJ,
]


def _ours(document: bytes) -> bool:
    try:
        authrequest.check_request(etree.fromstring(document))
    except SimError as exc:
        assert exc.code == 21401
        return False
    return True


@pytest.mark.parametrize("body", CORPUS)
def test_auth_request_checker_agrees_with_the_official_xsd(body):
    if not AUTH_XSD_21.exists():
        pytest.skip(f"AuthTokenRequest XSD not available at {AUTH_XSD_21} (../shared is absent)")
    schema = etree.XMLSchema(etree.parse(str(AUTH_XSD_21)))
    document = _doc("2.1", body)
    assert _ours(document) == schema.validate(etree.fromstring(document)), schema.error_log
    # The 2.0 schema cannot be compiled by libxml2 (\b in its patterns); its rules are the same.
    assert _ours(_doc("2.0", body)) == _ours(document)


@pytest.mark.parametrize("tag, value", [("PeppolId", "PPL123456"), ("NipVatUe", "5265877635-DE123456789")])
def test_peppol_and_vat_ue_follow_the_patterns_meaning_not_literal_anchors(tag, value):
    # TPeppolId is "^P[A-Z]{2}[0-9]{6}$" and TNipVatUE ends in "$": in XSD regular expressions ^ and $ are
    # ordinary characters, so the official XSD read by libxml2 refuses every real value. .NET reads them as
    # anchors; so does the simulator.
    good = CH + f"<ContextIdentifier><{tag}>{value}</{tag}></ContextIdentifier>" + SUBJ
    assert _ours(_doc("2.1", good)) is True
    assert _ours(_doc("2.1", good.replace(value, value + "$"))) is False
    if AUTH_XSD_21.exists():
        schema = etree.XMLSchema(etree.parse(str(AUTH_XSD_21)))
        assert not schema.validate(etree.fromstring(_doc("2.1", good)))
