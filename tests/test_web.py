"""The screens through Flask's test client: first run, forms, htmx fragments, refusals, escaping, CSRF."""
from __future__ import annotations

from datetime import date

import pytest

from ksef_local.store import invoice_list, invoices, parties

from .conftest import COMPANY_FORM
from .factories import THREE_RATES, draft, form, issued, post_files

NBSP = "\u00a0"


def test_first_run_leads_to_the_company_form(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/firma")
    assert "Witaj w ksef-local" in client.get("/firma").text


def test_company_form_with_wrong_nip_says_so_and_saves_nothing(client, db):
    response = client.post("/firma", data={**COMPANY_FORM, "nip": "5261040829"})
    assert response.status_code == 422
    assert "NIP ma błędną sumę kontrolną" in response.text
    assert parties.get_company(db) is None


def test_first_run_wizard_company_then_environment_then_the_list(client, db):
    response = client.post("/firma", data=COMPANY_FORM)
    assert response.status_code == 302 and response.headers["Location"] == "/ustawienia/ksef?kreator=1"
    assert parties.get_company(db)["nip"] == "5261040828"
    step2 = client.get("/ustawienia/ksef?kreator=1").text
    assert "krok 2 z 2" in step2 and '<option value="demo" selected>' in step2
    done = client.post("/ustawienia/ksef", data={"kreator": "1", "environment": "demo"})
    assert done.status_code == 302 and done.headers["Location"] == "/?gotowe=1"
    listing = client.get("/?gotowe=1").text
    assert "Faktury sprzedaży" in listing and "Gotowe. Możesz wystawić pierwszą fakturę." in listing
    assert "Brak faktur" in listing


def test_post_without_csrf_token_is_refused_and_changes_nothing(client, company, db):
    response = client.raw.post("/kontrahenci/nowy", data={"kind": "consumer", "name": "Jan"})
    assert response.status_code == 403
    assert "token" in response.text
    assert parties.search_buyers(db, "") == []


def test_post_from_another_origin_is_refused(client, company, db):
    response = client.post("/kontrahenci/nowy", data={"kind": "consumer", "name": "Jan"},
                           headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert parties.search_buyers(db, "") == []


def test_request_with_foreign_host_is_refused(client, company):
    response = client.get("/", headers={"Host": "evil.example"})
    assert response.status_code == 400


def test_pages_carry_a_strict_content_security_policy(client, company):
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "<script>" not in response.text.replace('<script src=', '')


def test_htmx_requests_get_only_the_fragment(client, company):
    page = client.get("/")
    fragment = client.get("/", headers={"HX-Request": "true"})
    assert "<html" in page.text and "<html" not in fragment.text
    assert 'id="invoice-table"' not in fragment.text and "<table" in fragment.text
    assert fragment.headers["Vary"] == "HX-Request, HX-History-Restore-Request"
    # htmx restoring a page of its history (Back) asks with HX-Request too, but puts the answer in the body.
    restored = client.get("/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.text and 'id="invoice-table"' in restored.text


def test_script_in_a_buyer_name_is_shown_escaped(client, company, db):
    client.post("/kontrahenci/nowy", data={"kind": "consumer", "name": "<script>alert(1)</script> Jan"})
    listing = client.get("/kontrahenci/")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Jan" in listing.text
    assert "<script>alert(1)" not in listing.text


def test_buyer_search_fragment_finds_polish_names(client, company, db):
    client.post("/kontrahenci/nowy", data={"kind": "company", "name": "Hurtownia ŁÓDŹ", "nip": "7740001454",
                                           "address_l1": "ul. Piotrkowska 1"})
    fragment = client.get("/kontrahenci/?q=łódź", headers={"HX-Request": "true"})
    assert "Hurtownia ŁÓDŹ" in fragment.text and "NIP 774-000-14-54" in fragment.text


def test_list_shows_polish_money_and_dates(client, company, db):
    issued(db)
    text = client.get("/").text
    assert f"730,35{NBSP}zł" in text
    assert "24.11.2026" in text and "FV/2026/11/1" in text


def test_editor_autosave_returns_totals_and_words(client, company, db):
    invoice_id = draft(db)
    response = client.post(f"/faktury/{invoice_id}/zapisz", data=form(THREE_RATES), htmx=True)
    assert response.status_code == 200
    assert f"730,35{NBSP}zł" in response.text
    assert "siedemset trzydzieści złotych 35/100" in response.text
    assert 'hx-swap-oob="true"' in response.text  # line values update in place


def test_editor_autosave_with_bad_quantity_explains_and_keeps_the_draft(client, company, db):
    invoice_id = draft(db)
    lines_before = invoices.get_lines(db, invoice_id)
    bad = [{**THREE_RATES[0], "quantity": "-3"}, *THREE_RATES[1:]]
    response = client.post(f"/faktury/{invoice_id}/zapisz", data=form(bad), htmx=True)
    assert "Pozycja 1, ilość: liczba nie może być ujemna." in response.text
    assert invoices.get_lines(db, invoice_id) == lines_before


def test_issue_through_the_web_and_refuse_a_later_edit(client, company, db):
    invoice_id = draft(db)
    response = client.post(f"/faktury/{invoice_id}/wystaw", data=form(THREE_RATES, issue_date=date.today().isoformat()),
                           htmx=True)
    assert response.status_code == 204 and "wystawiono=1" in response.headers["HX-Redirect"]
    page = client.get(f"/faktury/{invoice_id}")
    assert "tylko do odczytu" in page.text and 'name="line_name"' not in page.text
    refused = client.post(f"/faktury/{invoice_id}/zapisz", data=form(THREE_RATES), htmx=True)
    assert refused.status_code == 409
    assert "już wystawiona i nie można jej zmieniać" in refused.text
    assert refused.headers["HX-Retarget"] == "#messages"


def test_issue_of_an_incomplete_draft_shows_polish_reasons(client, company, db):
    invoice_id = invoices.create_draft(db, date.today())
    response = client.post(f"/faktury/{invoice_id}/wystaw", data=form([{"name": "", "unit_price": "5"}]), htmx=True)
    assert response.status_code == 422
    assert "Wybierz nabywcę." in response.text and "podaj nazwę towaru" in response.text
    assert invoices.get_invoice(db, invoice_id)["status"] == "draft"


def test_download_xml_returns_the_exact_stored_bytes(client, company, db):
    invoice_id = issued(db)
    response = client.get(f"/faktury/{invoice_id}/xml")
    assert response.data == invoices.get_invoice(db, invoice_id)["xml"]
    assert 'filename="FV_2026_11_1.xml"' in response.headers["Content-Disposition"]
    assert response.mimetype == "application/xml"


def test_download_xml_of_a_draft_is_refused(client, company, db):
    response = client.get(f"/faktury/{draft(db)}/xml")
    assert response.status_code == 400 and "najpierw wystaw" in response.text


def test_import_page_reports_each_file(client, company, db):
    good = invoices.get_invoice(db, issued(db))["xml"].replace(b"FV/2026/11/1", b"OBCA/1/2026")
    files = [(good, "dobra.xml"), (b"nie xml", "zla.txt"), (b"<a>" + b"x" * 5_000_000 + b"</a>", "duza.xml")]
    response = post_files(client, files)
    assert response.status_code == 422
    assert "Wynik importu: 1 z 3" in response.text
    assert "zaimportowano fakturę" in response.text and "OBCA/1/2026" in response.text
    assert "za duży" in response.text
    assert invoice_list.list_invoices(db, q="OBCA")[1] == 1


def test_unknown_invoice_gives_a_polish_404(client, company):
    response = client.get("/faktury/999")
    assert response.status_code == 404 and "Nie ma takiej faktury" in response.text


@pytest.mark.parametrize("url", ["/", "/kontrahenci/", "/kontrahenci/nowy", "/firma", "/import"])
def test_every_screen_renders(client, company, url):
    response = client.get(url)
    assert response.status_code == 200 and 'lang="pl"' in response.text


def test_banner_warns_about_offline_deadlines(client, company, db):
    from datetime import datetime, timedelta, timezone

    from ksef_local.store import outbox

    invoice_id = issued(db)  # issued 24.11.2026
    now = datetime.now(timezone.utc)
    outbox.enqueue(db, [invoice_id], now, reachable=False)  # KSeF unreachable: offline24
    deadline = outbox.status(db, invoice_id).offline_deadline
    assert deadline is not None
    db.execute("UPDATE ksef_outbox SET offline_deadline = ? WHERE invoice_id = ?",
               [(date.today() - timedelta(days=1)).isoformat(), invoice_id])
    text = client.get("/ksef/baner", headers={"HX-Request": "true"}).text
    assert "Faktury offline czekają na wysłanie do KSeF" in text
    assert "FV/2026/11/1" in text and "minął" in text


def test_month_filter_lists_polish_month_names_and_filters(client, company, db):
    october = issued(db, issue_date="2026-10-15")
    november = issued(db)
    page = client.get("/?miesiac=2026-10").text
    assert '<option value="2026-10" selected>październik 2026</option>' in page
    assert invoices.get_invoice(db, october)["number"] in page
    assert invoices.get_invoice(db, november)["number"] not in page
    refused = client.get("/?miesiac=zly")  # the list's own links never make it: say so instead of showing all
    assert refused.status_code == 400 and "Miesiąc w adresie strony jest nieprawidłowy" in refused.text


def test_local_times_escapes_the_report_and_marks_each_moment():
    from ksef_local.web.moments import local_times

    text = ("Opis: <b>zły</b>\nCzas: 2026-11-24T09:30:05+00:00, bez strefy 2026-11-24T09:30:05,"
            " KSeF 2026-11-24T09:31:00Z")
    html = str(local_times(text))
    assert "&lt;b&gt;zły&lt;/b&gt;" in html and "<b>" not in html
    assert '<time datetime="2026-11-24T09:30:05+00:00" title="2026-11-24T09:30:05+00:00">' in html
    assert '<time datetime="2026-11-24T09:31:00Z"' in html
    assert "bez strefy 2026-11-24T09:30:05," in html  # a moment without an offset names no instant: as written
    assert str(local_times(None)) == ""
