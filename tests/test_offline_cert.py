"""KSeF Offline certificates for KOD II: import (PKCS#12, PEM/DER, encrypted keys), the checks, KSeF's rule that
an Authentication certificate must not sign KOD II, storage per environment, and the settings page."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ksef_local import credentials
from ksef_local.errors import UserError
from ksef_local.forms import certificates as certificate_files
from ksef_local.store import certificates as offline_cert

from .factories import NOW
from .test_printing import self_signed


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def services(app):
    return app.extensions["ksef_local"]


def p12(key, certificate, password: bytes) -> bytes:
    return pkcs12.serialize_key_and_certificates(b"ksef", key, certificate, None,
                                                 serialization.BestAvailableEncryption(password))


def ksef_issued(key, *, offline: bool):
    """A certificate as KSeF's CA issues it: keyUsage nonRepudiation (Offline) or digitalSignature
    (Authentication)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Piekarnia"),
                         x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TI CCK KSeF")])
    usage = x509.KeyUsage(digital_signature=not offline, content_commitment=offline, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(0x01F20A5D352AE591).not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=730)).add_extension(usage, critical=True)
            .sign(key, hashes.SHA256()))


def test_pkcs12_import_stores_certificate_and_key_in_the_secret_store(db, services, company, home, rsa_key):
    certificate, key = certificate_files.load_pkcs12(p12(rsa_key, self_signed(rsa_key), b"tajne"), "tajne")
    stored = credentials.add_offline_certificate(db, services.secrets, services.settings(), certificate, key, now=NOW)
    assert (stored.serial, stored.key_type, stored.usage, stored.ksef_type) == (
        "01F20A5D352AE590", "RSA 2048", "offline", "Offline")
    assert "CN=5261040828" in stored.subject and stored.is_valid_at(NOW)
    assert services.secrets.get(stored.key_secret).startswith("-----BEGIN PRIVATE KEY-----")
    database = (home / "ksef-local.sqlite3").read_bytes()
    assert b"PRIVATE KEY" not in database  # the key never goes to the database (house rule 14)
    assert offline_cert.offline_certificate(db, "demo", "5261040828", NOW).id == stored.id
    offline_cert.set_state(db, stored.id, "retired", NOW)
    assert offline_cert.offline_certificate(db, "demo", "5261040828", NOW) is None


def test_wrong_pkcs12_password_is_explained(rsa_key):
    with pytest.raises(UserError, match="sprawdź hasło"):
        certificate_files.load_pkcs12(p12(rsa_key, self_signed(rsa_key), b"tajne"), "zle")


def test_pem_import_with_an_ec_p256_key(db, services, company):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate_pem = self_signed(key, serial=0x1234).public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"haslo"))
    certificate, loaded = certificate_files.load_pem(certificate_pem, key_pem, "haslo")
    stored = credentials.add_offline_certificate(db, services.secrets, services.settings(), certificate, loaded,
                                                 now=NOW)
    assert (stored.serial, stored.key_type) == ("0000000000001234", "ECDSA P-256")


def test_a_der_certificate_with_an_encrypted_der_key_as_the_mf_app_gives_it(rsa_key):
    certificate = ksef_issued(rsa_key, offline=False)
    key_der = rsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.BestAvailableEncryption(b"haslo"))
    loaded, key = certificate_files.load_files(certificate.public_bytes(serialization.Encoding.DER), key_der, "haslo")
    assert loaded == certificate and certificate_files.check(loaded, key) == "RSA 2048"
    with pytest.raises(UserError, match="podaj jego hasło"):
        certificate_files.load_files(certificate.public_bytes(serialization.Encoding.DER), key_der, "")


def test_an_authentication_certificate_is_refused_for_kod_ii(db, services, company, rsa_key):
    """KSeF's rule (kody-qr.md): KOD II is signed only with an Offline certificate; nothing is stored."""
    with pytest.raises(UserError, match="typu Uwierzytelnianie"):
        credentials.add_offline_certificate(db, services.secrets, services.settings(),
                                            ksef_issued(rsa_key, offline=False), rsa_key, now=NOW)
    assert offline_cert.listed(db) == []
    stored = credentials.add_offline_certificate(db, services.secrets, services.settings(),
                                                 ksef_issued(rsa_key, offline=True), rsa_key, now=NOW)
    assert stored.ksef_type == "Offline"


def test_an_offline_certificate_is_refused_for_logging_in(db, services, company, rsa_key):
    with pytest.raises(UserError, match="typu Offline"):
        credentials.add_login_certificate(db, services.secrets, services.settings(),
                                          ksef_issued(rsa_key, offline=True), rsa_key, now=NOW)
    assert offline_cert.listed(db) == []


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


def test_settings_page_uploads_shows_and_deletes(client, services, company, rsa_key):
    page = client.get("/ustawienia/certyfikat-offline")
    assert page.status_code == 200 and "Brak certyfikatu offline" in page.get_data(as_text=True)
    bundle = p12(rsa_key, self_signed(rsa_key), b"tajne")
    wrong = client.post("/ustawienia/certyfikat-offline", data={"password": "zle", "pkcs12": (io.BytesIO(bundle),
                                                                                              "c.p12")},
                        content_type="multipart/form-data")
    assert wrong.status_code == 422 and "sprawdź hasło" in wrong.get_data(as_text=True)
    saved = client.post("/ustawienia/certyfikat-offline", data={"password": "tajne",
                                                                 "pkcs12": (io.BytesIO(bundle), "c.p12")},
                        content_type="multipart/form-data")
    assert saved.status_code == 302
    shown = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "01F20A5D352AE590" in shown and "Zapisano certyfikat offline" in shown and "PRIVATE" not in shown
    deleted = client.post("/ustawienia/certyfikat-offline/usun")
    assert deleted.status_code == 302
    assert "Brak certyfikatu offline" in client.get("/ustawienia/certyfikat-offline").get_data(as_text=True)


def test_expired_certificate_gives_no_signer(db, services, company, rsa_key):
    credentials.add_offline_certificate(db, services.secrets, services.settings(), self_signed(rsa_key), rsa_key,
                                        now=NOW)
    assert offline_cert.signer(db, services.secrets, "demo", "5261040828", now=NOW) is not None
    assert offline_cert.signer(db, services.secrets, "demo", "5261040828", now=NOW + timedelta(days=3651)) is None
