"""The demo mode's purchase invoices: the in-app simulator delivers a few to the demo company (also when the
company is saved after the start), the normal sync brings them in, and a printout's KOD I leads to the
simulator's page that finds the invoice. Real threads and a real clock, as the app runs."""
from __future__ import annotations

import time

import requests

from ksef_local.desktop import launcher
from ksef_local.forms import parties as party_forms
from ksef_local.printing.purchases import purchase_pdf
from ksef_local.store import ksef_state, parties, purchases
from tests.conftest import COMPANY_FORM
from tests.pdf_support import qr_texts

DEMO_SELLERS = {"6772345191", "9462631745", "8982174058", "6340123986"}   # simulator/demo_purchases.py


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_demo_company_saved_after_the_start_receives_its_purchase_invoices(app, db):
    background = launcher.start_background(app, processing_ms=300, poll_interval=0.2, busy_wait=0.2, idle_wait=0.3)
    try:
        assert background.sending
        time.sleep(0.5)   # the sender runs without a company: nothing to read, no pause
        assert not ksef_state.is_paused(db)
        parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
        assert wait_for(lambda: purchases.list_purchases(db)[1] == 4), purchases.list_purchases(db)
        rows, _ = purchases.list_purchases(db, environment="demo")
        assert {row["seller_nip"] for row in rows} == DEMO_SELLERS
        assert all(row["due_date"] and row["bank_account"] for row in rows)
        assert purchases.count_new(db) == 4
        services = app.extensions["ksef_local"]
        data, _ = purchase_pdf(services, rows[0]["id"])
        [link] = qr_texts(data)
        assert link.startswith(f"{services.simulator_url}/invoice/{rows[0]['seller_nip']}/")
        assert "Faktura znajduje się w KSeF" in requests.get(link, timeout=10).text
        # a restart asks the simulator again and gets the same four: nothing is added twice
        background.stop()
        background = launcher.start_background(app, processing_ms=300, poll_interval=0.2, busy_wait=0.2,
                                               idle_wait=0.3)
        time.sleep(2)
        assert purchases.list_purchases(db)[1] == 4
    finally:
        background.stop()
