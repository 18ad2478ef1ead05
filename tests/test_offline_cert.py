"""The KSeF Offline certificate: import (PKCS#12, PEM), checks, storage and its settings page."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ksef_local.errors import UserError
from ksef_local.forms import certificates as certificate_files
from ksef_local.store import certificates as offline_cert
from ksef_local.web import printing as printing_web

from .factories import NOW
from .test_printing import self_signed


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def store(app, db):
    return app.extensions["ksef_local"].secrets


def p12(key, certificate, password: bytes) -> bytes:
    return pkcs12.serialize_key_and_certificates(b"ksef", key, certificate, None,
                                                 serialization.BestAvailableEncryption(password))


def test_pkcs12_import_stores_certificate_and_key_in_the_secret_store(db, store, home, rsa_key):
    certificate, key = certificate_files.load_pkcs12(p12(rsa_key, self_signed(rsa_key), b"tajne"), "tajne")
    info = offline_cert.save(db, store, certificate, key, NOW)
    assert (info.serial, info.key_type) == ("01F20A5D352AE590", "RSA 2048")
    assert "CN=5261040828" in info.subject and info.is_valid_at(NOW)
    assert store.get(offline_cert.SECRET_NAME).startswith("-----BEGIN PRIVATE KEY-----")
    database = (home / "ksef-local.sqlite3").read_bytes()
    assert b"PRIVATE KEY" not in database  # the key never goes to the database (house rule 14)
    offline_cert.delete(db, store)
    assert offline_cert.info(db) is None and store.get(offline_cert.SECRET_NAME) is None


def test_wrong_pkcs12_password_is_explained(rsa_key):
    with pytest.raises(UserError, match="sprawdź hasło"):
        certificate_files.load_pkcs12(p12(rsa_key, self_signed(rsa_key), b"tajne"), "zle")


def test_pem_import_with_an_ec_p256_key(db, store):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate_pem = self_signed(key, serial=0x1234).public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"haslo"))
    certificate, loaded = certificate_files.load_pem(certificate_pem, key_pem, "haslo")
    info = offline_cert.save(db, store, certificate, loaded, NOW)
    assert (info.serial, info.key_type) == ("0000000000001234", "ECDSA P-256")


@pytest.mark.parametrize("make_key, message", [
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "co najmniej 2048"),
    (lambda: ec.generate_private_key(ec.SECP384R1()), "RSA albo ECDSA P-256"),
])
def test_unusable_keys_are_refused(make_key, message):
    key = make_key()
    with pytest.raises(UserError, match=message):
        certificate_files.check(self_signed(key), key)


def test_a_key_of_another_certificate_is_refused(rsa_key):
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(UserError, match="nie pasuje"):
        certificate_files.check(self_signed(other), ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def web(app, client):
    if "printing" not in app.blueprints:  # until web.init_app registers it
        app.register_blueprint(printing_web.bp)
    return client


def test_settings_page_uploads_shows_and_deletes(web, store, company, rsa_key):
    page = web.get("/ustawienia/certyfikat-offline")
    assert page.status_code == 200 and "Brak certyfikatu offline" in page.get_data(as_text=True)
    bundle = p12(rsa_key, self_signed(rsa_key), b"tajne")
    wrong = web.post("/ustawienia/certyfikat-offline", data={"password": "zle", "pkcs12": (io.BytesIO(bundle),
                                                                                           "c.p12")},
                     content_type="multipart/form-data")
    assert wrong.status_code == 422 and "sprawdź hasło" in wrong.get_data(as_text=True)
    saved = web.post("/ustawienia/certyfikat-offline", data={"password": "tajne",
                                                              "pkcs12": (io.BytesIO(bundle), "c.p12")},
                     content_type="multipart/form-data")
    assert saved.status_code == 302
    shown = web.get(saved.headers["Location"]).get_data(as_text=True)
    assert "01F20A5D352AE590" in shown and "Zapisano certyfikat offline" in shown and "PRIVATE" not in shown
    deleted = web.post("/ustawienia/certyfikat-offline/usun")
    assert deleted.status_code == 302
    assert "Brak certyfikatu offline" in web.get("/ustawienia/certyfikat-offline").get_data(as_text=True)


def test_expired_certificate_gives_no_signer(db, store, rsa_key):
    offline_cert.save(db, store, self_signed(rsa_key), rsa_key, NOW)
    assert offline_cert.signer(db, store, "5261040828", now=NOW) is not None
    assert offline_cert.signer(db, store, "5261040828", now=NOW + timedelta(days=3651)) is None
