"""The sender follows the KSeF settings of every process (issue 11, items 1 and 2).

Two simulators stand for two KSeF environments. Changing the settings while the app runs, here or with
`ksef-local settings` in another process, must send the next invoice to the new one, never to the old,
and `ksef-local send` must wake the running app's sender.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import requests

from ksef_local.clock import utc_now, warsaw_day
from ksef_local.sending import Sender
from ksef_local.store import invoices, outbox
from ksef_local.store import settings as ksef_settings
from ksef_local.store.db import Databases
from tests.factories import draft
from tests.ksef_support import FakeClock, running_simulator
from tests.sender_support import COMPANY_NIP, START, accepted, drive


def custom(sim) -> str:
    return f"custom:{sim.base_url}"


def test_settings_saved_by_another_connection_during_a_step_stop_the_send_before_the_old_ksef(app, db, company):
    """The settings change between opening the session and posting the invoice (another process saved them):
    the invoice must not go to the old KSeF; it goes to the new one, and the outbox says so."""
    services = app.extensions["ksef_local"]
    clock = FakeClock(START)
    with running_simulator(clock=clock) as old, running_simulator(clock=clock, seed=8) as new:
        ksef_settings.save(db, services.secrets, {"environment": "custom", "base_url": old.base_url,
                                                  "ksef_token": old.create_token(COMPANY_NIP)})
        other_process = Databases(services.databases.path).get()   # its own connection, like the CLI's

        def switch_when_the_session_opens(response, *args, **kwargs):
            if response.request.method == "POST" and response.request.url.endswith("/sessions/online") \
                    and ksef_settings.load(other_process, services.secrets).base_url == old.base_url:
                ksef_settings.save(other_process, services.secrets, {
                    "base_url": new.base_url, "ksef_token": new.create_token(COMPANY_NIP)})

        http = requests.Session()
        http.hooks["response"].append(switch_when_the_session_opens)
        sender = Sender(services.databases,
                        lambda: services.make_client(session=http, clock=clock, sleep=clock.advance,
                                                     poll_interval=0.5, max_polls=20, timeout=10),
                        services=services, clock=clock, sleep=clock.advance, poll_interval=1.0)
        invoice_id = draft(db)
        invoices.issue(db, invoice_id, warsaw_day(START), START)
        outbox.enqueue(db, [invoice_id], START, environment=custom(old))
        drive(sender, clock)

        assert accepted(old.state()) == []
        assert len(accepted(new.state())) == 1
        row = outbox.current(db, invoice_id)
        assert row["letter"] == "A"
        assert row["environment"] == custom(new)
        # the session the old KSeF opened is not asked of the new one: no longer tracked as open
        assert db.execute("SELECT environment, state FROM ksef_sessions ORDER BY opened_at").fetchall() == [
            (custom(old), "done"), (custom(new), "closed")]
        http.close()


# -- the real app in its own process, changed and woken by the command line -----------------------------------

def cli(home, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ksef_local", "--data-dir", str(home), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=ENV)


ENV = {**os.environ, "KSEF_LOCAL_SECRET_BACKEND": "file"}


def issue_today(db) -> tuple[int, str]:
    today = warsaw_day(utc_now())
    day = today.isoformat()
    invoice_id = draft(db, issue_date=day, sale_date=day, due_date=(today + timedelta(days=14)).isoformat())
    invoices.issue(db, invoice_id, today, utc_now())
    return invoice_id, invoices.get_invoice(db, invoice_id)["number"]


def wait_for(check, seconds: float, what: str):
    """Poll until check() is true; the limit is far below the old 60 s idle wait the fix removes."""
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.2)
    return found


@pytest.mark.slow
def test_cli_settings_and_send_reach_the_running_app(home, db, company):
    """Items 1 and 2 as reproduced: the app runs; `ksef-local settings --base-url B` and `ksef-local send`
    from another process. The next invoice goes to B (old KSeF: still 1 invoice), within seconds."""
    with running_simulator(clock=utc_now) as old, running_simulator(clock=utc_now, seed=8) as new:
        assert cli(home, "settings", "--environment", "custom", "--base-url", old.base_url, "--token-stdin",
                   stdin=old.create_token(COMPANY_NIP)).returncode == 0
        app_db = db
        running = subprocess.Popen([sys.executable, "-m", "ksef_local", "--data-dir", str(home), "run", "--headless"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        try:
            assert "http://127.0.0.1:" in running.stdout.readline()
            first, first_number = issue_today(app_db)
            sent = cli(home, "send", first_number)
            assert sent.returncode == 0, sent.stderr
            wait_for(lambda: outbox.current(app_db, first)["letter"] == "A", 25, "A for the first invoice")

            changed = cli(home, "settings", "--base-url", new.base_url, "--token-stdin",
                          stdin=new.create_token(COMPANY_NIP))
            assert changed.returncode == 0, changed.stderr
            second, second_number = issue_today(app_db)
            assert cli(home, "send", second_number).returncode == 0
            wait_for(lambda: accepted(new.state()), 25, "the second invoice in the new KSeF")
            wait_for(lambda: outbox.current(app_db, second)["letter"] == "A", 25, "A for the second invoice")
        finally:
            running.terminate()
            running.communicate(timeout=20)
        assert len(accepted(old.state())) == 1
        assert len(accepted(new.state())) == 1
        assert outbox.current(app_db, first)["environment"] == custom(old)
        assert outbox.current(app_db, second)["environment"] == custom(new)
