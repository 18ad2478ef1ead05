"""What a user sees in the first hour, in real Chromium: the editor, the top bar, search, buyers, the list."""
from __future__ import annotations

import re
import time
from datetime import date, datetime, timezone

import pytest
from playwright.sync_api import Page, expect

from ksef_local.forms import parties as party_forms
from ksef_local.ksef.ksef_number import make_ksef_number
from ksef_local.store import invoices, ksef_state, outbox, parties
from ksef_local.store import settings as ksef_settings
from ksef_local.store.db import write

from .conftest import COMPANY_FORM
from .factories import TODAY, buyer, draft, issued

pytestmark = pytest.mark.browser
NBSP = "\u00a0"


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_editor_headers_follow_the_price_mode_without_a_reload(page: Page, live_server: str, db, company):
    correction = invoices.create_draft(db, TODAY, "KOR", corrected_id=issued(db))
    page.goto(f"{live_server}/faktury/{correction}")
    heads = page.locator("#editor table.lines thead")
    expect(heads.first).to_contain_text("Cena netto")
    page.get_by_label("brutto").check()
    for side in ("before", "after"):
        expect(page.locator(f"#pm-price-{side}")).to_have_text("brutto")
        expect(page.locator(f"#pm-value-{side}")).to_have_text("brutto")
    expect(heads.nth(1)).to_contain_text("Wartość brutto")
    page.get_by_label("netto").check()
    expect(heads.first).to_contain_text("Cena netto")
    expect(heads.nth(1)).to_contain_text("Wartość netto")


def test_a_correction_draft_says_it_issues_a_correction(page: Page, live_server: str, db, company):
    correction = invoices.create_draft(db, TODAY, "KOR", corrected_id=issued(db))
    page.goto(f"{live_server}/faktury/{correction}")
    expect(page.locator("#issue-button")).to_have_text("Wystaw korektę")
    expect(page.get_by_role("button", name="Wystaw fakturę")).to_have_count(0)
    page.goto(f"{live_server}/faktury/{draft(db)}")
    expect(page.locator("#issue-button")).to_have_text("Wystaw fakturę")


@pytest.mark.parametrize("kind", ["VAT", "KOR"])
def test_the_editor_fits_a_1024_px_window(page: Page, live_server: str, db, company, kind):
    invoice_id = draft(db) if kind == "VAT" else invoices.create_draft(db, TODAY, "KOR", corrected_id=issued(db))
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{live_server}/faktury/{invoice_id}")
    expect(page.locator("#editor tr.line").first).to_be_visible()
    assert page_width(page) <= 1024
    box = page.locator("#editor table.lines").first.bounding_box()
    assert box["x"] + box["width"] <= 1024


def test_the_issued_view_formats_quantities_and_prices(page: Page, live_server: str, db, company):
    invoice_id = issued(db, lines=[{"name": "Serwis pieca", "quantity": "1250.5", "unit_price": "4250",
                                    "rate": "23", "discount_percent": "2.5"}])
    page.goto(f"{live_server}/faktury/{invoice_id}")
    line = page.locator("table.lines.readonly tbody tr").first
    expect(line).to_contain_text(f"1{NBSP}250,5")
    expect(line).to_contain_text(f"4{NBSP}250,00")
    expect(line).to_contain_text("2,5")
    assert "4250" not in line.inner_text() and "1250" not in line.inner_text()


def test_the_top_bar_stays_on_one_line_with_a_custom_ksef_address(page: Page, live_server: str, app, db):
    parties.save_company(db, party_forms.validate_company(
        {**COMPANY_FORM, "nip": "5265877635", "name": "Biuro Rachunkowe Wiśniewski i Wspólnicy Sp. z o.o."}))
    address = "https://ksef-symulator.biuro-rachunkowe.przyklad.pl:8443/api"
    ksef_settings.save(db, app.extensions["ksef_local"].secrets, {"environment": "custom", "base_url": address})
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(live_server + "/")
    badge = page.locator("#top-env")
    expect(badge).to_have_attribute("title", f"Środowisko KSeF: własny serwer {address}")
    expect(badge).to_have_text("Własny KSeF: ksef-symulator.biuro-rachunkowe.przyklad.pl")
    nip = page.locator(".topbar .nip")
    expect(nip).to_have_text("· NIP 526-587-76-35")
    assert nip.evaluate("el => el.getClientRects().length") == 1
    # One line: every part of the bar shares the bar's middle, and the bar is as tall as one line.
    bar = page.locator(".topbar").bounding_box()
    middle = bar["y"] + bar["height"] / 2
    for part in [page.locator(".topbar .brand"), *page.locator(".topbar nav a").all(), badge, nip]:
        box = part.bounding_box()
        assert abs(box["y"] + box["height"] / 2 - middle) < 3, part
        assert box["x"] + box["width"] <= 1024 - 20, part
    assert bar["height"] < 50
    assert page_width(page) <= 1024


def test_search_finds_polish_names_typed_without_polish_letters(page: Page, live_server: str, db, company):
    invoices.set_buyer(db, draft(db), buyer(db, name="Jan Wiśniewski", nip="5265877635"))
    issued(db)  # for Hurtownia Łódź Sp. z o.o.
    page.goto(live_server + "/kontrahenci/")
    page.get_by_role("searchbox", name="Szukaj kontrahenta").fill("wisn")
    expect(page.locator("#buyer-results tbody tr")).to_have_count(1)
    expect(page.locator("#buyer-results")).to_contain_text("Jan Wiśniewski")
    page.goto(live_server + "/")
    expect(page.locator("table.invoices tbody tr")).to_have_count(2)
    page.get_by_role("searchbox", name="Szukaj faktury").fill("lodz")
    expect(page.locator("table.invoices tbody tr")).to_have_count(1)
    expect(page.locator("table.invoices tbody tr")).to_contain_text("Hurtownia Łódź")


def test_a_second_buyer_with_the_same_nip_is_offered_the_saved_one(page: Page, live_server: str, db, company):
    saved = buyer(db)  # Hurtownia Łódź Sp. z o.o., NIP 774-000-14-54
    page.goto(live_server + "/kontrahenci/nowy")
    page.locator("#f-name").fill("Hurtownia w Łodzi")
    page.locator("#f-nip").fill("774-000-14-54")
    page.locator("#f-address_l1").fill("ul. Zielona 2")
    page.get_by_role("button", name="Zapisz kontrahenta").click()
    warning = page.locator("#duplicate-warning")
    expect(warning).to_contain_text("Kontrahent z tym NIP jest już zapisany")
    expect(warning).to_contain_text("Hurtownia Łódź Sp. z o.o.")
    expect(warning.get_by_role("link", name="Otwórz zapisanego")).to_have_attribute(
        "href", f"/kontrahenci/{saved}")
    assert len(parties.search_buyers(db, "")) == 1
    expect(page.locator("#f-name")).to_have_value("Hurtownia w Łodzi")  # nothing typed is lost
    warning.get_by_role("button", name="Zapisz nowego mimo to").click()
    expect(page.get_by_role("status")).to_have_text("Zapisano kontrahenta.")
    assert len(parties.search_buyers(db, "")) == 2


def test_the_editors_inline_buyer_offers_the_saved_one_with_that_nip(page: Page, live_server: str, db, company):
    saved = buyer(db)
    invoice_id = invoices.create_draft(db, TODAY)
    page.goto(f"{live_server}/faktury/{invoice_id}")
    page.get_by_text("Dodaj nowego nabywcę").click()
    form = page.locator("#buyer form")
    form.locator("[name=name]").fill("Hurtownia w Łodzi")
    form.locator("[name=nip]").fill("7740001454")
    form.locator("[name=address_l1]").fill("ul. Zielona 2")
    form.get_by_role("button", name="Dodaj i wybierz").click()
    expect(page.locator("#duplicate-warning")).to_contain_text("Hurtownia Łódź Sp. z o.o.")
    page.get_by_role("button", name="Wybierz tego nabywcę").click()
    expect(page.locator("#chosen-buyer")).to_contain_text("Hurtownia Łódź Sp. z o.o.")
    assert invoices.get_invoice(db, invoice_id)["buyer_id"] == saved
    assert len(parties.search_buyers(db, "")) == 1


def test_required_fields_are_marked_for_eyes_and_screen_readers(page: Page, live_server: str, company):
    page.goto(live_server + "/kontrahenci/nowy")
    expect(page.locator(".required-note")).to_be_visible()
    for field in ("name", "nip"):
        expect(page.locator(f"label[for=f-{field}] .required-mark")).to_be_visible()
        expect(page.locator(f"#f-{field}")).to_have_attribute("aria-required", "true")
    expect(page.locator("#f-email")).not_to_have_attribute("aria-required", "true")
    expect(page.locator("label[for=f-email] .required-mark")).to_have_count(0)
    # The address is required except for a private person: its mark and its spoken "(wymagane)" follow the kind.
    address = page.locator("#f-address_l1")
    expect(page.locator("label[for=f-address_l1] .required-mark")).to_be_visible()
    expect(address).to_have_accessible_name("Ulica i numer (wymagane)")
    page.locator("#f-kind").select_option("consumer")
    expect(page.locator("label[for=f-address_l1] .required-mark")).to_be_hidden()
    expect(address).to_have_accessible_name("Ulica i numer")


def test_new_invoice_clicked_twice_leaves_one_empty_draft_and_months_are_those_with_invoices(
        page: Page, live_server: str, db, company):
    page.goto(live_server + "/")
    this_month = date.today().strftime("%Y-%m")
    # A new install: "wszystkie" and the current month, not three years of empty months.
    expect(page.locator("select[name=miesiac] option")).to_have_count(2)
    expect(page.locator("select[name=miesiac] option").nth(1)).to_have_attribute("value", this_month)
    for _ in range(2):
        page.goto(live_server + "/")
        page.get_by_role("button", name="Nowa faktura").click()
        expect(page.locator("#editor")).to_be_visible()
    page.goto(live_server + "/")
    expect(page.locator("table.invoices tbody tr")).to_have_count(1)
    issued(db, issue_date="2025-03-14")
    page.reload()
    values = page.locator("select[name=miesiac] option").evaluate_all("options => options.map(o => o.value)")
    assert values == ["", this_month, "2025-03"]


def test_new_correction_lets_the_user_pick_an_invoice_with_a_ksef_number(page: Page, live_server: str, db, company):
    accepted = issued(db)
    ksef_number = make_ksef_number("5261040828", TODAY, "0100001AF629")
    db.execute("UPDATE invoices SET ksef_number = ?, ksef_status = 'A' WHERE id = ?", [ksef_number, accepted])
    never_sent = issued(db)
    page.goto(live_server + "/")
    page.get_by_role("link", name="Nowa korekta").click()
    rows = page.locator("#corrected-results tbody tr")
    expect(rows).to_have_count(1)
    number = invoices.get_invoice(db, accepted)["number"]
    expect(rows.first).to_contain_text(number)
    expect(rows.first).not_to_contain_text(invoices.get_invoice(db, never_sent)["number"])
    search = page.get_by_role("searchbox", name="Szukaj faktury do korekty")
    page.wait_for_load_state("load")   # htmx listens to the box once the page has loaded, as a user's typing finds it
    search.fill("nie-ma-takiej")
    expect(page.locator("#corrected-results")).to_contain_text("Nie znaleziono faktury „nie-ma-takiej”")
    search.fill(ksef_number[:14])
    expect(rows).to_have_count(1)
    page.get_by_role("button", name=f"Koryguj {number}").click()
    expect(page.get_by_role("heading", name=re.compile("Faktura korygująca"))).to_be_visible()
    expect(page.locator("#f-corr_ksef_number")).to_have_value(ksef_number)
    expect(page.locator("#f-corr_number")).to_have_value(number)
    expect(page.locator("#editor tr.line")).to_have_count(6)
    expect(page.locator("#chosen-buyer")).to_contain_text("Hurtownia Łódź Sp. z o.o.")


@pytest.fixture
def warsaw_time(monkeypatch):
    """The computer's clock set to Polish time, as on the users' computers."""
    monkeypatch.setenv("TZ", "Europe/Warsaw")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_ksef_details_and_history_show_polish_local_time_and_keep_the_exact_value(
        page: Page, live_server: str, db, company, warsaw_time):
    invoice_id = issued(db)
    moment = datetime(2026, 11, 24, 9, 30, 5, 123456, tzinfo=timezone.utc)
    exact = moment.isoformat()
    outbox.enqueue(db, [invoice_id], moment, reachable=True)
    with write(db):
        outbox.transition(db, outbox.current(db, invoice_id)["id"], moment, "rejected", "KSeF: 450 Błąd weryfikacji",
                          code=450, error_title="Faktura odrzucona", error_advice="Popraw ją.",
                          error_detail=f"Kod KSeF: 450\nOpis: Błąd weryfikacji\nCzas: {exact}")
    ksef_state.pause(db, moment, "Wysyłka wstrzymana", "Sprawdź ustawienia.", f"Kod KSeF: 21301\nCzas: {exact}")
    local = "24.11.2026 10:30:05"  # 09:30:05 UTC is 10:30:05 in Warsaw in November
    page.goto(f"{live_server}/faktury/{invoice_id}")
    panel = page.locator("#ksef-panel")
    panel.get_by_text("Szczegóły").click()
    detail = panel.locator("pre.copyable")
    expect(detail).to_contain_text(f"Czas: {local}")
    expect(detail.locator("time")).to_have_attribute("datetime", exact)
    expect(detail.locator("time")).to_have_attribute("title", exact)
    assert exact not in detail.inner_text()
    history = panel.locator("table.history tbody tr td:first-child time")
    expect(history.first).to_have_text(local)
    expect(history.first).to_have_attribute("datetime", exact)
    page.goto(live_server + "/")
    banner = page.locator("#pause")
    banner.get_by_text("Szczegóły").click()
    expect(banner.locator("pre.copyable")).to_contain_text(f"Czas: {local}")
    expect(banner.locator("pre.copyable time")).to_have_attribute("datetime", exact)


def test_htmx_updates_keep_to_the_content_security_policy(page: Page, live_server: str, db, company):
    """htmx settles the attributes of swapped elements, "style" among them by default: after the user resized
    the notes box, redrawing the editor wrote a style attribute, which the CSP refuses (a console error that
    the page fixture turns into a failure)."""
    invoice_id = draft(db)
    response = page.goto(f"{live_server}/faktury/{invoice_id}")
    assert "style-src 'self';" in response.headers["content-security-policy"]
    # Dragging the box's corner makes the browser write the new height into its style attribute (the CSP
    # allows that, as it allows CSSOM); headless Chromium does not drag the corner, so set it the same way.
    page.locator("#f-notes").evaluate("box => { box.style.height = '12em' }")
    page.get_by_role("button", name="+ Dodaj pozycję").click()
    expect(page.locator("#editor tr.line")).to_have_count(4)
    page.locator("#editor tr.line").nth(3).locator("[name=line_name]").fill("Rogal")
    expect(page.locator("#lv-" + page.locator("#editor tr.line").nth(3).locator("[name=line_id]").input_value()))\
        .to_have_text(f"0,00{NBSP}zł")


def test_back_after_a_list_search_shows_the_whole_list_page(page: Page, live_server: str, db, company):
    """htmx restores history by asking the server for the page (historyCacheSize 0) with HX-Request set; the
    answer must be the whole page, not the table fragment, or Back leaves only a table on the screen."""
    number = invoices.get_invoice(db, issued(db))["number"]
    page.goto(live_server + "/")
    search = page.get_by_role("searchbox", name="Szukaj faktury")
    search.fill(number)
    expect(page).to_have_url(re.compile("q=FV"))
    search.fill("nic-takiego")
    expect(page.locator("table.invoices")).to_contain_text("Brak faktur spełniających warunki wyszukiwania.")
    expect(page).to_have_url(re.compile("q=nic-takiego"))
    page.go_back()
    expect(page).to_have_url(re.compile("q=FV"))
    expect(page.get_by_role("searchbox", name="Szukaj faktury")).to_have_value(number)
    expect(page.get_by_role("heading", name="Faktury sprzedaży")).to_be_visible()
    expect(page.locator("table.invoices tbody tr")).to_have_count(1)
    expect(page.locator(".topbar")).to_be_visible()
