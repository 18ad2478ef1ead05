"""Local security: the launch cookie, CSRF, Host (DNS rebinding), Origin, no CORS. Each refusal changes nothing."""
from __future__ import annotations

import pytest

from ksef_local.app import create_app
from ksef_local.forms import parties as party_forms
from ksef_local.store import parties
from ksef_local.web.security import (
    CODE_SECONDS,
    COOKIE,
    SECRET_HEADER,
    EntryCodes,
    csrf_token,
    entry_url,
    new_entry_url,
)

from .conftest import COMPANY_FORM

SECRET = "launch-secret-for-tests"
PORT = 54321
HOST = f"127.0.0.1:{PORT}"


@pytest.fixture
def secured(home):
    app = create_app(home, testing=True, launch_secret=SECRET)
    app.config["SERVER_PORT"] = PORT
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    with app.test_request_context():
        token = csrf_token()
    return app, db, token


def browser(app):
    client = app.test_client()
    response = client.get(new_entry_url(app, f"http://{HOST}"), headers={"Host": HOST})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return client, response


def buyer_form(name="Jan Kowalski"):
    return {"kind": "consumer", "name": name}


def test_entry_url_hands_over_an_httponly_strict_cookie(secured):
    app, _, _ = secured
    _, response = browser(app)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={SECRET}") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert entry_url(f"http://{HOST}", "kod") == f"http://{HOST}/?wejscie=kod"


def test_an_entry_code_opens_once_and_expires_and_the_secret_itself_is_no_entry(secured):
    """Issue 11 item 9: what a browser gets on its command line (readable by every local user) is useless
    once used or after a while; the launch secret never appears in a URL."""
    app, _, _ = secured
    url = new_entry_url(app, f"http://{HOST}")
    assert SECRET not in url
    assert app.test_client().get(url, headers={"Host": HOST}).status_code == 302
    assert app.test_client().get(url, headers={"Host": HOST}).status_code == 403   # used: gone
    assert app.test_client().get(f"/?klucz={SECRET}", headers={"Host": HOST}).status_code == 403
    assert app.test_client().get(f"/?wejscie={SECRET}", headers={"Host": HOST}).status_code == 403
    now = [1000.0]
    codes = EntryCodes(clock=lambda: now[0])
    late = codes.issue()
    now[0] += CODE_SECONDS + 1
    assert not codes.redeem(late)
    fresh = codes.issue()
    assert codes.redeem(fresh) and not codes.redeem(fresh)


def test_a_second_launch_gets_a_code_only_with_the_secret_in_a_header(secured):
    app, _, _ = secured
    client = app.test_client()
    refused = client.post("/wejscie", headers={"Host": HOST, SECRET_HEADER: "zly"})
    assert refused.status_code == 403
    given = client.post("/wejscie", headers={"Host": HOST, SECRET_HEADER: SECRET})
    assert given.status_code == 200 and given.headers["Cache-Control"] == "no-store"
    code = given.get_data(as_text=True)
    assert SECRET not in code
    assert app.test_client().get(f"/?wejscie={code}", headers={"Host": HOST}).status_code == 302


def test_request_without_the_cookie_is_refused_and_changes_nothing(secured):
    app, db, token = secured
    client = app.test_client()
    assert client.get("/", headers={"Host": HOST}).status_code == 403
    response = client.post("/kontrahenci/nowy", data=buyer_form(), headers={"Host": HOST, "X-CSRF-Token": token})
    assert response.status_code == 403 and "z ikony programu" in response.text
    assert client.get("/?wejscie=zly-kod", headers={"Host": HOST}).status_code == 403
    assert parties.search_buyers(db, "") == []


def test_static_files_need_no_cookie(secured):
    app, _, _ = secured
    response = app.test_client().get("/static/app.css", headers={"Host": HOST})
    assert response.status_code == 200
    response.close()


def test_post_without_csrf_token_is_refused_and_changes_nothing(secured):
    app, db, _ = secured
    client, _ = browser(app)
    response = client.post("/kontrahenci/nowy", data=buyer_form(), headers={"Host": HOST})
    assert response.status_code == 403 and "token formularza" in response.text
    assert parties.search_buyers(db, "") == []


def test_post_with_cookie_and_token_works(secured):
    app, db, token = secured
    client, _ = browser(app)
    response = client.post("/kontrahenci/nowy", data=buyer_form(), headers={"Host": HOST, "X-CSRF-Token": token})
    assert response.status_code == 302
    assert [b["name"] for b in parties.search_buyers(db, "")] == ["Jan Kowalski"]


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:1234", f"192.168.1.5:{PORT}"])
def test_foreign_host_is_refused_and_changes_nothing(secured, host):
    app, db, token = secured
    client, _ = browser(app)
    response = client.post("/kontrahenci/nowy", data=buyer_form(), headers={"Host": host, "X-CSRF-Token": token})
    assert response.status_code == 400
    assert parties.search_buyers(db, "") == []


def test_foreign_origin_is_refused_and_no_cors_is_offered(secured):
    app, db, token = secured
    client, _ = browser(app)
    response = client.post("/kontrahenci/nowy", data=buyer_form(),
                           headers={"Host": HOST, "X-CSRF-Token": token, "Origin": "http://evil.example"})
    assert response.status_code == 403 and "z innej strony" in response.text
    assert parties.search_buyers(db, "") == []
    preflight = client.options("/kontrahenci/nowy", headers={"Host": HOST, "Origin": "http://evil.example",
                                                            "Access-Control-Request-Method": "POST"})
    listing = client.get("/", headers={"Host": HOST, "Origin": "http://evil.example"})
    for answer in (preflight, listing, response):
        assert not any(h.lower().startswith("access-control-") for h in answer.headers.keys())
    assert "script-src 'self'" in listing.headers["Content-Security-Policy"]
