"""Printed invoices: real PDFs, read back with pypdfium2 and their QR codes decoded with zxing-cpp."""
from __future__ import annotations

import argparse
import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pypdfium2 as pdfium
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from ksef_local import credentials, printing
from ksef_local.cli import printing as printing_cli
from ksef_local.ksef import crypto
from ksef_local.ksef.ksef_number import make_ksef_number
from ksef_local.printing import qr
from ksef_local.store import certificates as offline_cert
from ksef_local.store import imports, invoices, outbox
from ksef_local.store.certificates import OfflineSigner
from ksef_local.web import printing as printing_web

from .factories import NOW, TODAY, draft, form, issued
from .pdf_support import qr_texts

QR_HOST = "https://qr-test.ksef.mf.gov.pl"
KSEF_NUMBER = make_ksef_number("5261040828", TODAY, "0100001AF629")
PRINTED = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


# -- helpers -------------------------------------------------------------------------------------

def pdf_pages(data: bytes) -> list[str]:
    """The text of each page, whitespace (line breaks, no-break spaces) collapsed to single spaces."""
    document = pdfium.PdfDocument(data)
    try:
        texts = []
        for page in document:
            textpage = page.get_textpage()
            texts.append(" ".join(textpage.get_text_range().replace("\xa0", " ").split()))
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()


def pdf_text(data: bytes) -> str:
    return " ".join(pdf_pages(data))


def render(db, invoice_id, **kwargs) -> bytes:
    kwargs.setdefault("qr_host", QR_HOST)
    return printing.render_invoice_pdf(db, invoice_id, now=PRINTED, **kwargs)


def accept(db, invoice_id, number=KSEF_NUMBER) -> None:
    """Mark the invoice accepted as the sender does (outbox row → A with a KSeF number)."""
    outbox.enqueue(db, [invoice_id], NOW, reachable=True)
    row = outbox.current(db, invoice_id)
    outbox.transition(db, row["id"], NOW, "done", "KSeF przyjął fakturę", ksef_number=number)


def self_signed(key, serial=0x01F20A5D352AE590):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "5261040828"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Piekarnia Zażółć")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=3650)).sign(key, hashes.SHA256()))


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_kod2(url: str, public_key) -> None:
    """Check KOD II's last segment signs the link without https:// (ksef-docs kody-qr.md); raise if not."""
    unsigned, signature = url.rsplit("/", 1)
    signed = unsigned.split("://", 1)[1].encode("utf-8")
    raw = unb64url(signature)
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(raw, signed, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                          hashes.SHA256())
    else:
        assert len(raw) == 64  # IEEE P1363 r||s
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# -- content -------------------------------------------------------------------------------------

def test_pdf_holds_number_parties_polish_letters_and_dejavu(db, company):
    invoice_id = issued(db)
    data = render(db, invoice_id)
    text = pdf_text(data)
    assert "FV/2026/11/1" in text
    assert "Piekarnia Zażółć Sp. z o.o." in text and "Hurtownia Łódź Sp. z o.o." in text
    assert "Sprzedawca" in text and "Nabywca" in text and "Podsumowanie stawek podatku" in text
    assert "Kwota należności ogółem: 730,35 zł" in text
    assert "siedemset trzydzieści złotych 35/100" in text
    assert "Data wystawienia, z zastrzeżeniem art. 106na ust. 1 ustawy: 24.11.2026" in text
    assert "Forma płatności: Przelew" in text and "Termin płatności: 08.12.2026" in text
    assert "Wytworzona w: ksef-local" in text and "Strona 1 z 1" in text
    assert b"DejaVuSans" in data and b"DejaVuSans-Bold" in data  # not the Helvetica fallback


def test_invoice_not_in_ksef_prints_without_qr_and_says_so(db, company):
    data = render(db, issued(db))
    assert qr_texts(data) == []
    text = pdf_text(data)
    assert "Tej faktury nie ma jeszcze w KSeF" in text and "Numer KSeF: nie nadano" in text
    assert "OFFLINE" not in text


def test_draft_prints_as_preview_without_qr(db, company):
    data = render(db, draft(db))
    text = pdf_text(data)
    assert "PODGLĄD" in text and "numer zostanie nadany przy wystawieniu" in text
    assert qr_texts(data) == []


# -- KOD I ---------------------------------------------------------------------------------------

def test_accepted_invoice_prints_kod1_that_decodes_to_the_exact_url(db, company):
    invoice_id = issued(db)
    accept(db, invoice_id)
    xml = invoices.get_invoice(db, invoice_id)["xml"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(xml).digest()).decode().rstrip("=")
    expected = f"https://qr-test.ksef.mf.gov.pl/invoice/5261040828/24-11-2026/{digest}"
    data = render(db, invoice_id)
    assert qr_texts(data) == [expected]
    text = pdf_text(data)
    assert f"Numer KSeF: {KSEF_NUMBER}" in text and "Sprawdź, czy Twoja faktura znajduje się w KSeF!" in text
    assert "OFFLINE" not in text  # never OFFLINE under an online invoice's code (CIRFMF/ksef-pdf-generator #93)


def test_kod1_official_examples():
    # ksef-docs kody-qr.md: the official link encodes and scans back unchanged ...
    official = ("https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/"
                "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE")
    html = f'<html><body><img src="{qr.qr_data_uri(official)}" style="width: 150pt; height: 150pt"></body></html>'
    assert qr_texts(printing.pdf.html_to_pdf(html)) == [official]
    # ... and the worked example from the official test inputs comes out of our KOD I builder.
    code = qr.invoice_code("qr-test.ksef.mf.gov.pl", "1234567890", "2026-01-05", b"<root>test</root>", None)
    assert code.url == ("https://qr-test.ksef.mf.gov.pl/invoice/1234567890/05-01-2026/"
                        "qrs2gCLXnTUy6--AHwHuDxFuCj0BYUGRGtBuGnJwN-c")
    assert code.caption == "OFFLINE"


# -- offline: KOD I "OFFLINE" + KOD II "CERTYFIKAT" -------------------------------------------------

def test_offline_invoice_prints_offline_kod1_and_a_kod2_that_verifies(db, company, rsa_key):
    invoice_id = issued(db)
    outbox.enqueue(db, [invoice_id], NOW, reachable=False)
    assert outbox.status(db, invoice_id).offline_mode
    signer = OfflineSigner("01F20A5D352AE590", rsa_key, "Nip", "5261040828")
    data = render(db, invoice_id, offline_cert=signer)
    urls = qr_texts(data)  # side by side: told apart by their paths, not by their order
    (kod1,) = [url for url in urls if "/invoice/" in url]
    (kod2,) = [url for url in urls if "/certificate/" in url]
    xml = invoices.get_invoice(db, invoice_id)["xml"]
    assert kod1 == crypto.invoice_verification_url(QR_HOST, "5261040828", TODAY, xml)
    digest = kod1.rsplit("/", 1)[1]
    assert kod2.startswith(f"{QR_HOST}/certificate/Nip/5261040828/5261040828/01F20A5D352AE590/{digest}/")
    verify_kod2(kod2, rsa_key.public_key())
    text = pdf_text(data)
    assert "Numer KSeF: OFFLINE" in text and "CERTYFIKAT" in text and "Zweryfikuj dostawcę faktury" in text


def test_offline_invoice_without_certificate_prints_kod1_only(db, company):
    invoice_id = issued(db)
    outbox.enqueue(db, [invoice_id], NOW, reachable=False)
    data = render(db, invoice_id)
    assert len(qr_texts(data)) == 1
    assert "certyfikatu KSeF typu Offline" not in pdf_text(data)  # the app says it (test_printing_layout.py)


def test_kod2_with_an_ecdsa_p256_key_verifies():
    key = ec.generate_private_key(ec.SECP256R1())
    code = qr.certificate_code("qr-test.ksef.mf.gov.pl", "1111111111", b"<root>test</root>",
                               OfflineSigner("01F20A5D352AE590", key, "Nip", "1111111111"))
    assert code.caption == "CERTYFIKAT"
    verify_kod2(code.url, key.public_key())


def test_signer_comes_from_the_stored_certificate(app, db, company, rsa_key):
    services = app.extensions["ksef_local"]
    credentials.add_offline_certificate(db, services.secrets, services.settings(), self_signed(rsa_key), rsa_key,
                                        now=NOW)
    signer = offline_cert.signer(db, services.secrets, "demo", "5261040828", now=NOW)
    assert signer.serial == "01F20A5D352AE590" and signer.context_value == "5261040828"
    assert "PRIVATE" not in repr(signer)
    assert offline_cert.signer(db, services.secrets, "demo", "5261040828", now=NOW + timedelta(days=4000)) is None
    assert offline_cert.signer(db, services.secrets, "PROD", "5261040828", now=NOW) is None  # another KSeF's


# -- kinds and sources ----------------------------------------------------------------------------

def test_correction_prints_lines_before_and_after(db, company):
    original = issued(db)
    accept(db, original)
    kor = invoices.create_draft(db, TODAY, "KOR", corrected_id=original)
    row = invoices.get_invoice(db, kor)
    lines = [{**dict(ln), "discount_percent": ln["discount_percent"] or ""} for ln in invoices.get_lines(db, kor)]
    lines[5]["unit_price"] = "150"
    invoices.save_draft(db, kor, form(lines, due_date="", corr_number=row["corr_number"],
                                      corr_issue_date=row["corr_issue_date"], corr_ksef_number=KSEF_NUMBER,
                                      corr_reason="Błędna cena usługi"))
    invoices.issue(db, kor, TODAY, NOW)
    text = pdf_text(render(db, kor))
    assert "Faktura korygująca" in text and "Dane faktury korygowanej" in text
    assert "Numer faktury korygowanej: FV/2026/11/1" in text and "Błędna cena usługi" in text
    assert f"Numer KSeF faktury korygowanej: {KSEF_NUMBER}" in text
    assert "Pozycje przed korektą" in text and "Pozycje po korekcie" in text
    assert text.index("przed korektą") < text.index("po korekcie")
    assert "Kwota należności ogółem: -138,37 zł" in text


def test_imported_invoice_prints_from_its_own_bytes(db, company):
    xml = invoices.get_invoice(db, issued(db))["xml"].replace(b"FV/2026/11/1", b"ZEW/77/2026")
    imported = imports.import_xml(db, xml, "zew.xml")
    accept(db, imported, make_ksef_number("5261040828", TODAY, "0100001AF630"))
    data = render(db, imported)
    assert "ZEW/77/2026" in pdf_text(data)
    assert qr_texts(data) == [crypto.invoice_verification_url(QR_HOST, "5261040828", TODAY, xml)]


def test_200_line_invoice_paginates_with_the_header_repeated(db, company):
    lines = [{"name": f"Towar {i} – długa nazwa, która zawija się w kolumnie nazwy towaru lub usługi",
              "quantity": "1", "unit_price": "10", "rate": "23"} for i in range(1, 201)]
    pages = pdf_pages(render(db, issued(db, lines=lines)))
    count = len(pages)
    assert count >= 4
    assert f"Strona 2 z {count}" in pages[1] and f"Strona {count} z {count}" in pages[-1]
    for page in pages[1:-1]:
        assert "Nazwa towaru lub usługi" in page and "Wartość sprzedaży" in page
    assert "Towar 200 " in "".join(pages)


def test_render_many_makes_one_pdf_each_invoice_on_its_own_pages(db, company):
    first, second = issued(db), issued(db)
    pages = pdf_pages(printing.render_many(db, [first, second], qr_host=QR_HOST, now=PRINTED))
    assert len(pages) == 2
    assert "FV/2026/11/1" in pages[0] and "FV/2026/11/2" in pages[1]
    assert all("Strona 1 z 1" in page for page in pages)


# -- web and CLI ----------------------------------------------------------------------------------

@pytest.fixture
def web(app, client):
    if "printing" not in app.blueprints:  # until web.init_app registers it
        app.register_blueprint(printing_web.bp)
    return client


def test_web_invoice_pdf_and_selection(web, db, company):
    first, second = issued(db), issued(db)
    response = web.get(f"/faktury/{first}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert 'inline; filename="Faktura_FV_2026_11_1.pdf"' == response.headers["Content-Disposition"]
    assert "FV/2026/11/1" in pdf_text(response.data)
    response = web.get(f"/faktury/pdf?id={first}&id={second}&pobierz=1")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert len(pdf_pages(response.data)) == 2
    assert web.get("/faktury/999/pdf").status_code == 404
    assert web.get("/faktury/pdf").status_code == 400


def test_web_accepted_invoice_in_demo_mode_points_at_the_simulator(app, web, db, company):
    app.extensions["ksef_local"].simulator_url = "http://127.0.0.1:45678"
    invoice_id = issued(db)
    accept(db, invoice_id)
    (url,) = qr_texts(web.get(f"/faktury/{invoice_id}/pdf").data)
    assert url.startswith("http://127.0.0.1:45678/invoice/5261040828/24-11-2026/")


def test_cli_pdf_writes_the_file(app, home, db, company, tmp_path, capsys):
    issued(db)
    output = tmp_path / "out.pdf"
    args = argparse.Namespace(numbers=["FV/2026/11/1"], output=str(output), qr_host=None)
    assert printing_cli.pdf_command(home, args) == 0
    assert "FV/2026/11/1" in pdf_text(output.read_bytes())
    args = argparse.Namespace(numbers=["NIE/MA"], output=str(output), qr_host=None)
    assert printing_cli.pdf_command(home, args) == 2
    assert "Nie ma faktury o numerze NIE/MA" in capsys.readouterr().err
    parser = argparse.ArgumentParser()
    printing_cli.add_arguments(parser)
    assert parser.parse_args(["A/1", "B/2", "-o", "x.pdf"]).numbers == ["A/1", "B/2"]


def test_qr_points_at_the_environment_the_invoice_was_sent_to(app, db, company):
    """Switching the settings later must not move old printouts to another KSeF (docs/field-notes.md, QR host)."""
    from ksef_local.store import settings as ksef_settings

    state = app.extensions["ksef_local"]
    sent_to_test = issued(db)
    outbox.enqueue(db, [sent_to_test], NOW, environment="TEST")
    accept(db, sent_to_test)
    ksef_settings.save(db, state.secrets, {"environment": "PROD", "confirm_prod": "1"})
    not_recorded = issued(db)
    accept(db, not_recorded, make_ksef_number("5261040828", TODAY, "0100001AF62A"))
    qr_host_of, _ = printing.verification_setup(state)
    assert qr_host_of(sent_to_test) == "https://qr-test.ksef.mf.gov.pl"
    assert qr_host_of(not_recorded) == "https://qr.ksef.mf.gov.pl"  # falls back to the current settings
    both = printing.render_many(db, [sent_to_test, not_recorded], qr_host=qr_host_of, now=PRINTED)
    hosts = sorted(url.split("/invoice/")[0] for url in qr_texts(both))
    assert hosts == ["https://qr-test.ksef.mf.gov.pl", "https://qr.ksef.mf.gov.pl"]
