"""`ksef-local purchases …` on real data folders: sync in demo mode (the in-app simulator delivers the demo
company's purchase invoices), list, the exact XML bytes on standard output, the PDF; Polish errors with a
non-zero exit for an unknown number, no credentials and KSeF down."""
from __future__ import annotations

import json
import socket

from ksef_local import cli
from ksef_local.app import create_app
from ksef_local.forms import parties as party_forms
from ksef_local.ksef import crypto
from ksef_local.store import parties
from ksef_local.store import settings as ksef_settings
from tests.conftest import COMPANY_FORM
from tests.pdf_support import qr_texts


def company(home) -> object:
    app = create_app(home)
    state = app.extensions["ksef_local"]
    parties.save_company(state.db(), party_forms.validate_company(COMPANY_FORM))
    return state


def test_sync_list_xml_and_pdf_in_demo_mode(tmp_path, capsysbinary):
    home = tmp_path / "dane"
    company(home)

    class Text:   # one capture for text and bytes: capsys and capsysbinary cannot be used together
        @staticmethod
        def readouterr():
            captured = capsysbinary.readouterr()
            return type("Captured", (), {"out": captured.out.decode("utf-8"), "err": captured.err.decode("utf-8")})

    capsys = Text()
    assert cli.main(["--data-dir", str(home), "purchases", "sync", "--timeout", "60"]) == 0
    assert "Pobrano 4 faktury zakupowe" in capsys.readouterr().out

    assert cli.main(["--data-dir", str(home), "purchases", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 4
    first = listed[0]
    assert {"number", "seller_nip", "seller_name", "ksef_number", "issue_date", "gross", "currency", "received_at",
            "paid"} <= set(first)
    assert first["paid"] is False and first["currency"] == "PLN" and "." in first["gross"]

    assert cli.main(["--data-dir", str(home), "purchases", "list"]) == 0
    text = capsys.readouterr().out
    assert "Faktury zakupowe: 4" in text and "\u00a0zł" in text

    capsysbinary.readouterr()
    assert cli.main(["--data-dir", str(home), "purchases", "xml", first["ksef_number"]]) == 0
    xml = capsysbinary.readouterr().out
    assert xml.startswith(b"<?xml") and first["number"].encode() in xml
    database = create_app(home).extensions["ksef_local"].db()
    stored_hash = database.execute("SELECT invoice_hash FROM purchases WHERE ksef_number = ?",
                                   [first["ksef_number"]]).fetchone()[0]
    assert crypto.sha256_b64(xml) == stored_hash   # binary-safe: the very bytes KSeF hashed

    output = tmp_path / "zakup.pdf"
    assert cli.main(["--data-dir", str(home), "purchases", "pdf", first["ksef_number"], "-o", str(output)]) == 0
    [link] = qr_texts(output.read_bytes())
    assert link.startswith(f"http://127.0.0.1:8765/invoice/{first['seller_nip']}/")


def test_an_unknown_number_and_missing_credentials_are_told_in_polish(tmp_path, capsys):
    home = tmp_path / "dane"
    state = company(home)
    assert cli.main(["--data-dir", str(home), "purchases", "xml", "5265877635-20260302-000000000000-00"]) == 2
    assert "Nie ma faktury zakupowej o numerze KSeF" in capsys.readouterr().err
    ksef_settings.save(state.db(), state.secrets, {"environment": "TEST", "batch_threshold": "50"})
    assert cli.main(["--data-dir", str(home), "purchases", "sync", "--timeout", "20"]) == 1
    assert "Brak danych logowania do KSeF" in capsys.readouterr().err


def test_ksef_down_ends_the_sync_with_a_polish_message(tmp_path, capsys):
    home = tmp_path / "dane"
    state = company(home)
    with socket.socket() as closed:   # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    ksef_settings.save(state.db(), state.secrets, {"environment": "custom", "base_url": f"http://127.0.0.1:{port}",
                                                   "batch_threshold": "50", "ksef_token": "x" * 40})
    assert cli.main(["--data-dir", str(home), "purchases", "sync", "--timeout", "30"]) == 1
    assert "Serwis KSeF nie odpowiada" in capsys.readouterr().err
