"""Shared fixtures: a fresh data folder per test, the app, a CSRF-aware client, a live server, Chromium."""
from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest
from werkzeug.serving import make_server

from ksef_local.app import create_app
from ksef_local.forms import parties as party_forms
from ksef_local.store import parties
from ksef_local.web import csrf_token
from tests.ksef_support import running_simulator

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

COMPANY_FORM = {
    "nip": "526-104-08-28", "name": "Piekarnia Zażółć Sp. z o.o.", "address_l1": "ul. Kwiatowa 1",
    "address_l2": "00-001 Warszawa", "place": "Warszawa", "bank_account": "61 1090 1014 0000 0712 1981 2874",
    "email": "biuro@piekarnia.pl", "phone": "+48 22 123 45 67",
    "number_pattern": "FV/{rrrr}/{mm}/{nr}", "number_reset": "month",
    "correction_pattern": "KOR/{rrrr}/{mm}/{nr}", "correction_reset": "month",
}


def shared_path(*parts: str) -> Path:
    """A file from ../shared, or skip the test with a visible reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared is not here ({path} missing): this test needs the reference files")
    return path


class Client:
    """Flask's test client that sends the CSRF token with every state-changing request."""

    def __init__(self, app) -> None:
        self.app = app
        self.raw = app.test_client()
        with app.test_request_context():
            self.token = csrf_token()

    def get(self, url: str, **kwargs):
        return self.raw.get(url, **kwargs)

    def post(self, url: str, data=None, htmx: bool = False, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault("X-CSRF-Token", self.token)
        if htmx:
            headers["HX-Request"] = "true"
        return self.raw.post(url, data=data, headers=headers, **kwargs)


@pytest.fixture(autouse=True)
def _file_secret_store(monkeypatch):
    """Never touch the developer's real OS keyring: tests keep secrets in the encrypted file."""
    monkeypatch.setenv("KSEF_LOCAL_SECRET_BACKEND", "file")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app(home: Path):
    return create_app(home, testing=True)


@pytest.fixture
def db(app):
    return app.extensions["ksef_local"].db()


@pytest.fixture
def client(app) -> Client:
    return Client(app)


@pytest.fixture
def company(app, db) -> dict:
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    return parties.get_company(db)


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app over real HTTP on 127.0.0.1 at a free port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str | None:
    return os.environ.get("KSEF_LOCAL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no Playwright-downloaded browser)."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing on CI: make test installs it (tools/system-packages.sh)")
        pytest.skip("Chromium is not installed (apt-get install chromium): browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, tmp_path: Path, request):
    if "live_server" in request.fixturenames:
        # Set the server up first, so that it stops after the page is closed: a request the page still has in
        # flight (a debounced autosave, a poll) must not meet a closed server and log a console error.
        request.getfixturevalue("live_server")
    context = browser.new_context(locale="pl-PL", accept_downloads=True, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors: list[str] = []
    # Chromium logs every 4xx answer as a console error; the tests provoke those on purpose. The
    # damaged-database page answers 503 on purpose too (web/damaged.py).
    expected = tuple(f"Failed to load resource: the server responded with a status of {code}" for code in ("4", "503"))
    pg.on("console", lambda msg: errors.append(msg.text)
          if msg.type == "error" and not msg.text.startswith(expected) else None)
    yield pg
    context.close()
    assert not errors, f"console errors in the page: {errors}"


@pytest.fixture
def shot(page, tmp_path: Path, request):
    """Save a full-page screenshot per step (KSEF_LOCAL_SHOTS=folder keeps them where you want them)."""
    folder = Path(os.environ.get("KSEF_LOCAL_SHOTS") or tmp_path / "zrzuty") / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    count = iter(range(1, 100))

    def take(name: str) -> Path:
        path = folder / f"{next(count):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


WIZARD_LABELS = {  # the first-run wizard's fields by the labels a user reads
    "nip": "NIP", "name": "Nazwa firmy", "address_l1": "Ulica i numer",
    "address_l2": "Kod pocztowy i miejscowość", "place": "Miejsce wystawienia faktur",
    "bank_account": "Rachunek bankowy", "email": "E-mail", "phone": "Telefon"}


def textbox(scope, label: str):
    """A text field by its visible label, as a user finds it (the label also carries "*" and a hint)."""
    return scope.get_by_role("textbox", name=re.compile(rf"^{re.escape(label)}(\s|$)"))


@pytest.fixture
def simulator():
    """A KSeF simulator on 127.0.0.1 (a free port) with a fake clock, for one test."""
    with running_simulator() as running:
        yield running
