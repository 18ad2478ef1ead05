"""Certificates in the running program: a login by a file signed outside that enrolls the program's own KSeF
certificates, sending with them after tokens end, renewal, "Testuj połączenie", a pause caused by
credentials that lifts by itself, and KOD II signed with the enrolled Offline certificate and checked by the
simulator's verification page. The sender talks real HTTP to the simulator on a fake clock."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives import serialization

from ksef_local import credentials
from ksef_local.core.settings import environment_key
from ksef_local.printing import qr
from ksef_local.sending import Sender
from ksef_local.store import certificates, ksef_state, outbox, tasks
from ksef_local.store import settings as ksef_settings
from tests.factories import issued
from tests.ksef_support import FakeClock, new_key, running_simulator, self_signed, sign_xmlsec
from tests.sender_support import COMPANY_NIP, START, drive, letters

FAST = {"xades_delay_ms": 0, "processing_ms": 500}


@contextmanager
def program(app, **simulator_options):
    """The app on a custom KSeF (the simulator) and a sender built like the launcher's, on a fake clock."""
    clock = FakeClock(START)
    with running_simulator(clock=clock, **{**FAST, **simulator_options}) as sim:
        services = app.extensions["ksef_local"]
        ksef_settings.save(services.db(), services.secrets, {"environment": "custom", "base_url": sim.base_url})

        def make_client():
            return services.make_client(clock=clock, sleep=clock.advance, poll_interval=0.5, timeout=5)

        sender = Sender(services.databases, make_client, clock=clock, sleep=clock.advance, poll_interval=0.5,
                        services=services)
        yield sim, services, sender


def run_task(sender, db, task_id: int, clock, steps: int = 50):
    for _ in range(steps):
        task = tasks.get(db, task_id)
        if task.is_final:
            return task
        sender.run_once()
        clock.advance(0.5)
    raise AssertionError(f"task {task_id} did not finish: {tasks.get(db, task_id)}")


def signed_file(sim, services, key_type: str = "EC") -> bytes:
    """What the user brings back from the signing tool: the program's request signed by an independent signer."""
    request = services.anonymous_client().auth_request_to_sign(COMPANY_NIP)
    key = new_key(key_type)
    return sign_xmlsec(request, key, self_signed(key, nip=COMPANY_NIP))


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_a_signed_file_logs_in_and_the_program_gets_its_own_ksef_certificates(app, db, company, key_type):
    with program(app) as (sim, services, sender):
        task_id = tasks.create(db, "signed_login", sim.clock(), payload=signed_file(sim, services, key_type))
        task = run_task(sender, db, task_id, sim.clock)
        assert task.succeeded, (task.result_title, task.result_advice, task.result_detail)
        assert task.result_title == "Zalogowano podpisem i uzyskano certyfikaty KSeF"
        kept = certificates.listed(db, environment_key(services.settings()), COMPANY_NIP)
        assert sorted((c.usage, c.ksef_type, c.origin) for c in kept) == [
            ("login", "Authentication", "enrolled"), ("offline", "Offline", "enrolled")]
        for c in kept:
            assert services.secrets.get(c.key_secret).startswith("-----BEGIN PRIVATE KEY-----")
            assert c.days_left(sim.clock()) >= 700
        assert b"PRIVATE KEY" not in (services.home / "ksef-local.sqlite3").read_bytes()
        assert tasks.get(db, task_id).result_detail == ""  # nothing to report, and the signed file is dropped
        assert db.execute("SELECT payload FROM ksef_tasks WHERE id = ?", [task_id]).fetchone()[0] is None
        # From now on the program logs in with its KSeF certificate, also when tokens no longer work.
        sim.options(tokensUntil="2026-01-01")
        ids = [issued(db), issued(db)]
        outbox.enqueue(db, ids, sim.clock(), reachable=True, environment=environment_key(services.settings()))
        drive(sender, sim.clock)
        assert letters(db) == {i: "A" for i in ids}
        assert sender.remote.client(db, sim.clock()).auth.method == "xades"


def test_a_refused_signed_file_says_why_and_keeps_nothing(app, db, company):
    with program(app) as (sim, services, sender):
        unsigned = services.anonymous_client().auth_request_to_sign(COMPANY_NIP)
        task = run_task(sender, db, tasks.create(db, "signed_login", sim.clock(), payload=unsigned), sim.clock)
        assert not task.succeeded and task.result_title == "Brak podpisu"
        assert "Kod KSeF: 9102" in task.result_detail
        assert certificates.listed(db) == []


def test_a_signed_file_used_after_its_challenge_expired_is_explained(app, db, company):
    with program(app) as (sim, services, sender):
        document = signed_file(sim, services)
        sim.clock.advance(11 * 60)   # the challenge lives 10 minutes
        task = run_task(sender, db, tasks.create(db, "signed_login", sim.clock(), payload=document), sim.clock)
        assert not task.succeeded and task.result_title == "Wyzwanie logowania wygasło"


def test_certificates_are_renewed_before_they_expire_from_a_session_signed_with_them(app, db, company):
    with program(app, ksef_certificate_days=50) as (sim, services, sender):
        run_task(sender, db, tasks.create(db, "signed_login", sim.clock(), payload=signed_file(sim, services)),
                 sim.clock)
        first = certificates.login_certificate(db, environment_key(services.settings()), COMPANY_NIP, sim.clock())
        assert first.ksef_type == "Authentication" and first.days_left(sim.clock()) < 60
        sim.options(tokensUntil="2026-01-01")
        drive(sender, sim.clock)   # idle: the renewal check runs
        for _ in range(20):
            sender.run_once()
            sim.clock.advance(1)
        active = certificates.listed(db, environment_key(services.settings()), COMPANY_NIP)
        assert {c.ksef_type for c in active} == {"Authentication", "Offline"} and len(active) == 2
        successor = certificates.login_certificate(db, environment_key(services.settings()), COMPANY_NIP,
                                                   sim.clock())
        assert successor.id != first.id and successor.serial != first.serial
        assert certificates.get(db, first.id).state == "retired"
        # The successor logs in (the renewal itself was made in a session signed with the first one).
        ids = [issued(db)]
        outbox.enqueue(db, ids, sim.clock(), reachable=True, environment=environment_key(services.settings()))
        drive(sender, sim.clock)
        assert letters(db) == {ids[0]: "A"}


def test_renewal_that_cannot_be_made_warns_early(app, db, company):
    with program(app, ksef_certificate_days=50) as (sim, services, sender):
        run_task(sender, db, tasks.create(db, "signed_login", sim.clock(), payload=signed_file(sim, services)),
                 sim.clock)
        sim.faults(fault="503", count=1000, pathPrefix="/v2/certificates")
        sim.clock.advance(7 * 3600)
        for _ in range(5):   # the reachability check may come first
            sender.run_once()
        warning = (ksef_state.get_meta(db, "renewal") or {}).get("warning")
        assert warning and "Nie udało się uzyskać nowego certyfikatu KSeF" in warning and "wygasa" in warning


def test_connection_test_logs_in_and_checks_the_right_to_send(app, db, company):
    with program(app) as (sim, services, sender):
        token = sim.create_token(COMPANY_NIP, permissions=["InvoiceRead"])
        ksef_settings.save(db, services.secrets, {"ksef_token": token})
        progress_seen = []
        task_id = tasks.create(db, "connection_test", sim.clock())
        for _ in range(30):
            task = tasks.get(db, task_id)
            if task.is_final:
                break
            progress_seen.append(task.progress)
            sender.run_once()
        assert not task.succeeded and task.result_title == "Brak uprawnienia do wysyłania faktur"
        assert "InvoiceWrite" in task.result_advice and "tokenem KSeF" in task.result_advice
        assert "NIP 526-104-08-28" in task.result_advice   # as every screen writes a NIP
        ksef_settings.save(db, services.secrets, {"ksef_token": sim.create_token(COMPANY_NIP)})
        task = run_task(sender, db, tasks.create(db, "connection_test", sim.clock()), sim.clock)
        assert task.succeeded and task.result_title == "Połączenie z KSeF działa"
        # "Odnów certyfikaty KSeF teraz" with a token login: nothing to renew, and it says what to do instead
        renewal = run_task(sender, db, tasks.create(db, "renewal", sim.clock()), sim.clock)
        assert not renewal.succeeded and renewal.result_title == "Nie ma certyfikatu KSeF do odnowienia"
        assert "Przejdź na certyfikat" in renewal.result_advice


def test_a_pause_caused_by_credentials_lifts_when_a_certificate_is_added(app, db, company):
    """Tokens switched off and the program holding only a token: paused with the message, nothing lost; a
    certificate added (by another process: only the database says so) resumes it by itself."""
    with program(app) as (sim, services, sender):
        ksef_settings.save(db, services.secrets, {"ksef_token": sim.create_token(COMPANY_NIP)})
        sim.options(tokensUntil="2026-01-01", tokensRefusal="403")
        ids = [issued(db)]
        outbox.enqueue(db, ids, sim.clock(), reachable=True, environment=environment_key(services.settings()))
        drive(sender, sim.clock)
        health = ksef_state.health(db)
        assert health.paused and health.pause_title == "KSeF nie przyjmuje już logowania tokenem"
        assert "Przejdź na certyfikat" in health.pause_advice and ksef_state.pause_cause(db) == "credentials"
        assert letters(db) == {ids[0]: "W"}
        assert not sender.run_once()   # still paused: nothing attempted
        seal = sim.demo_certificate(nip=COMPANY_NIP)
        certificate = self_signed_from(seal)
        credentials.add_login_certificate(db, services.secrets, services.settings(), *certificate)
        drive(sender, sim.clock)
        assert not ksef_state.is_paused(db) and letters(db) == {ids[0]: "A"}


def self_signed_from(seal: dict):
    from cryptography import x509

    return (x509.load_pem_x509_certificate(seal["certificate"].encode()),
            serialization.load_pem_private_key(seal["privateKey"].encode(), None))


def test_a_pause_from_a_refused_request_waits_for_the_user(app, db, company):
    """Only pauses caused by credentials lift by themselves; the user's "Wznów wysyłkę" lifts any."""
    with program(app) as (sim, services, sender):
        db_ = services.db()
        ksef_state.pause(db_, sim.clock(), "Dokument nie jest zgodny ze schemą (json)", "x", cause="request")
        ksef_state.credentials_changed(db_, sim.clock())
        sender.run_once()
        assert ksef_state.is_paused(db_)
        ksef_state.resume(db_)
        assert not ksef_state.is_paused(db_)


def test_kod_ii_is_signed_with_the_enrolled_offline_certificate_and_the_simulator_checks_it(app, db, company):
    with program(app) as (sim, services, sender):
        run_task(sender, db, tasks.create(db, "signed_login", sim.clock(), payload=signed_file(sim, services)),
                 sim.clock)
        environment = environment_key(services.settings())
        signer = certificates.signer(db, services.secrets, environment, COMPANY_NIP, now=sim.clock())
        assert signer is not None and signer.serial == certificates.offline_certificate(
            db, environment, COMPANY_NIP, sim.clock()).serial
        xml = b"<Faktura>offline</Faktura>"
        code = qr.certificate_code(sim.base_url, COMPANY_NIP, xml, signer)
        page = sim.http.get(code.url, timeout=10).text
        for line in ("Certyfikat istnieje", "Certyfikat jest aktywny", "Podpis wystawcy jest prawidłowy"):
            assert line in page
        # The Authentication certificate must not sign KOD II (kody-qr.md): the page refuses it.
        login = certificates.login_certificate(db, environment, COMPANY_NIP, sim.clock())
        wrong = certificates.OfflineSigner(login.serial, certificates.private_key(services.secrets, login), "Nip",
                                           COMPANY_NIP)
        refused = sim.http.get(qr.certificate_code(sim.base_url, COMPANY_NIP, xml, wrong).url, timeout=10).text
        assert "Certyfikat nie jest certyfikatem typu Offline" in refused


def test_demo_mode_first_run_needs_no_setting(app, db, company):
    """Whenever the environment is the built-in simulator, the program makes its credentials at that moment."""
    clock = FakeClock(START)
    with running_simulator(clock=clock, **FAST) as sim:
        services = app.extensions["ksef_local"]
        services.simulator_url = sim.base_url   # what the launcher sets when it starts the demo simulator
        sender = Sender(services.databases,
                        lambda: services.make_client(clock=clock, sleep=clock.advance, poll_interval=0.5, timeout=5),
                        clock=clock, sleep=clock.advance, poll_interval=0.5, services=services)
        assert certificates.listed(db, "demo", COMPANY_NIP) == []
        ids = [issued(db)]
        outbox.enqueue(db, ids, clock(), reachable=True, environment="demo")
        drive(sender, clock)
        assert letters(db) == {ids[0]: "A"}
        assert "demo" in [c.origin for c in certificates.listed(db, "demo", COMPANY_NIP)]
        for _ in range(10):
            sender.run_once()
            clock.advance(1)
        assert sorted(c.origin for c in certificates.listed(db, "demo", COMPANY_NIP)) == ["demo", "enrolled",
                                                                                          "enrolled"]
