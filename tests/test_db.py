"""Schema, migrations, transactions and per-thread connections on real SQLite files."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from ksef_local.store import db as dbmod


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
