"""Migrations 10 and on (store/migrations.py lists them all, in order): purchase invoices from KSeF, their search
without Polish letters, and the accountant's month packages. Same rules: each runs once, in its own transaction,
and never changes once released.
"""
from __future__ import annotations

import unicodedata

import sqlite_utils


def m10_purchases(db: sqlite_utils.Database) -> None:
    """Purchase invoices (faktury zakupowe) read back from KSeF, with their exact bytes.

    purchases: one row per KSeF number (UNIQUE: a sync never duplicates), the XML as downloaded (a BLOB, so
    backups carry it) with the facts the list shows read from it; received_at is when KSeF gave the number
    (acquisitionDate, the legal receipt date: ksef-docs pobieranie-faktur/przyrostowe-pobieranie-faktur.md).
    purchase_downloads: KSeF numbers found by the metadata query and still to download; the resume point
    advances in the same transaction that writes them here, so no invoice below it can be lost.
    purchase_sync: the resume point (a PermanentStorage moment) per KSeF environment, context NIP and
    subject type, and the page of the window being read.
    ksef_tasks gains the kind "purchases_sync" ("Pobierz teraz"); SQLite cannot change a CHECK, so the
    table is rebuilt with its rows.
    """
    db.execute(
        """CREATE TABLE purchases (
            id INTEGER PRIMARY KEY,
            ksef_number TEXT NOT NULL UNIQUE,
            environment TEXT NOT NULL, context_nip TEXT NOT NULL,
            subject TEXT NOT NULL CHECK (subject IN ('Subject2', 'Subject3')),
            kind TEXT NOT NULL, number TEXT NOT NULL,
            seller_nip TEXT NOT NULL, seller_name TEXT NOT NULL,
            issue_date TEXT NOT NULL, sale_date TEXT, currency TEXT NOT NULL,
            net_total INTEGER NOT NULL, vat_total INTEGER NOT NULL, gross_total INTEGER NOT NULL,
            vat_pln INTEGER NOT NULL,
            due_date TEXT, bank_account TEXT,
            received_at TEXT NOT NULL, received_day TEXT NOT NULL, stored_at TEXT,
            invoice_hash TEXT NOT NULL, xml BLOB NOT NULL, metadata TEXT NOT NULL,
            paid INTEGER NOT NULL DEFAULT 0, paid_date TEXT,
            seen_at TEXT, search_key TEXT NOT NULL,
            downloaded_at TEXT NOT NULL,
            CHECK (paid = 0 OR paid_date IS NOT NULL))"""
    )
    db.execute("CREATE INDEX purchases_received ON purchases(received_day, id)")
    db.execute("CREATE INDEX purchases_issued ON purchases(issue_date, id)")
    db.execute("CREATE INDEX purchases_seller ON purchases(seller_nip)")
    db.execute("CREATE INDEX purchases_unseen ON purchases(seen_at) WHERE seen_at IS NULL")
    db.execute(
        """CREATE TABLE purchase_downloads (
            ksef_number TEXT PRIMARY KEY,
            environment TEXT NOT NULL, context_nip TEXT NOT NULL,
            subject TEXT NOT NULL CHECK (subject IN ('Subject2', 'Subject3')),
            metadata TEXT NOT NULL,
            tries INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL,
            error_title TEXT, error_advice TEXT, error_detail TEXT,
            found_at TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE purchase_sync (
            environment TEXT NOT NULL, context_nip TEXT NOT NULL,
            subject TEXT NOT NULL CHECK (subject IN ('Subject2', 'Subject3')),
            covered_from TEXT NOT NULL, cursor TEXT NOT NULL,
            page_offset INTEGER NOT NULL DEFAULT 0, window_to TEXT,
            cycle_started_at TEXT, cycle_done_at TEXT, updated_at TEXT NOT NULL,
            PRIMARY KEY (environment, context_nip, subject))"""
    )
    db.execute(
        """CREATE TABLE ksef_tasks_new (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('signed_login', 'connection_test', 'renewal', 'purchases_sync')),
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
            payload BLOB, progress TEXT, result_title TEXT, result_advice TEXT, result_detail TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )
    db.execute("INSERT INTO ksef_tasks_new SELECT id, kind, state, payload, progress, result_title, result_advice,"
               " result_detail, created_at, updated_at FROM ksef_tasks")
    db.execute("DROP TABLE ksef_tasks")
    db.execute("ALTER TABLE ksef_tasks_new RENAME TO ksef_tasks")


def _folded_v11(text: str) -> str:
    """The folding of store/search.py as migration 11 knew it (a migration never changes with later code)."""
    folded = unicodedata.normalize("NFKD", text.casefold().replace("ł", "l"))
    return "".join(c for c in folded if not unicodedata.combining(c))


def m11_purchase_search_and_month_packages(db: sqlite_utils.Database) -> None:
    """Purchase search without Polish letters ("lodz" finds "Łódzka Hurtownia"), like the invoices' (migration 9):
    the search keys of stored purchases are folded again; and month_exports, the accountant's month packages
    ("Dla księgowej", accounting/): which month, how far the worker is, the finished file and the outcome.
    """
    for purchase_id, number, seller_name, seller_nip, ksef_number in db.execute(
            "SELECT id, number, seller_name, seller_nip, ksef_number FROM purchases").fetchall():
        key = " ".join(_folded_v11(" ".join(p for p in (number, seller_name, seller_nip, ksef_number) if p)).split())
        db.execute("UPDATE purchases SET search_key = ? WHERE id = ?", [key, purchase_id])
    db.execute(
        """CREATE TABLE month_exports (
            id INTEGER PRIMARY KEY,
            month TEXT NOT NULL, environment TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
            done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,
            file_name TEXT, size INTEGER, sales INTEGER, purchases INTEGER,
            result_title TEXT, result_advice TEXT, result_detail TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )
