"""Addresses and parameters the program's own pages never make: a Polish 400 or 404, and nothing changes.

Issue 11 item 12: each of these was an English 500 (OverflowError from SQLite's INTEGER, ValueError from int('²'),
datetime's year range, TypeError from hmac.compare_digest on non-ASCII text).
"""
from __future__ import annotations

import pytest
from werkzeug.exceptions import BadRequest, MethodNotAllowed, NotFound

from ksef_local.app import create_app
from ksef_local.store import outbox
from ksef_local.web.params import RecordIdConverter
from ksef_local.web.responses import http_error

from .factories import buyer, draft, dump, issued

HUGE = "99999999999999999999999"  # more than SQLite's INTEGER holds
LIMIT_PLUS_ONE = str(2**63)       # one more than the largest INTEGER
NOT_ASCII = ("²", "１", "٣")      # a superscript, a fullwidth digit, an Arabic-Indic digit: int() takes the last two

PAGE = "Numer strony w adresie jest nieprawidłowy"
MONTH = "Miesiąc w adresie strony jest nieprawidłowy"
SELECTION = "Nieprawidłowy wybór faktur"


def id_rules(app):
    """Every route with an id in its path, and the names of those ids."""
    for rule in app.url_map.iter_rules():
        ids = [name for name, converter in rule._converters.items() if isinstance(converter, RecordIdConverter)]
        if ids:
            yield rule, ids


def test_every_id_in_a_path_is_a_bounded_record_id(app):
    assert app.url_map.converters["int"] is RecordIdConverter
    rules = [rule.rule for rule, _ in id_rules(app)]
    assert "/faktury/<int:invoice_id>" in rules and "/kontrahenci/<int:buyer_id>" in rules and len(rules) > 15
    every_int = [r.rule for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert sorted(every_int) == sorted(rules)  # a new <int:…> route is bounded too


@pytest.mark.parametrize("value", [HUGE, LIMIT_PLUS_ONE, *NOT_ASCII])
def test_an_impossible_id_in_any_path_is_a_polish_404_and_changes_nothing(client, app, company, db, value):
    issued(db)  # record 1 exists: "１" and "٣" must not find it
    before = dump(db)
    for rule, ids in id_rules(app):
        path = rule.rule
        for name in ids:
            path = path.replace(f"<int:{name}>", value)
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.get(path) if method == "GET" else client.post(path)
        assert response.status_code == 404, (path, response.status_code)
        assert "Nie ma takiej strony." in response.text, path
    assert dump(db) == before


def test_the_largest_id_sqlite_holds_is_simply_not_found(client, company):
    response = client.get(f"/faktury/{2**63 - 1}")
    assert response.status_code == 404 and "Nie ma takiej faktury" in response.text


@pytest.mark.parametrize("query, status, message", [
    ("strona=9223372036854775807", 400, PAGE),
    ("strona=184467440737095517", 400, PAGE),  # its offset (× 50 rows) would overflow
    ("strona=²", 400, PAGE),
    ("strona=１", 400, PAGE),
    ("strona=0", 400, PAGE),
    ("strona=-1", 400, PAGE),
    ("strona=abc", 400, PAGE),
    ("kontrahent=²", 404, "Nie ma takiego kontrahenta."),
    ("kontrahent=" + HUGE, 404, "Nie ma takiego kontrahenta."),
    ("kontrahent=" + LIMIT_PLUS_ONE, 404, "Nie ma takiego kontrahenta."),
    ("miesiac=0000-01", 400, MONTH),
    ("miesiac=9999-12", 400, MONTH),
    ("miesiac=2026-13", 400, MONTH),
    ("miesiac=2026-00", 400, MONTH),
    ("miesiac=２０２６-01", 400, MONTH),
    ("miesiac=2005-12", 400, MONTH),
    ("miesiac=zly", 400, MONTH),
])
def test_list_filters_the_list_never_makes_are_refused_in_polish(client, company, db, query, status, message):
    issued(db)
    before = dump(db)
    response = client.get("/?" + query)
    assert response.status_code == status and message in response.text
    assert "Wróć do listy faktur" in response.text
    assert dump(db) == before


def test_a_refused_list_filter_reaches_the_message_area_of_an_htmx_page(client, company):
    response = client.get("/?strona=²", headers={"HX-Request": "true"})
    assert response.status_code == 400 and PAGE in response.text
    assert response.headers["HX-Retarget"] == "#messages"


def test_list_filters_the_list_makes_still_work(client, company, db):
    invoice_id = issued(db)
    buyer_id = db.execute("SELECT buyer_id FROM invoices WHERE id = ?", [invoice_id]).fetchone()[0]
    for query in ("strona=1", "strona=7", "miesiac=2026-11", "miesiac=2006-01", "miesiac=2050-01",
                  f"kontrahent={buyer_id}", "strona=", "miesiac=", "kontrahent="):
        assert client.get("/?" + query).status_code == 200, query
    assert "FV/2026/11/1" in client.get("/?miesiac=2026-11").text


@pytest.mark.parametrize("value", [HUGE, LIMIT_PLUS_ONE, "0", "-1", "abc", *NOT_ASCII])
def test_printing_a_selection_with_an_impossible_id_is_refused(client, company, db, value):
    invoice_id = issued(db)
    response = client.get(f"/faktury/pdf?id={invoice_id}&id={value}")
    assert response.status_code == 400 and SELECTION in response.text


@pytest.mark.parametrize("url", ["/ksef/wyslij", "/ksef/statusy"])
@pytest.mark.parametrize("value", [HUGE, "²", "１"])
def test_sending_a_selection_with_an_impossible_id_is_refused_and_queues_nothing(client, company, db, url, value):
    invoice_id = issued(db)
    before = dump(db)
    response = client.post(url, data={"zaznaczone": [str(invoice_id), value]}, htmx=True)
    assert response.status_code == 400 and SELECTION in response.text
    assert outbox.status(db, invoice_id) is None
    assert dump(db) == before


def test_a_search_of_many_words_finds_instead_of_failing(client, company, db):
    buyer(db)
    invoice_id = draft(db)
    words = "hurtownia " * 20_000  # once one instr() per word: "Expression tree is too large"
    assert "Hurtownia Łódź" in client.get("/kontrahenci/?q=" + words).text
    assert client.get(f"/faktury/{invoice_id}/nabywcy?q=" + words).status_code == 200
    assert client.get("/?q=" + words).status_code == 200


@pytest.mark.parametrize("token", ["ą", "zażółć", "\u2603"])
def test_a_non_ascii_csrf_token_is_refused_in_polish_not_a_500(client, company, db, token):
    before = dump(db)
    response = client.raw.post("/faktury/nowa", data={"csrf_token": token})
    assert response.status_code == 403 and "Brak lub nieprawidłowy token formularza" in response.text
    response = client.raw.post("/faktury/nowa", headers={"X-CSRF-Token": token.encode().decode("latin-1")})
    assert response.status_code == 403
    assert dump(db) == before


def test_a_non_ascii_launch_secret_is_refused_in_polish_not_a_500(home):
    app = create_app(home, testing=True, launch_secret="sekret-uruchomienia")
    browser = app.test_client()
    response = browser.get("/?klucz=zażółć")
    assert response.status_code == 403 and "Brak dostępu" in response.text
    browser.set_cookie("ksef_local_klucz", "gęś")
    assert browser.get("/firma").status_code == 403


def test_werkzeugs_own_errors_are_shown_in_polish(app):
    with app.test_request_context("/"):
        assert "Program nie zrozumiał tego żądania" in http_error(BadRequest()).get_data(as_text=True)
        assert "Nie ma takiej strony." in http_error(NotFound()).get_data(as_text=True)
        assert "nie można wykonać w ten sposób" in http_error(MethodNotAllowed()).get_data(as_text=True)
        # Our own abort() texts are already Polish and stay as they are.
        assert "Nieprawidłowy adres serwera." in http_error(BadRequest("Nieprawidłowy adres serwera.")).get_data(
            as_text=True)
