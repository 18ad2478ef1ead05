"""The invoice book in real Chromium (Debian's package driven by Playwright) against the app over HTTP."""
from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ksef_local import fa3
from ksef_local.store import invoices

from .conftest import COMPANY_FORM

pytestmark = pytest.mark.browser
NBSP = "\u00a0"


def fill_company(page: Page, base: str, finish: bool = True, **overrides: str) -> None:
    """The first-run wizard: step 1 company data, step 2 the KSeF environment (demo mode preselected)."""
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Witaj w ksef-local krok 1 z 2")).to_be_visible()
    values = {**COMPANY_FORM, **overrides}
    for name in ("nip", "name", "address_l1", "address_l2", "place", "bank_account", "email", "phone"):
        page.locator(f"#f-{name}").fill(values[name])
    page.get_by_role("button", name="Dalej").click()
    if finish:
        expect(page.get_by_role("heading", name="Witaj w ksef-local krok 2 z 2")).to_be_visible()
        expect(page.locator("#f-environment")).to_have_value("demo")
        page.get_by_role("button", name="Zapisz i zakończ").click()
        expect(page.get_by_role("status")).to_have_text("Gotowe. Możesz wystawić pierwszą fakturę.")


def add_buyer(page: Page, base: str, name: str, nip: str = "7740001454") -> None:
    page.goto(base + "/kontrahenci/nowy")
    page.locator("#f-name").fill(name)
    page.locator("#f-nip").fill(nip)
    page.locator("#f-address_l1").fill("ul. Piotrkowska 1")
    page.locator("#f-address_l2").fill("90-001 Łódź")
    page.get_by_role("button", name="Zapisz kontrahenta").click()


def fill_line(page: Page, index: int, name: str, quantity: str, price: str, rate: str) -> None:
    row = page.locator("#editor tr.line").nth(index)
    row.locator("[name=line_name]").fill(name)
    row.locator("[name=line_quantity]").fill(quantity)
    row.locator("[name=line_unit_price]").fill(price)
    row.locator("[name=line_rate]").select_option(rate)


def new_invoice_with_three_rates(page: Page, base: str) -> None:
    page.goto(base + "/")
    page.get_by_role("button", name="Nowa faktura").click()
    expect(page.get_by_role("heading", name=re.compile("Faktura VAT"))).to_be_visible()
    page.locator("#buyer-q").fill("łódź")
    page.get_by_role("option", name=re.compile("Hurtownia Łódź")).click()
    expect(page.locator("#chosen-buyer")).to_contain_text("NIP 774-000-14-54")
    fill_line(page, 0, "Chleb żytni", "10", "4,50", "5")
    for _ in range(2):
        count = page.locator("#editor tr.line").count()
        page.get_by_role("button", name="+ Dodaj pozycję").click()
        expect(page.locator("#editor tr.line")).to_have_count(count + 1)
    fill_line(page, 1, "Tort urodzinowy", "1", "120", "8")
    fill_line(page, 2, "Usługa cateringowa", "2,5", "200", "23")


def test_company_first_run_refuses_a_wrong_nip(page: Page, live_server: str):
    fill_company(page, live_server, finish=False, nip="5261040829")
    expect(page.locator("#e-nip")).to_have_text("NIP ma błędną sumę kontrolną: sprawdź, czy nie ma literówki.")
    fill_company(page, live_server)
    expect(page.get_by_role("heading", name="Faktury sprzedaży")).to_be_visible()


def test_create_buyer_and_find_it_case_insensitively(page: Page, live_server: str):
    fill_company(page, live_server)
    add_buyer(page, live_server, "Hurtownia ŁÓDŹ Sp. z o.o.")
    expect(page.get_by_role("status")).to_have_text("Zapisano kontrahenta.")
    page.get_by_role("searchbox", name="Szukaj kontrahenta").fill("łódź")
    expect(page.locator("#buyer-results tbody tr")).to_have_count(1)
    expect(page.locator("#buyer-results")).to_contain_text("Hurtownia ŁÓDŹ Sp. z o.o.")
    page.get_by_role("searchbox", name="Szukaj kontrahenta").fill("kraków")
    expect(page.locator("#buyer-results")).to_contain_text("Nie znaleziono kontrahenta „kraków”.")


def test_buyer_form_refuses_bad_input_and_escapes_script(page: Page, live_server: str):
    fill_company(page, live_server)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    add_buyer(page, live_server, "x" * 600)
    expect(page.locator("#e-name")).to_contain_text("najwyżej 512 znaków")
    add_buyer(page, live_server, "Firma", nip="1234567890")
    expect(page.locator("#e-nip")).to_contain_text("błędną sumę kontrolną")
    add_buyer(page, live_server, "<script>alert('x')</script> Sp. j.")
    expect(page.locator("#buyer-results")).to_contain_text("<script>alert('x')</script> Sp. j.")
    assert dialogs == []


def test_invoice_three_rates_totals_issue_readonly_and_xml(page: Page, live_server: str, app):
    fill_company(page, live_server)
    add_buyer(page, live_server, "Hurtownia Łódź Sp. z o.o.")
    new_invoice_with_three_rates(page, live_server)
    # 10 × 4,50 at 5% + 120 at 8% + 2,5 × 200 at 23%: net 665,00, VAT 2,25 + 9,60 + 115,00 = 126,85.
    expect(page.locator("#grand-total")).to_have_text(f"791,85{NBSP}zł")
    expect(page.locator("#summary tr[data-rate='23']")).to_contain_text(f"115,00{NBSP}zł")
    expect(page.locator("#summary tr[data-rate='8']")).to_contain_text(f"9,60{NBSP}zł")
    expect(page.locator("#summary tr[data-rate='5']")).to_contain_text(f"2,25{NBSP}zł")
    expect(page.locator("#amount-words")).to_have_text("siedemset dziewięćdziesiąt jeden złotych 85/100")
    # 10% off the catering: its net is 450,00 and VAT 103,50, so the total drops by 61,50.
    page.locator("#editor tr.line").nth(2).locator("[name=line_discount_percent]").fill("10")
    expect(page.locator("#grand-total")).to_have_text(f"730,35{NBSP}zł")
    expect(page.locator("#lv-3")).to_have_text(f"450,00{NBSP}zł")

    page.locator("#editor tr.line").nth(0).locator("[name=line_quantity]").fill("-5")
    expect(page.locator("#form-errors")).to_contain_text("Pozycja 1, ilość: liczba nie może być ujemna.")
    page.locator("#editor tr.line").nth(0).locator("[name=line_quantity]").fill("10")
    expect(page.locator("#form-errors")).to_have_count(0)

    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Wystaw fakturę").click()
    number = f"FV/{date.today():%Y/%m}/1"
    expect(page.locator("#invoice-number")).to_have_text(number)
    expect(page.locator("#readonly-note")).to_contain_text("tylko do odczytu")
    expect(page.locator("input[name^=line_]")).to_have_count(0)

    # An edit sent anyway (as a stale tab would) is refused with a clear message.
    token = json.loads(page.locator("body").get_attribute("hx-headers"))["X-CSRF-Token"]
    invoice_id = int(page.url.split("/faktury/")[1].split("?")[0])
    refused = page.request.post(f"{live_server}/faktury/{invoice_id}/zapisz", headers={"X-CSRF-Token": token},
                                form={"issue_date": "2026-01-01"})
    assert refused.status == 409 and "już wystawiona i nie można jej zmieniać" in refused.text()

    with page.expect_download() as caught:
        page.get_by_role("link", name="Pobierz XML").click()
    data = Path(caught.value.path()).read_bytes()
    assert fa3.validate(data) == []
    with app.app_context():
        assert data == invoices.get_invoice(app.extensions["ksef_local"].db(), invoice_id)["xml"]
    assert fa3.parse_summary(data).gross == Decimal("730.35")

    page.goto(live_server + "/")
    expect(page.locator("table.invoices tbody tr").first).to_contain_text(number)
    expect(page.locator("table.invoices tbody tr").first).to_contain_text(f"730,35{NBSP}zł")


def test_new_buyer_inline_from_the_editor(page: Page, live_server: str):
    fill_company(page, live_server)
    page.get_by_role("button", name="Nowa faktura").click()
    page.get_by_text("Dodaj nowego nabywcę").click()
    form = page.locator("#buyer form")
    form.locator("[name=kind]").select_option("consumer")
    expect(form.locator("[name=nip]")).to_be_hidden()
    form.locator("[name=name]").fill("Żaneta Ćwik")
    form.get_by_role("button", name="Dodaj i wybierz").click()
    expect(page.locator("#chosen-buyer")).to_contain_text("Żaneta Ćwik")
    expect(page.locator("#chosen-buyer")).to_contain_text("osoba prywatna")


def test_import_a_file_and_refuse_bad_ones(page: Page, live_server: str, app, tmp_path):
    fill_company(page, live_server)
    add_buyer(page, live_server, "Hurtownia Łódź Sp. z o.o.")
    new_invoice_with_three_rates(page, live_server)
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Wystaw fakturę").click()
    expect(page.locator("#invoice-number")).to_be_visible()
    with page.expect_download() as caught:
        page.get_by_role("link", name="Pobierz XML").click()
    number = page.locator("#invoice-number").inner_text()
    good = tmp_path / "z-innego-programu.xml"
    good.write_bytes(Path(caught.value.path()).read_bytes().replace(number.encode(), b"ZEWN/15/2026"))
    bad = tmp_path / "notatki.xml"
    bad.write_text("to nie jest faktura")

    page.get_by_role("link", name="Importuj XML").click()
    page.locator("#f-pliki").set_input_files([str(good), str(bad)])
    page.get_by_role("button", name="Importuj").click()
    results = page.locator("#import-results")
    expect(results).to_contain_text("Wynik importu: 1 z 2")
    expect(results.locator("li.ok")).to_contain_text("ZEWN/15/2026")
    expect(results.locator("li.error")).to_contain_text("notatki.xml")
    results.get_by_role("link", name="ZEWN/15/2026").click()
    expect(page.locator("#readonly-note")).to_contain_text("zaimportowana")

    page.get_by_role("link", name="Importuj XML").click()
    page.locator("#f-pliki").set_input_files([str(good)])
    page.get_by_role("button", name="Importuj").click()
    expect(page.locator("#import-results li.error")).to_contain_text("już jest w programie")


def test_list_search_filters_without_reload(page: Page, live_server: str):
    fill_company(page, live_server)
    add_buyer(page, live_server, "Hurtownia Łódź Sp. z o.o.")
    for name in ("Chleb", "Tort"):  # a draft with content: an empty one would be opened again
        page.goto(live_server + "/")
        page.get_by_role("button", name="Nowa faktura").click()
        with page.expect_response(re.compile("/zapisz$")):
            page.locator("#editor tr.line").first.locator("[name=line_name]").fill(name)
    page.goto(live_server + "/")
    expect(page.locator("table.invoices tbody tr")).to_have_count(2)
    page.get_by_role("searchbox", name="Szukaj faktury").fill("nic-takiego")
    expect(page.locator("table.invoices")).to_contain_text("Brak faktur spełniających warunki wyszukiwania.")
    assert "q=nic-takiego" in page.url


def test_correction_from_an_issued_invoice(page: Page, live_server: str):
    fill_company(page, live_server)
    add_buyer(page, live_server, "Hurtownia Łódź Sp. z o.o.")
    new_invoice_with_three_rates(page, live_server)
    expect(page.locator("#grand-total")).to_have_text(f"791,85{NBSP}zł")
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Wystaw fakturę").click()
    original = page.locator("#invoice-number").inner_text()

    page.get_by_role("button", name="Wystaw korektę").click()
    expect(page.get_by_role("heading", name=re.compile("Faktura korygująca"))).to_be_visible()
    expect(page.locator("#f-corr_number")).to_have_value(original)
    expect(page.locator("#editor tr.line")).to_have_count(6)  # three lines before and three after
    page.locator("#f-corr_ksef_number").fill("5265877635-20250826-0100001AF629-AF")
    page.locator("#f-corr_reason").fill("Obniżka ceny usługi")
    page.locator("#editor tr.line").nth(5).locator("[name=line_unit_price]").fill("150")
    # The correction is the difference: 2,5 × 50 = 125,00 net less, VAT 28,75 less.
    expect(page.locator("#grand-total")).to_have_text(f"153,75{NBSP}zł")
    expect(page.locator("#summary")).to_contain_text("Do zwrotu")
    page.get_by_role("button", name="Wystaw korektę").click()
    expect(page.locator("#invoice-number")).to_have_text(f"KOR/{date.today():%Y/%m}/1")
    expect(page.locator("#grand-total")).to_have_text(f"-153,75{NBSP}zł")


def test_choosing_cash_empties_the_default_term_and_keeps_a_typed_one(page: Page, live_server: str, app):
    fill_company(page, live_server)
    add_buyer(page, live_server, "Hurtownia Łódź Sp. z o.o.")
    new_invoice_with_three_rates(page, live_server)
    expect(page.locator("#f-due_date")).not_to_have_value("")  # a transfer with its 14-day term
    page.locator("#f-payment_form").select_option("1")
    expect(page.locator("#f-due_date")).to_have_value("")
    expect(page.locator("#f-payment_form")).to_have_value("1")
    page.locator("#f-due_date").fill("10.12.2026")
    page.locator("#f-due_date").blur()
    invoice_id = int(page.url.split("/faktury/")[1].split("?")[0])
    with app.app_context():
        db = app.extensions["ksef_local"].db()
        for _ in range(200):  # the editor saves 400 ms after the last keystroke
            row = invoices.get_invoice(db, invoice_id)
            if row["due_date"] == "2026-12-10":
                break
            page.wait_for_timeout(50)
    assert row["payment_form"] == "1" and row["due_date"] == "2026-12-10"
    expect(page.locator("#f-due_date")).to_have_value("10.12.2026")
