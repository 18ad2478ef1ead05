"""Demo mode: the QR codes of a printout keep answering after ksef-local restarts (issue 11, item 17)."""
from __future__ import annotations

import logging
import socket

import requests

from ksef_local import cli, printing
from ksef_local.app import create_app
from ksef_local.desktop import launcher
from ksef_local.forms import parties as party_forms
from ksef_local.store import invoices, parties

from .conftest import COMPANY_FORM
from .factories import issued
from .pdf_support import qr_texts


def demo_folder_with_an_accepted_invoice(home) -> int:
    """A data folder in demo mode (the default) with one invoice the built-in simulator accepted (letter A)."""
    app = create_app(home)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    invoice_id = issued(db)
    number = invoices.get_invoice(db, invoice_id)["number"]
    assert cli.main(["--data-dir", str(home), "send", number, "--wait", "--timeout", "60"]) == 0
    return invoice_id


def start(home):
    """Start the app of a data folder with its demo simulator, as `ksef-local run` does (no sender needed)."""
    app = create_app(home)
    return app, launcher.start_background(app, sender=False)


def printed_codes(app, invoice_id: int) -> list[str]:
    """The links of the printout's QR codes: KOD I, and KOD II when the invoice went out offline (the factories'
    date is before today's, so the sender sends it as offline24)."""
    state = app.extensions["ksef_local"]
    qr_host, signer = printing.verification_setup(state)
    urls = qr_texts(printing.render_invoice_pdf(state.db(), invoice_id, qr_host=qr_host, offline_cert=signer))
    assert any("/invoice/" in url for url in urls)
    return sorted(urls, key=lambda url: "/certificate/" in url)  # KOD I first


def answer(url: str) -> str:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return response.text


def assert_verified(urls: list[str]) -> None:
    assert "Faktura znajduje się w KSeF" in answer(urls[0])
    for url in urls[1:]:
        assert "Certyfikat zweryfikowany pozytywnie" in answer(url)  # KOD II signs the host, port included


def test_demo_qr_links_still_answer_after_a_restart(tmp_path, capsys):
    home = tmp_path / "dane"
    invoice_id = demo_folder_with_an_accepted_invoice(home)
    capsys.readouterr()

    app, background = start(home)
    try:
        urls = printed_codes(app, invoice_id)
        assert all(url.startswith("http://127.0.0.1:") for url in urls)
        assert_verified(urls)
    finally:
        background.stop()

    app, background = start(home)  # a restart: the same folder, a new process in real life
    try:
        assert_verified(urls)
        assert printed_codes(app, invoice_id)[0] == urls[0]
    finally:
        background.stop()


def test_a_taken_demo_port_falls_back_to_another_and_says_so(tmp_path, caplog):
    home = tmp_path / "dane"
    app, background = start(home)
    remembered = launcher.remembered_simulator_port(home)
    background.stop()
    assert app.extensions["ksef_local"].simulator_url == f"http://127.0.0.1:{remembered}"

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", remembered))
        squatter.listen()
        caplog.set_level(logging.WARNING, logger="ksef_local.desktop.launcher")
        app, background = start(home)
        try:
            url = app.extensions["ksef_local"].simulator_url
            assert url != f"http://127.0.0.1:{remembered}"
            assert requests.get(f"{url}/latarnia/status", timeout=10).status_code == 200
        finally:
            background.stop()
    assert f"port {remembered} is taken" in caplog.text
    assert launcher.remembered_simulator_port(home) == remembered  # earlier printouts' port: tried again next time


def test_cli_pdf_in_demo_mode_links_to_the_remembered_port(tmp_path, capsys):
    home = tmp_path / "dane"
    invoice_id = demo_folder_with_an_accepted_invoice(home)
    port = launcher.remembered_simulator_port(home)
    assert port is not None
    output = tmp_path / "out.pdf"
    number = invoices.get_invoice(create_app(home).extensions["ksef_local"].db(), invoice_id)["number"]
    assert cli.main(["--data-dir", str(home), "pdf", number, "-o", str(output)]) == 0
    urls = qr_texts(output.read_bytes())
    assert any(url.startswith(f"http://127.0.0.1:{port}/invoice/5261040828/") for url in urls)
    assert all(url.startswith(f"http://127.0.0.1:{port}/") for url in urls)
    assert f"http://127.0.0.1:{port}" in capsys.readouterr().err
