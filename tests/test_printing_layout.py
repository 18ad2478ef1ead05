"""The printed page: a short invoice on one page with KOD I, the KSeF number inside the margins, the account in
groups, a cash payment without a bank block, and nothing for the seller's eyes only on the buyer's copy."""
from __future__ import annotations

from ksef_local.store import imports, invoices, outbox

from .factories import NOW, issued
from .pdf_support import qr_texts
from .test_printing import accept, pdf_text, render

ACCOUNT = "61109010140000071219812874"

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
