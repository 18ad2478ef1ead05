"""What a user sees in the first hour, in real Chromium: the editor, the top bar, search, buyers, the list."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ksef_local.store import invoices

from .factories import TODAY, draft, issued

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
