"""KSeF answers about sessions (issue 11, items 3 and 4): "Brak sesji" (21173) must never become a resend
loop, and "Sesja tymczasowo niedostępna" (21184, API 2.8) sends the invoice in a new session.

The simulator's faults answer the invoice's POST with these 400s, before processing it (KSeF did not take
the invoice) or after (KSeF took it, the client hears "no session"): the second is how blind resending made
duplicates.
"""
from __future__ import annotations

from ksef_local import config
from ksef_local.sending.reconcile import STORAGE_LAG
from ksef_local.store import backup, outbox
from tests.sender_support import COMPANY_NIP, accepted, drive, issue_many, rig

SEND = {"method": "POST", "pathSuffix": "/invoices"}


def history(db, invoice_id: int) -> str:
    return "\n".join(r[0] for r in db.execute("SELECT description FROM ksef_events WHERE invoice_id = ? ORDER BY id",
                                              [invoice_id]))


def sends(state: dict) -> int:
    return state["requests"].get("invoiceSend", 0)


def test_no_session_answer_after_ksef_took_the_invoice_is_reconciled_in_its_session_not_resent(app, db, company):
    [invoice_id] = issue_many(db, 1)
    with rig(app) as r:
        outbox.enqueue(db, [invoice_id], r.clock(), reachable=True)
        r.sim.faults(fault="21173", count=1, afterProcessing=True, **SEND)
        sender = r.sender()
        drive(sender, r.clock, stop=lambda: outbox.status(db, invoice_id).error_title is not None)
        waiting = outbox.status(db, invoice_id)
        assert waiting.letter == "W" and waiting.error_title == "Brak sesji"
        assert "nic nie trzeba robić" in waiting.error_advice
        drive(sender, r.clock)
        state = r.sim.state()
    assert outbox.status(db, invoice_id).letter == "A" and outbox.status(db, invoice_id).error_title is None
    assert sends(state) == 1 and len(accepted(state)) == 1
    assert state["nips"][COMPANY_NIP]["duplicatesRefused"] == 0
    assert "odnaleziona w sesji KSeF po skrócie" in history(db, invoice_id)


def test_a_session_ksef_no_longer_knows_is_searched_in_the_whole_of_ksef_by_hash(app, db, company):
    """The POST and every later look into the session answer 21173: the metadata query (our NIP as the seller)
    finds the invoice by its hash and its KSeF number is kept; nothing is sent twice. Without its session
    KSeF gives no UPO, and the history says where to get it."""
    [invoice_id] = issue_many(db, 1)
    with rig(app) as r:
        outbox.enqueue(db, [invoice_id], r.clock(), reachable=True)
        r.sim.faults(fault="21173", share=1.0, afterProcessing=True, pathSuffix="/invoices")
        drive(r.sender(), r.clock)
        state = r.sim.state()
    row = outbox.current(db, invoice_id)
    assert row["letter"] == "A" and row["ksef_number"] == accepted(state)[0]["ksefNumber"]
    assert sends(state) == 1 and len(accepted(state)) == 1
    assert state["requests"]["invoiceMetadata"] >= 1 and state["requests"]["sessionList"] >= 1
    assert "odnaleziona w KSeF po skrócie" in history(db, invoice_id)
    assert "Aplikacji Podatnika KSeF" in history(db, invoice_id)


def test_ksef_that_keeps_answering_no_session_gets_few_posts_and_the_user_is_told(app, db, company):
    """Before: 19 duplicates of one invoice in 2 minutes. Now each POST is followed by a look into its session
    by hash, and the next POST comes later and later."""
    [invoice_id] = issue_many(db, 1)
    with rig(app) as r:
        outbox.enqueue(db, [invoice_id], r.clock(), reachable=True)
        r.sim.faults(fault="21173", share=1.0, **SEND)   # KSeF takes nothing and answers "Brak sesji"
        sender = r.sender()
        start = r.clock()
        drive(sender, r.clock, stop=lambda: (r.clock() - start).total_seconds() > 180)
        in_three_minutes = sends(r.sim.state())
        st = outbox.status(db, invoice_id)
        assert st.letter == "W" and st.error_title == "Brak sesji"
        drive(sender, r.clock, stop=lambda: (r.clock() - start).total_seconds() > 3 * STORAGE_LAG)
        in_half_an_hour = sends(r.sim.state())
        r.sim.faults()   # KSeF recovers
        drive(sender, r.clock)
        state = r.sim.state()
    assert in_three_minutes <= 3
    assert in_half_an_hour <= 8
    assert state["nips"][COMPANY_NIP]["duplicatesRefused"] == 0
    assert outbox.status(db, invoice_id).letter == "A" and len(accepted(state)) == 1
    assert "KSeF nie otrzymał faktury (nie ma jej w sesji" in history(db, invoice_id)


def test_session_temporarily_unavailable_sends_the_invoice_in_a_new_session(app, db, company):
    ids = issue_many(db, 2)
    with rig(app) as r:
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        r.sim.faults(fault="21184", count=1, **SEND)
        drive(r.sender(), r.clock)
        state = r.sim.state()
    assert {outbox.status(db, i).letter for i in ids} == {"A"}
    assert len(accepted(state)) == 2 and sends(state) == 3   # the refused POST, then both in a new session
    sessions = {a["session"] for a in accepted(state)}
    assert len(sessions) == 1 and state["requests"]["onlineSession"] == 2
    assert "chwilowo niedostępna (21184)" in history(db, ids[0])
    assert not db.execute("SELECT 1 FROM ksef_meta WHERE key = 'pause'").fetchone()


# -- restoring an older backup (item 6) --------------------------------------------------------------------

def restore_older_copy(app, db, r, ids):
    """Copy the database while ids wait (the first queued, the rest not), let them all reach A, then restore
    the copy: the database says again that none of them is in KSeF."""
    home = app.extensions["ksef_local"].home
    db_path, folder = config.database_path(home), backup.backups_dir(home)
    outbox.enqueue(db, ids[:1], r.clock(), reachable=True)
    copy = backup.make_backup(db_path, folder, r.clock(), "reczna")
    outbox.enqueue(db, ids[1:], r.clock(), reachable=True)
    drive(r.sender(), r.clock)
    numbers = {i: outbox.current(db, i)["ksef_number"] for i in ids}
    assert all(numbers.values()) and len(accepted(r.sim.state())) == len(ids)
    r.clock.advance(3600)
    backup.restore(db_path, copy, r.clock(), folder)
    assert outbox.status(db, ids[0]).letter == "W" and all(outbox.status(db, i) is None for i in ids[1:])
    return numbers


def test_restoring_an_older_backup_finds_invoices_in_ksef_by_hash_instead_of_posting_them_again(app, db, company):
    ids = issue_many(db, 3)
    with rig(app) as r:
        numbers = restore_older_copy(app, db, r, ids)
        posts_before = sends(r.sim.state())
        outbox.enqueue(db, ids[1:], r.clock(), reachable=True)   # the copy says they were never sent
        [new_one] = issue_many(db, 1)                             # issued after the restore: nothing to check
        outbox.enqueue(db, [new_one], r.clock(), reachable=True)
        drive(r.sender(), r.clock)
        state = r.sim.state()
    for invoice_id in ids:
        row = outbox.current(db, invoice_id)
        assert (row["letter"], row["ksef_number"]) == ("A", numbers[invoice_id]) and row["upo"]
        assert "odnaleziona w KSeF po skrócie" in history(db, invoice_id)
    assert outbox.current(db, new_one)["letter"] == "A"
    assert sends(state) == posts_before + 1   # only the new invoice was posted
    assert state["nips"][COMPANY_NIP]["duplicatesRefused"] == 0 and len(accepted(state)) == 4


def test_without_permission_to_read_invoices_the_duplicate_check_ends_it_well(app, db, company):
    """A login allowed to send but not to read invoices (no InvoiceRead): the search is refused (403
    missing-permissions); the queue does not pause, the invoice is sent again after KSeF's storage lag and
    KSeF's duplicate answer (440) gives the original KSeF number."""
    ids = issue_many(db, 1)
    with rig(app) as r:
        numbers = restore_older_copy(app, db, r, ids)
        r.token = r.sim.create_token(COMPANY_NIP, ["InvoiceWrite"])
        sender = r.sender()
        drive(sender, r.clock)
        state = r.sim.state()
    row = outbox.current(db, ids[0])
    assert (row["letter"], row["ksef_number"]) == ("A", numbers[ids[0]])
    assert len(accepted(state)) == 1 and state["nips"][COMPANY_NIP]["duplicatesRefused"] == 1
    assert "Nie można sprawdzić w KSeF" in history(db, ids[0])
    assert not db.execute("SELECT 1 FROM ksef_meta WHERE key = 'pause'").fetchone()
