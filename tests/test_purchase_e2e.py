"""End to end with two data folders: company A's app sends invoices to company B through the simulator; B's
app syncs them, lists and prints them (KOD I read back from the PDF equals A's own printout's), and a second
sync adds nothing and downloads nothing. A sync killed with -9 at random moments resumes with no gap and no
duplicate, on the one-by-one path and on the export path."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ksef_local.app import create_app
from ksef_local.forms import parties as party_forms
from ksef_local.ksef import crypto
from ksef_local.ksef.auth import TokenCredentials
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.environments import custom
from ksef_local.printing import render_invoice_pdf
from ksef_local.printing.purchases import render_purchase_pdf
from ksef_local.sending import Sender
from ksef_local.store import invoices, outbox, parties, purchase_sync, purchases
from tests.conftest import COMPANY_FORM
from tests.factories import issued
from tests.ksef_support import FakeClock, running_simulator
from tests.pdf_support import qr_texts
from tests.purchase_support import settle, stored
from tests.sender_support import START, drive, letters

REPO = Path(__file__).resolve().parent.parent
A_NIP, B_NIP = "5261040828", "7740001454"   # B is the buyer factories.issued() invoices
B_FORM = {**COMPANY_FORM, "nip": "774-000-14-54", "name": "Hurtownia Łódź Sp. z o.o."}


def app_of(home: Path, form: dict):
    app = create_app(home, testing=True)
    parties.save_company(app.extensions["ksef_local"].db(), party_forms.validate_company(form))
    return app


def test_company_a_sends_company_b_syncs_lists_and_prints(tmp_path):
    clock = FakeClock(START)
    app_a, app_b = app_of(tmp_path / "a", COMPANY_FORM), app_of(tmp_path / "b", B_FORM)
    db_a, db_b = app_a.extensions["ksef_local"].db(), app_b.extensions["ksef_local"].db()
    with running_simulator(clock=clock) as sim, requests.Session() as http:
        def client_for(nip: str, token: str):
            return lambda: KsefClient(custom(sim.base_url), TokenCredentials(nip, token), session=http, clock=clock,
                                      sleep=clock.advance, poll_interval=0.5, timeout=10)

        options = dict(clock=clock, sleep=clock.advance, poll_interval=1.0)
        sender_a = Sender(app_a.extensions["ksef_local"].databases, client_for(A_NIP, sim.create_token(A_NIP)),
                          **options)
        sender_b = Sender(app_b.extensions["ksef_local"].databases, client_for(B_NIP, sim.create_token(B_NIP)),
                          purchases=True, **options)
        ids = [issued(db_a) for _ in range(2)]
        outbox.enqueue(db_a, ids, clock(), reachable=True)
        drive(sender_a, clock)
        assert letters(db_a) == {i: "A" for i in ids}
        clock.advance(60)

        settle(sender_b, clock)
        sent = {outbox.status(db_a, i).ksef_number: bytes(invoices.get_invoice(db_a, i)["xml"]) for i in ids}
        assert stored(db_b) == sent
        rows, total = purchases.list_purchases(db_b)
        assert total == 2 and {r["seller_nip"] for r in rows} == {A_NIP}
        assert {r["seller_name"] for r in rows} == {COMPANY_FORM["name"]}

        # the purchase's KOD I is the very link A's own printout carries
        number = outbox.status(db_a, ids[0]).ksef_number
        purchase_id = purchases.id_by_ksef_number(db_b, number)
        [b_link] = qr_texts(render_purchase_pdf(db_b, purchase_id, qr_host=sim.base_url))
        [a_link] = qr_texts(render_invoice_pdf(db_a, ids[0], qr_host=sim.base_url))
        issue_date = invoices.get_invoice(db_a, ids[0])["issue_date"]
        assert b_link == a_link == crypto.invoice_verification_url(sim.base_url, A_NIP, issue_date, sent[number])
        assert "Faktura znajduje się w KSeF" in http.get(b_link, timeout=10).text

        downloads = sim.state()["requests"]["invoiceDownload"]
        purchase_sync.request_sync(db_b, clock())
        settle(sender_b, clock)
        assert sim.state()["requests"]["invoiceDownload"] == downloads
        assert stored(db_b) == sent


@pytest.mark.slow
@pytest.mark.parametrize(("export_above", "result_cap"), [(10_000, 40), (0, 15)], ids=["one-by-one", "export"])
def test_a_sync_killed_at_random_moments_resumes_with_no_gap_and_no_duplicate(tmp_path, export_above, result_cap):
    from ksef_local.clock import utc_now

    app_b = app_of(tmp_path / "b", B_FORM)
    db_b = app_b.extensions["ksef_local"].db()
    db_path = app_b.extensions["ksef_local"].databases.path
    rnd = random.Random(17 + export_above)
    # KSeF takes 0.4 s to prepare each package of at most result_cap invoices: ten of them on the export path
    with running_simulator(clock=utc_now, processing_ms=400, result_cap=result_cap, export_part_bytes=20_000) as sim:
        now = utc_now()
        made = sim.http.post(f"{sim.base_url}/sim/invoices/bulk", timeout=60, json={
            "count": 150, "buyerNip": B_NIP, "from": (now.replace(microsecond=0) - _days(6)).isoformat(),
            "to": (now.replace(microsecond=0) - _days(1)).isoformat(), "seed": 3}).json()
        expected = set(made["ksefNumbers"])
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "tests.purchase_support", str(db_path), sim.base_url,
                   sim.create_token(B_NIP), B_NIP, str(export_above)]
        sim.faults(latencyMs=15)   # every request takes a while, so the kills land in the middle of the work
        progress = []
        for _ in range(4):
            process = subprocess.Popen(command, cwd=REPO, env=env)
            time.sleep(rnd.uniform(2.5, 4.0))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            progress.append(len(stored(db_b)))
        process = subprocess.Popen(command, cwd=REPO, env=env)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and (len(stored(db_b)) < len(expected) or purchase_sync.owed(db_b)):
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
    assert any(0 < count < len(expected) for count in progress), progress   # killed in the middle of the work
    kept = stored(db_b)
    assert set(kept) == expected                                     # no gap
    assert db_b.execute("SELECT count(*) FROM purchases").fetchone()[0] == len(expected)   # no duplicate
    hashes = dict(db_b.execute("SELECT ksef_number, invoice_hash FROM purchases").fetchall())
    assert all(crypto.sha256_b64(xml) == hashes[number] for number, xml in kept.items())
    assert purchase_sync.owed(db_b) == 0


def _days(n: int):
    from datetime import timedelta

    return timedelta(days=n)
