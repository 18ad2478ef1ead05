"""The printed page: a short invoice on one page with KOD I, the KSeF number inside the margins, the account in
groups, a cash payment without a bank block, and nothing for the seller's eyes only on the buyer's copy."""
from __future__ import annotations

from datetime import date, datetime, time, timezone

import pypdfium2 as pdfium
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ksef_local import printing
from ksef_local.forms import parties as party_forms
from ksef_local.ksef import crypto
from ksef_local.ksef.ksef_number import make_ksef_number
from ksef_local.store import imports, invoices, outbox, parties
from ksef_local.store.certificates import OfflineSigner

from .conftest import COMPANY_FORM, shared_path
from .factories import NOW, THREE_RATES, TODAY, draft, form, issued
from .pdf_support import qr_texts
from .test_printing import QR_HOST, accept, pdf_pages, pdf_text, render

# The SDK samples of MF (../shared/ksef/samples/README.md); the first is "example 1". The eighth, MF's PDF
# generator's own 13-line invoice, is not short: its MF rendering runs to four pages.
MF_SAMPLES = [
    "cirfmf-csharp-invoice-template-fa-3-filled.xml",
    "cirfmf-csharp-invoice-template-fa-3-with-attachment-filled.xml",
    "cirfmf-csharp-invoice-template-fa-3-with-custom-Subject3-filled.xml",
    "cirfmf-java-invoice-template-fa-3-with-custom-subject_2-filled.xml",
    "cirfmf-java-invoice-template-fa-3-with-custom-subject_3-filled.xml",
    "cirfmf-java-invoice-template_v3-filled.xml",
    "cirfmf-java-invoice_template_v3_self_invoicing-filled.xml",
]
SAMPLE_SELLER = "9999999999"
MARGIN = 1.4 / 2.54 * 72  # the left and right page margins of templates/pdf/invoice.html, in points
ACCOUNT = "61109010140000071219812874"


def import_accepted_sample(db, name: str) -> tuple[int, str, date]:
    """Import an MF sample as our own invoice and accept it online on its own issue day; return (id, KSeF number,
    issue date)."""
    xml = shared_path("ksef", "samples", name).read_bytes()
    parties.save_company(db, party_forms.validate_company({**COMPANY_FORM, "nip": SAMPLE_SELLER}))
    invoice_id = imports.import_xml(db, xml, name)
    issued_on = printing.prepare(db, invoice_id, qr_host=None).invoice.issue_date
    when = datetime.combine(issued_on, time(10), tzinfo=timezone.utc)  # that day: sent online, not offline
    outbox.enqueue(db, [invoice_id], when, reachable=True)
    number = make_ksef_number(SAMPLE_SELLER, issued_on, "0100001AF629")
    outbox.transition(db, outbox.current(db, invoice_id)["id"], when, "done", "KSeF przyjął fakturę",
                      ksef_number=number)
    return invoice_id, number, issued_on


def text_boxes(data: bytes, needle: str) -> list[list[tuple[float, float, float, float]]]:
    """The character boxes (left, bottom, right, top) of every occurrence of needle on the first page."""
    document = pdfium.PdfDocument(data)
    page = document[0]
    textpage = page.get_textpage()
    try:
        found = []
        searcher = textpage.search(needle, match_case=True)
        while (hit := searcher.get_next()) is not None:
            start, count = hit
            found.append([textpage.get_charbox(i) for i in range(start, start + count)])
        searcher.close()
        return found
    finally:
        textpage.close()
        page.close()
        document.close()


def page_width(data: bytes) -> float:
    document = pdfium.PdfDocument(data)
    try:
        return document[0].get_size()[0]
    finally:
        document.close()


# -- one page, with KOD I ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", MF_SAMPLES)
def test_mf_sample_prints_on_one_page_with_its_kod1(db, name):
    invoice_id, number, issued_on = import_accepted_sample(db, name)
    xml = invoices.get_invoice(db, invoice_id)["xml"]
    data = render(db, invoice_id)
    pages = pdf_pages(data)
    assert len(pages) == 1, f"{name} printed on {len(pages)} pages"
    assert qr_texts(data) == [crypto.invoice_verification_url(QR_HOST, SAMPLE_SELLER, issued_on, xml)]
    assert "Sprawdź, czy Twoja faktura znajduje się w KSeF!" in pages[0] and "Strona 1 z 1" in pages[0]
    assert pages[0].count(number) == 2  # in the title and under the code


def test_three_line_invoice_prints_on_one_page_with_kod1(db, company):
    invoice_id = issued(db, lines=THREE_RATES, bank_account=ACCOUNT)
    accept(db, invoice_id)
    data = render(db, invoice_id)
    assert len(pdf_pages(data)) == 1
    assert len(qr_texts(data)) == 1


def test_offline_invoice_prints_both_codes_on_one_page(db, company):
    invoice_id = issued(db)
    outbox.enqueue(db, [invoice_id], NOW, reachable=False)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the longest KOD II link
    signer = OfflineSigner("01F20A5D352AE590", key, "Nip", "5261040828")
    data = render(db, invoice_id, offline_cert=signer)
    assert len(pdf_pages(data)) == 1
    assert sorted(url.split("/")[3] for url in qr_texts(data)) == ["certificate", "invoice"]


def test_ksef_number_under_the_code_stays_within_the_margins(db):
    invoice_id, number, _ = import_accepted_sample(db, MF_SAMPLES[0])
    data = render(db, invoice_id)
    width = page_width(data)
    occurrences = text_boxes(data, number)
    assert len(occurrences) == 2
    for boxes in occurrences:
        assert len(boxes) == len(number)
        assert min(box[0] for box in boxes) >= MARGIN - 0.5
        assert max(box[2] for box in boxes) <= width - MARGIN + 0.5


# -- payment ----------------------------------------------------------------------------------------------

def test_bank_account_prints_in_groups_of_four(db, company):
    text = pdf_text(render(db, issued(db, bank_account=ACCOUNT)))
    assert "Numer rachunku bankowego" in text
    assert "61 1090 1014 0000 0712 1981 2874" in text
    assert ACCOUNT not in text


def test_cash_invoice_prints_no_bank_block_and_no_due_date(db, company):
    invoice_id = issued(db, payment_form="1", due_date="", bank_account=ACCOUNT)
    xml = invoices.get_invoice(db, invoice_id)["xml"]
    assert b"<FormaPlatnosci>1</FormaPlatnosci>" in xml
    assert b"RachunekBankowy" not in xml  # the draft's default account stays out of a cash invoice
    text = pdf_text(render(db, invoice_id))
    assert "Forma płatności: Gotówka" in text
    assert "Numer rachunku bankowego" not in text and "1090 1014" not in text
    assert "Termin płatności" not in text


def test_cash_invoice_made_elsewhere_prints_its_due_date_but_no_account(db, company):
    """An imported cash invoice may carry an account (printed: none) and a due date it gives (printed)."""
    transfer = invoices.get_invoice(db, issued(db, bank_account=ACCOUNT))["xml"]
    assert b"<NrRB>" + ACCOUNT.encode() + b"</NrRB>" in transfer
    xml = (transfer.replace(b"<FormaPlatnosci>6</FormaPlatnosci>", b"<FormaPlatnosci>1</FormaPlatnosci>")
           .replace(b"FV/2026/11/1", b"ZEW/1/2026"))
    text = pdf_text(render(db, imports.import_xml(db, xml, "gotowka.xml")))
    assert "Forma płatności: Gotówka" in text and "Termin płatności: 08.12.2026" in text
    assert "Numer rachunku bankowego" not in text and "1090 1014" not in text


def test_choosing_cash_in_the_editor_drops_the_default_term_but_keeps_one_given(client, db, company):
    invoice_id = draft(db, due_date="2026-12-08", bank_account=ACCOUNT)  # a transfer with its 14-day term
    cash = form(THREE_RATES, payment_form="1", due_date="08.12.2026", bank_account=ACCOUNT)
    response = client.post(f"/faktury/{invoice_id}/zapisz", data=cash, htmx=True)
    assert response.status_code == 200
    assert invoices.get_invoice(db, invoice_id)["due_date"] is None
    swapped = response.get_data(as_text=True)
    assert 'id="payment" hx-swap-oob="true"' in swapped  # the field on the screen is emptied too
    assert 'name="due_date" type="text" value=""' in swapped

    given = form(THREE_RATES, payment_form="1", due_date="10.12.2026", bank_account=ACCOUNT)
    response = client.post(f"/faktury/{invoice_id}/zapisz", data=given, htmx=True)
    assert invoices.get_invoice(db, invoice_id)["due_date"] == "2026-12-10"
    assert 'id="payment"' not in response.get_data(as_text=True)
    invoices.issue(db, invoice_id, TODAY, NOW)
    text = pdf_text(render(db, invoice_id))
    assert "Forma płatności: Gotówka" in text and "Termin płatności: 10.12.2026" in text
    assert "Numer rachunku bankowego" not in text


# -- what is for the seller stays in the app --------------------------------------------------------------

def test_missing_offline_certificate_is_told_in_the_app_not_on_the_printout(db, company, client):
    invoice_id = issued(db)
    outbox.enqueue(db, [invoice_id], NOW, reachable=False)
    data = render(db, invoice_id)
    assert len(qr_texts(data)) == 1  # KOD I "OFFLINE" only
    text = pdf_text(data)
    assert "certyfikat" not in text.lower() and "ustawieniach" not in text and "KOD II" not in text
    page = client.get(f"/faktury/{invoice_id}").get_data(as_text=True)
    assert 'id="print-note"' in page and "certyfikatu KSeF typu Offline" in page
    assert "/ustawienia/certyfikat-offline" in page


def test_an_online_invoice_page_has_no_print_note(db, company, client):
    invoice_id = issued(db)
    accept(db, invoice_id)
    assert 'id="print-note"' not in client.get(f"/faktury/{invoice_id}").get_data(as_text=True)
