"""The emptied database as the user meets it: the real `ksef-local run --headless` on a real data folder, in
Chromium. The page says what happened (not the first-run wizard), one click restores the newest backup, and
the next invoice does not get a number that was already used (issue 11, items 8 and 10)."""
from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ksef_local import config
from ksef_local.app import create_app
from ksef_local.clock import local_now
from ksef_local.forms import parties as party_forms
from ksef_local.store import backup, invoices, parties

from .conftest import COMPANY_FORM
from .factories import THREE_RATES, buyer, form
from .test_browser import new_invoice_with_three_rates
from .test_data_folder_process import entry, launch, stop

pytestmark = pytest.mark.browser


def issue_today(db) -> str:
    """Issue an invoice dated today (the series of this month, as the user's next one will be)."""
    today = date.today()
    invoice_id = invoices.create_draft(db, today)
    invoices.set_buyer(db, invoice_id, db.execute("SELECT id FROM buyers").fetchone()[0])
    invoices.save_draft(db, invoice_id, form(THREE_RATES, issue_date=today.isoformat(), sale_date=today.isoformat(),
                                             due_date=(today + timedelta(days=14)).isoformat()))
    return invoices.issue(db, invoice_id, today)


def used_then_emptied(home: Path) -> tuple[str, str]:
    """Invoice 1 is in the day's backup, invoice 2 was issued after it; then `truncate -s0` the database."""
    app = create_app(home, testing=True)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    buyer(db, "Hurtownia Łódź Sp. z o.o.")
    first = issue_today(db)
    backup.make_backup(config.database_path(home), backup.backups_dir(home), local_now(), "dzienna")
    second = issue_today(db)
    db.conn.close()
    os.truncate(config.database_path(home), 0)
    return first, second


def test_the_emptied_database_restored_with_one_click_never_reuses_a_number(page: Page, tmp_path):
    home = tmp_path / "dane"
    first, second = used_then_emptied(home)
    process = launch(home)
    try:
        url, base = entry(process)
        page.goto(url)
        expect(page.get_by_role("heading", name="Baza danych zniknęła albo jest pusta")).to_be_visible()
        expect(page.locator("#problem")).to_contain_text("jest pusty (0 bajtów)")
        expect(page.locator("#problem")).to_contain_text("To nie jest pierwsze uruchomienie")
        expect(page.locator("#data-folder")).to_have_text(str(home))
        page.get_by_role("button", name="Przywróć najnowszą kopię").click()
        expect(page.locator("#restored")).to_contain_text("Przywrócono kopię z")
        page.goto(base + "/")
        expect(page.locator("table.invoices")).to_contain_text(first)
        expect(page.locator("table.invoices")).not_to_contain_text(second)
        new_invoice_with_three_rates(page, base)
        page.on("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Wystaw fakturę").click()
        expect(page.locator("#invoice-number")).to_be_visible()
        number = page.locator("#invoice-number").inner_text()
        assert number not in (first, second)
        assert number == re.sub(r"/2$", "/3", second)
    finally:
        stop(process)


def test_the_damaged_page_needs_the_launch_cookie(page: Page, tmp_path):
    home = tmp_path / "dane"
    used_then_emptied(home)
    process = launch(home)
    try:
        _, base = entry(process)
        response = page.goto(base + "/")
        assert response.status == 403
        expect(page.locator("body")).to_contain_text("Brak dostępu")
        expect(page.locator("body")).not_to_contain_text(str(home))
    finally:
        stop(process)
