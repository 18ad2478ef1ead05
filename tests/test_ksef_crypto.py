"""Pure crypto and the official examples (ksef-docs sesja-interaktywna.md, faktury/numer-ksef.md, kody-qr.md)."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ksef_local.ksef import crypto
from ksef_local.ksef.environments import DEMO, PROD, TEST, custom, resolve
from ksef_local.ksef.ksef_number import crc8, is_valid_ksef_number, with_checksum
from tests.ksef_support import shared_keys

KEY = crypto.SessionKey(bytes(range(32)), bytes(range(16)))


def test_ksef_number_official_example_crc8():
    assert is_valid_ksef_number("5265877635-20250826-0100001AF629-AF")
    assert with_checksum("5265877635-20250826-0100001AF629") == "5265877635-20250826-0100001AF629-AF"
    assert not is_valid_ksef_number("5265877635-20250826-0100001AF629-AE")


def test_reference_number_examples_end_in_crc8():
    for reference in ("20250625-SO-2C3E6C8000-B675CF5D68-07", "20250514-AU-2DFC46C000-3AC6D5877F-D4"):
        assert with_checksum(reference[:33]) == reference


def test_crc8_check_value():
    assert crc8(b"123456789") == 0xF4  # CRC-8/SMBUS check value (poly 0x07, init 0)


def test_kod_i_url_official_example_from_hash():
    xml = b"<root>test</root>"
    assert crypto.sha256_b64(xml) == "qrs2gCLXnTUy6++AHwHuDxFuCj0BYUGRGtBuGnJwN+c="
    assert crypto.invoice_verification_url("https://qr-test.ksef.mf.gov.pl", "1234567890", date(2026, 1, 5), xml) == \
        "https://qr-test.ksef.mf.gov.pl/invoice/1234567890/05-01-2026/qrs2gCLXnTUy6--AHwHuDxFuCj0BYUGRGtBuGnJwN-c"


def test_kod_i_url_accepts_host_without_scheme_and_iso_date():
    assert crypto.invoice_verification_url("qr.ksef.mf.gov.pl/", "1111111111", "2026-02-01", b"x").startswith(
        "https://qr.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/")


def test_invoice_sizes_match_official_example():
    encrypted = crypto.encrypt_invoice(KEY, b"a" * 6480)
    assert (encrypted.invoice_size, encrypted.encrypted_size) == (6480, 6496)
    assert encrypted.encrypted_hash == crypto.sha256_b64(encrypted.encrypted_content)
    body = encrypted.request_body()
    assert set(body) == {"invoiceHash", "invoiceSize", "encryptedInvoiceHash", "encryptedInvoiceSize",
                         "encryptedInvoiceContent", "offlineMode"}


@given(st.binary(max_size=2000))
def test_aes_round_trip(data):
    assert crypto.aes_cbc_decrypt(KEY, crypto.aes_cbc_encrypt(KEY, data)) == data


def test_aes_truncated_ciphertext_is_crypto_error():
    ciphertext = crypto.aes_cbc_encrypt(KEY, b"<Faktura/>" * 10)
    other = crypto.SessionKey(bytes(32), bytes(16))
    with pytest.raises(crypto.CryptoError):
        crypto.aes_cbc_decrypt(other, ciphertext[:-1])


def test_rsa_oaep_round_trip_and_public_key_id():
    key = shared_keys()["KsefTokenEncryption"]
    plaintext = crypto.ksef_token_plaintext("tok|en", 1752236636015)
    assert plaintext == b"tok|en|1752236636015"
    encrypted = crypto.encrypt_for_certificate(key.der, plaintext)
    assert crypto.rsa_oaep_decrypt(key.private_key, encrypted) == plaintext
    assert len(crypto.public_key_id(key.certificate)) == 44
    assert crypto.certificate_id(key.der) == crypto.sha256_b64(key.der)


def test_session_key_repr_hides_key():
    assert "key=" not in repr(KEY) and str(bytes(range(32))) not in repr(KEY)


def test_kod_ii_url_is_signed_with_rsa_pss():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    private = shared_keys()["SymmetricKeyEncryption"].private_key
    unsigned = crypto.certificate_verification_path("https://qr-test.ksef.mf.gov.pl", "Nip", "1111111111",
                                                    "1111111111", "01F20A5D352AE590", b"<root>test</root>")
    signed = crypto.sign_certificate_verification_url(unsigned, private)
    signature = signed.rsplit("/", 1)[1]
    raw = __import__("base64").urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    private.public_key().verify(raw, unsigned.split("://", 1)[1].encode(),
                                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())


def test_environments_hosts():
    assert TEST.api_base == "https://api-test.ksef.mf.gov.pl/v2" and TEST.qr_base == "https://qr-test.ksef.mf.gov.pl"
    assert DEMO.latarnia_base is None and PROD.latarnia_base == "https://api-latarnia.ksef.mf.gov.pl"
    assert resolve("prod") is PROD
    sim = custom("http://127.0.0.1:8765/")
    assert (sim.api_base, sim.latarnia_base) == ("http://127.0.0.1:8765/v2", "http://127.0.0.1:8765/latarnia")
    with pytest.raises(ValueError):
        resolve("staging")


def test_pick_certificate_by_usage_validity_and_latest_valid_from():
    from datetime import datetime, timedelta, timezone

    from ksef_local.ksef.models import PublicKeyCertificate, pick_certificate

    now = datetime(2026, 3, 2, tzinfo=timezone.utc)

    def cert(name, usage, start_days, end_days):
        return PublicKeyCertificate(b"", name, name, now + timedelta(days=start_days), now + timedelta(days=end_days),
                                    (usage,))

    certs = [cert("old", "SymmetricKeyEncryption", -300, 30), cert("new", "SymmetricKeyEncryption", -1, 300),
             cert("future", "SymmetricKeyEncryption", 1, 600), cert("token", "KsefTokenEncryption", -5, 5)]
    assert pick_certificate(certs, "SymmetricKeyEncryption", now).certificate_id == "new"
    assert pick_certificate(certs, "KsefTokenEncryption", now).certificate_id == "token"
    assert pick_certificate(certs, "KsefTokenEncryption", now + timedelta(days=6)) is None
