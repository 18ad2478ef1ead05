"""The outbox without a network: enqueue rules, offline flags, letters in sync, history, refresh, budget."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from ksef_local.store import db as dbmod
from ksef_local.store import invoices, ksef_state, outbox
from tests.factories import NOW, TODAY, draft, issued


def test_enqueue_queues_issued_and_refuses_drafts(db, company):
    first, second, sketch = issued(db), issued(db), draft(db)
    result = outbox.enqueue(db, [first, second, sketch], NOW, reachable=True)
    assert result.queued == [first, second]
    assert result.refused == {sketch: outbox.DRAFT_REFUSED}
    assert invoices.get_invoice(db, first)["ksef_status"] == "W"
    st = outbox.status(db, first)
    assert (st.letter, st.state, st.offline_mode, st.offline_deadline) == ("W", "queued", False, None)
    assert outbox.pending_count(db) == 2
    assert [e.letter for e in outbox.history(db, first)] == ["W"]


def test_each_invoice_is_sent_only_once(db, company):
    invoice_id = issued(db)
    outbox.enqueue(db, [invoice_id], NOW, reachable=True)
    again = outbox.enqueue(db, [invoice_id], NOW, reachable=True)
    number = invoices.get_invoice(db, invoice_id)["number"]
    assert again.queued == [] and again.waiting == [invoice_id]
    assert again.refused[invoice_id] == (f"Faktura {number} czeka już w kolejce do KSeF (W) i wyśle się sama – nie "
                                         "trzeba jej dodawać ponownie.")
    assert db.execute("SELECT COUNT(*) FROM ksef_outbox").fetchone()[0] == 1
    with dbmod.write(db):   # once KSeF holds it (O), the answer says it was sent
        outbox.transition(db, outbox.current(db, invoice_id)["id"], NOW, "sent", None, invoice_ref="E1")
    sent = outbox.enqueue(db, [invoice_id], NOW, reachable=True)
    assert sent.waiting == [] and sent.refused[invoice_id] == (
        f"Faktura {number} została już wysłana do KSeF – każdą fakturę można wysłać tylko raz.")
    assert db.execute("SELECT COUNT(*) FROM ksef_outbox").fetchone()[0] == 1


def test_issue_date_before_today_is_offline24_with_deadline(db, company):
    invoice_id = issued(db)
    later = NOW + timedelta(days=1)   # Wednesday 2026-11-25: P_1 (Tuesday) is earlier than the sending day
    outbox.enqueue(db, [invoice_id], later, reachable=True)
    st = outbox.status(db, invoice_id)
    assert (st.offline_mode, st.offline_kind, st.offline_deadline) == (True, "offline24", date(2026, 11, 25))
    assert "offline24" in outbox.history(db, invoice_id)[0].description


def test_unreachable_ksef_marks_offline_by_latarnia(db, company):
    plain, maintenance, failure = issued(db), issued(db), issued(db)
    outbox.enqueue(db, [plain], NOW, reachable=False)
    with dbmod.write(db):
        ksef_state.set_meta(db, "latarnia", {"status": "MAINTENANCE"})
    outbox.enqueue(db, [maintenance], NOW, reachable=False)
    with dbmod.write(db):
        ksef_state.set_meta(db, "latarnia", {"status": "FAILURE"})
    outbox.enqueue(db, [failure], NOW, reachable=False)
    kinds = {i: (outbox.status(db, i).offline_kind, outbox.status(db, i).offline_deadline)
             for i in (plain, maintenance, failure)}
    # offline24: the next business day after P_1; the others are counted once the outage has ended
    assert kinds == {plain: ("offline24", TODAY + timedelta(days=1)), maintenance: ("offline", None),
                     failure: ("awaryjny", None)}


def test_open_circuit_counts_as_unreachable_when_reachable_is_not_given(db, company):
    invoice_id = issued(db)
    with dbmod.write(db):
        ksef_state.set_meta(db, "circuit", {"failures": 5, "opens": 1,
                                            "open_until": dbmod.iso(NOW + timedelta(minutes=1))})
    outbox.enqueue(db, [invoice_id], NOW)
    assert outbox.status(db, invoice_id).offline_kind == "offline24"
    assert ksef_state.health(db).circuit_open


def _reject(db, invoice_id):
    r = outbox.current(db, invoice_id)
    with dbmod.write(db):
        outbox.transition(db, r["id"], NOW, "rejected", "KSeF odrzucił fakturę: 450", code=450, ksef_code=450,
                          error_title="Odrzucona", error_advice="Popraw", error_detail="Kod KSeF: 450")


def test_rejected_invoice_may_be_corrected_and_enqueued_again_with_history_kept(db, company):
    invoice_id = issued(db)
    outbox.enqueue(db, [invoice_id], NOW, reachable=True)
    _reject(db, invoice_id)
    assert invoices.get_invoice(db, invoice_id)["ksef_status"] == "B"
    old_sha = invoices.get_invoice(db, invoice_id)["xml_sha256"]
    invoices.reopen_rejected(db, invoice_id)
    invoices.save_draft(db, invoice_id, __import__("tests.factories", fromlist=["form"]).form(
        [{"name": "Poprawiona pozycja", "quantity": "2", "unit_price": "10"}]))
    invoices.issue(db, invoice_id, TODAY, NOW)
    assert invoices.get_invoice(db, invoice_id)["xml_sha256"] != old_sha
    result = outbox.enqueue(db, [invoice_id], NOW, reachable=True)
    assert result.queued == [invoice_id]
    st = outbox.status(db, invoice_id)
    assert st.letter == "W" and st.error_title is None
    assert outbox.current(db, invoice_id)["xml_sha256"] == invoices.get_invoice(db, invoice_id)["xml_sha256"]
    assert [e.letter for e in outbox.history(db, invoice_id)] == ["W", "B", "W"]
    assert "ponowna" in outbox.history(db, invoice_id)[-1].description


def test_rejected_imported_invoice_can_be_enqueued_again_directly(db, company):
    invoice_id = issued(db)
    outbox.enqueue(db, [invoice_id], NOW, reachable=True)
    _reject(db, invoice_id)
    assert outbox.enqueue(db, [invoice_id], NOW, reachable=True).queued == [invoice_id]


def test_statuses_and_refresh_progress(db, company):
    ids = [issued(db) for _ in range(3)]
    outbox.enqueue(db, ids, NOW, reachable=True)
    for invoice_id in ids[:2]:
        r = outbox.current(db, invoice_id)
        with dbmod.write(db):
            outbox.transition(db, r["id"], NOW, "sent", "wysłano", session_ref="S", invoice_ref=f"E{invoice_id}")
    assert {i: s.letter for i, s in outbox.statuses(db, ids).items()} == {ids[0]: "O", ids[1]: "O", ids[2]: "W"}
    assert outbox.request_refresh(db, None, NOW) == 2
    assert outbox.refresh_progress(db) == (0, 2)
    with dbmod.write(db):
        outbox.mark_checked(db, outbox.current(db, ids[0])["id"])
    assert outbox.refresh_progress(db) == (1, 2)
    assert outbox.request_refresh(db, [ids[1]], NOW) == 1
    assert outbox.refresh_progress(db) == (0, 1)


def test_pause_and_resume(db, company):
    woken = []
    ksef_state.pause(db, NOW, "Token unieważniony", "Wygeneruj nowy token.")
    h = ksef_state.health(db)
    assert (h.paused, h.pause_title) == (True, "Token unieważniony")
    ksef_state.resume(db, wake=lambda: woken.append(1))
    assert not ksef_state.health(db).paused and woken == [1]


def test_budget_counts_requests_per_window_and_persists(db, company, app):
    limits = {"invoiceSend": (2, 3, 100)}
    for seconds in (0, 0.1):
        ksef_state.record_request(db, "invoiceSend", NOW + timedelta(seconds=seconds))
    assert ksef_state.budget_wait(db, "invoiceSend", NOW + timedelta(seconds=0.2), limits) == pytest.approx(0.8,
                                                                                                            abs=1e-6)
    ksef_state.record_request(db, "invoiceSend", NOW + timedelta(seconds=2))
    fresh = dbmod.connect(app.extensions["ksef_local"].databases.path)  # another connection: the state is in SQLite
    assert abs(ksef_state.budget_wait(fresh, "invoiceSend", NOW + timedelta(seconds=3), limits) - 57.0) < 1e-6
    fresh.conn.close()


def test_offline_waiting_lists_offline_invoices_not_yet_in_ksef_soonest_deadline_first(db, company):
    online, sooner, later, sent, done, retried, undated = [issued(db) for _ in range(7)]
    outbox.enqueue(db, [online], NOW, reachable=True)
    outbox.enqueue(db, [later, sooner, sent, done, retried], NOW, reachable=False)   # offline24, due 2026-11-25

    def move(invoice_id, state, **fields):
        with dbmod.write(db):
            outbox.transition(db, outbox.current(db, invoice_id)["id"], NOW, state, None, **fields)

    move(later, "queued", offline_deadline="2026-12-08")   # moved by a failure
    move(sent, "sent", session_ref="S", invoice_ref="E1")
    move(done, "done", ksef_number="K")
    _reject(db, retried)
    outbox.enqueue(db, [retried], NOW, reachable=True)   # the new attempt is online: no deadline
    with dbmod.write(db):
        ksef_state.set_meta(db, "latarnia", {"status": "MAINTENANCE"})
    outbox.enqueue(db, [undated], NOW, reachable=False)   # "offline": counted once the outage ends
    number = {i: invoices.get_invoice(db, i)["number"] for i in (sooner, later)}
    # `sent` (O) is left out: KSeF has it, which is all the deadline asks for.
    assert outbox.offline_waiting(db) == [
        outbox.OfflineWaiting(sooner, number[sooner], "offline24", date(2026, 11, 25)),
        outbox.OfflineWaiting(later, number[later], "offline24", date(2026, 12, 8))]


def test_offline_waiting_is_empty_without_offline_invoices(db, company):
    outbox.enqueue(db, [issued(db)], NOW, reachable=True)
    assert outbox.offline_waiting(db) == []
