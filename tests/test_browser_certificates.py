"""Logging in to KSeF by certificate, in real Chromium: the app over HTTP with its sender and the in-app simulator.

The user's signing tool (Profil Zaufany, a signature card) is played by python-xmlsec (tests/ksef_support.py).
"""
from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from ksef_local import cli, clock
from ksef_local.desktop import launcher
from ksef_local.forms import parties as party_forms
from ksef_local.store import invoices, ksef_state, parties
from ksef_local.store import settings as ksef_settings

from .conftest import COMPANY_FORM, WIZARD_LABELS, textbox
from .factories import draft
from .ksef_support import new_key, self_signed, sign_xmlsec

pytestmark = pytest.mark.browser

NIP = "5261040828"   # COMPANY_FORM's NIP
SENT = 20_000        # ms: W → O → A through the sender and the simulator


# -- fixtures and helpers -----------------------------------------------------------------------------

@pytest.fixture
def fresh(app, live_server, page):
    """The live app on an empty data folder (no company yet), with its sender and the demo simulator."""
    background = launcher.start_background(app, processing_ms=300, poll_interval=0.2, busy_wait=0.2)
    assert background.sending
    yield live_server
    page.goto("about:blank")   # no polling into a stopped server
    background.stop()


@pytest.fixture
def running(fresh, app, db):
    """The live app with the company saved and the in-app simulator as a custom KSeF server: no credentials.

    The demo mode's credentials belong to the "demo" environment only, so here the program has none until a
    test gives it a token or a certificate.
    """
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    use_custom_server(app, db)
    return fresh


def simulator_url(app) -> str:
    return app.extensions["ksef_local"].simulator_url


def sim(app, method: str, path: str, expected: int, **body) -> dict:
    response = requests.request(method, simulator_url(app) + path, json=body or None, timeout=10)
    assert response.status_code == expected, response.text
    return response.json() if response.content else {}


def use_custom_server(app, db, token: str = "") -> None:
    """Point the program at the in-app simulator as a custom server, where it has no demo credentials."""
    form = {"environment": "custom", "base_url": simulator_url(app)} | ({"ksef_token": token} if token else {})
    ksef_settings.save(db, app.extensions["ksef_local"].secrets, form)


def new_token(app, permissions: list[str] | None = None) -> str:
    body = {"nip": NIP} | ({"permissions": permissions} if permissions is not None else {})
    return sim(app, "POST", "/sim/tokens", 201, **body)["token"]


def yesterday() -> str:
    """The day before today in Poland: KSeF counts the tokens' last day in Warsaw time."""
    return (clock.today() - timedelta(days=1)).isoformat()


def company_seal(key_type: str):
    """The company's seal as its signing tool holds it: organizationIdentifier VATPL-NIP, O, CN and C."""
    key = new_key(key_type)
    certificate = self_signed(key, kind="seal", nip=NIP, not_before=datetime.now(timezone.utc) - timedelta(days=1))
    return key, certificate


def issued_today(db) -> int:
    """An invoice issued today (an older one would wait as offline24 and add its deadline to the banner)."""
    now = clock.utc_now()
    today = clock.warsaw_day(now)
    invoice_id = draft(db, issue_date=today.isoformat(), sale_date=today.isoformat(),
                       due_date=(today + timedelta(days=14)).isoformat())
    invoices.issue(db, invoice_id, today, now)
    return invoice_id


def row(page: Page, invoice_id: int):
    return page.locator(f"tr[data-id='{invoice_id}']")


def letter(page: Page, invoice_id: int):
    return row(page, invoice_id).locator("td.ksef .letter")


def send_from_list(page: Page, base: str, *invoice_ids: int) -> None:
    page.goto(base + "/")
    for invoice_id in invoice_ids:
        row(page, invoice_id).locator("input[name=zaznaczone]").check()
    page.get_by_role("button", name="KSeF", exact=True).click()


def reload_until(page: Page, locator, count: int, timeout: float = SENT) -> None:
    """Reload a page that does not poll until the locator matches count elements (the sender works meanwhile)."""
    deadline = datetime.now() + timedelta(milliseconds=timeout)
    while locator.count() != count and datetime.now() < deadline:
        page.wait_for_timeout(300)
        page.reload()
    expect(locator).to_have_count(count)


def meta(db, key: str):
    return ksef_state.get_meta(db, key)


def ksef_letter(db, invoice_id: int) -> str | None:
    return invoices.get_invoice(db, invoice_id)["ksef_status"]


# -- 1. a new user in demo mode -----------------------------------------------------------------------

def test_new_user_in_demo_mode_sends_without_touching_a_setting(page: Page, fresh, shot, app, db):
    base = fresh
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Witaj w ksef-local krok 1 z 2")).to_be_visible()
    shot("kreator-firma")
    for name in ("nip", "name", "address_l1", "address_l2", "place", "bank_account", "email", "phone"):
        textbox(page, WIZARD_LABELS[name]).fill(COMPANY_FORM[name])
    page.get_by_role("button", name="Dalej").click()

    expect(page.get_by_role("heading", name="Witaj w ksef-local krok 2 z 2")).to_be_visible()
    expect(page.locator("#f-environment")).to_have_value("demo")
    expect(page.locator("#login-method")).to_contain_text("nic nie trzeba ustawiać")
    shot("kreator-ksef")
    page.get_by_role("button", name="Zapisz i zakończ").click()
    # The list's other status may come first: the demo purchase sync logging in (templates/ksef/_banner.html).
    expect(page.get_by_role("status").filter(has_text="Gotowe.")).to_have_text(
        "Gotowe. Możesz wystawić pierwszą fakturę.")
    shot("lista-pusta")

    page.get_by_role("button", name="Nowa faktura").click()
    expect(page.get_by_role("heading", name=re.compile("Faktura VAT"))).to_be_visible()
    page.get_by_text("Dodaj nowego nabywcę").click()
    form = page.locator("#buyer form")
    textbox(form, "Nazwa (lub imię i nazwisko)").fill("Hurtownia Łódź Sp. z o.o.")
    textbox(form, "NIP").fill("7740001454")
    textbox(form, "Ulica i numer").fill("ul. Piotrkowska 1")
    textbox(form, "Kod pocztowy i miejscowość").fill("90-001 Łódź")
    form.get_by_role("button", name="Dodaj i wybierz").click()
    expect(page.locator("#chosen-buyer")).to_contain_text("Hurtownia Łódź Sp. z o.o.")
    line = page.locator("#editor tr.line").first
    line.locator("[name=line_name]").fill("Chleb żytni")
    line.locator("[name=line_quantity]").fill("10")
    line.locator("[name=line_unit_price]").fill("4,50")
    line.locator("[name=line_rate]").select_option("5")
    expect(page.locator("#grand-total")).to_have_text("47,25\u00a0zł")
    shot("edytor")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Wystaw fakturę").click()
    expect(page.locator("#invoice-number")).to_be_visible()
    invoice_id = int(page.url.split("/faktury/")[1].split("?")[0])
    shot("wystawiona")

    send_from_list(page, base, invoice_id)
    expect(page.locator("#send-result")).to_contain_text("Wysyłam do KSeF: 1 faktura")
    shot("wysylanie")
    expect(letter(page, invoice_id)).to_have_text("A", timeout=SENT)
    shot("lista-A")
    assert ksef_letter(db, invoice_id) == "A"
    settings = app.extensions["ksef_local"].settings()
    assert settings.environment == "demo" and not settings.has_token

    # The program's own KSeF certificates, got in the demo seal's session after sending went first.
    page.goto(base + "/ustawienia/certyfikaty")
    kept = page.locator("#kept")
    for kind in ("KSeF – logowanie", "KSeF – offline (KOD II)"):
        in_use = kept.locator("tr", has_text=kind).filter(has_text="używany")
        reload_until(page, in_use, 1)
        expect(in_use.locator("td").nth(4)).to_have_text(re.compile(r"^7[0-3]\d dni$"))   # two years
    seal = kept.locator("tr", has_text="demonstracyjna pieczęć symulatora")
    expect(seal).to_contain_text("w zapasie")
    expect(seal).to_contain_text("Firma demonstracyjna 5261040828 · NIP 526-104-08-28")
    expect(page.locator("#login-method")).to_contain_text("KSeF – logowanie")
    shot("certyfikaty")


# -- 2. "Przejdź na certyfikat": a file signed outside the program -----------------------------------

def download_file_to_sign(page: Page, base: str) -> bytes:
    page.goto(base + "/ustawienia/certyfikaty/podpis")
    with page.expect_download() as caught:
        page.get_by_role("button", name="Pobierz plik do podpisania").click()
    assert caught.value.suggested_filename.startswith(f"logowanie-KSeF-{NIP}-")
    return Path(caught.value.path()).read_bytes()


def upload_signed(page: Page, path: Path) -> None:
    page.get_by_label("Podpisany plik (.xml)").set_input_files(str(path))
    page.get_by_role("button", name="Wczytaj podpisany plik").click()


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_external_signature_gets_ksef_certificates_that_send_after_tokens_end(page: Page, running, shot, app, db,
                                                                               tmp_path, key_type):
    base = running
    ids = [issued_today(db) for _ in range(2)]
    page.goto(base + "/ustawienia/certyfikaty")
    expect(page.locator("#no-credentials")).to_be_visible()
    shot("bez-danych-logowania")

    # A file uploaded without a signature is refused in Polish and changes nothing.
    unsigned = tmp_path / "niepodpisany.xml"
    unsigned.write_bytes(download_file_to_sign(page, base))
    shot("podpis")
    upload_signed(page, unsigned)
    outcome = page.locator("#sign-progress #task-outcome")
    expect(outcome).to_contain_text("Brak podpisu", timeout=SENT)
    expect(outcome).to_have_class(re.compile(r"\berror\b"))
    shot("brak-podpisu")
    page.goto(base + "/ustawienia/certyfikaty")
    expect(page.locator("#no-credentials")).to_be_visible()
    expect(page.locator("#kept tbody tr")).to_have_count(0)

    # Signed by the company's seal in the user's own tool: the program gets its KSeF certificates.
    document = download_file_to_sign(page, base)
    key, seal = company_seal(key_type)
    signed = tmp_path / "podpisany.xml"
    signed.write_bytes(sign_xmlsec(document, key, seal))
    sim(app, "POST", "/sim/options", 200, xadesDelayMs=1500)   # KSeF checks the seal's issuer for a while
    upload_signed(page, signed)
    expect(page.locator("#sign-progress .progress")).to_contain_text(
        re.compile("Wysyłanie podpisanego dokumentu logowania|KSeF sprawdza certyfikat"))
    shot("logowanie-w-toku")
    expect(outcome).to_contain_text("Zalogowano podpisem i uzyskano certyfikaty KSeF", timeout=SENT)
    shot("zalogowano")
    page.get_by_role("link", name="Certyfikaty KSeF").click()
    kept = page.locator("#kept")
    for kind in ("KSeF – logowanie", "KSeF – offline (KOD II)"):
        expect(kept.locator("tr", has_text=kind)).to_have_count(1)
    expect(page.locator("#login-method")).to_contain_text("KSeF – logowanie")
    shot("certyfikaty")

    # Tokens end: the program logs in with its own KSeF certificate.
    sim(app, "POST", "/sim/options", 200, tokensUntil=yesterday(), xadesDelayMs=None)
    send_from_list(page, base, *ids)
    expect(page.locator("#send-result")).to_contain_text("Wysyłam do KSeF: 2 faktury")
    for invoice_id in ids:
        expect(letter(page, invoice_id)).to_have_text("A", timeout=SENT)
    expect(page.locator("#pause")).to_have_count(0)
    assert app.extensions["ksef_local"].login_method().certificate.ksef_type == "Authentication"


# -- 3. a revoked token pauses; a certificate added on the screen resumes by itself -------------------

def pkcs12_seal(app, tmp_path: Path, password: str = "Tajne hasło 1") -> tuple[Path, str]:
    """A demonstration company seal from the simulator, saved as the .p12 file a user would get."""
    body = sim(app, "POST", "/sim/certificates", 201, nip=NIP, kind="seal", keyType="EC", password=password)
    path = tmp_path / "pieczec-firmy.p12"
    path.write_bytes(base64.b64decode(body["pkcs12"]))
    return path, password


def test_revoked_token_pauses_and_a_certificate_resumes_without_a_click(page: Page, running, shot, app, db,
                                                                         tmp_path):
    base = running
    token = new_token(app)
    use_custom_server(app, db, token)
    invoice_id = issued_today(db)
    sim(app, "DELETE", f"/sim/tokens/{requests.utils.quote(token, safe='')}", 204)

    send_from_list(page, base, invoice_id)
    pause = page.locator("#pause")
    expect(pause).to_contain_text("Token unieważniony", timeout=SENT)
    expect(pause).to_contain_text("nic nie zginęło")
    expect(letter(page, invoice_id)).to_have_text("W")
    shot("token-uniewazniony")

    # "Wznów wysyłkę" lifts the pause and tries again at once; the same revoked token pauses it again.
    page.get_by_role("button", name="Wznów wysyłkę").click()
    expect(pause).to_have_count(0)
    expect(pause).to_contain_text("Token unieważniony", timeout=SENT)
    expect(letter(page, invoice_id)).to_have_text("W")
    shot("nadal-wstrzymane")

    # The KSeF button on the waiting invoice: it waits in the queue and the queue resumes.
    row(page, invoice_id).locator("input[name=zaznaczone]").check()
    page.get_by_role("button", name="KSeF", exact=True).click()
    result = page.locator("#send-result")
    expect(result).to_contain_text("czeka już w kolejce do KSeF (W)")
    expect(result.locator("#resumed")).to_contain_text("wznowiono")
    expect(result).not_to_contain_text("została już wysłana")
    shot("ksef-na-czekajacej")
    expect(pause).to_contain_text("Token unieważniony", timeout=SENT)

    # A certificate added on "Certyfikaty KSeF": the pause lifts by itself and the invoice goes.
    p12, password = pkcs12_seal(app, tmp_path)
    pause.get_by_role("link", name="Logowanie i certyfikaty").click()
    page.get_by_label("Plik certyfikatu").set_input_files(str(p12))
    page.get_by_label("Hasło do pliku .p12 albo do klucza").fill(password)
    page.get_by_role("button", name="Dodaj certyfikat").click()
    expect(page.locator("#added")).to_have_text("Dodano certyfikat.")
    expect(page.locator("#login-method")).to_contain_text("Certyfikatem")
    shot("dodano-certyfikat")
    page.goto(base + "/")
    expect(letter(page, invoice_id)).to_have_text("A", timeout=SENT)
    expect(pause).to_have_count(0)
    shot("wyslana")


# -- 4. tokens switched off and only a token: a certificate added by the CLI resumes -------------------

def test_tokens_switched_off_pause_until_the_cli_adds_a_certificate(page: Page, running, shot, app, db, home,
                                                                    tmp_path, monkeypatch, capsys):
    base = running
    use_custom_server(app, db, new_token(app))
    sim(app, "POST", "/sim/options", 200, tokensUntil=yesterday(), tokensRefusal="403")
    invoice_id = issued_today(db)

    send_from_list(page, base, invoice_id)
    pause = page.locator("#pause")
    expect(pause).to_contain_text("KSeF nie przyjmuje już logowania tokenem", timeout=SENT)
    expect(page.locator("#ksef-banner").get_by_role("link", name="Przejdź na certyfikat").first).to_be_visible()
    expect(letter(page, invoice_id)).to_have_text("W")
    assert meta(db, "pause")["cause"] == "credentials"
    shot("tokeny-wylaczone")

    p12, password = pkcs12_seal(app, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    assert cli.main(["--data-dir", str(home), "settings", "--certificate", str(p12), "--password-stdin"]) == 0
    assert "Dodano certyfikat" in capsys.readouterr().out

    expect(letter(page, invoice_id)).to_have_text("A", timeout=SENT)
    expect(pause).to_have_count(0, timeout=SENT)
    shot("wyslana")


# -- 5. "Testuj połączenie" ---------------------------------------------------------------------------

def test_connection_test_tells_a_missing_invoice_write_from_a_working_login(page: Page, running, shot, app, db):
    base = running
    use_custom_server(app, db, new_token(app, permissions=["InvoiceRead"]))
    sim(app, "POST", "/sim/faults", 200, latencyMs=700)   # a slow line, so the progress can be seen
    page.goto(base + "/ustawienia/ksef")
    page.get_by_role("button", name="Testuj połączenie").click()
    expect(page.locator("#test-result .progress")).to_contain_text(
        re.compile("Łączenie z KSeF|Pobieranie tokenów dostępu|Sprawdzanie uprawnienia"))
    shot("test-w-toku")
    outcome = page.locator("#task-outcome")
    expect(outcome).to_contain_text("Brak uprawnienia do wysyłania faktur", timeout=SENT)
    expect(outcome).to_contain_text("Logowanie tokenem KSeF działa")
    expect(outcome).to_have_class(re.compile(r"\berror\b"))
    shot("brak-invoicewrite")

    sim(app, "DELETE", "/sim/faults", 204)
    page.reload()
    page.locator("#f-ksef_token").fill(new_token(app))
    page.get_by_role("button", name="Zapisz", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Zapisano ustawienia KSeF.")
    page.get_by_role("button", name="Testuj połączenie").click()
    expect(outcome).to_contain_text("Połączenie z KSeF działa", timeout=SENT)
    expect(outcome).to_have_class(re.compile(r"\bok\b"))
    shot("polaczenie-dziala")
