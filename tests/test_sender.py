"""The sender against the simulator over real HTTP on 127.0.0.1, driven by run_once() on a fake clock."""
from __future__ import annotations

import hashlib

from lxml import etree

from ksef_local.store import db as dbmod
from ksef_local.store import invoices, outbox
from tests.factories import NOW
from tests.ksef_support import invoice_xml
from tests.sender_support import COMPANY_NIP, accepted, drive, issue_many, letters, rig

UPO_NS = "{http://upo.schematy.mf.gov.pl/KSeF/v4-3}"


def test_three_invoices_reach_a_with_upo_history_and_one_copy_each_in_ksef(app, db, company):
    ids = issue_many(db, 3)
    with rig(app) as r:
        assert outbox.enqueue(db, ids, r.clock(), reachable=True).queued == ids
        drive(r.sender(), r.clock)
        state = r.sim.state()
    assert letters(db) == {i: "A" for i in ids}
    numbers = sorted(invoices.get_invoice(db, i)["number"] for i in ids)
    assert sorted(a["invoiceNumber"] for a in accepted(state)) == numbers
    for invoice_id in ids:
        st = outbox.status(db, invoice_id)
        row = invoices.get_invoice(db, invoice_id)
        assert st.letter == "A" and st.ksef_number and row["ksef_number"] == st.ksef_number
        assert st.invoicing_mode == "Online" and not st.offline_mode
        upo = etree.fromstring(outbox.upo(db, invoice_id))
        assert upo.findtext(f"{UPO_NS}Dokument/{UPO_NS}NumerKSeFDokumentu") == st.ksef_number
        events = outbox.history(db, invoice_id)
        assert [e.letter for e in events][0] == "W" and events[-1].letter == "A"
        assert "O" in [e.letter for e in events]
        assert any(e.code == 200 and e.ksef_number == st.ksef_number and e.letter == "O" for e in events)
    assert outbox.pending_count(db) == 0
    assert db.execute("SELECT COUNT(*) FROM ksef_sessions WHERE state = 'open'").fetchone()[0] == 0
    assert len({a["session"] for a in accepted(state)}) == 1  # one online session for the burst


def test_lost_answer_is_reconciled_by_hash_without_a_second_post(app, db, company):
    ids = issue_many(db, 2)
    with rig(app) as r:
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        r.sim.faults(fault="drop", count=1, afterProcessing=True, pathPrefix="/v2/sessions/online/")
        sender = r.sender()
        # open the session, then the first POST …/invoices is processed but its answer is lost
        while outbox.status(db, ids[0]).state != "unknown":
            assert sender.run_once()
        assert outbox.status(db, ids[0]).letter == "W"
        drive(sender, r.clock)
        state = r.sim.state()
    assert letters(db) == {i: "A" for i in ids}
    assert len(accepted(state)) == 2 and state["nips"][COMPANY_NIP]["duplicatesRefused"] == 0
    assert state["requests"]["invoiceSend"] == 2
    texts = [e.description for e in outbox.history(db, ids[0])]
    assert any("Brak odpowiedzi" in t for t in texts) and any("odnaleziona" in t for t in texts)


def test_440_for_our_own_invoice_means_accepted_with_the_original_number(app, db, company):
    invoice_id = issue_many(db, 1)[0]
    xml = bytes(invoices.get_invoice(db, invoice_id)["xml"])
    with rig(app) as r:
        # an earlier run (or another copy of the data) already sent these very bytes
        client = r.make_client()
        session = client.open_online_session()
        sent = client.send_invoice(session, xml)
        r.clock.advance(5)
        original = client.invoice_status(session.reference_number, sent.reference_number)
        assert original.code == 200
        outbox.enqueue(db, [invoice_id], r.clock(), reachable=True)
        drive(r.sender(), r.clock)
        state = r.sim.state()
    st = outbox.status(db, invoice_id)
    assert (st.letter, st.ksef_number, st.session_ref) == ("A", original.ksef_number, session.reference_number)
    assert outbox.upo(db, invoice_id) is not None
    assert len(accepted(state)) == 1 and state["nips"][COMPANY_NIP]["duplicatesRefused"] == 1
    assert any(e.code == 440 or "440" in e.description for e in outbox.history(db, invoice_id))


def test_440_for_another_document_with_the_same_number_is_b_with_the_reason(app, db, company):
    invoice_id = issue_many(db, 1)[0]
    number = invoices.get_invoice(db, invoice_id)["number"]
    with rig(app) as r:
        client = r.make_client()
        session = client.open_online_session()
        other = client.send_invoice(session, invoice_xml(number, seller_nip=COMPANY_NIP, issue_date=NOW.date()))
        r.clock.advance(5)
        assert client.invoice_status(session.reference_number, other.reference_number).code == 200
        outbox.enqueue(db, [invoice_id], r.clock(), reachable=True)
        drive(r.sender(), r.clock)
    st = outbox.status(db, invoice_id)
    assert st.letter == "B" and invoices.get_invoice(db, invoice_id)["ksef_status"] == "B"
    assert st.error_title.startswith(f"Numer faktury {number} został już użyty w KSeF dla innej faktury")
    assert "Kod KSeF: 440" in st.error_detail and st.ksef_number is None


def test_430_rejects_only_that_invoice_and_the_others_reach_a(app, db, company):
    ids = issue_many(db, 3)
    broken = invoices.get_invoice(db, ids[1])
    bad_xml = bytes(broken["xml"]).replace(b"<P_15>", b"<Nieznany>1</Nieznany><P_15>", 1)
    with dbmod.write(db):  # an imported invoice whose XML the XSD refuses
        db.execute("UPDATE invoices SET source = 'import', xml = ?, xml_sha256 = ? WHERE id = ?",
                   [bad_xml, hashlib.sha256(bad_xml).hexdigest(), ids[1]])
    with rig(app) as r:
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        drive(r.sender(), r.clock)
    assert letters(db) == {ids[0]: "A", ids[1]: "B", ids[2]: "A"}
    st = outbox.status(db, ids[1])
    assert "430" in st.error_detail and st.error_title and st.error_advice
    assert outbox.history(db, ids[1])[-1].code == 430

