"""The purchase screens through Flask's test client on real SQLite: the list's filters, search without Polish
letters, "nowa" since the last visit and the top bar's counter, the invoice page, XML and PDF, paid marking with
its field errors, "Pobierz teraz" and the sync's status (with the simulator over HTTP), the earlier start, the
announcement for a desktop notification, and the refusals (unknown id, bad month, no CSRF token)."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

import pytest

from ksef_local import clock
from ksef_local.core.model import Party
from ksef_local.store import purchase_sync, purchases
from ksef_local.store import settings as ksef_settings
from tests.pdf_support import qr_texts
from tests.purchase_support import SELLER, add_purchase, settle
from tests.sender_support import COMPANY_NIP, rig

OTHER = Party(name="Żółta Łąka Usługi Ogrodnicze", nip="9462631745", address_l1="ul. Długa 1",
              address_l2="00-950 Warszawa")


def moment(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


@pytest.fixture
def bought(db, company):
    """Three purchases received this month and last (demo environment) and one from production."""
    today = clock.today()
    last_month = today.replace(day=1) - timedelta(days=1)
    ids = {
        "paper": add_purchase(db, 1, received=moment(today), issued=today),
        "garden": add_purchase(db, 2, seller=OTHER, number="ZŁ/2/ŁĄKA", received=moment(last_month),
                               issued=last_month - timedelta(days=30), pay_days=14,   # long overdue
                               lines=(("Sadzonki", "3", "10.00", "8"),)),
        "paid": add_purchase(db, 3, received=moment(last_month, 9), issued=last_month, paid=True),
        "prod": add_purchase(db, 4, environment="PROD", received=moment(today.replace(day=1))),
    }
    return ids


def row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="purchase-(\d+)"', html)]


def test_the_list_filters_searches_without_polish_letters_and_sorts(client, bought):
    paper, garden, paid = bought["paper"], bought["garden"], bought["paid"]
    assert row_ids(client.get("/zakupy").text) == [paper, garden, paid]       # newest received first; no PROD
    this_month = f"{clock.today():%Y-%m}"
    assert row_ids(client.get(f"/zakupy?miesiac={this_month}").text) == [paper]
    issued_month = f"{clock.today().replace(day=1) - timedelta(days=1):%Y-%m}"   # garden: issued a month earlier
    assert garden not in row_ids(client.get(f"/zakupy?miesiac={issued_month}&wg=wystawiono").text)
    assert row_ids(client.get("/zakupy?q=zolta laka").text) == [garden]      # "Żółta Łąka" typed without letters
    assert row_ids(client.get("/zakupy?q=ZŁ/2").text) == [garden]
    assert row_ids(client.get(f"/zakupy?sprzedawca={OTHER.nip}").text) == [garden]
    assert row_ids(client.get("/zakupy?zaplata=zaplacone").text) == [paid]
    assert row_ids(client.get("/zakupy?zaplata=niezaplacone").text) == [paper, garden]
    assert row_ids(client.get("/zakupy?zaplata=po-terminie").text) == [garden]
    assert row_ids(client.get("/zakupy?sort=brutto&kier=asc").text)[0] == garden      # 32,40 zł before 304,14 zł
    assert row_ids(client.get("/zakupy?sort=brutto&kier=desc").text)[-1] == garden
    page = client.get("/zakupy").text
    assert "Do zapłaty: <strong>2 faktury</strong>" in page and "po terminie: 1 faktura" in page
    # the overdue one stands out, the paid one says when
    assert re.search(rf'<tr id="purchase-{garden}"[^>]*class="[^"]*overdue', page)
    last_day = clock.today().replace(day=1) - timedelta(days=1)
    assert "po terminie</strong>" in page and f"zapłacona {last_day:%d.%m.%Y}" in page


def test_new_invoices_are_marked_until_the_next_visit_and_counted_in_the_top_bar(client, db, bought):
    first = client.get("/faktury/korekta").text   # any page: the counter in the top bar
    assert re.search(r'id="purchases-new"[^>]*>.*?3</span>', first, re.S)            # demo only: not the PROD one
    visit = client.get("/zakupy").text
    assert visit.count('class="tag new-tag">nowa</span>') == 3
    seen = re.search(r'name="widziane" value="([^"]+)"', visit).group(1)
    # filtering within the visit keeps the marks (htmx asks for the table only)
    table = client.get("/zakupy", query_string={"q": "papier", "widziane": seen}, headers={"HX-Request": "true"}).text
    assert "<html" not in table and row_ids(table) and table.count("nowa</span>") == len(row_ids(table))
    # the next visit: nothing is new any more, the counter is empty
    assert "nowa</span>" not in client.get("/zakupy").text
    assert re.search(r'id="purchases-new"[^>]*></span>', client.get("/zakupy/licznik").text, re.S)
    # a new arrival is new again, and counted
    later = add_purchase(db, 5, received=moment(clock.today()))
    assert ">1</span>" in client.get("/zakupy/licznik").text
    assert re.search(rf'<tr id="purchase-{later}" data-id="{later}" class="new', client.get("/zakupy").text)


def test_the_invoice_page_shows_the_whole_invoice_and_marks_it_seen(client, db, bought):
    page = client.get(f"/zakupy/{bought['paper']}").text
    assert "Łódzka Hurtownia Papieru Sp. z o.o." in page and "774-000-14-54" in page
    assert "Papier A4" in page and "Katalog" in page                       # the lines
    assert "304,14\u00a0zł" in page and "Słownie" in page                   # 10 × 21,50 + 23 %, 2 × 18,90 + 5 %
    assert "61 1090 1014 0000 0712 1981 2874" in page                      # the seller's account
    assert 'id="pay"' in page and "Oznacz jako zapłaconą" in page
    assert purchases.get_purchase(db, bought["paper"])["seen_at"] is not None
    overdue = client.get(f"/zakupy/{bought['garden']}").text
    assert 'id="overdue-alert"' in overdue and "Po terminie płatności" in overdue


def test_xml_is_the_exact_bytes_with_a_safe_file_name(client, db, bought):
    response = client.get(f"/zakupy/{bought['garden']}/xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert response.data == purchases.xml_bytes(db, bought["garden"])
    disposition = response.headers["Content-Disposition"]
    assert disposition == 'attachment; filename="Zakup_9462631745_Z_2_KA.xml"'   # slashes and Ł, Ą dropped
    assert disposition.isascii()


def test_the_pdf_carries_kod_i_of_the_sellers_invoice(client, app, bought):
    app.extensions["ksef_local"].simulator_url = "http://127.0.0.1:8765"   # the demo mode's QR host
    response = client.get(f"/zakupy/{bought['paper']}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'inline; filename="Zakup_FV_1_11_2026.pdf"'
    [link] = qr_texts(response.data)
    assert link.startswith(f"http://127.0.0.1:8765/invoice/{SELLER.nip}/{clock.today():%d-%m-%Y}/")


@pytest.mark.parametrize("typed, message", [
    ("jutro", "Data zapłaty: podaj datę w formacie dd.mm.rrrr."),
    ("", "Data zapłaty: podaj datę."),
    ("future", "Data zapłaty nie może być późniejsza niż dzisiaj"),
    ("before", "Data zapłaty nie może być wcześniejsza niż data wystawienia faktury"),
])
def test_a_paid_date_in_the_future_or_before_the_issue_is_a_field_error(client, db, bought, typed, message):
    issued = date.fromisoformat(purchases.get_purchase(db, bought["paper"])["issue_date"])
    typed = {"future": f"{clock.today() + timedelta(days=1):%d.%m.%Y}",
             "before": f"{issued - timedelta(days=1):%d.%m.%Y}"}.get(typed, typed)
    response = client.post(f"/zakupy/{bought['paper']}/zaplata", data={"data_zaplaty": typed}, htmx=True)
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.text and message in response.text
    assert purchases.get_purchase(db, bought["paper"])["paid"] == 0
    # without htmx the error page says it, with 422
    plain = client.post(f"/zakupy/{bought['paper']}/zaplata", data={"data_zaplaty": typed})
    assert plain.status_code == 422 and message in plain.text


def test_marking_paid_and_undoing_it(client, db, bought):
    today = clock.today()
    response = client.post(f"/zakupy/{bought['garden']}/zaplata", data={"data_zaplaty": f"{today:%d.%m.%Y}"},
                           htmx=True)
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "purchases-changed"
    assert f"zapłacona {today:%d.%m.%Y}" in response.text and 'id="overdue-alert"' not in response.text
    row = purchases.get_purchase(db, bought["garden"])
    assert (row["paid"], row["paid_date"]) == (1, today.isoformat())
    assert row_ids(client.get("/zakupy?zaplata=po-terminie").text) == []
    undone = client.post(f"/zakupy/{bought['garden']}/zaplata", data={"zaplacona": "0"}, htmx=True)
    assert "Oznacz jako zapłaconą" in undone.text
    assert purchases.get_purchase(db, bought["garden"])["paid"] == 0
    # without htmx: back to the invoice page
    plain = client.post(f"/zakupy/{bought['garden']}/zaplata", data={"data_zaplaty": today.isoformat()})
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"/zakupy/{bought['garden']}")


def test_refusals_unknown_id_bad_month_and_no_csrf_token(client, db, bought):
    for url in ("/zakupy/9999", "/zakupy/9999/xml", "/zakupy/9999/pdf"):
        response = client.get(url)
        assert response.status_code == 404 and "Nie ma takiej faktury zakupowej w programie." in response.text
    assert client.post("/zakupy/9999/zaplata", data={"data_zaplaty": "01.01.2026"}).status_code == 404
    for month in ("2026-13", "listopad", "2026-1", "２０２６-１１"):   # fullwidth digits are not a month either
        response = client.get(f"/zakupy?miesiac={month}")
        assert response.status_code == 400 and "Nieprawidłowy miesiąc" in response.text
    refused = client.raw.post(f"/zakupy/{bought['paper']}/zaplata", data={"data_zaplaty": "01.01.2026"})
    assert refused.status_code == 403 and purchases.get_purchase(db, bought["paper"])["paid"] == 0
    assert client.raw.post("/zakupy/pobierz").status_code == 403
    # an htmx request's error comes as a Polish message for the page's message area
    htmx = client.get("/zakupy/9999", headers={"HX-Request": "true"})
    assert htmx.status_code == 404 and htmx.headers["HX-Retarget"] == "#messages"


def search_box(html: str) -> str:
    return re.search(r'<input type="search" name="q" value="([^"]*)"', html).group(1)


@pytest.mark.parametrize("typed", ["zolta laka " * 500, "zolta\x00 laka\x07", "\tzolta\n laka  ", "a " * 3000, "\x00"])
def test_the_search_reads_odd_input_as_the_sales_list_does(client, bought, typed):
    """One rule for every list's search box: very long text, control characters and hundreds of words give the
    same search on the purchase list as on the sales list (whatever that rule becomes), and never an error."""
    sales, bought_list = client.get("/", query_string={"q": typed}), client.get("/zakupy", query_string={"q": typed})
    assert sales.status_code == bought_list.status_code == 200
    assert search_box(bought_list.text) == search_box(sales.text)
    assert len(search_box(bought_list.text)) <= 200


def test_page_and_seller_parameters_take_only_ascii_digits(client, bought):
    assert row_ids(client.get("/zakupy?strona=²").text) == row_ids(client.get("/zakupy").text)   # page 1
    assert len(row_ids(client.get("/zakupy?sprzedawca=" + "５" * 10).text)) == 3                   # no seller filter


def test_seller_text_from_ksef_is_escaped(client, db, company):
    evil = Party(name='<script>alert("x")</script> Sp. z o.o.', nip="9462631745", address_l1="ul. <b>1</b>")
    purchase_id = add_purchase(db, 7, seller=evil, received=moment(clock.today()))
    for url in ("/zakupy", f"/zakupy/{purchase_id}"):
        page = client.get(url).text
        assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_the_counter_announces_new_arrivals_once_to_the_system_or_to_the_page(client, app, db, bought):
    shown = []
    services = app.extensions["ksef_local"]
    services.notifier = lambda title, text: shown.append((title, text)) or True
    client.get("/zakupy/licznik")
    client.get("/zakupy/licznik")
    assert shown == [("Faktury zakupowe", "3 nowe faktury zakupowe z KSeF")]   # once, demo only
    # without a system notifier the page shows it, when it says it may (powiadom=1)
    services.notifier = None
    add_purchase(db, 8, received=moment(clock.today()))
    quiet = client.get("/zakupy/licznik").text
    assert "data-notify-body" not in quiet                                       # this page cannot show it
    told = client.get("/zakupy/licznik?powiadom=1").text
    assert 'data-notify-body="1 nowa faktura zakupowa z KSeF"' in told
    assert "data-notify-body" not in client.get("/zakupy/licznik?powiadom=1").text   # once
    assert shown == [("Faktury zakupowe", "3 nowe faktury zakupowe z KSeF")]


def test_the_earlier_start_is_checked_and_saved(client, db, bought):
    today = clock.today()
    for typed, message in ((f"{today + timedelta(days=1):%d.%m.%Y}", "Ten dzień jeszcze nie nadszedł"),
                           ("31.12.2021", "KSeF przyjmuje faktury od 01.01.2022"),
                           ("1.1.2026", "podaj datę w formacie dd.mm.rrrr")):
        response = client.post("/zakupy/od-kiedy", data={"od_dnia": typed}, htmx=True)
        assert response.status_code == 200 and message in response.text and 'aria-invalid="true"' in response.text
    assert purchase_sync.sync_start(db) is None
    saved = client.post("/zakupy/od-kiedy", data={"od_dnia": "01.01.2026"}, htmx=True)
    assert 'id="start-saved"' in saved.text and "01.01.2026" in saved.text
    assert purchase_sync.sync_start(db) == date(2026, 1, 1)


def test_pobierz_teraz_shows_progress_and_the_problem_in_plain_polish(app, client, db, company):
    """No InvoiceRead: the sender (over HTTP to the simulator) fails the task; the screen says what to do."""
    with rig(app) as r:
        r.token = r.sim.create_token(COMPANY_NIP, ["InvoiceWrite"])
        services = app.extensions["ksef_local"]
        ksef_settings.save(db, services.secrets, {"environment": "custom", "base_url": r.sim.base_url})
        started = client.post("/zakupy/pobierz", htmx=True)
        task_id = int(re.search(r'id="task-(\d+)"', started.text).group(1))
        assert f'hx-get="/zakupy/pobierz/{task_id}"' in started.text and "Czeka na połączenie z KSeF" in started.text
        running = client.get(f"/zakupy/pobierz/{task_id}")
        assert "HX-Trigger" not in running.headers and 'hx-trigger="every 1s"' in running.text
        settle(r.sender(purchases=True), r.clock)
        done = client.get(f"/zakupy/pobierz/{task_id}")
        assert done.headers["HX-Trigger"] == "purchases-changed" and "every 1s" not in done.text
        assert "Brak uprawnienia do odczytu faktur" in done.text
        page = client.get("/zakupy").text
        problem = re.search(r'<div class="alert error" role="alert" id="sync-problem">(.*?)</div>', page, re.S).group(1)
        assert "Brak uprawnienia do odczytu faktur" in problem and "InvoiceRead" in problem and COMPANY_NIP in problem
        assert "Jeszcze nie sprawdzał KSeF" in page


def test_the_status_says_when_ksef_was_last_checked_in_local_time(client, db, bought):
    checked = datetime(2026, 11, 24, 9, 30, 5, tzinfo=timezone.utc)
    purchase_sync.note_done(db, checked)
    status = client.get("/zakupy/stan").text
    local = checked.astimezone()
    assert f'<time datetime="{checked.isoformat()}"' in status and f"{local:%d.%m.%Y %H:%M:%S}" in status


def test_purchases_of_another_environment_are_not_shown(client, app, db, bought):
    assert bought["prod"] not in row_ids(client.get("/zakupy").text)
    ksef_settings.save(db, app.extensions["ksef_local"].secrets, {"environment": "PROD", "confirm_prod": "1"})
    assert row_ids(client.get("/zakupy").text) == [bought["prod"]]
