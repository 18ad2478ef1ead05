"""The simulator on its own: raw HTTP written from the official docs, error bodies, limits, UPO, CLI."""
from __future__ import annotations

import argparse
import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from lxml import etree

from ksef_local import simulator as simulator_module
from ksef_local.simulator.limits import RateLimiter, group_of
from tests.ksef_support import OPENAPI_PATH, SELLER_NIP, contract_session, invoice_xml, running_simulator

UPO_XSD = OPENAPI_PATH.parent / "schemas" / "upo" / "upo-v4-3.xsd"
UPO_EXAMPLE = OPENAPI_PATH.parent / "upo-examples" / "upo-faktura-kontekst-id-nip.xml"
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class DocsClient:
    """A deliberately independent client, written from docs/ksef-protocol.md §2-§3 only (not from our client)."""

    def __init__(self, base: str, http: requests.Session) -> None:
        self.api = f"{base}/v2"
        self.http = http
        self.headers: dict[str, str] = {}

    def keys(self) -> dict[str, x509.Certificate]:
        items = self.http.get(f"{self.api}/security/public-key-certificates").json()
        return {item["usage"][0]: (x509.load_der_x509_certificate(base64.b64decode(item["certificate"])), item)
                for item in items}

    def login(self, nip: str, token: str, clock) -> None:
        challenge = self.http.post(f"{self.api}/auth/challenge").json()
        cert, item = self.keys()["KsefTokenEncryption"]
        encrypted = cert.public_key().encrypt(f"{token}|{challenge['timestampMs']}".encode(), OAEP)
        init = self.http.post(f"{self.api}/auth/ksef-token", json={
            "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": nip},
            "encryptedToken": b64(encrypted), "publicKeyId": item["publicKeyId"]})
        assert init.status_code == 202, init.text
        auth = {"Authorization": f"Bearer {init.json()['authenticationToken']['token']}"}
        ref = init.json()["referenceNumber"]
        for _ in range(10):
            status = self.http.get(f"{self.api}/auth/{ref}", headers=auth).json()["status"]["code"]
            if status != 100:
                break
            clock.advance(1)
        assert status == 200
        tokens = self.http.post(f"{self.api}/auth/token/redeem", headers=auth).json()
        self.headers = {"Authorization": f"Bearer {tokens['accessToken']['token']}"}


def _aes(key: bytes, iv: bytes, data: bytes) -> bytes:
    padder = sym_padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(padder.update(data) + padder.finalize()) + enc.finalize()


def _sha(data: bytes) -> str:
    return b64(hashlib.sha256(data).digest())


def _open(docs: DocsClient, key: bytes, iv: bytes) -> str:
    cert, item = docs.keys()["SymmetricKeyEncryption"]
    response = docs.http.post(f"{docs.api}/sessions/online", headers=docs.headers, json={
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "encryption": {"encryptedSymmetricKey": b64(cert.public_key().encrypt(key, OAEP)),
                       "initializationVector": b64(iv), "publicKeyId": item["publicKeyId"]}})
    assert response.status_code == 201, response.text
    return response.json()["referenceNumber"]


def _send_body(xml: bytes, ciphertext: bytes) -> dict:
    return {"invoiceHash": _sha(xml), "invoiceSize": len(xml), "encryptedInvoiceHash": _sha(ciphertext),
            "encryptedInvoiceSize": len(ciphertext), "encryptedInvoiceContent": b64(ciphertext)}


def test_client_written_from_the_docs_sends_an_invoice(simulator):
    token = simulator.create_token()
    key, iv = bytes(range(32)), bytes(16)
    xml = invoice_xml("DOC/1/2026")
    with contract_session() as (http, _):
        docs = DocsClient(simulator.base_url, http)
        docs.login(SELLER_NIP, token, simulator.clock)
        session = _open(docs, key, iv)
        sent = http.post(f"{docs.api}/sessions/online/{session}/invoices", headers=docs.headers,
                         json=_send_body(xml, _aes(key, iv, xml)))
        assert sent.status_code == 202
        simulator.clock.advance(1)
        status = http.get(f"{docs.api}/sessions/{session}/invoices/{sent.json()['referenceNumber']}",
                          headers=docs.headers).json()
    assert status["status"]["code"] == 200 and status["ksefNumber"].startswith(SELLER_NIP)


def test_sync_errors_21402_21403_and_async_435(simulator):
    token = simulator.create_token()
    key, iv = bytes(range(32)), bytes(16)
    xml = invoice_xml("DOC/2/2026")
    ciphertext = _aes(key, iv, xml)
    with contract_session() as (http, _):
        docs = DocsClient(simulator.base_url, http)
        docs.login(SELLER_NIP, token, simulator.clock)
        session = _open(docs, key, iv)
        url = f"{docs.api}/sessions/online/{session}/invoices"
        wrong_size = dict(_send_body(xml, ciphertext), encryptedInvoiceSize=len(ciphertext) + 16)
        wrong_hash = dict(_send_body(xml, ciphertext), invoiceHash=_sha(b"other"))
        codes = [http.post(url, headers=docs.headers, json=body).json()["exception"]["exceptionDetailList"][0]
                 ["exceptionCode"] for body in (wrong_size, wrong_hash)]
        other_key = _aes(bytes(32), bytes(16), xml)  # fixed keys: deterministic wrong padding
        sent = http.post(url, headers=docs.headers, json=_send_body(xml, other_key))
        simulator.clock.advance(1)
        status = http.get(f"{docs.api}/sessions/{session}/invoices/{sent.json()['referenceNumber']}",
                          headers=docs.headers).json()["status"]
    assert codes == [21402, 21403]
    assert status["code"] == 435


def test_error_formats_legacy_problem_details_401(simulator):
    with requests.Session() as http:
        api = f"{simulator.base_url}/v2"
        body = {"challenge": "x" * 36, "contextIdentifier": {"type": "Nip", "value": SELLER_NIP},
                "encryptedToken": "AA=="}
        legacy = http.post(f"{api}/auth/ksef-token", json=body)
        problem = http.post(f"{api}/auth/ksef-token", json=body, headers={"X-Error-Format": "problem-details"})
        missing = http.post(f"{api}/auth/ksef-token", data=b"{not json", headers={"Content-Type": "application/json"})
        unauthenticated = http.get(f"{api}/sessions/20260302-SO-0000000000-0000000000-00")
    assert legacy.headers["Content-Type"].startswith("application/json")
    assert legacy.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21111
    assert problem.headers["Content-Type"] == "application/problem+json"
    assert problem.json()["errors"][0]["code"] == 21111 and problem.json()["status"] == 400
    assert missing.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21405
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["detail"] == "Wymagane jest uwierzytelnienie."


def test_unknown_public_key_id_is_21470_and_challenge_is_single_use(simulator):
    with requests.Session() as http:
        api = f"{simulator.base_url}/v2"
        challenge = http.post(f"{api}/auth/challenge").json()["challenge"]
        body = {"challenge": challenge, "contextIdentifier": {"type": "Nip", "value": SELLER_NIP},
                "encryptedToken": "AA==", "publicKeyId": b64(bytes(32))}
        unknown = http.post(f"{api}/auth/ksef-token", json=body).json()
        body.pop("publicKeyId")
        first = http.post(f"{api}/auth/ksef-token", json=body)
        again = http.post(f"{api}/auth/ksef-token", json=body).json()
    assert unknown["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21470
    assert first.status_code == 202
    assert again["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21111


def test_invoice_status_goes_100_150_then_final_with_the_clock():
    with running_simulator(processing_ms=2000) as sim:
        token = sim.create_token()
        with contract_session() as (http, _):
            client = sim.client(token, http)
            session = client.open_online_session()
            sent = client.send_invoice(session, invoice_xml("T/1/2026"))
            codes = []
            for _ in range(3):
                codes.append(client.invoice_status(session.reference_number, sent.reference_number).code)
                sim.clock.advance(1)
    assert codes == [100, 150, 200]


def test_public_key_certificates_have_correct_ids(simulator):
    with requests.Session() as http:
        items = http.get(f"{simulator.base_url}/v2/security/public-key-certificates").json()
    assert sorted(i["usage"][0] for i in items) == ["KsefTokenEncryption", "SymmetricKeyEncryption"]
    for item in items:
        der = base64.b64decode(item["certificate"])
        cert = x509.load_der_x509_certificate(der)
        spki = cert.public_key().public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                                                         fromlist=["Encoding"]).Encoding.DER,
                                              __import__("cryptography.hazmat.primitives.serialization",
                                                         fromlist=["PublicFormat"]).PublicFormat.SubjectPublicKeyInfo)
        assert item["certificateId"] == _sha(der) and item["publicKeyId"] == _sha(spki)


def test_upo_is_shaped_like_upo_v4_3_and_marked_unsigned(simulator):
    if not UPO_XSD.exists():
        pytest.skip(f"UPO XSD not available at {UPO_XSD} (../shared is absent)")
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        session = client.open_online_session()
        sent = client.send_invoice(session, invoice_xml("U/1/2026"))
        client.wait_for_invoice(session.reference_number, sent.reference_number)
        upo = client.invoice_upo(session.reference_number, sent.reference_number).xml
    schema = etree.XMLSchema(etree.parse(str(UPO_XSD)))

    def errors_of(document: bytes) -> list[str]:
        schema.validate(etree.fromstring(document))
        return [e.message for e in schema.error_log]

    ours, official = errors_of(upo), errors_of(UPO_EXAMPLE.read_bytes())
    # The official TE examples also break only the fixed value of NazwaPodmiotuPrzyjmujacego (environment suffix).
    assert all("NazwaPodmiotuPrzyjmujacego" in e for e in ours + official) and len(ours) == len(official) == 1
    assert b"NIE jest podpisane" in upo and b"Signature" not in upo


def test_sim_state_counts_requests_per_group_and_latarnia_messages(simulator):
    token = simulator.create_token()
    with contract_session() as (http, _):
        client = simulator.client(token, http)
        client.open_online_session()
        simulator.faults(latarnia="MAINTENANCE")
        simulator.faults(latarnia="AVAILABLE")
        messages = http.get(f"{simulator.base_url}/latarnia/messages").json()
        status = http.get(f"{simulator.base_url}/latarnia/status").json()
    counts = simulator.state()["requests"]
    assert counts["onlineSession"] == 1 and counts["anonymous"] >= 3 and counts["public"] >= 2
    assert [m["type"] for m in messages] == ["MAINTENANCE_ANNOUNCEMENT", "FAILURE_END"]
    assert status == {"status": "AVAILABLE", "messages": []}


def test_fault_share_is_seeded_and_cleared(simulator):
    with requests.Session() as http:
        simulator.faults(fault="503", share=0.5, seed=1)
        codes = [http.get(f"{simulator.base_url}/v2/security/public-key-certificates").status_code for _ in range(20)]
        http.delete(f"{simulator.base_url}/sim/faults")
        after = http.get(f"{simulator.base_url}/v2/security/public-key-certificates").status_code
    assert 0 < codes.count(503) < 20 and set(codes) == {200, 503}
    assert after == 200


def test_rate_limiter_sliding_windows():
    limiter = RateLimiter()
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)
    results = [limiter.check("a", "invoiceMetadata", start + timedelta(seconds=2 * i)) for i in range(17)]
    assert results[:16] == [None] * 16  # 16 per minute
    assert results[16].retry_after > 0
    later = start + timedelta(minutes=30)
    hourly = [limiter.check("a", "invoiceMetadata", later + timedelta(minutes=i)) for i in range(10)]
    assert any(r is not None and "godzinę" in r.detail for r in hourly)  # 20 per hour
    assert RateLimiter(enabled=False).check("a", "public", start) is None


def test_groups_follow_the_prd_table():
    assert group_of("POST", "/sessions/online") == "onlineSession"
    assert group_of("POST", "/sessions/online/R/invoices") == "invoiceSend"
    assert group_of("GET", "/sessions/R/invoices/I") == "invoiceStatus"
    assert group_of("GET", "/sessions/R/invoices/failed") == "sessionInvoiceList"
    assert group_of("GET", "/sessions/R/upo/U") == "sessionMisc"
    assert group_of("GET", "/auth/R") == "public"
    # API 2.8: closing sessions and the endpoints without a token have groups of their own
    assert group_of("POST", "/sessions/online/R/close") == "onlineSessionClose"
    assert group_of("POST", "/sessions/batch/R/close") == "batchSessionClose"
    assert group_of("POST", "/auth/challenge") == group_of("POST", "/auth/xades-signature") == "anonymous"
    assert group_of("GET", "/security/public-key-certificates") == "anonymous"
    assert group_of("GET", "/sessions") == "sessionList"
    assert group_of("GET", "/tokens") == "other"


def test_cli_arguments():
    parser = argparse.ArgumentParser()
    simulator_module.add_arguments(parser)
    args = parser.parse_args(["--port", "9000", "--limits", "off", "--processing-ms", "5", "--state", "s.db",
                              "--check-nip"])
    options = simulator_module.options_from_args(args)
    assert (options.host, options.port, options.limits, options.processing_ms, options.state_file, options.check_nip) \
        == ("127.0.0.1", 9000, "off", 5, "s.db", True)


def test_check_nip_rejects_bad_checksum_with_450():
    with running_simulator(check_nip=True) as sim:
        token = sim.create_token()
        with contract_session() as (http, _):
            client = sim.client(token, http)
            session = client.open_online_session()
            sent = client.send_invoice(session, invoice_xml("N/1/2026", buyer_nip="1234567890"))
            status = client.wait_for_invoice(session.reference_number, sent.reference_number)
        bad_token = sim.http.post(f"{sim.base_url}/sim/tokens", json={"nip": "1234567890"})
    assert status.code == 450 and "NIP" in status.details[0]
    assert bad_token.status_code == 400
