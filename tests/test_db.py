"""Schema, migrations, transactions and per-thread connections on real SQLite files."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from ksef_local.store import db as dbmod
from ksef_local.store import invoice_list, migrations, parties


def test_migrate_from_empty_creates_every_table(tmp_path):
    database = dbmod.connect(tmp_path / "a.sqlite3")
    assert dbmod.migrate(database) == len(dbmod.MIGRATIONS)
    assert {"company", "buyers", "invoices", "invoice_lines", "used_numbers", "number_counters",
            "invoices_fts"} <= set(database.table_names())
    assert dbmod.schema_version(database) == len(dbmod.MIGRATIONS)


def test_migrate_is_idempotent(tmp_path):
    database = dbmod.connect(tmp_path / "a.sqlite3")
    dbmod.migrate(database)
    assert dbmod.migrate(database) == len(dbmod.MIGRATIONS)


def test_migrate_from_previous_schema_keeps_data(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = dbmod.connect(path)
    dbmod.migrate(old, target=len(dbmod.MIGRATIONS) - 1)
    old.execute(
        "INSERT INTO buyers (kind, name, nip, address_l1, search_key, created_at, updated_at)"
        " VALUES ('company', 'Łódzka Hurtownia', '7740001454', 'ul. Piotrkowska 1', 'łódzka hurtownia', 'x', 'x')")
    old.conn.close()

    reopened = dbmod.connect(path)
    assert dbmod.migrate(reopened) == len(dbmod.MIGRATIONS)
    rows = list(reopened.query("SELECT name, nip FROM buyers"))
    assert rows == [{"name": "Łódzka Hurtownia", "nip": "7740001454"}]
    assert "invoices" in reopened.table_names()


def test_migrate_refuses_a_newer_database(tmp_path):
    database = dbmod.connect(tmp_path / "a.sqlite3")
    database.execute(f"PRAGMA user_version = {len(dbmod.MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="nowszej wersji"):
        dbmod.migrate(database)


def test_connect_uses_wal(tmp_path):
    database = dbmod.connect(tmp_path / "a.sqlite3")
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_write_rolls_back_on_error(tmp_path):
    database = dbmod.connect(tmp_path / "a.sqlite3")
    dbmod.migrate(database)
    with pytest.raises(ValueError):
        with dbmod.write(database):
            database.execute("INSERT INTO used_numbers (number, kind, used_at) VALUES ('FV/1', 'VAT', 'x')")
            raise ValueError("boom")
    assert database.execute("SELECT count(*) FROM used_numbers").fetchone()[0] == 0


def test_used_numbers_are_unique(tmp_path):
    database = dbmod.connect(tmp_path / "a.sqlite3")
    dbmod.migrate(database)
    database.execute("INSERT INTO used_numbers (number, kind, used_at) VALUES ('FV/1', 'VAT', 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        database.execute("INSERT INTO used_numbers (number, kind, used_at) VALUES ('FV/1', 'VAT', 'y')")


def test_databases_gives_each_thread_its_own_connection(tmp_path):
    databases = dbmod.Databases(tmp_path / "a.sqlite3")
    dbmod.migrate(databases.get())
    seen = []

    def worker():
        own = databases.get()
        seen.append(own)
        with dbmod.write(own):
            own.execute("INSERT INTO used_numbers (number, kind, used_at) VALUES ('T/1', 'VAT', 'x')")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen[0] is not databases.get()
    assert databases.get() is databases.get()
    assert databases.get().execute("SELECT number FROM used_numbers").fetchone()[0] == "T/1"


def _version_4_with_tables_made_at_start(path):
    """A database of the version before migration 5: the settings and certificate tables were created by
    the app at every start (CREATE TABLE IF NOT EXISTS), outside the numbered migrations."""
    old = dbmod.connect(path)
    dbmod.migrate(old, target=4)
    old.execute("CREATE TABLE IF NOT EXISTS ksef_settings (id INTEGER PRIMARY KEY CHECK (id = 1), environment TEXT"
                " NOT NULL, base_url TEXT, nip TEXT, batch_threshold INTEGER NOT NULL, updated_at TEXT NOT NULL)")
    old.execute("CREATE TABLE IF NOT EXISTS offline_certificate (id INTEGER PRIMARY KEY CHECK (id = 1),"
                " certificate_pem TEXT NOT NULL, subject TEXT NOT NULL, serial TEXT NOT NULL, key_type TEXT NOT NULL,"
                " not_before TEXT NOT NULL, not_after TEXT NOT NULL, imported_at TEXT NOT NULL)")
    old.execute("INSERT INTO ksef_settings VALUES (1, 'TEST', NULL, '5261040828', 40, '2026-11-20T10:00:00+00:00')")
    old.execute("INSERT INTO offline_certificate VALUES (1, 'PEM', 'CN=x', '01F20A5D352AE590', 'RSA 2048',"
                " '2026-01-01T00:00:00+00:00', '2028-01-01T00:00:00+00:00', '2026-11-20T10:00:00+00:00')")
    return old


def test_migration_5_creates_the_settings_and_certificate_tables_on_a_new_database(tmp_path):
    database = dbmod.connect(tmp_path / "new.sqlite3")
    dbmod.migrate(database, target=5)
    assert {"ksef_settings", "offline_certificate"} <= set(database.table_names())
    assert database.execute("SELECT count(*) FROM ksef_settings").fetchone()[0] == 0


def test_migration_5_keeps_the_rows_of_tables_made_outside_the_migrations(tmp_path):
    path = tmp_path / "old.sqlite3"
    _version_4_with_tables_made_at_start(path).conn.close()
    reopened = dbmod.connect(path)
    assert dbmod.migrate(reopened, target=5) == 5
    assert reopened.execute("SELECT environment, nip, batch_threshold FROM ksef_settings").fetchall() == [
        ("TEST", "5261040828", 40)]
    assert reopened.execute("SELECT serial FROM offline_certificate").fetchall() == [("01F20A5D352AE590",)]


def test_migration_6_keeps_lifted_deadlines_in_a_column(tmp_path):
    """A deadline lifted by a total failure used to be known only from a history text; the column carries it."""
    path = tmp_path / "old.sqlite3"
    old = _version_4_with_tables_made_at_start(path)
    dbmod.migrate(old, target=5)
    old.execute("INSERT INTO invoices (id, kind, status, number, issue_date, xml, xml_sha256, created_at, updated_at)"
                " VALUES (1, 'VAT', 'issued', 'FV/1', '2026-11-20', x'00', 'ab', 'x', 'x'),"
                " (2, 'VAT', 'issued', 'FV/2', '2026-11-20', x'00', 'cd', 'x', 'x')")
    for outbox_id in (1, 2):
        old.execute("INSERT INTO ksef_outbox (id, invoice_id, state, letter, xml_sha256, invoice_hash, offline_mode,"
                    " offline_kind, next_attempt_at, enqueued_at, updated_at) VALUES (?, ?, 'queued', 'W', 'ab', 'q=',"
                    " 1, 'offline24', 'x', 'x', 'x')", [outbox_id, outbox_id])
    old.execute("INSERT INTO ksef_events (invoice_id, outbox_id, at, letter, state, description) VALUES (1, 1, 'x',"
                " 'W', 'queued', 'Brak terminu wysyłki do KSeF (awaria całkowita KSeF – wysyłka nie jest"
                " obowiązkowa)')")
    old.execute("INSERT INTO ksef_events (invoice_id, outbox_id, at, letter, state, description) VALUES (2, 2, 'x',"
                " 'W', 'queued', 'Dodano do kolejki wysyłki do KSeF')")
    assert dbmod.migrate(old, target=6) == 6
    assert old.execute("SELECT id, deadline_lifted FROM ksef_outbox ORDER BY id").fetchall() == [(1, 1), (2, 0)]


def test_migration_7_carries_the_offline_certificate_into_the_certificates_of_its_environment(tmp_path):
    """The one Offline certificate of older versions becomes a row for the environment and NIP the settings had;
    its key stays where it was in the secret store."""
    path = tmp_path / "old.sqlite3"
    _version_4_with_tables_made_at_start(path).conn.close()
    reopened = dbmod.connect(path)
    assert dbmod.migrate(reopened) == len(dbmod.MIGRATIONS)
    assert reopened.execute("SELECT environment, nip, usage, ksef_type, serial, key_secret, state"
                            " FROM certificates").fetchall() == [
        ("TEST", "5261040828", "offline", "Offline", "01F20A5D352AE590", "ksef-offline-certificate/private-key",
         "active")]
    assert "offline_certificate" not in reopened.table_names()
    assert {"certificate_requests", "ksef_tasks"} <= set(reopened.table_names())


def test_migration_7_without_settings_puts_the_certificate_in_demo_mode_for_the_company(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = _version_4_with_tables_made_at_start(path)
    old.execute("DELETE FROM ksef_settings")
    old.execute("INSERT INTO company (id, nip, name, address_l1, number_pattern, number_reset, correction_pattern,"
                " correction_reset, updated_at) VALUES (1, '7740001454', 'Firma', 'ul. A 1', 'FV/{nr}/{rrrr}',"
                " 'year', 'K/{nr}/{rrrr}', 'year', 'x')")
    assert dbmod.migrate(old) == len(dbmod.MIGRATIONS)
    assert old.execute("SELECT environment, nip FROM certificates").fetchall() == [("demo", "7740001454")]


def test_migration_9_lets_both_searches_find_polish_names_typed_without_polish_letters(tmp_path):
    """Buyers saved and invoices indexed before migration 9 (case folded only) are found by "wisn", "poznan",
    "lodz" and still by "łódź"; the rebuilt index follows inserts, updates and deletes."""
    path = tmp_path / "old.sqlite3"
    old = dbmod.connect(path)
    dbmod.migrate(old, target=dbmod.MIGRATIONS.index(migrations._m9_search_folds_polish_letters))
    for name, address, key in (("Jan Wiśniewski", "61-001 Poznań", "jan wiśniewski 61-001 poznań"),
                               ("Hurtownia ŁÓDŹ", "90-001 Łódź", "hurtownia łódź 90-001 łódź")):
        old.execute("INSERT INTO buyers (kind, name, address_l1, address_l2, search_key, created_at, updated_at)"
                    " VALUES ('consumer', ?, 'ul. Długa 1', ?, ?, 'x', 'x')", [name, address, key])
    for invoice_id, buyer in ((1, "Jan Wiśniewski"), (2, "Piekarnia Poznań"), (3, "Hurtownia ŁÓDŹ")):
        old.execute("INSERT INTO invoices (id, kind, status, issue_date, buyer_name, created_at, updated_at)"
                    " VALUES (?, 'VAT', 'draft', '2026-11-24', ?, 'x', 'x')", [invoice_id, buyer])
    assert invoice_list.list_invoices(old, q="wisn")[1] == 0
    old.conn.close()

    database = dbmod.connect(path)
    dbmod.migrate(database)

    def buyers(query):
        return [b["name"] for b in parties.search_buyers(database, query)]

    def found(query):
        return sorted(r["id"] for r in invoice_list.list_invoices(database, q=query)[0])

    assert buyers("wisn") == buyers("WIŚN") == ["Jan Wiśniewski"]
    assert buyers("poznan") == ["Jan Wiśniewski"]
    assert buyers("lodz") == buyers("łódź") == ["Hurtownia ŁÓDŹ"]
    assert found("wisn") == found("Wiśniewski") == [1]
    assert found("Poznan") == [2]
    assert found("lodz") == found("łódź") == found("ŁÓDŹ") == [3]
    database.execute("UPDATE invoices SET buyer_name = 'Zakład Szewski Łukasz' WHERE id = 1")
    database.execute("INSERT INTO invoices (id, kind, status, issue_date, buyer_name, created_at, updated_at)"
                     " VALUES (4, 'VAT', 'draft', '2026-11-24', 'Gęś i Żuraw', 'x', 'x')")
    database.execute("DELETE FROM invoices WHERE id = 3")
    assert found("wisn") == [] and found("lukasz") == [1] and found("ges zur") == [4]
    assert found("lodz") == []
