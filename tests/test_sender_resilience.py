"""The sender when things go wrong: revoked or missing token, 429, budget, 503s and the circuit, offline
invoices, batch sessions, a crash after the POST, and the thread loop."""
from __future__ import annotations

import time
from datetime import date, datetime, timezone

import pytest

from ksef_local.errors import UserError
from ksef_local.ksef import errors
from ksef_local.store import invoices, ksef_state, outbox
from tests.sender_support import COMPANY_NIP, accepted, drive, issue_many, letters, rig


def test_revoked_token_pauses_without_losing_anything_and_resume_finishes(app, db, company):
    ids = issue_many(db, 4)
    with rig(app) as r:
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        sender = r.sender()
        drive(sender, r.clock, stop=lambda: outbox.status(db, ids[0]).letter == "O")
        r.sim.revoke_token(r.token)
        r.clock.advance(20 * 60)   # the access token expires; refreshing it is refused
        drive(sender, r.clock)
        health = ksef_state.health(db)
        assert health.paused and health.pause_title == "Token unieważniony"
        assert "token" in health.pause_advice.lower()
        assert set(letters(db).values()) <= {"W", "O", "A"} and "B" not in letters(db).values()
        assert not sender.run_once()   # paused: nothing is attempted
        r.token = r.sim.create_token(COMPANY_NIP)   # the user saves a new token
        ksef_state.resume(db, wake=sender.wake)
        drive(sender, r.clock)
        state = r.sim.state()
    assert letters(db) == {i: "A" for i in ids}
    assert len(accepted(state)) == 4 and state["nips"][COMPANY_NIP]["duplicatesRefused"] == 0


def test_missing_token_pauses_with_a_polish_message(app, db, company):
    ids = issue_many(db, 1)
    with rig(app) as r:
        outbox.enqueue(db, ids, r.clock(), reachable=True)

        def no_token():
            raise UserError("Nie wpisano tokena KSeF.")
        sender = r.sender(make_client=no_token)
        sender.run_once()
        assert not sender.run_once()
    health = ksef_state.health(db)
    assert health.paused and health.pause_title == "Brak danych logowania do KSeF"
    assert health.pause_advice == "Nie wpisano tokena KSeF." and ksef_state.pause_cause(db) == "credentials"
    assert outbox.status(db, ids[0]).letter == "W"


def test_429_retry_after_is_honoured_then_sending_continues(app, db, company):
    ids = issue_many(db, 2)
    with rig(app, limits="prod") as r:
        other = r.make_client()   # another program in the same context uses up the minute's sends
        ref = other.open_online_session().reference_number
        for _ in range(30):
            with pytest.raises(errors.KsefRequestInvalid):
                other.call("POST", f"/sessions/online/{ref}/invoices", json_body={}, ok=(202,))
            r.clock.advance(0.11)
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        sender = r.sender()
        while ksef_state.health(db).next_attempt_at is None:
            assert sender.run_once()
        wait = (ksef_state.health(db).next_attempt_at - r.clock()).total_seconds()
        assert 40 < wait < 62 and outbox.status(db, ids[0]).letter == "W"
        assert not sender.run_once()
        r.clock.advance(wait / 2)
        assert not sender.run_once()
        r.clock.advance(wait / 2 + 0.01)
        drive(sender, r.clock)
        state = r.sim.state()
    assert letters(db) == {i: "A" for i in ids}
    # refused ones are repeated only after Retry-After; each invoice is in KSeF once
    assert 30 + 3 <= state["requests"]["invoiceSend"] <= 30 + 4
    assert len(accepted(state)) == 2 and state["nips"][COMPANY_NIP]["duplicatesRefused"] == 0


def test_request_budget_avoids_429_and_survives_a_new_sender(app, db, company):
    ids = issue_many(db, 35)   # more than the 30 sends a minute of the PRD limits
    with rig(app, limits="prod") as r:
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        drive(r.sender(), r.clock, stop=lambda: db.execute(
            "SELECT COUNT(*) FROM ksef_outbox WHERE state != 'queued'").fetchone()[0] >= 20)
        drive(r.sender(), r.clock)   # a restart: the new sender knows the requests of the old one
        state = r.sim.state()
    assert letters(db) == {i: "A" for i in ids}
    assert state["requests"]["invoiceSend"] == 35   # never refused, so never repeated


def test_circuit_opens_after_repeated_503_and_new_invoices_are_offline(app, db, company):
    first, later = issue_many(db, 2)
    with rig(app) as r:
        outbox.enqueue(db, [first], r.clock(), reachable=True)
        r.sim.faults(fault="503", count=1000)
        sender = r.sender()
        drive(sender, r.clock, stop=lambda: ksef_state.health(db).circuit_open)
        health = ksef_state.health(db)
        assert health.circuit_open and health.reachable is False and health.next_attempt_at > r.clock()
        assert not sender.run_once()
        assert r.sim.state()["requests"].get("anonymous", 0) == 5   # 5 attempts, then the circuit held
        outbox.enqueue(db, [later], r.clock())   # the UI passes no reachability: the circuit decides
        st = outbox.status(db, later)
        assert (st.offline_mode, st.offline_kind) == (True, "offline24") and st.offline_deadline
        r.sim.http.delete(f"{r.sim.base_url}/sim/faults", timeout=10)
        drive(sender, r.clock)
        state = r.sim.state()
    assert letters(db) == {first: "A", later: "A"}
    assert not ksef_state.health(db).circuit_open and ksef_state.health(db).reachable is True
    offline = {a["invoiceNumber"]: a["offline"] for a in accepted(state)}
    assert offline == {invoices.get_invoice(db, first)["number"]: False,
                       invoices.get_invoice(db, later)["number"]: True}


def test_invoice_sent_a_day_after_its_issue_date_goes_offline24(app, db, company):
    ids = issue_many(db, 1)
    with rig(app) as r:
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        r.clock.advance(24 * 3600)   # the sender only gets to it the next day
        drive(r.sender(), r.clock)
        state = r.sim.state()
    st = outbox.status(db, ids[0])
    assert (st.letter, st.offline_kind, st.invoicing_mode) == ("A", "offline24", "Offline")
    assert accepted(state)[0]["offline"] is True


def test_batch_session_when_threshold_invoices_wait(app, db, company):
    ids = issue_many(db, 6)
    with rig(app) as r:
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        drive(r.sender(batch_threshold=5), r.clock)
        state = r.sim.state()
    assert letters(db) == {i: "A" for i in ids}
    sessions = {a["session"] for a in accepted(state)}
    assert len(sessions) == 1 and "-SB-" in sessions.pop()
    assert state["requests"].get("invoiceSend", 0) == 0
    assert all(outbox.upo(db, i) for i in ids)


def other_simulator(clock):
    """A second KSeF environment on the same clock (another seed: its references differ from the first's)."""
    from tests.ksef_support import running_simulator

    return running_simulator(clock=clock, seed=8)


class Crash(BaseException):
    """The process dies right after the POST went out (not an Exception: nothing catches it)."""


def test_restart_after_a_crash_following_the_post_resumes_without_resending(app, db, company):
    ids = issue_many(db, 3)
    with rig(app) as r:
        def crashing_client():
            client = r.make_client()
            real = client.send_invoice

            def send_then_die(*args, **kwargs):
                real(*args, **kwargs)
                raise Crash()
            client.send_invoice = send_then_die
            return client

        outbox.enqueue(db, ids, r.clock(), reachable=True)
        doomed = r.sender(make_client=crashing_client)
        with pytest.raises(Crash):
            drive(doomed, r.clock)
        assert outbox.status(db, ids[0]).state == "sending"
        drive(r.sender(), r.clock)   # the restarted program
        state = r.sim.state()
    assert letters(db) == {i: "A" for i in ids}
    assert state["requests"]["invoiceSend"] == 3 and len(accepted(state)) == 3
    assert db.execute("SELECT COUNT(*) FROM ksef_sessions WHERE state = 'open'").fetchone()[0] == 0


def test_thread_loop_sends_when_woken_and_stops_cleanly(app, db, company):
    ids = issue_many(db, 2)
    with rig(app) as r:
        sender = r.sender(busy_wait=0.05, idle_wait=0.05)
        sender.start()
        try:
            outbox.enqueue(db, ids, r.clock(), reachable=True)
            sender.wake()
            deadline = time.monotonic() + 30
            while set(letters(db).values()) != {"A"}:
                assert time.monotonic() < deadline, letters(db)
                r.clock.advance(1)
                time.sleep(0.02)
        finally:
            sender.stop(10)
        assert not sender._thread.is_alive()


def test_latarnia_maintenance_makes_invoices_offline_and_its_end_sets_the_deadline(app, db, company):
    import requests

    from ksef_local.ksef.environments import custom
    from ksef_local.ksef.latarnia import LatarniaClient

    ids = issue_many(db, 1)
    with rig(app) as r, requests.Session() as http:
        r.sim.faults(latarnia={"status": "MAINTENANCE", "title": "Prace serwisowe", "text": "Do 12:00."})
        sender = r.sender(make_latarnia=lambda: LatarniaClient(custom(r.sim.base_url), session=http),
                          latarnia_interval=60)
        sender.run_once()
        health = ksef_state.health(db)
        assert health.latarnia_status == "MAINTENANCE" and "Prace serwisowe" in health.latarnia_message
        outbox.enqueue(db, ids, r.clock(), reachable=False)
        st = outbox.status(db, ids[0])
        assert (st.offline_kind, st.offline_deadline) == ("offline", None)
        r.sim.faults(latarnia="AVAILABLE")
        r.clock.advance(61)
        drive(sender, r.clock)
    st = outbox.status(db, ids[0])
    assert ksef_state.health(db).latarnia_status == "AVAILABLE" and ksef_state.health(db).latarnia_message is None
    assert (st.letter, st.offline_kind, str(st.offline_deadline)) == ("A", "offline", "2026-11-25")


def test_reset_client_uses_the_new_token_and_closes_the_old_session_as_after_a_restart(app, db, company):
    ids = issue_many(db, 3)
    with rig(app) as r:
        used: list[str] = []

        def make_client():
            used.append(r.token)
            return r.make_client()

        outbox.enqueue(db, ids, r.clock(), reachable=True)
        sender = r.sender(make_client=make_client)
        drive(sender, r.clock, stop=lambda: outbox.status(db, ids[0]).letter == "O")
        old_token, old_session = r.token, outbox.status(db, ids[0]).session_ref
        r.token = r.sim.create_token(COMPANY_NIP)   # the user saves a new token in Ustawienia KSeF
        sender.reset_client()
        r.sim.revoke_token(old_token)
        r.clock.advance(20 * 60)   # the old access token expires: only the new client can go on
        drive(sender, r.clock)
        state = r.sim.state()
        in_ksef = r.make_client().session_status(old_session)
    assert used == [old_token, r.token]
    assert not ksef_state.is_paused(db)
    assert letters(db) == {i: "A" for i in ids}
    assert len(accepted(state)) == 3 and state["nips"][COMPANY_NIP]["duplicatesRefused"] == 0
    assert in_ksef.code != 100   # closed in KSeF, not left open for 12 hours
    assert db.execute("SELECT state FROM ksef_sessions WHERE ref = ?", [old_session]).fetchone()[0] == "closed"
    assert db.execute("SELECT COUNT(*) FROM ksef_sessions WHERE state = 'open'").fetchone()[0] == 0


def test_reset_client_to_another_environment_does_not_pause_on_the_old_session(app, db, company):
    ids = issue_many(db, 2)
    with rig(app) as r, other_simulator(r.clock) as other:
        settings = {"sim": r.sim, "token": r.token}

        def make_client():
            return settings["sim"].client(settings["token"], r.sim.http, nip=COMPANY_NIP, timeout=2.0)

        outbox.enqueue(db, ids, r.clock(), reachable=True)
        sender = r.sender(make_client=make_client)
        drive(sender, r.clock, stop=lambda: outbox.status(db, ids[0]).state == "sent")
        old_session = outbox.status(db, ids[0]).session_ref
        settings.update(sim=other, token=other.create_token(COMPANY_NIP))   # e.g. from the demo mode to TEST
        sender.reset_client()
        drive(sender, r.clock)
        moved = other.state()
    assert not ksef_state.is_paused(db)
    # KSeF of the new environment does not know the old session: it counts as closed, and what was sent
    # there goes out again in the new environment, exactly as after a restart with the new settings
    assert db.execute("SELECT state FROM ksef_sessions WHERE ref = ?", [old_session]).fetchone()[0] == "closed"
    assert letters(db) == {i: "A" for i in ids}
    assert len(accepted(moved)) == 2


def test_reachability_check_while_idle_makes_new_invoices_offline24_until_ksef_answers(app, db, company, tmp_path):
    ids = issue_many(db, 2)
    with rig(app, state_file=str(tmp_path / "ksef.sqlite3")) as r:
        sender = r.sender()
        assert ksef_state.health(db).reachable is None
        assert sender.run_once()   # nothing to send: our own check beside Latarnia
        assert (ksef_state.health(db).reachable, ksef_state.health(db).checked_at) == (True, r.clock())
        assert not sender.run_once()   # not again within the minute
        r.stop_ksef()
        r.clock.advance(61)
        assert sender.run_once()
        health = ksef_state.health(db)
        assert (health.reachable, health.checked_at) == (False, r.clock())
        outbox.enqueue(db, ids, r.clock(), reachable=health.reachable)   # as the KSeF button does
        for invoice_id in ids:
            st = outbox.status(db, invoice_id)
            assert (st.offline_mode, st.offline_kind, st.offline_deadline) == (True, "offline24", date(2026, 11, 25))
        r.start_ksef()
        drive(sender, r.clock)
        state = r.sim.state()
    assert ksef_state.health(db).reachable is True and not ksef_state.is_paused(db)
    assert letters(db) == {i: "A" for i in ids}
    assert all(outbox.status(db, i).invoicing_mode == "Offline" for i in ids)
    modes = {a["invoiceNumber"]: (a["offline"], a["invoicingMode"]) for a in accepted(state)}
    assert modes == {invoices.get_invoice(db, i)["number"]: (True, "Offline") for i in ids}


def test_reachability_check_during_an_outage_waits_for_the_circuit_and_closes_it(app, db, company, tmp_path):
    import random

    with rig(app, state_file=str(tmp_path / "ksef.sqlite3")) as r:
        sender = r.sender(rng=random.Random(5))
        r.stop_ksef()
        checks = []
        for _ in range(40 * 60):   # forty idle minutes, one step a second
            if sender.run_once():
                checks.append(r.clock())
            r.clock.advance(1)
        health = ksef_state.health(db)
        assert health.reachable is False and health.circuit_open and not ksef_state.is_paused(db)
        gaps = [(b - a).total_seconds() for a, b in zip(checks, checks[1:], strict=False)]
        assert all(60 <= gap <= 62 for gap in gaps[:4])   # every minute while idle
        # then at each half-open time: 30 s doubling up to 10 min, ±20 % jitter (sending/health.py)
        assert all(gap >= min(480, 24 * 2 ** k) for k, gap in enumerate(gaps[4:]))
        assert gaps[-1] > 400 and len(checks) < 15
        r.start_ksef()
        r.clock.advance((health.next_attempt_at - r.clock()).total_seconds())
        assert sender.run_once()
        health = ksef_state.health(db)
    assert health.reachable is True and not health.circuit_open and health.checked_at == r.clock()


def test_reachability_check_keeps_to_its_request_budget_and_needs_no_token(app, db, company):
    with rig(app) as r:
        def no_token():
            raise UserError("Nie wpisano tokena KSeF.")
        tokenless = r.sender(make_client=no_token)
        assert not tokenless.run_once()
        assert not ksef_state.is_paused(db)   # nothing waits, so a missing token is no reason to stop anything
        for _ in range(60):   # e.g. logging in has used this minute's requests without a token (API 2.8: 60/min)
            ksef_state.record_request(db, "anonymous", r.clock())
        sender = r.sender()
        assert not sender.run_once()
        assert ksef_state.health(db).reachable is None and "anonymous" not in r.sim.state()["requests"]
        r.clock.advance(60)
        assert sender.run_once()
        assert ksef_state.health(db).reachable is True and r.sim.state()["requests"]["anonymous"] == 1


def _watching_latarnia(r, http):
    from ksef_local.ksef.environments import custom
    from ksef_local.ksef.latarnia import LatarniaClient

    return r.sender(make_latarnia=lambda: LatarniaClient(custom(r.sim.base_url), session=http), latarnia_interval=60)


def _until(clock, moment: datetime) -> None:
    clock.advance((moment - clock()).total_seconds())


def test_failure_moves_the_deadline_of_waiting_offline24_invoices_to_7_business_days_after_its_end(app, db, company):
    import requests

    waiting, during, later = issue_many(db, 3)
    with rig(app) as r, requests.Session() as http:
        sender = _watching_latarnia(r, http)
        r.sim.faults(fault="503", count=10**6)   # KSeF does not answer
        outbox.enqueue(db, [waiting], r.clock(), reachable=False)   # Tuesday 2026-11-24
        assert outbox.status(db, waiting).offline_deadline == date(2026, 11, 25)   # offline24: the next business day
        r.sim.faults(fault="503", count=10**6, latarnia={"status": "FAILURE", "title": "Awaria KSeF", "text": "Trwa."})
        assert sender.run_once()
        assert ksef_state.health(db).latarnia_status == "FAILURE"
        outbox.enqueue(db, [during], r.clock(), reachable=False)
        assert (outbox.status(db, during).offline_kind, outbox.status(db, during).offline_deadline) == ("awaryjny",
                                                                                                        None)
        _until(r.clock, datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc))   # still down on Saturday
        sender.run_once()
        assert outbox.status(db, waiting).offline_deadline == date(2026, 11, 25)   # the end is not known yet
        r.sim.faults(latarnia="AVAILABLE")   # the failure ends on Saturday 2026-11-28; KSeF answers again
        r.clock.advance(61)
        drive(sender, r.clock)
        outbox.enqueue(db, [later], r.clock(), reachable=True)   # queued after the failure: not moved
        r.clock.advance(61)
        drive(sender, r.clock)
        state = r.sim.state()
    # ksef-docs tryby-offline.md's example a year on: a failure ending on a Saturday gives Tuesday, 7 business
    # days later
    moved = date(2026, 12, 8)
    assert (outbox.status(db, waiting).offline_deadline, outbox.status(db, during).offline_deadline) == (moved, moved)
    texts = [e.description for e in outbox.history(db, waiting)]
    assert texts.count("Termin wysyłki przesunięty do 08.12.2026 (awaria KSeF)") == 1
    assert outbox.status(db, later).offline_deadline == date(2026, 11, 25)
    assert not any("przesunięty" in e.description for e in outbox.history(db, later))
    assert letters(db) == {waiting: "A", during: "A", later: "A"}
    assert all(a["offline"] for a in accepted(state)) and len(accepted(state)) == 3


def test_total_failure_lifts_the_deadline_and_none_is_counted_when_it_ends(app, db, company):
    import requests

    from ksef_local.sending.outages import NO_DEADLINE

    waiting, during = issue_many(db, 2)
    with rig(app) as r, requests.Session() as http:
        sender = _watching_latarnia(r, http)
        r.sim.faults(fault="503", count=10**6)
        outbox.enqueue(db, [waiting], r.clock(), reachable=False)
        assert outbox.status(db, waiting).offline_deadline == date(2026, 11, 25)
        r.sim.faults(fault="503", count=10**6, latarnia={"status": "TOTAL_FAILURE", "title": "Awaria całkowita KSeF"})
        sender.run_once()
        assert ksef_state.health(db).latarnia_status == "TOTAL_FAILURE"
        assert outbox.status(db, waiting).offline_deadline is None
        outbox.enqueue(db, [during], r.clock(), reachable=False)
        assert (outbox.status(db, during).offline_kind, outbox.status(db, during).offline_deadline) == \
            ("awaria_calkowita", None)
        r.clock.advance(2 * 24 * 3600)
        sender.run_once()
        r.sim.faults(latarnia="AVAILABLE")
        r.clock.advance(61)
        drive(sender, r.clock)
    assert (outbox.status(db, waiting).offline_deadline, outbox.status(db, during).offline_deadline) == (None, None)
    assert [e.description for e in outbox.history(db, waiting)].count(NO_DEADLINE) == 1
    assert letters(db) == {waiting: "A", during: "A"}
