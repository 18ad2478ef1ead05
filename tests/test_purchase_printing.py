"""Drukuj / PDF of a purchase invoice: the official layout from the stored bytes, KOD I read back from the
rendered PDF as a phone would and equal to the seller's verification link (CIRFMF/ksef-docs kody-qr.md)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ksef_local.errors import NotFound, UserError
from ksef_local.ksef import crypto
from ksef_local.printing import purchases as purchase_printing
from ksef_local.store import db as dbmod
from ksef_local.store import purchases
from tests.pdf_support import qr_texts
from tests.purchase_support import SELLER, ksef_number, metadata_for, purchase_xml
from tests.test_printing import pdf_text

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
QR_TEST = "https://qr-test.ksef.mf.gov.pl"


def stored_purchase(db, environment: str = "TEST") -> tuple[int, bytes, str]:
    xml = purchase_xml("FV/77/11/2026")
    number = ksef_number(77)
    row = purchases.purchase_row(xml, metadata_for(xml, number, number="FV/77/11/2026"), environment=environment,
                                 context_nip="5261040828", subject="Subject2", now=NOW)
    with dbmod.write(db):
        purchases.insert(db, row)
    return purchases.id_by_ksef_number(db, number), xml, number


def test_a_purchase_prints_with_kod_i_of_the_sellers_invoice(app, db):
    purchase_id, xml, number = stored_purchase(db)
    data, filename = purchase_printing.purchase_pdf(app.extensions["ksef_local"], purchase_id, now=NOW)
    assert filename == "Zakup_FV_77_11_2026.pdf"
    expected = crypto.invoice_verification_url(QR_TEST, SELLER.nip, "2026-11-20", xml)
    assert qr_texts(data) == [expected]
    assert expected.startswith(f"{QR_TEST}/invoice/7740001454/20-11-2026/")
    text = pdf_text(data)
    assert "Łódzka Hurtownia Papieru" in text and "FV/77/11/2026" in text and number in text
    assert "Papier A4" in text and "PODGLĄD" not in text


def test_the_qr_host_is_that_of_the_ksef_the_invoice_came_from(app, db):
    purchase_id, xml, _ = stored_purchase(db, environment="PROD")
    data, _ = purchase_printing.purchase_pdf(app.extensions["ksef_local"], purchase_id, now=NOW)
    assert qr_texts(data)[0].startswith("https://qr.ksef.mf.gov.pl/invoice/7740001454/20-11-2026/")


def test_printing_without_a_known_qr_host_or_an_unknown_purchase_says_why_in_polish(app, db):
    purchase_id, _, _ = stored_purchase(db, environment="demo")   # the in-app simulator is not running
    with pytest.raises(UserError, match="adresu weryfikacji"):
        purchase_printing.purchase_pdf(app.extensions["ksef_local"], purchase_id, now=NOW)
    with pytest.raises(NotFound, match="zakupowej"):
        purchase_printing.purchase_pdf(app.extensions["ksef_local"], 999, now=NOW)
