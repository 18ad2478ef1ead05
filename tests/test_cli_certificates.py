"""The command line for certificates: settings --certificate with --password-stdin, and the external-signature
flow (certificates request / submit), list, test — against the simulator over real HTTP."""
from __future__ import annotations

import io
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ksef_local import cli
from ksef_local.app import create_app
from ksef_local.clock import utc_now
from ksef_local.forms import parties as party_forms
from ksef_local.store import parties
from tests.conftest import COMPANY_FORM
from tests.ksef_support import new_key, running_simulator, self_signed, sign_xmlsec

NIP = "5261040828"


@pytest.fixture
def folder(tmp_path):
    home = tmp_path / "dane"
    app = create_app(home)
    parties.save_company(app.extensions["ksef_local"].db(), party_forms.validate_company(COMPANY_FORM))
    return home


@pytest.fixture
def ksef():
    with running_simulator(clock=utc_now, xades_delay_ms=0, processing_ms=50) as sim:
        yield sim


def run(home, *args: str) -> int:
    return cli.main(["--data-dir", str(home), *args])


def test_settings_add_a_pkcs12_certificate_with_the_password_from_stdin(folder, ksef, tmp_path, capsys,
                                                                         monkeypatch):
    assert run(folder, "settings", "--environment", "custom", "--base-url", ksef.base_url) == 0
    key = new_key("EC")
    bundle = tmp_path / "pieczec.p12"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(
        b"pieczec", key, self_signed(key, nip=NIP), None, serialization.BestAvailableEncryption(b"Tajne-haslo-1")))
    monkeypatch.setattr("sys.stdin", io.StringIO("zle\n"))
    assert run(folder, "settings", "--certificate", str(bundle), "--password-stdin") == 2
    assert "sprawdź hasło" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("Tajne-haslo-1\n"))
    assert run(folder, "settings", "--certificate", str(bundle), "--password-stdin") == 0
    out = capsys.readouterr().out
    assert "Dodano certyfikat" in out and "VATPL-5261040828" in out and "Tajne-haslo-1" not in out
    assert "Logowanie: certyfikatem" in out
    assert run(folder, "certificates", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["kind"], c["usage"]) for c in listed["certificates"]] == [("kwalifikowany", "login")]
    assert run(folder, "certificates", "test") == 0
    assert "Połączenie z KSeF działa" in capsys.readouterr().out


def test_request_sign_submit_gets_the_programs_own_certificates(folder, ksef, tmp_path, capsys):
    assert run(folder, "settings", "--environment", "custom", "--base-url", ksef.base_url) == 0
    to_sign = tmp_path / "do-podpisu.xml"
    assert run(folder, "certificates", "request", "-o", str(to_sign)) == 0
    assert "w ciągu 10 minut" in capsys.readouterr().out
    key = new_key("RSA")
    signed = tmp_path / "podpisany.xml"
    signed.write_bytes(sign_xmlsec(to_sign.read_bytes(), key, self_signed(key, nip=NIP)))  # the user's tool
    assert run(folder, "certificates", "submit", str(signed), "--timeout", "60") == 0
    assert "Zalogowano podpisem i uzyskano certyfikaty KSeF" in capsys.readouterr().out
    assert run(folder, "certificates", "list", "--json", "--ksef") == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(c["kind"] for c in listed["certificates"]) == ["KSeF – logowanie", "KSeF – offline (KOD II)"]
    assert sorted(c["type"] for c in listed["ksef"]) == ["Authentication", "Offline"]
    offline = next(c for c in listed["ksef"] if c["type"] == "Offline")
    assert run(folder, "certificates", "revoke", offline["serial"]) == 0
    assert f"Odwołano certyfikat {offline['serial']}" in capsys.readouterr().out
    assert run(folder, "certificates", "list", "--json") == 0
    assert [c["kind"] for c in json.loads(capsys.readouterr().out)["certificates"]] == ["KSeF – logowanie"]


def test_submitting_the_unsigned_file_is_explained(folder, ksef, tmp_path, capsys):
    assert run(folder, "settings", "--environment", "custom", "--base-url", ksef.base_url) == 0
    to_sign = tmp_path / "do-podpisu.xml"
    assert run(folder, "certificates", "request", "-o", str(to_sign)) == 0
    assert run(folder, "certificates", "submit", str(to_sign), "--timeout", "60") == 1
    err = capsys.readouterr().err
    assert "Brak podpisu" in err and "Kod KSeF: 9102" in err
