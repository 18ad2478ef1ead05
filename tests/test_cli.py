"""The ksef-local command: run --headless, the data folder, import."""
from __future__ import annotations

import http.cookiejar
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from ksef_local import cli, config
from ksef_local.app import create_app
from ksef_local.forms import parties as party_forms
from ksef_local.store import invoice_list, invoices, parties

from .conftest import COMPANY_FORM
from .factories import issued

PYTHON = sys.executable


def start_headless(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen([PYTHON, "-m", "ksef_local", *args, "run", "--headless"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    url_line = process.stdout.readline()
    home_line = process.stdout.readline()
    return process, url_line, home_line


def test_run_headless_serves_on_loopback_and_prints_the_url(tmp_path):
    process, url_line, home_line = start_headless("--data-dir", str(tmp_path / "dane"))
    try:
        assert url_line.startswith("ksef-local działa pod adresem http://127.0.0.1:")
        url = url_line.split()[-1]
        assert str(tmp_path / "dane") in home_line
        assert "?wejscie=" in url  # a one-time entry code, never the launch secret itself
        base = url.split("?")[0]
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        deadline = time.monotonic() + 20
        while True:
            try:
                with browser.open(url) as response:  # sets the cookie, then follows the first-run redirect
                    assert response.status == 200
                    assert "Witaj w ksef-local" in response.read().decode()
                break
            except urllib.error.URLError as exc:
                assert not isinstance(exc, urllib.error.HTTPError), exc
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as refused:  # another user or site without the cookie
            urllib.request.urlopen(base + "firma")
        assert refused.value.code == 403
        refused.value.close()
        with browser.open(base + "firma") as again:
            assert again.status == 200 and again.headers["Server"] == "ksef-local"
        assert (tmp_path / "dane" / "ksef-local.sqlite3").exists()
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path / "z-env"))
    assert config.data_dir() == (tmp_path / "z-env").resolve()
    assert config.data_dir(tmp_path / "z-opcji") == (tmp_path / "z-opcji").resolve()
    monkeypatch.delenv(config.ENV_HOME)
    assert config.data_dir().name == "ksef-local"


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert "ksef-local 0.1.0" in capsys.readouterr().out


def test_import_command_imports_good_files_and_explains_bad_ones(tmp_path, capsys):
    home = tmp_path / "dane"
    app = create_app(home)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    xml = invoices.get_invoice(db, issued(db))["xml"].replace(b"FV/2026/11/1", b"ZEWN/1/2026")
    good, bad = tmp_path / "dobra.xml", tmp_path / "zla.xml"
    good.write_bytes(xml)
    bad.write_bytes(b"<Faktura>")

    assert cli.main(["--data-dir", str(home), "import", str(good), str(bad)]) == 1
    out = capsys.readouterr()
    assert "zaimportowano fakturę ZEWN/1/2026" in out.out
    assert "zla.xml" in out.err and "XML" in out.err
    assert invoice_list.list_invoices(db, q="ZEWN")[1] == 1

    assert cli.main(["--data-dir", str(home), "import", str(good)]) == 1
    assert "już jest w programie" in capsys.readouterr().err


def company_with_invoices(home, count: int) -> list[str]:
    app = create_app(home)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    return [invoices.get_invoice(db, issued(db))["number"] for _ in range(count)]


def test_send_wait_and_status_in_demo_mode(tmp_path, capsys):
    home = tmp_path / "dane"
    numbers = company_with_invoices(home, 2)
    assert cli.main(["--data-dir", str(home), "send", numbers[0], "--wait", "--timeout", "60"]) == 0
    out = capsys.readouterr().out
    assert "W kolejce do KSeF: 1." in out
    assert f"{numbers[0]}: A 5261040828-" in out

    assert cli.main(["--data-dir", str(home), "send", numbers[0]]) == 1
    assert "tylko raz" in capsys.readouterr().err

    assert cli.main(["--data-dir", str(home), "status", "--json"]) == 0
    listed = {item["number"]: item for item in json.loads(capsys.readouterr().out)}
    assert listed[numbers[0]]["letter"] == "A" and listed[numbers[0]]["ksef_number"].startswith("5261040828-")
    assert listed[numbers[1]]["letter"] is None

    assert cli.main(["--data-dir", str(home), "send", "--all"]) == 0
    assert "W kolejce do KSeF: 1." in capsys.readouterr().out
    assert cli.main(["--data-dir", str(home), "status"]) == 0
    assert f"{numbers[1]}  W" in capsys.readouterr().out


def test_send_unknown_number_is_refused(tmp_path, capsys):
    home = tmp_path / "dane"
    company_with_invoices(home, 1)
    assert cli.main(["--data-dir", str(home), "send", "FV/1999/01/1"]) == 2
    assert "Nie ma faktur o numerach: FV/1999/01/1." in capsys.readouterr().err


def test_settings_token_from_stdin_is_never_printed(tmp_path, capsys, monkeypatch):
    home = tmp_path / "dane"
    company_with_invoices(home, 0)
    token = "20261124-EC-0123456789-0123456789-AB|nip-5261040828|" + "ab" * 32
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert cli.main(["--data-dir", str(home), "settings", "--environment", "TEST", "--token-stdin"]) == 0
    out = capsys.readouterr().out
    assert "Środowisko: TEST" in out and token not in out and token[-4:] in out
    assert token.encode() not in (home / "ksef-local.sqlite3").read_bytes()

    assert cli.main(["--data-dir", str(home), "settings", "--environment", "PROD"]) == 2
    assert "prawnie wiążące" in capsys.readouterr().err
    assert cli.main(["--data-dir", str(home), "settings"]) == 0
    assert "Środowisko: TEST" in capsys.readouterr().out
