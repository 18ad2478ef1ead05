"""The purchase store on real SQLite files: migration 10, exact bytes checked against invoiceHash, the list's
filters, one purchase with its lines, paid and seen marks, the sync's resume point and owed downloads."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ksef_local.errors import NotFound
from ksef_local.store import db as dbmod
from ksef_local.store import purchase_sync, purchases, tasks
from ksef_local.store.purchase_sync import SyncKey
from tests.purchase_support import ACCOUNT, RECEIVED, SELLER, ksef_number, metadata_for, purchase_xml

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
KEY = SyncKey("demo", "5261040828", "Subject2")


def add(db, n: int, *, number: str | None = None, seller=SELLER, received=RECEIVED, **xml_options) -> int:
    number = number or f"FV/{n}/11/2026"
    xml = purchase_xml(number, seller=seller, **xml_options)
    row = purchases.purchase_row(xml, metadata_for(xml, ksef_number(n, seller.nip), received=received,
                                                   number=number, seller_nip=seller.nip),
                                 environment="demo", context_nip="5261040828", subject="Subject2", now=NOW)
    with dbmod.write(db):
        assert purchases.insert(db, row)
    return purchases.id_by_ksef_number(db, row["ksef_number"])


def test_migration_10_keeps_the_tasks_and_accepts_the_new_kind(tmp_path):
    database = dbmod.connect(tmp_path / "a.sqlite3")
    dbmod.migrate(database, target=9)
    database.execute("INSERT INTO ksef_tasks (kind, state, created_at, updated_at) VALUES"
                     " ('renewal', 'done', 'x', 'x')")
    assert dbmod.migrate(database) == 10
    assert [r["kind"] for r in database.query("SELECT kind FROM ksef_tasks")] == ["renewal"]
    assert {"purchases", "purchase_downloads", "purchase_sync"} <= set(database.table_names())
    task_id = purchase_sync.request_sync(database, NOW)
    assert tasks.get(database, task_id).kind == "purchases_sync"
    # the certificates' worker never takes it; the purchase sync does
    assert tasks.next_queued(database, ("signed_login", "connection_test", "renewal")) is None
    assert tasks.next_queued(database, ("purchases_sync",))[0].id == task_id


def test_a_purchase_is_read_from_its_exact_bytes(db):
    purchase_id = add(db, 1)
    row = purchases.get_purchase(db, purchase_id)
    assert (row["number"], row["seller_nip"], row["seller_name"]) == ("FV/1/11/2026", "7740001454", SELLER.name)
    # 10 × 21.50 at 23 % + 2 × 18.90 at 5 %
    assert (row["net_total"], row["vat_total"], row["gross_total"]) == (25280, 5134, 30414)
    assert row["vat_pln"] == row["vat_total"] and row["currency"] == "PLN"
    assert (row["issue_date"], row["due_date"], row["bank_account"]) == ("2026-11-20", "2026-12-04", ACCOUNT)
    assert row["received_at"].startswith("2026-11-20T10:00:00") and row["received_day"] == "2026-11-20"
    assert row["paid"] == 0 and row["seen_at"] is None
    assert purchases.xml_bytes(db, purchase_id) == purchase_xml("FV/1/11/2026")
    document = purchases.document(db, purchase_id)
    assert [line.name for line in document.printable.lines] == ["Papier A4", "Katalog"]
    assert document.printable.payment.accounts[0][0] == ACCOUNT


def test_bytes_that_do_not_match_invoice_hash_are_refused(db):
    xml = purchase_xml()
    metadata = metadata_for(xml, ksef_number(1))
    with pytest.raises(purchases.PurchaseRejected, match="invoiceHash"):
        purchases.purchase_row(xml + b" ", metadata, environment="demo", context_nip="5261040828",
                               subject="Subject2", now=NOW)
    assert db.execute("SELECT count(*) FROM purchases").fetchone()[0] == 0


def test_a_ksef_number_is_stored_once(db):
    add(db, 1)
    xml = purchase_xml("FV/1/11/2026")
    row = purchases.purchase_row(xml, metadata_for(xml, ksef_number(1)), environment="demo",
                                 context_nip="5261040828", subject="Subject3", now=NOW)
    with dbmod.write(db):
        assert purchases.insert(db, row) is False
    assert db.execute("SELECT count(*) FROM purchases").fetchone()[0] == 1


def test_an_invoice_the_seller_marked_paid_arrives_paid(db):
    purchase_id = add(db, 1, paid=True, pay_days=None)
    row = purchases.get_purchase(db, purchase_id)
    assert (row["paid"], row["paid_date"], row["due_date"]) == (1, "2026-11-20", None)


def test_list_filters_search_and_sorts(db):
    other = SELLER.__class__(name="ŁÓDŹ Serwis Komputerowy", nip="9462631745", address_l1="ul. Długa 1")
    first = add(db, 1, received=datetime(2026, 10, 31, 23, 30, tzinfo=timezone.utc))   # 1.11 in Warsaw
    second = add(db, 2, seller=other, received=datetime(2026, 10, 15, 8, 0, tzinfo=timezone.utc))
    third = add(db, 3, received=datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc))
    purchases.mark_paid(db, third, date(2026, 11, 22))

    def ids(**filters) -> list[int]:
        rows, total = purchases.list_purchases(db, **filters)
        assert total == len(rows)
        return [r["id"] for r in rows]

    assert ids() == [third, first, second]                          # newest received first
    assert ids(month="2026-11") == [third, first]                   # by the Warsaw day KSeF received it
    assert ids(month="2026-10") == [second]
    assert ids(month="2026-11", month_of="issued") == [third, first, second]   # all issued 20.11
    assert ids(seller_nip="9462631745") == [second]
    assert ids(paid=True) == [third] and ids(paid=False) == [first, second]
    assert ids(q="łódź serwis") == [second]                          # case folded, Polish letters too
    assert ids(q="946-263-17-45") == [second]                        # a NIP typed with dashes
    assert ids(q="FV/3") == [third]
    assert ids(q=ksef_number(1)[:14].lower()) == [third, first]
    assert ids(sort="brutto", desc=False)[0] in (first, second, third)
    assert ids(environment="PROD") == []
    rows, total = purchases.list_purchases(db, per_page=2, page=2)
    assert (total, [r["id"] for r in rows]) == (3, [second])
    assert [s["nip"] for s in purchases.sellers(db)] == ["7740001454", "9462631745"]


def test_paid_and_seen_marks(db):
    one, two = add(db, 1), add(db, 2)
    assert purchases.count_new(db) == 2
    assert purchases.mark_seen(db, NOW, [one]) == 1
    assert purchases.count_new(db) == 1
    assert purchases.mark_seen(db, NOW) == 1 and purchases.count_new(db) == 0
    purchases.mark_paid(db, two, date(2026, 11, 30))
    assert purchases.get_purchase(db, two)["paid_date"] == "2026-11-30"
    purchases.mark_paid(db, two, None)
    assert (purchases.get_purchase(db, two)["paid"], purchases.get_purchase(db, two)["paid_date"]) == (0, None)
    with pytest.raises(NotFound, match="zakupowej"):
        purchases.mark_paid(db, 999, date(2026, 11, 30))
    with pytest.raises(NotFound):
        purchases.get_purchase(db, 999)


def test_a_page_owes_downloads_for_unknown_numbers_only_and_moves_the_resume_point(db):
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    position = purchase_sync.position(db, KEY, start, NOW)
    assert (position.cursor, position.page_offset, position.in_cycle) == (start, 0, False)
    add(db, 1)
    page = [metadata_for(purchase_xml(f"FV/{n}/11/2026"), ksef_number(n)) for n in (1, 2, 3)]
    purchase_sync.begin_cycle(db, KEY, NOW)
    moved_to = datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert purchase_sync.record_page(db, KEY, page, NOW, cursor=moved_to, page_offset=0, done=True) == 2
    assert purchase_sync.record_page(db, KEY, page, NOW, cursor=moved_to, done=True) == 0   # again: nothing new
    assert purchases.known_numbers(db, [ksef_number(n) for n in (1, 2, 3, 4)]) == {ksef_number(n) for n in (1, 2, 3)}
    position = purchase_sync.position(db, KEY, start, NOW)
    assert position.cursor == moved_to and not position.in_cycle
    owed = purchase_sync.next_download(db, "demo", "5261040828", NOW)
    assert owed.ksef_number in (ksef_number(2), ksef_number(3))
    purchase_sync.download_failed(db, owed.ksef_number, NOW, timedelta(hours=1), "Faktura uszkodzona", "Ponowimy.")
    status = purchase_sync.status(db)
    assert status.pending == 2 and [f["ksef_number"] for f in status.failed] == [owed.ksef_number]
    # an earlier start reads again from there; the known numbers stay known
    earlier = datetime(2026, 8, 1, tzinfo=timezone.utc)
    assert purchase_sync.position(db, KEY, earlier, NOW).cursor == earlier
    assert purchase_sync.position(db, KEY, start, NOW).cursor == earlier   # a later start changes nothing
