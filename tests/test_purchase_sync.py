"""The purchase sync in the sender, against the simulator over real HTTP with a fake clock: one by one for a
few invoices, an export for many, paging and truncated answers, Subject3, the 15-minute rhythm, "Pobierz
teraz", damaged bytes, no InvoiceRead, KSeF down and 429 in the middle — never a gap, never a duplicate."""
from __future__ import annotations

import base64
from datetime import date, timedelta

from ksef_local.ksef import crypto
from ksef_local.store import ksef_state, outbox, purchase_sync, purchases, tasks
from tests.ksef_support import SELLER_NIP, deliver, receiving_xml
from tests.purchase_support import busy, settle, stored
from tests.sender_support import COMPANY_NIP, drive, issue_many, letters, rig


def deliver_many(r, n: int, *, start: int = 1, days_back: float = 5.0, **xml_options) -> dict[str, bytes]:
    """n purchase invoices to the company, accepted a minute apart some days ago; KSeF number → bytes."""
    sent = {}
    for k in range(start, start + n):
        xml = receiving_xml(f"ZAK/{k}/2026", buyer_nip=COMPANY_NIP, **xml_options)
        accepted = r.clock() - timedelta(days=days_back) + timedelta(minutes=k)
        sent[deliver(r.sim, xml, acceptedAt=accepted.isoformat())["ksefNumber"]] = xml
    return sent


def requests_of(r) -> dict:
    return dict(r.sim.state()["requests"])


def test_a_few_invoices_come_one_by_one_and_a_second_sync_adds_nothing(app, db, company):
    with rig(app) as r:
        sent = deliver_many(r, 3)
        sender = r.sender(purchases=True)
        settle(sender, r.clock)
        assert stored(db) == sent                                   # the exact bytes, each once
        used = requests_of(r)
        assert used["invoiceDownload"] == 3 and used.get("invoiceExport", 0) == 0
        rows, total = purchases.list_purchases(db)
        assert total == 3 and {row["seller_nip"] for row in rows} == {SELLER_NIP}
        assert all(row["subject"] == "Subject2" and row["received_at"] for row in rows)
        # "Pobierz teraz": one query per subject, no download
        task_id = purchase_sync.request_sync(db, r.clock())
        settle(sender, r.clock)
        again = requests_of(r)
        assert again["invoiceDownload"] == used["invoiceDownload"]
        assert again["invoiceMetadata"] == used["invoiceMetadata"] + 2
        task = tasks.get(db, task_id)
        assert (task.state, task.result_title) == ("done", "Brak nowych faktur zakupowych")
        assert stored(db) == sent


def test_many_unknown_invoices_come_in_one_export(app, db, company):
    with rig(app) as r:
        sent = deliver_many(r, 40)
        sender = r.sender(purchases=True)
        settle(sender, r.clock)
        assert stored(db) == sent
        used = requests_of(r)
        assert used["invoiceExport"] == 1 and used.get("invoiceDownload", 0) == 0
        assert used["invoiceMetadata"] == 2   # one page per subject


def test_paging_and_a_truncated_answer_narrow_the_window_without_a_gap(app, db, company):
    with rig(app, result_cap=12) as r:
        sent = deliver_many(r, 30)
        sender = r.sender(purchases=True, purchase_options={"export_above": 10_000})
        settle(sender, r.clock)
        assert stored(db) == sent
        assert requests_of(r)["invoiceDownload"] == 30


def test_a_truncated_export_continues_from_its_last_invoice(app, db, company):
    with rig(app, result_cap=15) as r:
        sent = deliver_many(r, 40)
        sender = r.sender(purchases=True, purchase_options={"export_above": 0})
        settle(sender, r.clock)
        assert stored(db) == sent
        assert requests_of(r)["invoiceExport"] >= 3


def test_the_company_as_third_party_and_the_background_rhythm(app, db, company):
    with rig(app) as r:
        third = receiving_xml("ZAK/P3/2026", third=((f"<NIP>{COMPANY_NIP}</NIP>", "6"),))
        number = deliver(r.sim, third, acceptedAt=(r.clock() - timedelta(days=2)).isoformat())["ksefNumber"]
        sender = r.sender(purchases=True)
        settle(sender, r.clock)
        assert stored(db) == {number: third}
        assert purchases.get_purchase(db, purchases.id_by_ksef_number(db, number))["subject"] == "Subject3"
        # no new query before 15 minutes have passed, then one per subject
        used = requests_of(r)["invoiceMetadata"]
        r.clock.advance(14 * 60)
        while sender.run_once():
            pass
        assert requests_of(r)["invoiceMetadata"] == used
        r.clock.advance(61)
        settle(sender, r.clock)
        assert requests_of(r)["invoiceMetadata"] == used + 2


def test_an_earlier_start_reads_older_months_without_downloading_twice(app, db, company):
    with rig(app) as r:
        recent = deliver_many(r, 2)
        old = deliver_many(r, 2, start=10, days_back=100)
        sender = r.sender(purchases=True)
        settle(sender, r.clock)
        assert stored(db) == recent                  # the first sync: this and the previous month
        purchase_sync.set_sync_start(db, date(2026, 7, 1), r.clock())
        purchase_sync.request_sync(db, r.clock())
        settle(sender, r.clock)
        assert stored(db) == recent | old
        assert requests_of(r)["invoiceDownload"] == 4


def test_damaged_bytes_are_not_stored_the_user_is_told_and_a_later_try_stores_them(app, db, company):
    with rig(app) as r:
        sent = deliver_many(r, 2)
        victim = next(iter(sent))
        original = r.sim.sim.ctx.store.get("received-xml", victim)
        r.sim.sim.ctx.store.put("received-xml", victim, {"xml": base64.b64encode(sent[victim] + b" ").decode()})
        sender = r.sender(purchases=True)
        settle(sender, r.clock)
        assert set(stored(db)) == set(sent) - {victim}
        [failed] = purchase_sync.status(db).failed
        assert failed["ksef_number"] == victim
        assert failed["error_title"] == "Pobrana faktura zakupowa jest niezgodna z KSeF"
        assert "x-ms-meta-hash" in failed["error_detail"]
        r.sim.sim.ctx.store.put("received-xml", victim, original)   # KSeF serves it right again
        r.clock.advance(2 * 3600)
        settle(sender, r.clock)
        assert stored(db) == sent and purchase_sync.status(db).failed == []


def test_without_invoice_read_the_user_is_told_and_sending_goes_on(app, db, company):
    ids = issue_many(db, 1)
    with rig(app) as r:
        r.token = r.sim.create_token(COMPANY_NIP, ["InvoiceWrite"])
        deliver_many(r, 2)
        sender = r.sender(purchases=True)
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        task_id = purchase_sync.request_sync(db, r.clock())
        drive(sender, r.clock)
        settle(sender, r.clock)
        assert letters(db) == {ids[0]: "A"} and not ksef_state.is_paused(db)
        task = tasks.get(db, task_id)
        assert (task.state, task.result_title) == ("failed", "Brak uprawnienia do odczytu faktur")
        assert "InvoiceRead" in task.result_advice and COMPANY_NIP in task.result_advice
        status = purchase_sync.status(db)
        assert status.problem_title == "Brak uprawnienia do odczytu faktur" and stored(db) == {}
        # the problem does not make the sync hammer KSeF: the next try waits for the interval
        used = requests_of(r)["invoiceMetadata"]
        r.clock.advance(60)
        sender.run_once()
        assert requests_of(r)["invoiceMetadata"] == used


def test_ksef_down_and_429_in_the_middle_leave_no_gap_and_no_duplicate(app, db, company):
    with rig(app, limits="prod") as r:
        sent = deliver_many(r, 12)
        generous = {group: (1000, 100000, 1000000) for group in ksef_state.PRD_LIMITS}
        sender = r.sender(purchases=True, limits=generous)   # it forgets its budget: KSeF answers 429
        steps = {"n": 0}

        def storm() -> bool:
            steps["n"] += 1
            if steps["n"] == 4:
                r.sim.faults(fault="503", count=6)
            return False

        settle(sender, r.clock, stop=storm)
        assert stored(db) == sent
        assert db.execute("SELECT count(*) FROM purchases").fetchone()[0] == 12
        state = r.sim.state()
        assert state["requests"]["invoiceDownload"] > 12 or state["requests"]["invoiceMetadata"] > 2


def test_a_corrupted_invoice_hash_in_the_metadata_is_refused_too(app, db, company):
    with rig(app) as r:
        sent = deliver_many(r, 1)
        [number] = sent
        record = r.sim.sim.ctx.store.get("received", number)
        record["metadata"]["invoiceHash"] = crypto.sha256_b64(b"something else")
        r.sim.sim.ctx.store.put("received", number, record)
        sender = r.sender(purchases=True)
        settle(sender, r.clock)
        assert stored(db) == {}
        assert purchase_sync.status(db).failed[0]["error_title"] == "Pobrana faktura zakupowa jest niezgodna z KSeF"
        assert not busy(sender, db, r.clock())


def test_the_screens_status_says_when_the_sync_last_caught_up(app, db, company):
    with rig(app) as r:
        deliver_many(r, 1)
        purchase_sync.set_problem(db, r.clock(), "Stary problem", "Już nieaktualny.")
        sender = r.sender(purchases=True)
        settle(sender, r.clock)
        status = purchase_sync.status(db)
        assert status.last_done_at is not None and status.problem_title is None and status.pending == 0
