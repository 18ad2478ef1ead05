"""Purchase invoices and the accountant's package in real Chromium, as a new user meets them: an empty data folder,
the first-run wizard, demo mode; the demo purchase invoices arrive by themselves (the app's sender and its
simulator), the top bar counts them and a notification says so; the list's filters, one invoice, its XML and
PDF, marking it paid; a sale sent to KSeF; then "Dla księgowej" saves the month's ZIP, which is opened and
checked: the register read with Python's csv module, Polish letters intact, PDFs that render, QR codes that
lead to the seller's invoice in the simulator."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from ksef_local import clock
from ksef_local.desktop import launcher
from ksef_local.store import invoices, purchases

from .conftest import COMPANY_FORM, WIZARD_LABELS, textbox
from .factories import draft
from .pdf_support import qr_texts
from .purchase_support import add_purchase

pytestmark = pytest.mark.browser

ARRIVE = 40_000   # ms: the wizard's demo credentials, the sync's first round, four downloads
SENT = 20_000     # ms: W → O → A through the sender and the simulator
KASEK = "Catering Smaczny Kąsek Małgorzata Lis"   # simulator/demo_purchases.py: this month's invoice
BIUREX = "Biurex Hurtownia Papiernicza Sp. z o.o. (677-234-51-91)"   # the seller filter's option for another one
# The browser's Notification API, recorded: what the page shows is checked, nothing pops up on the test machine.
NOTIFICATIONS = """
window.__shown = [];
window.Notification = class {
  constructor(title, options) { window.__shown.push({title: title, body: (options || {}).body}); }
  close() {}
  static get permission() { return window.__permission || localStorage.getItem("permission") || "default"; }
  static requestPermission() { localStorage.setItem("permission", "granted"); return Promise.resolve("granted"); }
};
"""


@pytest.fixture
def fresh(app, live_server, page):
    """The live app on an empty data folder with its sender, the demo simulator and the month packages' worker;
    the top bar's counter asks every second instead of every thirty."""
    app.config["PURCHASES_POLL_SECONDS"] = 1
    background = launcher.start_background(app, processing_ms=300, poll_interval=0.2, busy_wait=0.2, idle_wait=0.5,
                                           exporter=True)
    assert background.sending
    yield live_server
    page.goto("about:blank")   # no polling into a stopped server
    background.stop()


def wizard(page: Page, base: str) -> None:
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Witaj w ksef-local krok 1 z 2")).to_be_visible()
    for name, label in WIZARD_LABELS.items():
        textbox(page, label).fill(COMPANY_FORM[name])
    page.get_by_role("button", name="Dalej").click()
    expect(page.locator("#f-environment")).to_have_value("demo")
    page.get_by_role("button", name="Zapisz i zakończ").click()
    # The list's other status may come first: the demo purchase sync logging in (templates/ksef/_banner.html).
    expect(page.get_by_role("status").filter(has_text="Gotowe.")).to_have_text(
        "Gotowe. Możesz wystawić pierwszą fakturę.")


def fits_1024(page: Page) -> None:
    """The top bar with the counter stays on one line and nothing scrolls sideways at 1024 px."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    nip = page.locator(".topbar .nip").bounding_box()
    assert nip["x"] + nip["width"] <= 1024 - 20
    assert page.locator(".topbar").bounding_box()["height"] < 50


def rows(page: Page):
    return page.locator("#purchase-table tbody tr[data-id]")


def test_a_new_user_gets_purchase_invoices_marks_one_paid_and_sends_the_month_to_the_accountant(
        page: Page, fresh, shot, app, db):
    base = fresh
    page.add_init_script(NOTIFICATIONS + "window.__permission = 'granted';")   # the user allowed notifications
    wizard(page, base)
    page.set_viewport_size({"width": 1024, "height": 768})

    # The demo purchase invoices arrive by themselves; the top bar counts them and a notification says so.
    counter = page.locator("#purchases-new")
    expect(counter).to_have_text(re.compile(r"\b4$"), timeout=ARRIVE)
    expect(counter).to_have_attribute("title", "Nowe od ostatniego przeglądania: 4 nowe faktury zakupowe")
    page.wait_for_function("() => window.__shown.length > 0")
    assert page.evaluate("window.__shown") == [{"title": "Faktury zakupowe", "body": "4 nowe faktury zakupowe z KSeF"}]
    fits_1024(page)
    shot("licznik-1024")

    # The list: four new ones, marked; the visit empties the counter.
    page.get_by_role("link", name=re.compile("^Zakupy")).click()
    page.wait_for_load_state()   # htmx listens only after the deferred scripts: the filters below need it
    expect(page.get_by_role("heading", name="Faktury zakupowe")).to_be_visible()
    expect(rows(page)).to_have_count(4)
    expect(page.locator("#purchase-table .new-tag")).to_have_count(4)
    expect(counter).to_have_text("")
    expect(page.locator("#last-sync")).to_have_text(re.compile(r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}$"))
    expect(page.locator("#unpaid-summary")).to_contain_text("Do zapłaty: 4 faktury")
    expect(page.locator("#unpaid-summary")).to_contain_text("po terminie: 2 faktury")   # 74 and 43 days old
    expect(page.get_by_role("link", name="Dla księgowej")).to_be_visible()   # the month's package, from here too
    fits_1024(page)
    shot("zakupy-1024")
    page.set_viewport_size({"width": 1280, "height": 900})
    shot("zakupy-1280")

    # Filters: search without Polish letters, the seller, overdue, the month of receipt.
    search = page.get_by_role("searchbox", name="Szukaj faktury zakupowej")
    search.fill("kasek")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text(KASEK)
    expect(page.locator("#purchase-table .new-tag")).to_have_count(1)   # still new within this visit
    search.fill("")
    expect(rows(page)).to_have_count(4)
    page.locator("select[name=zaplata]").select_option("po-terminie")
    expect(rows(page)).to_have_count(2)
    for overdue in rows(page).all():
        expect(overdue).to_have_class(re.compile(r"\boverdue\b"))
        expect(overdue.locator("td.paid-state")).to_have_text("po terminie")
    shot("po-terminie")
    page.locator("select[name=zaplata]").select_option("")
    page.locator("select[name=sprzedawca]").select_option(label=BIUREX)
    expect(rows(page)).to_have_count(1)
    page.locator("select[name=sprzedawca]").select_option("")
    this_month = f"{clock.today():%Y-%m}"
    page.locator("select[name=miesiac]").select_option(this_month)
    expect(rows(page)).to_have_count(1)
    expect(page).to_have_url(re.compile(f"miesiac={this_month}"))

    # One invoice: the whole of it, its XML, its PDF with KOD I leading to the seller's invoice in KSeF.
    rows(page).first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("Faktura zakupowa"))).to_be_visible()
    purchase_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#purchase-lines")).to_contain_text("Obiad firmowy - zestaw dnia")
    expect(page.locator("#purchase-lines tbody tr")).to_have_count(2)
    expect(page.locator(".party-card").first).to_contain_text(KASEK)
    row = purchases.get_purchase(db, purchase_id)
    with page.expect_download() as caught:
        page.get_by_role("link", name="Pobierz XML").click()
    assert caught.value.suggested_filename == f"Zakup_6340123986_{row['number'].replace('/', '_')}.xml"
    assert Path(caught.value.path()).read_bytes() == purchases.xml_bytes(db, purchase_id)
    printed = page.request.get(base + page.get_by_role("link", name="Drukuj / PDF").get_attribute("href"))
    assert printed.headers["content-type"] == "application/pdf"
    [link] = qr_texts(printed.body())
    simulator = app.extensions["ksef_local"].simulator_url
    assert link.startswith(f"{simulator}/invoice/6340123986/")
    assert "Faktura znajduje się w KSeF" in requests.get(link, timeout=10).text

    # "Oznacz jako zapłaconą": a date in the future is refused on the field, today is taken.
    today = clock.today()
    paid_date = page.get_by_role("textbox", name="Data zapłaty")
    paid_date.fill(f"{today + timedelta(days=1):%d.%m.%Y}")
    page.get_by_role("button", name="Oznacz jako zapłaconą").click()
    expect(page.locator("#e-data_zaplaty")).to_contain_text("nie może być późniejsza niż dzisiaj")
    shot("zaplata-blad")
    page.get_by_role("textbox", name="Data zapłaty").fill(f"{today:%d.%m.%Y}")
    page.get_by_role("button", name="Oznacz jako zapłaconą").click()
    expect(page.locator("#paid-state")).to_have_text(f"zapłacona {today:%d.%m.%Y}")
    assert purchases.get_purchase(db, purchase_id)["paid_date"] == today.isoformat()
    shot("faktura-zaplacona-1280")
    page.set_viewport_size({"width": 1024, "height": 768})
    fits_1024(page)
    shot("faktura-zaplacona-1024")

    # A sale of this month, sent to KSeF from the list, so that its UPO goes into the package too.
    sale = draft(db, issue_date=today.isoformat(), sale_date=today.isoformat(),
                 due_date=(today + timedelta(days=14)).isoformat())
    invoices.issue(db, sale, today, clock.utc_now())
    page.goto(base + "/")
    page.locator(f"tr[data-id='{sale}'] input[name=zaznaczone]").check()
    page.get_by_role("button", name="KSeF", exact=True).click()
    expect(page.locator(f"tr[data-id='{sale}'] td.ksef .letter")).to_have_text("A", timeout=SENT)

    # "Dla księgowej": an empty month says so; this month's package is made, saved and opened.
    page.get_by_role("link", name="Dla księgowej").click()
    month = page.get_by_role("combobox", name=re.compile(r"^Miesiąc\b"))
    empty = f"{today.year - 1}-{today.month:02d}"
    month.select_option(empty)
    page.get_by_role("button", name="Pobierz paczkę ZIP").click()
    expect(page.locator("#messages")).to_contain_text("nie ma żadnych faktur")
    month.select_option(this_month)
    with page.expect_download(timeout=60_000) as caught:
        page.get_by_role("button", name="Pobierz paczkę ZIP").click()
    expect(page.locator("#export-outcome")).to_contain_text("jest gotowa")
    expect(page.locator("#messages")).to_be_empty()   # the empty month's message went with the new request
    package = caught.value
    assert package.suggested_filename == f"Faktury_{this_month}_5261040828.zip"
    fits_1024(page)
    shot("paczka-gotowa-1024")
    page.set_viewport_size({"width": 1280, "height": 900})
    shot("paczka-gotowa-1280")
    check_package(Path(package.path()), this_month, db, sale, purchase_id, simulator)


def check_package(path: Path, month: str, db, sale: int, purchase_id: int, simulator: str) -> None:
    sale_row, bought = invoices.get_invoice(db, sale), purchases.get_purchase(db, purchase_id)
    stem = sale_row["number"].replace("/", "_")
    bought_stem = f"6340123986_{bought['number'].replace('/', '_')}"
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert set(archive.namelist()) == {
            f"sprzedaz/{stem}.xml", f"sprzedaz/{stem}.pdf", f"sprzedaz/UPO_{stem}.xml", f"zakupy/{bought_stem}.xml",
            f"zakupy/{bought_stem}.pdf", f"rejestr_{month}.csv", "CZYTAJ_MNIE.txt"}
        assert archive.read(f"sprzedaz/{stem}.xml") == bytes(sale_row["xml"])
        assert archive.read(f"zakupy/{bought_stem}.xml") == purchases.xml_bytes(db, purchase_id)
        assert b"NumerKSeFDokumentu" in archive.read(f"sprzedaz/UPO_{stem}.xml")
        links = {}
        for name in (f"sprzedaz/{stem}.pdf", f"zakupy/{bought_stem}.pdf"):
            printout = archive.read(name)
            assert len(PdfReader(io.BytesIO(printout)).pages) >= 1
            [links[name]] = qr_texts(printout)
        raw = archive.read(f"rejestr_{month}.csv")
    assert links[f"zakupy/{bought_stem}.pdf"].startswith(f"{simulator}/invoice/6340123986/")
    assert links[f"sprzedaz/{stem}.pdf"].startswith(f"{simulator}/invoice/5261040828/")
    assert raw.startswith(b"\xef\xbb\xbf")
    with io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="") as text:
        table = list(csv.DictReader(text, delimiter=";"))
    assert [r["Rejestr"] for r in table] == ["sprzedaż", "zakup"]
    sold, got = table
    assert (sold["Numer faktury"], sold["Numer KSeF"], sold["Kontrahent"]) == (
        sale_row["number"], sale_row["ksef_number"], "Hurtownia Łódź Sp. z o.o.")
    assert (got["Kontrahent"], got["NIP kontrahenta"], got["Numer KSeF"]) == (KASEK, "6340123986",
                                                                               bought["ksef_number"])
    assert (got["Zapłacona"], got["Data zapłaty"]) == ("tak", bought["paid_date"])
    assert got["Brutto"] == f"{bought['gross_total'] // 100},{bought['gross_total'] % 100:02d}"


def test_notifications_are_offered_once_and_then_shown_by_the_page(page: Page, live_server, app, db, company):
    app.config["PURCHASES_POLL_SECONDS"] = 1
    page.add_init_script(NOTIFICATIONS)   # the browser has not asked the user yet
    page.goto(live_server + "/zakupy")
    offer = page.locator("#notify-offer")
    expect(offer).to_be_visible()
    expect(page.locator("#notify-offer .hint")).to_contain_text("także gdy to okno jest w tle")
    page.get_by_role("button", name="Powiadamiaj o nowych fakturach").click()
    expect(offer).to_be_hidden()
    add_purchase(db, 1, received=clock.utc_now())
    page.goto(live_server + "/")
    page.wait_for_function("() => window.__shown.length > 0")
    assert page.evaluate("window.__shown") == [{"title": "Faktury zakupowe", "body": "1 nowa faktura zakupowa z KSeF"}]
