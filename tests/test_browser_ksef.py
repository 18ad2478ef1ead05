"""Sending to KSeF in real Chromium: the app with its sender and the in-app simulator (demo mode)."""
from __future__ import annotations

import json
from io import BytesIO

import pytest
import requests
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from ksef_local.desktop import launcher
from ksef_local.forms import parties as party_forms
from ksef_local.store import invoices, parties
from ksef_local.store import settings as ksef_settings

from .conftest import COMPANY_FORM
from .factories import issued

pytestmark = pytest.mark.browser


@pytest.fixture
def sending(app, db, live_server):
    """The live app in demo mode with the simulator and a fast-polling sender, plus three issued invoices."""
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    ids = [issued(db) for _ in range(3)]
    background = launcher.start_background(app, processing_ms=300, poll_interval=0.2, busy_wait=0.2)
    assert background.sending
    yield live_server, ids
    background.stop()


def row(page: Page, invoice_id: int):
    return page.locator(f"tr[data-id='{invoice_id}']")


def test_send_by_button_and_context_menu_then_statuses(page: Page, sending, db):
    base, ids = sending
    page.goto(base + "/")
    expect(page.locator("#pending-count")).to_have_text("3")   # issued, none in KSeF yet
    row(page, ids[0]).locator("input[name=zaznaczone]").check()
    row(page, ids[1]).locator("input[name=zaznaczone]").check()
    page.get_by_role("button", name="KSeF", exact=True).click()
    expect(page.locator("#send-result")).to_contain_text("Wysyłam do KSeF: 2 faktury")
    # The letters change W → O → A without reloading the page.
    for invoice_id in ids[:2]:
        expect(row(page, invoice_id).locator("td.ksef .letter")).to_have_text("A", timeout=20_000)
    expect(row(page, ids[2]).locator("td.ksef .letter")).to_have_text("")
    expect(page.locator("#pending-count")).to_have_text("1")   # the counter follows the letters

    row(page, ids[2]).click(button="right")
    expect(page.get_by_role("menu", name="Faktura")).to_be_visible()
    page.get_by_role("menuitem", name="Wyślij do KSeF").click()
    expect(row(page, ids[2]).locator("td.ksef .letter")).to_have_text("A", timeout=20_000)

    # Each invoice can be sent only once.
    row(page, ids[0]).locator("input[name=zaznaczone]").check()
    page.get_by_role("button", name="KSeF", exact=True).click()
    expect(page.locator("#send-result")).to_contain_text("została już wysłana do KSeF")

    page.get_by_role("button", name="Statusy w KSeF").click()
    expect(page.locator("#refresh-progress")).to_be_visible()

    # The invoice page: KSeF number, history W → O → A, UPO; still read-only.
    page.goto(f"{base}/faktury/{ids[0]}")
    expect(page.locator("#ksef-letter")).to_have_text("A")
    number = page.locator("#ksef-number").inner_text()
    assert number.startswith("5261040828-")
    page.get_by_text("Historia KSeF").click()
    letters = page.locator("#ksef-panel table.history tbody tr td:nth-child(2)").all_inner_texts()
    assert letters[0] == "W" and "O" in letters and letters[-1] == "A"
    with page.expect_download() as caught:
        page.locator("#upo-download").click()
    assert caught.value.suggested_filename.startswith("UPO_")
    expect(page.locator("input[name^=line_]")).to_have_count(0)
    assert invoices.get_invoice(db, ids[0])["ksef_status"] == "A"


def test_the_invoice_page_follows_its_send_button_and_says_what_happens(page: Page, sending, db):
    """Issue 11 item 7: the panel updated only after a reload and kept offering "Wyślij do KSeF"."""
    base, ids = sending
    page.goto(f"{base}/faktury/{ids[0]}")
    panel = page.locator("#ksef-panel")
    expect(panel).to_contain_text("Faktura nie była jeszcze wysyłana do KSeF")
    expect(page.locator("details.card summary")).to_contain_text("zostaną wysłane do KSeF")
    panel.get_by_role("button", name="Wyślij do KSeF").click()
    expect(panel.get_by_role("button", name="Wyślij do KSeF")).to_have_count(0)
    expect(page.locator("#ksef-letter")).to_have_text("A", timeout=20_000)
    expect(panel).not_to_contain_text("nie była jeszcze wysyłana")
    page.reload()
    expect(page.locator("details.card summary")).to_contain_text("dokładnie te bajty wysłano do KSeF")
    expect(page.locator("#ksef-why")).to_have_count(0)   # A: nothing to explain


def token_login(app, db) -> str:
    """Log in with a KSeF token: the demo simulator as a custom server, where the program has no certificate."""
    state = app.extensions["ksef_local"]
    token = requests.post(f"{state.simulator_url}/sim/tokens", json={"nip": "5261040828"}, timeout=10).json()["token"]
    ksef_settings.save(db, state.secrets, {"environment": "custom", "base_url": state.simulator_url,
                                           "ksef_token": token})
    return token


def test_ksef_settings_page_never_shows_the_token(page: Page, sending, app, db):
    base, _ = sending
    token = token_login(app, db)
    page.goto(base + "/ustawienia/ksef")
    expect(page.locator("#env-badge")).to_contain_text("Własny serwer KSeF")
    hint = page.locator("#token-hint").inner_text()
    assert hint.startswith("••••") and len(hint.strip("•")) <= 4 and token not in page.content()
    assert page.locator("#f-ksef_token").input_value() == ""
    expect(page.locator("#login-method")).to_contain_text("tokeny działają tylko do 31.12.2026")
    page.get_by_role("button", name="Testuj połączenie").click()
    expect(page.locator("#task-outcome")).to_contain_text("Połączenie z KSeF działa", timeout=20_000)
    expect(page.locator("#task-outcome")).to_contain_text("tokenem KSeF")
    page.locator("#f-environment").select_option("PROD")
    page.get_by_role("button", name="Zapisz").click()
    expect(page.locator("#e-confirm_prod")).to_contain_text("prawnie wiążące")
    page.goto(base + "/ustawienia/ksef")
    expect(page.locator("#env-badge")).to_contain_text("Własny serwer KSeF")


def test_revoked_token_pauses_and_a_new_token_resumes(page: Page, sending, app, db):
    base, ids = sending
    state = app.extensions["ksef_local"]
    old_token = token_login(app, db)
    assert requests.delete(f"{state.simulator_url}/sim/tokens/{old_token}", timeout=10).status_code in (200, 204)

    page.goto(base + "/")
    expect(page.locator("#token-banner")).to_contain_text("Tokeny KSeF działają tylko do 31.12.2026")
    row(page, ids[0]).locator("input[name=zaznaczone]").check()
    page.get_by_role("button", name="KSeF", exact=True).click()
    banner = page.locator("#ksef-banner")
    expect(banner).to_contain_text("Token unieważniony", timeout=20_000)
    expect(banner).to_contain_text("nic nie zginęło")
    expect(banner).to_contain_text("Przejdź na certyfikat")
    expect(row(page, ids[0]).locator("td.ksef .letter")).to_have_text("W")

    banner.get_by_role("link", name="Ustawienia KSeF").click()
    new_token = requests.post(f"{state.simulator_url}/sim/tokens", json={"nip": "5261040828"},
                              timeout=10).json()["token"]
    page.locator("#f-ksef_token").fill(new_token)
    page.get_by_role("button", name="Zapisz").click()
    expect(page.get_by_role("status").first).to_contain_text("Zapisano ustawienia KSeF.")
    assert new_token not in page.content()

    page.goto(base + "/")
    expect(row(page, ids[0]).locator("td.ksef .letter")).to_have_text("A", timeout=20_000)
    expect(page.locator("#ksef-banner")).not_to_contain_text("Token unieważniony")


def test_sent_invoice_refuses_edits(page: Page, sending, db):
    base, ids = sending
    page.goto(base + "/")
    row(page, ids[1]).locator("input[name=zaznaczone]").check()
    page.get_by_role("button", name="KSeF", exact=True).click()
    expect(row(page, ids[1]).locator("td.ksef .letter")).to_have_text("A", timeout=20_000)
    page.goto(f"{base}/faktury/{ids[1]}")
    token = json.loads(page.locator("body").get_attribute("hx-headers"))["X-CSRF-Token"]
    refused = page.request.post(f"{base}/faktury/{ids[1]}/zapisz", headers={"X-CSRF-Token": token},
                                form={"issue_date": "2026-11-20"})
    assert refused.status == 409 and "nie można jej zmieniać" in refused.text()
    reopened = page.request.post(f"{base}/faktury/{ids[1]}/popraw", headers={"X-CSRF-Token": token})
    assert reopened.status == 409 and "fakturą korygującą" in reopened.text()
    assert invoices.get_invoice(db, ids[1])["status"] == "issued"


def test_print_pdf_from_the_invoice_page_and_for_a_selection(page: Page, sending, db):
    base, ids = sending
    page.goto(f"{base}/faktury/{ids[0]}")
    link = page.get_by_role("link", name="Drukuj / PDF")
    single = page.request.get(base + link.get_attribute("href"))
    assert single.headers["content-type"] == "application/pdf" and single.body().startswith(b"%PDF")

    page.goto(base + "/")
    for invoice_id in ids[:2]:
        row(page, invoice_id).locator("input[name=zaznaczone]").check()
    with page.context.expect_event("response", lambda r: r.url.endswith("/faktury/pdf")) as caught:
        page.get_by_role("button", name="Drukuj / PDF").click()
    response = caught.value
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    # Chromium hands the PDF to its viewer, so read the same request's answer through Playwright's API.
    sent = response.request
    replay = page.request.post(sent.url, data=sent.post_data_buffer,
                               headers={"Content-Type": sent.headers["content-type"]})
    text = " ".join(pg.extract_text() for pg in PdfReader(BytesIO(replay.body())).pages)
    for invoice_id in ids[:2]:
        assert invoices.get_invoice(db, invoice_id)["number"] in text
    assert invoices.get_invoice(db, ids[2])["number"] not in text
