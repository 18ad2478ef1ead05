"""The simulator's asynchronous export (POST /invoices/exports, GET /invoices/exports/{ref}, the part links):
decrypted and unpacked here with `cryptography`, zipfile and tarfile, independently of ksef_local.ksef.crypto."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import zipfile
from datetime import timedelta

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.ksef_support import (
    OTHER_NIP,
    SELLER_NIP,
    START,
    contract_session,
    deliver,
    reader,
    receiving_xml,
    running_simulator,
)

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
FROM = "2026-03-01T00:00:00Z"


def sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def encryption(sim, key: bytes, iv: bytes, **extra) -> dict:
    """EncryptionInfo for the simulator's SymmetricKeyEncryption certificate, made with `cryptography`."""
    items = requests.get(f"{sim.base_url}/v2/security/public-key-certificates", timeout=10).json()
    item = next(i for i in items if "SymmetricKeyEncryption" in i["usage"])
    certificate = x509.load_der_x509_certificate(base64.b64decode(item["certificate"]))
    return {"encryptedSymmetricKey": base64.b64encode(certificate.public_key().encrypt(key, OAEP)).decode(),
            "initializationVector": base64.b64encode(iv).decode(), "publicKeyId": item["publicKeyId"]} | extra


def decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = sym_padding.PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()


def export_body(sim, key: bytes, iv: bytes, subject="Subject2", date_type="PermanentStorage", start=FROM,
                **extra) -> dict:
    return {"encryption": encryption(sim, key, iv),
            "filters": {"subjectType": subject, "dateRange": {"dateType": date_type, "from": start}}} | extra


def start_export(sim, http, headers, body) -> requests.Response:
    return http.post(f"{sim.base_url}/v2/invoices/exports", headers=headers, json=body)


def status_of(sim, http, headers, reference: str) -> requests.Response:
    return http.get(f"{sim.base_url}/v2/invoices/exports/{reference}", headers=headers)


def fetch_package(http, package: dict, key: bytes, iv: bytes) -> bytes:
    """Download every part without Authorization, check both hashes, decrypt and join them."""
    joined = b""
    for part in sorted(package["parts"], key=lambda p: p["ordinalNumber"]):
        answer = http.get(part["url"])
        assert answer.status_code == 200 and part["method"] == "GET"
        assert answer.headers["x-ms-meta-hash"] == sha(answer.content) == part["encryptedPartHash"]
        assert len(answer.content) == part["encryptedPartSize"]
        plain = decrypt(key, iv, answer.content)
        assert sha(plain) == part["partHash"] and len(plain) == part["partSize"]
        joined += plain
    assert len(joined) == package["size"]
    return joined


def test_export_end_to_end_parts_decrypt_to_the_invoices_and_their_metadata():
    key, iv = os.urandom(32), os.urandom(16)
    with running_simulator(export_part_bytes=1000) as sim:
        sent = {n: receiving_xml(n, seller_nip=s) for n, s in (("EX/1", SELLER_NIP), ("EX/2", "3812098344"),
                                                                ("EX/3", SELLER_NIP))}
        numbers = {deliver(sim, xml)["ksefNumber"]: xml for xml in sent.values()}
        headers = reader(sim)
        with contract_session() as (http, _):
            listed = http.post(f"{sim.base_url}/v2/invoices/query/metadata", headers=headers,
                               json={"subjectType": "Subject2", "dateRange": {"dateType": "PermanentStorage",
                                                                              "from": FROM}}).json()
            created = start_export(sim, http, headers, export_body(sim, key, iv))  # chosen now, as the query
            reference = created.json()["referenceNumber"]
            running = status_of(sim, http, headers, reference).json()
            sim.clock.advance(1)
            done = status_of(sim, http, headers, reference).json()
            archive = fetch_package(http, done["package"], key, iv)
    assert created.status_code == 201 and len(reference) == 36
    assert running["status"]["code"] == 100 and "package" not in running
    assert done["status"] == {"code": 200, "description": "Eksport faktur zakończony sukcesem"}
    assert done["packageExpirationDate"] > done["completedDate"]
    package = done["package"]
    assert len(package["parts"]) > 1 and package["invoiceCount"] == 3 and package["isTruncated"] is False
    assert package["parts"][0]["partName"] == f"{reference}-001.zip.aes"
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    assert set(files) == {f"{n}.xml" for n in numbers} | {"_metadata.json"}
    assert all(files[f"{n}.xml"] == xml for n, xml in numbers.items())
    metadata = json.loads(files["_metadata.json"])["invoices"]
    assert metadata == listed["invoices"]  # the same InvoiceMetadata, ascending by permanentStorageDate
    assert package["permanentStorageHwmDate"] == listed["permanentStorageHwmDate"]


def test_export_tar_gz_with_metadata_only():
    key, iv = os.urandom(32), os.urandom(16)
    with running_simulator() as sim:
        deliver(sim, receiving_xml("TAR/1"))
        headers = reader(sim)
        with contract_session() as (http, _):
            reference = start_export(sim, http, headers, export_body(
                sim, key, iv, compressionType="TarGz", onlyMetadata=True)).json()["referenceNumber"]
            sim.clock.advance(1)
            package = status_of(sim, http, headers, reference).json()["package"]
            archive = fetch_package(http, package, key, iv)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = tar.getnames()
        metadata = json.loads(tar.extractfile("_metadata.json").read())
    assert names == ["_metadata.json"] and package["parts"][0]["partName"].endswith(".tar.gz.aes")
    assert [m["invoiceNumber"] for m in metadata["invoices"]] == ["TAR/1"] and package["invoiceCount"] == 1


@pytest.mark.parametrize(("date_type", "last_field", "has_mark"), [
    ("PermanentStorage", "lastPermanentStorageDate", True),
    ("Invoicing", "lastInvoicingDate", False),
    ("Issue", "lastIssueDate", False),
])
def test_export_truncated_package_names_the_last_date_and_the_next_export_resumes(date_type, last_field, has_mark):
    key, iv = os.urandom(32), os.urandom(16)
    with running_simulator(result_cap=3) as sim:
        sim.http.post(f"{sim.base_url}/sim/invoices/bulk", json={"count": 5, "buyerNip": OTHER_NIP,
                                                                 "from": FROM, "to": START.isoformat()})
        headers = reader(sim)
        with contract_session() as (http, _):
            first = start_export(sim, http, headers, export_body(sim, key, iv, date_type=date_type)).json()
            sim.clock.advance(1)
            package = status_of(sim, http, headers, first["referenceNumber"]).json()["package"]
            with zipfile.ZipFile(io.BytesIO(fetch_package(http, package, key, iv))) as zf:
                head = json.loads(zf.read("_metadata.json"))["invoices"]
            resume = package[last_field] if date_type != "Issue" else f"{package[last_field]}T00:00:00+01:00"
            second = start_export(sim, http, headers, export_body(sim, key, iv, date_type=date_type,
                                                                  start=resume)).json()
            sim.clock.advance(1)
            rest = status_of(sim, http, headers, second["referenceNumber"]).json()["package"]
    assert package["isTruncated"] is True and package["invoiceCount"] == 3
    field = {"lastPermanentStorageDate": "permanentStorageDate", "lastInvoicingDate": "invoicingDate",
             "lastIssueDate": "issueDate"}[last_field]
    assert package[last_field] == head[-1][field]
    assert ("permanentStorageHwmDate" in package) is has_mark
    if date_type != "Issue":  # all five share one issue day: the resume repeats them (CIRFMF/ksef-api #386)
        assert rest["isTruncated"] is False and rest["invoiceCount"] == 3  # the boundary invoice and two more


def test_export_errors_and_statuses(simulator):
    key, iv = os.urandom(32), os.urandom(16)
    deliver(simulator, receiving_xml("ERR/1"))
    headers, other = reader(simulator), reader(simulator, SELLER_NIP)
    with contract_session(check_requests=False) as (http, _):
        wrong_key_id = start_export(simulator, http, headers, export_body(simulator, key, iv) | {
            "encryption": encryption(simulator, key, iv, publicKeyId=base64.b64encode(bytes(32)).decode())})
        undecryptable = start_export(simulator, http, headers, export_body(simulator, key, iv) | {"encryption": {
            "encryptedSymmetricKey": base64.b64encode(os.urandom(256)).decode(),
            "initializationVector": base64.b64encode(iv).decode()}}).json()["referenceNumber"]
        after_mark = (simulator.clock() - timedelta(seconds=0.5)).isoformat()  # the mark trails by 1 s
        beyond = start_export(simulator, http, headers, export_body(simulator, key, iv) | {
            "filters": {"subjectType": "Subject2", "dateRange": {
                "dateType": "PermanentStorage", "from": after_mark, "restrictToPermanentStorageHwmDate": True}}})
        bad_filter = start_export(simulator, http, headers, export_body(simulator, key, iv, subject="Nobody"))
        simulator.clock.advance(1)
        failed = status_of(simulator, http, headers, undecryptable).json()
        out_of_range = status_of(simulator, http, headers, beyond.json()["referenceNumber"]).json()
        unknown = status_of(simulator, http, headers, "20260302-EH-0000000000-0000000000-00")
        foreign = status_of(simulator, http, other, undecryptable)
    assert wrong_key_id.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21470
    assert bad_filter.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21405
    assert failed["status"]["code"] == 415
    assert out_of_range["status"]["code"] == 420 and beyond.status_code == 201
    for answer in (unknown, foreign):
        assert answer.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21175


def test_export_at_most_ten_running_per_context(simulator):
    key, iv = os.urandom(32), os.urandom(16)
    headers = reader(simulator)
    with contract_session() as (http, _):
        started = [start_export(simulator, http, headers, export_body(simulator, key, iv)) for _ in range(11)]
        simulator.clock.advance(1)
        afterwards = start_export(simulator, http, headers, export_body(simulator, key, iv))
    assert [r.status_code for r in started] == [201] * 10 + [400]
    assert started[-1].json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21182
    assert afterwards.status_code == 201


def test_export_links_expire_after_an_hour_and_the_package_after_seven_days(simulator):
    key, iv = os.urandom(32), os.urandom(16)
    deliver(simulator, receiving_xml("OLD/EXP"))
    headers = reader(simulator)
    with contract_session() as (http, _):
        reference = start_export(simulator, http, headers, export_body(simulator, key, iv)).json()["referenceNumber"]
        simulator.clock.advance(1)
        part = status_of(simulator, http, headers, reference).json()["package"]["parts"][0]
        tampered = http.get(part["url"].replace("sig=", "sig=x"))
        simulator.clock.advance(3601)
        late = http.get(part["url"])
        headers = reader(simulator)  # access tokens live 15 minutes
        fresh = status_of(simulator, http, headers, reference).json()["package"]["parts"][0]
        renewed = http.get(fresh["url"])
        simulator.clock.advance(7 * 86400)
        expired = status_of(simulator, http, reader(simulator), reference).json()
        simulator.clock.advance(7 * 86400)
        gone = status_of(simulator, http, reader(simulator), reference)
    assert tampered.status_code == 403 and late.status_code == 403 and renewed.status_code == 200
    assert fresh["expirationDate"] > part["expirationDate"]
    assert expired["status"]["code"] == 210 and "package" not in expired
    assert gone.status_code == 410 and gone.headers["Content-Type"].startswith("application/problem+json")


def test_export_limits_answer_429():
    key, iv = os.urandom(32), os.urandom(16)
    with running_simulator(limits="prod") as sim:
        headers = reader(sim)
        with contract_session() as (http, _):
            started = [start_export(sim, http, headers, export_body(sim, key, iv)) for _ in range(9)]  # 8 per second
            reference = started[0].json()["referenceNumber"]
            polls = [status_of(sim, http, headers, reference) for _ in range(11)]  # 10 per second
    assert [r.status_code for r in started] == [201] * 8 + [429]
    assert [r.status_code for r in polls] == [200] * 10 + [429] and polls[-1].headers["Retry-After"]
