"""Ustawienia KSeF: defaults, validation in Polish, tokens per environment in the SecretStore, clients."""
from __future__ import annotations

import socket
from datetime import datetime, timezone

import pytest
import requests

from ksef_local import credentials, services
from ksef_local.core import settings as settings_model
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.forms import ksef_settings as ksef_form
from ksef_local.forms import parties as party_forms
from ksef_local.forms.certificates import load_files
from ksef_local.ksef.auth import CertificateCredentials, TokenCredentials
from ksef_local.store import db as dbmod
from ksef_local.store import parties
from ksef_local.store import secrets as secret_store
from ksef_local.store import settings as ksef_settings
from ksef_local.store.secrets import SecretStore
from ksef_local.store.settings import KsefSettings

from .conftest import COMPANY_FORM
from .ksef_support import running_simulator

COMPANY_NIP = "5261040828"
OTHER_NIP = "7342867148"
TOKEN = "20251010-EC-1A2B3C4D5E-6F7A8B9C0D-11|nip-5261040828|" + "c0ffee42" * 7 + "00003f2a"
TOKEN_2 = "20251011-EC-2A2B3C4D5E-6F7A8B9C0D-22|nip-5261040828|" + "deadbeef" * 7 + "00009b1c"


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def db(home):
    database = dbmod.connect(home / "ksef-local.sqlite3")
    dbmod.migrate(database)
    yield database
    database.conn.close()


@pytest.fixture
def store(home):
    return SecretStore(home, backend="file")


@pytest.fixture
def company(db):
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))


def refused(db, store, form) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        ksef_settings.save(db, store, form)
    return caught.value.errors


def row_count(db) -> int:
    return db.execute("SELECT count(*) FROM ksef_settings").fetchone()[0]


# -- defaults and schema ------------------------------------------------------------------------------

def test_defaults_are_demo_mode_with_the_company_nip(db, store, company):
    settings = ksef_settings.load(db, store)
    assert settings.environment == "demo"
    assert settings.nip == COMPANY_NIP and settings.nip_follows_company
    assert settings.batch_threshold == 50
    assert not settings.has_token and settings.token_hint == ""
    assert settings.updated_at is None and not settings.is_production
    assert settings_model.describe(settings) == "Tryb demonstracyjny (symulator)"
    assert settings.label == "Tryb demonstracyjny"


def test_defaults_without_a_company_have_no_nip(db, store):
    assert ksef_settings.load(db, store).nip is None
    assert refused(db, store, {"environment": "TEST"}) == {
        "nip": "Podaj NIP, w imieniu którego program łączy się z KSeF, albo uzupełnij dane firmy."}


def test_environment_labels_keep_our_demo_apart_from_mf_demo():
    assert settings_model.ENVIRONMENTS["DEMO"] == "DEMO (przedprodukcyjne MF)"
    assert settings_model.ENVIRONMENTS["PROD"] == "Produkcyjne – faktury prawnie wiążące"
    assert list(settings_model.ENVIRONMENTS)[0] == settings_model.DEFAULT_ENVIRONMENT == "demo"


# -- validation ---------------------------------------------------------------------------------------

def test_prod_without_confirmation_is_refused_and_nothing_changes(db, store, company):
    ksef_settings.save(db, store, {"environment": "TEST", "batch_threshold": "20"})
    before = ksef_settings.load(db, store)
    errors = refused(db, store, {"environment": "PROD", "batch_threshold": "30", "ksef_token": TOKEN})
    assert errors == {"confirm_prod": ksef_form.PROD_CONFIRMATION}
    assert "prawnie wiążące" in errors["confirm_prod"]
    assert ksef_settings.load(db, store) == before
    prod = KsefSettings(environment="PROD", nip=COMPANY_NIP)
    assert ksef_settings.token_for(db, store, prod) is None


def test_prod_with_confirmation_is_saved(db, store, company):
    settings = ksef_settings.save(db, store, {"environment": "PROD", "confirm_prod": "1"})
    assert settings.environment == "PROD" and settings.is_production
    assert settings_model.describe(settings) == "PRODUKCJA"
    assert settings.updated_at is not None
    # Staying on PROD needs no new confirmation.
    assert ksef_settings.save(db, store, {"environment": "PROD", "batch_threshold": "80"}).batch_threshold == 80


def test_unknown_environment_is_refused(db, store, company):
    assert refused(db, store, {"environment": "prod2"}) == {"environment": "Wybierz środowisko KSeF z listy."}


@pytest.mark.parametrize("nip, fragment", [("5261040829", "sumę kontrolną"), ("12345", "10 cyfr")])
def test_bad_nip_is_refused_in_polish(db, store, company, nip, fragment):
    assert fragment in refused(db, store, {"environment": "TEST", "nip": nip})["nip"]
    assert row_count(db) == 0


def test_nip_other_than_the_company_is_kept_and_empty_follows_the_company(db, store, company):
    settings = ksef_settings.save(db, store, {"nip": "734-286-71-48"})
    assert settings.nip == OTHER_NIP and not settings.nip_follows_company
    settings = ksef_settings.save(db, store, {"nip": ""})
    assert settings.nip == COMPANY_NIP and settings.nip_follows_company
    settings = ksef_settings.save(db, store, {"nip": COMPANY_NIP})
    assert settings.nip_follows_company


@pytest.mark.parametrize("threshold", ["1", "1001", "abc", "", "-5", "2.5", "9" * 20])
def test_bad_batch_threshold_is_refused_in_polish(db, store, company, threshold):
    errors = refused(db, store, {"batch_threshold": threshold})
    assert errors == {"batch_threshold": "Próg wysyłki wsadowej musi być liczbą całkowitą od 2 do 1000."}


@pytest.mark.parametrize("threshold", ["2", "1000", " 75 "])
def test_batch_threshold_limits_are_inclusive(db, store, company, threshold):
    assert ksef_settings.save(db, store, {"batch_threshold": threshold}).batch_threshold == int(threshold)


@pytest.mark.parametrize("url, fragment", [
    ("", "Podaj adres"),
    ("http://example.com:8765", "tylko z tym komputerem"),
    ("http://10.0.0.5", "tylko z tym komputerem"),
    ("ftp://127.0.0.1", "https://"),
    ("127.0.0.1:8765", "https://"),
    ("https://", "https://"),
    ("http://user:secret@127.0.0.1:8765", "loginu"),
    ("https://ksef.example.pl/?token=x", "parametrów"),
    ("http://127.0.0.1:99999", "portu"),
    ("http://127.0.0.1 :8765", "bez spacji"),
])
def test_bad_custom_url_is_refused_in_polish(db, store, company, url, fragment):
    errors = refused(db, store, {"environment": "custom", "base_url": url})
    assert fragment in errors["base_url"]


@pytest.mark.parametrize("url, stored", [
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("http://LOCALHOST:8765/v2/", "http://localhost:8765"),
    ("http://[::1]:9000/", "http://[::1]:9000"),
    ("https://ksef.example.pl/api/v2", "https://ksef.example.pl/api"),
])
def test_custom_url_is_normalized(db, store, company, url, stored):
    settings = ksef_settings.save(db, store, {"environment": "custom", "base_url": url})
    assert settings.base_url == stored
    assert services.environment_for(settings).api_base == stored + "/v2"
    assert settings_model.describe(settings).startswith("Własny serwer KSeF (")


def test_custom_url_is_kept_when_switching_away(db, store, company):
    ksef_settings.save(db, store, {"environment": "custom", "base_url": "http://127.0.0.1:8765"})
    settings = ksef_settings.save(db, store, {"environment": "TEST", "base_url": "nonsense"})
    assert settings.environment == "TEST" and settings.base_url == "http://127.0.0.1:8765"


@pytest.mark.parametrize("token, fragment", [
    ("abc", "za krótki"), ("x" * 401, "za długi"), ("20251010-EC-ABC DEF|nip-5261040828", "bez spacji"),
    ("20251010-EC-żółć|nip-5261040828|abc", "bez polskich znaków")])
def test_bad_token_is_refused_without_quoting_it(db, store, company, token, fragment):
    with pytest.raises(ValidationFailed) as caught:
        ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": token})
    assert fragment in caught.value.errors["ksef_token"]
    assert token not in caught.value.message and token not in str(caught.value)


def test_error_summary_never_contains_a_good_token(db, store, company):
    with pytest.raises(ValidationFailed) as caught:
        ksef_settings.save(db, store, {"environment": "TEST", "nip": "1", "ksef_token": TOKEN})
    assert TOKEN not in str(caught.value) and "3f2a" not in str(caught.value)
    assert not ksef_settings.load(db, store).has_token


# -- tokens -------------------------------------------------------------------------------------------

def test_token_is_stored_per_environment(db, store, company):
    settings = ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": f"  {TOKEN}\n"})
    assert settings.has_token and settings.token_hint == "••••••••3f2a"
    assert ksef_settings.token_for(db, store) == TOKEN
    demo_mf = ksef_settings.save(db, store, {"environment": "DEMO"})
    assert not demo_mf.has_token and ksef_settings.token_for(db, store, demo_mf) is None
    ksef_settings.save(db, store, {"environment": "DEMO", "ksef_token": TOKEN_2})
    back = ksef_settings.save(db, store, {"environment": "TEST"})
    assert back.has_token and ksef_settings.token_for(db, store, back) == TOKEN
    other_nip = ksef_settings.save(db, store, {"nip": OTHER_NIP})
    assert not other_nip.has_token


def test_custom_servers_have_a_token_each(db, store, company):
    ksef_settings.save(db, store, {"environment": "custom", "base_url": "http://127.0.0.1:8765",
                                   "ksef_token": TOKEN})
    moved = ksef_settings.save(db, store, {"base_url": "https://ksef.example.pl"})
    assert not moved.has_token


def test_empty_token_field_keeps_the_stored_token(db, store, company):
    ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": TOKEN})
    settings = ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": "   ", "batch_threshold": "9"})
    assert settings.has_token and ksef_settings.token_for(db, store, settings) == TOKEN


def test_new_token_replaces_the_old_one(db, store, company):
    ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": TOKEN})
    settings = ksef_settings.save(db, store, {"ksef_token": TOKEN_2})
    assert settings.token_hint == "••••••••9b1c"
    assert ksef_settings.token_for(db, store, settings) == TOKEN_2


def test_token_never_reaches_the_database_file(db, store, home, company):
    ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": TOKEN})
    ksef_settings.save(db, store, {"environment": "PROD", "confirm_prod": "1", "ksef_token": TOKEN_2})
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    columns = {row[1] for row in db.execute("PRAGMA table_info(ksef_settings)").fetchall()}
    assert not any("token" in column for column in columns)
    database_files = [p for p in home.iterdir() if p.name.startswith("ksef-local.sqlite3")]
    assert database_files
    for path in database_files:
        data = path.read_bytes()
        for token in (TOKEN, TOKEN_2):
            assert token.encode() not in data and token[-20:].encode() not in data, path.name


def test_forget_token(db, store, company):
    ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": TOKEN})
    ksef_settings.forget_token(db, store)
    assert not ksef_settings.load(db, store).has_token
    ksef_settings.forget_token(db, store)  # nothing stored: no error


def test_unreadable_secrets_do_not_break_loading(db, store, home, company):
    ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": TOKEN})
    (home / secret_store.KEY_FILE).write_bytes(bytes(32))
    settings = ksef_settings.load(db, store)
    assert not settings.has_token and "uszkodzony" in settings.token_problem
    assert TOKEN not in settings.token_problem


# -- clients, QR hosts, badges ------------------------------------------------------------------------

def test_client_for_a_named_environment(db, store, company):
    settings = ksef_settings.save(db, store, {"environment": "TEST", "ksef_token": TOKEN})
    with requests.Session() as session:
        client = services.client_for(settings, ksef_settings.token_for(db, store, settings), session=session)
        assert client.environment.api_base == "https://api-test.ksef.mf.gov.pl/v2"


def test_client_for_refuses_without_token_or_simulator(db, store, company):
    settings = ksef_settings.load(db, store)
    with pytest.raises(UserError, match="wbudowany symulator"):
        services.client_for(settings, TOKEN)
    with pytest.raises(UserError, match="Brak danych logowania do KSeF"):
        services.client_for(settings, None, base_url_override="http://127.0.0.1:1")
    with pytest.raises(ValueError):
        services.client_for(KsefSettings(environment="PROD", nip=COMPANY_NIP), TOKEN,
                                 base_url_override="http://127.0.0.1:1")


@pytest.mark.parametrize("environment, host", [
    ("TEST", "https://qr-test.ksef.mf.gov.pl"), ("DEMO", "https://qr-demo.ksef.mf.gov.pl"),
    ("PROD", "https://qr.ksef.mf.gov.pl")])
def test_qr_host_follows_the_environment(environment, host):
    assert services.qr_host_for(KsefSettings(environment=environment, nip=COMPANY_NIP)) == host


def test_qr_host_of_demo_mode_is_the_simulator():
    settings = KsefSettings(nip=COMPANY_NIP)
    assert services.qr_host_for(settings, base_url_override="http://127.0.0.1:5000/") == \
        "http://127.0.0.1:5000"


@pytest.mark.parametrize("environment, badge", [
    ("demo", "Tryb demonstracyjny (symulator)"), ("TEST", "TEST"), ("DEMO", "DEMO (przedprodukcyjne MF)"),
    ("PROD", "PRODUKCJA")])
def test_describe_gives_the_badge(environment, badge):
    assert settings_model.describe(KsefSettings(environment=environment)) == badge


@pytest.mark.parametrize("environment, base_url, text, title", [
    ("custom", "https://ksef.biuro.przyklad.pl:8443/api", "Własny KSeF: ksef.biuro.przyklad.pl",
     "Środowisko KSeF: własny serwer https://ksef.biuro.przyklad.pl:8443/api"),
    ("demo", None, "Tryb demonstracyjny",
     "Środowisko KSeF: Tryb demonstracyjny (symulator): faktury nie trafiają do prawdziwego KSeF"),
    ("PROD", None, "PRODUKCJA", "Środowisko KSeF: PRODUKCJA")])
def test_top_badge_is_short_and_its_title_names_the_whole_address(environment, base_url, text, title):
    assert settings_model.top_badge(KsefSettings(environment=environment, base_url=base_url)) == (text, title)


# -- against a real simulator -------------------------------------------------------------------------

def test_demo_credentials_are_a_seal_from_the_simulator_that_logs_in_by_signature(db, store, company):
    """The demo mode needs no setting touched: the simulator issues a demonstration company seal, which logs
    in by XAdES like a real one (and is made only once)."""
    with running_simulator() as sim, requests.Session() as session:
        settings = ksef_settings.load(db, store)
        assert credentials.login_method(db, store, settings).kind is None
        assert credentials.ensure_demo_credentials(db, store, settings, sim.base_url)
        assert not credentials.ensure_demo_credentials(db, store, settings, sim.base_url)  # kept
        method = credentials.login_method(db, store, settings)
        assert method.kind == "certificate" and method.certificate.origin == "demo"
        assert "VATPL-5261040828" in method.certificate.subject
        login = credentials.credentials_for(db, store, settings)
        client = services.client_for(settings, login, base_url_override=sim.base_url, session=session,
                                     clock=sim.clock, sleep=sim.clock.advance, poll_interval=0.5, max_polls=20,
                                     timeout=10)
        client.authenticate()
        assert client.auth.tokens.access.token and client.auth.method == "xades"


def test_demo_credentials_are_made_only_in_demo_mode(db, store, company):
    settings = ksef_settings.save(db, store, {"environment": "TEST"})
    assert not credentials.ensure_demo_credentials(db, store, settings, "http://127.0.0.1:1")
    assert credentials.login_method(db, store, ksef_settings.load(db, store)).kind is None


def test_demo_credentials_explain_a_dead_simulator_in_polish(db, store, company):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(UserError, match="symulator KSeF nie wydał certyfikatu"):
        credentials.ensure_demo_credentials(db, store, ksef_settings.load(db, store), f"http://127.0.0.1:{port}")


def test_a_certificate_logs_in_before_a_token(db, store, company):
    """Tokens end on 31.12.2026: where both are kept, the certificate is used."""
    with running_simulator() as sim:
        token = sim.create_token(COMPANY_NIP)
        settings = ksef_settings.save(db, store, {"environment": "custom", "base_url": sim.base_url,
                                                  "ksef_token": token})
        assert isinstance(credentials.credentials_for(db, store, settings), TokenCredentials)
        seal = sim.http.post(f"{sim.base_url}/sim/certificates", json={"nip": COMPANY_NIP}, timeout=10).json()
        certificate, key = load_files(seal["certificate"].encode(), seal["privateKey"].encode(), "")
        credentials.add_login_certificate(db, store, settings, certificate, key)
        assert isinstance(credentials.credentials_for(db, store, settings), CertificateCredentials)
        assert credentials.login_method(db, store, settings).kind == "certificate"


def test_custom_environment_authenticates_against_a_simulator(db, store, company):
    with running_simulator() as sim, requests.Session() as session:
        token = sim.create_token(COMPANY_NIP)
        settings = ksef_settings.save(db, store, {"environment": "custom", "base_url": sim.base_url + "/v2",
                                                  "ksef_token": token})
        client = services.client_for(settings, ksef_settings.token_for(db, store, settings),
                                          session=session, clock=sim.clock, sleep=sim.clock.advance,
                                          poll_interval=0.5, max_polls=20, timeout=10)
        client.authenticate()
        assert client.auth.tokens.access.token


def test_queued_invoices_follow_a_change_but_invoices_ksef_holds_block_it(db, company, tmp_path):
    """Issue 11 item 5: a dead or mistyped KSeF address must not trap W invoices; only invoices KSeF holds a
    reference for (being sent, O, waiting for the UPO) keep the environment and NIP as they are."""
    from ksef_local.store import outbox
    from ksef_local.store.db import write

    from .factories import issued

    store = SecretStore(tmp_path / "sekrety", backend="file")
    now = datetime.now(timezone.utc)
    ids = [issued(db) for _ in range(5)]
    outbox.enqueue(db, ids, now)
    assert ksef_settings.save(db, store, {"environment": "TEST"}).environment == "TEST"
    assert {outbox.current(db, i)["letter"] for i in ids} == {"W"}

    for held, text in ((1, "w toku: 1 faktura)"), (2, "w toku: 2 faktury)"), (5, "w toku: 5 faktur)")):
        with write(db):
            for invoice_id in ids[:held]:
                outbox.transition(db, outbox.current(db, invoice_id)["id"], now, "sent", None)
        with pytest.raises(ValidationFailed) as caught:
            ksef_settings.save(db, store, {"environment": "DEMO"})
        assert text in caught.value.errors["environment"]
        assert "A lub B" in caught.value.errors["environment"]
        assert ksef_settings.load(db, store).environment == "TEST"
    with pytest.raises(ValidationFailed) as caught:
        ksef_settings.save(db, store, {"nip": "5265877635"})   # a valid NIP: refused only for the invoices held
    assert "w toku: 5 faktur)" in caught.value.errors["environment"]
    assert ksef_settings.save(db, store, {"batch_threshold": "20"}).batch_threshold == 20
