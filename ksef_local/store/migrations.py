"""The numbered migrations: every table of the app's database is created here, in order, and only here.

Migration N runs in its own BEGIN IMMEDIATE transaction and then sets PRAGMA user_version = N (store/db.py
migrate()). A migration is history: once released it never changes; a new need is a new migration.
"""
from __future__ import annotations

import unicodedata
from typing import Callable

import sqlite_utils


def _m1_company_and_buyers(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE company (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            nip TEXT NOT NULL, name TEXT NOT NULL,
            address_l1 TEXT NOT NULL, address_l2 TEXT, country TEXT NOT NULL DEFAULT 'PL',
            bank_account TEXT, email TEXT, phone TEXT, place TEXT,
            number_pattern TEXT NOT NULL, number_reset TEXT NOT NULL CHECK (number_reset IN ('month','year')),
            correction_pattern TEXT NOT NULL,
            correction_reset TEXT NOT NULL CHECK (correction_reset IN ('month','year')),
            updated_at TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE buyers (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('company','consumer','eu','foreign')),
            name TEXT NOT NULL, nip TEXT, country TEXT NOT NULL DEFAULT 'PL', vat_eu TEXT, tax_id TEXT,
            address_l1 TEXT NOT NULL DEFAULT '', address_l2 TEXT, email TEXT, phone TEXT,
            search_key TEXT NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX buyers_name ON buyers(search_key)")


def _m2_invoices(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE invoices (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('draft','issued')),
            source TEXT NOT NULL DEFAULT 'editor' CHECK (source IN ('editor','import')),
            number TEXT UNIQUE,
            issue_date TEXT NOT NULL, sale_date TEXT, place TEXT,
            buyer_id INTEGER REFERENCES buyers(id) ON DELETE SET NULL,
            buyer_json TEXT, buyer_name TEXT NOT NULL DEFAULT '', buyer_nip TEXT,
            seller_json TEXT,
            price_mode TEXT NOT NULL DEFAULT 'net' CHECK (price_mode IN ('net','gross')),
            currency TEXT NOT NULL DEFAULT 'PLN', exchange_rate TEXT, exchange_rate_date TEXT,
            payment_form TEXT, due_date TEXT, bank_account TEXT,
            paid INTEGER NOT NULL DEFAULT 0, paid_date TEXT,
            notes TEXT, exemption_kind TEXT, exemption_text TEXT,
            split_payment INTEGER NOT NULL DEFAULT 0,
            corrected_id INTEGER REFERENCES invoices(id),
            corr_number TEXT, corr_issue_date TEXT, corr_ksef_number TEXT, corr_reason TEXT, corr_type TEXT,
            net_total INTEGER NOT NULL DEFAULT 0, vat_total INTEGER NOT NULL DEFAULT 0,
            gross_total INTEGER NOT NULL DEFAULT 0,
            xml BLOB, xml_sha256 TEXT,
            ksef_status TEXT, ksef_number TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, issued_at TEXT,
            CHECK (status = 'draft' OR (number IS NOT NULL AND xml IS NOT NULL AND xml_sha256 IS NOT NULL)))"""
    )
    db.execute(
        """CREATE TABLE invoice_lines (
            id INTEGER PRIMARY KEY,
            invoice_id INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
            position INTEGER NOT NULL, before INTEGER NOT NULL DEFAULT 0,
            name TEXT NOT NULL DEFAULT '', unit TEXT NOT NULL DEFAULT 'szt.',
            quantity TEXT NOT NULL DEFAULT '1', unit_price TEXT NOT NULL DEFAULT '0',
            rate TEXT NOT NULL DEFAULT '23', discount_percent TEXT)"""
    )
    db.execute("CREATE INDEX invoice_lines_invoice ON invoice_lines(invoice_id, before, position)")
    # Every number ever given out stays here for good: KSeF refuses a repeated seller NIP +
    # RodzajFaktury + P_2 for 10 years (ksef-docs faktury/weryfikacja-faktury.md), so a number is never reused.
    db.execute(
        """CREATE TABLE used_numbers (
            number TEXT PRIMARY KEY, kind TEXT NOT NULL, invoice_id INTEGER, used_at TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE number_counters (
            series TEXT NOT NULL, period TEXT NOT NULL, last INTEGER NOT NULL,
            PRIMARY KEY (series, period))"""
    )
    for name, columns in {
        "invoices_issue": "issue_date, id",
        "invoices_status": "status, issue_date, id",
        "invoices_buyer": "buyer_id, issue_date, id",
        "invoices_gross": "gross_total, id",
        "invoices_buyer_name": "buyer_name, id",
        "invoices_ksef": "ksef_status, issue_date, id",
    }.items():
        db.execute(f"CREATE INDEX {name} ON invoices({columns})")
    # Search: FTS5 folds case for Polish letters too ("łódź" finds "Łódź"); LIKE does not.
    # (Written by hand: sqlite-utils' enable_fts uses executescript, which would commit mid-migration.)
    db.execute(
        "CREATE VIRTUAL TABLE invoices_fts USING fts5(number, buyer_name, buyer_nip,"
        " content='invoices', content_rowid='id', tokenize='unicode61 remove_diacritics 0')"
    )
    db.execute(
        """CREATE TRIGGER invoices_ai AFTER INSERT ON invoices BEGIN
            INSERT INTO invoices_fts (rowid, number, buyer_name, buyer_nip)
            VALUES (new.id, new.number, new.buyer_name, new.buyer_nip);
        END"""
    )
    db.execute(
        """CREATE TRIGGER invoices_ad AFTER DELETE ON invoices BEGIN
            INSERT INTO invoices_fts (invoices_fts, rowid, number, buyer_name, buyer_nip)
            VALUES ('delete', old.id, old.number, old.buyer_name, old.buyer_nip);
        END"""
    )
    db.execute(
        """CREATE TRIGGER invoices_au AFTER UPDATE OF number, buyer_name, buyer_nip ON invoices BEGIN
            INSERT INTO invoices_fts (invoices_fts, rowid, number, buyer_name, buyer_nip)
            VALUES ('delete', old.id, old.number, old.buyer_name, old.buyer_nip);
            INSERT INTO invoices_fts (rowid, number, buyer_name, buyer_nip)
            VALUES (new.id, new.number, new.buyer_name, new.buyer_nip);
        END"""
    )


def _m3_ksef_outbox(db: sqlite_utils.Database) -> None:
    """The KSeF outbox: the database is the queue (house-style rule 5), so every remote reference
    (session, invoice, KSeF number) is committed before the next remote step and a restart resumes."""
    # One row per attempt to send an invoice; a rejected (B) invoice may be sent again as a new attempt,
    # so history stays. The invoice's current attempt is its row with the highest id.
    db.execute(
        """CREATE TABLE ksef_outbox (
            id INTEGER PRIMARY KEY,
            invoice_id INTEGER NOT NULL REFERENCES invoices(id),
            state TEXT NOT NULL CHECK (state IN
                ('queued','sending','unknown','sent','accepted','done','rejected')),
            letter TEXT NOT NULL CHECK (letter IN ('W','O','A','B')),
            xml_sha256 TEXT NOT NULL, invoice_hash TEXT NOT NULL,
            session_ref TEXT, invoice_ref TEXT, ksef_number TEXT, invoicing_mode TEXT, ksef_code INTEGER,
            offline_mode INTEGER NOT NULL DEFAULT 0, offline_kind TEXT, offline_deadline TEXT,
            error_code INTEGER, error_title TEXT, error_advice TEXT, error_detail TEXT,
            tries INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, unknown_since TEXT,
            refresh INTEGER NOT NULL DEFAULT 0,
            upo BLOB, upo_sha256 TEXT,
            enqueued_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX ksef_outbox_invoice ON ksef_outbox(invoice_id, id)")
    db.execute("CREATE INDEX ksef_outbox_work ON ksef_outbox(state, next_attempt_at)")
    db.execute(
        """CREATE TABLE ksef_events (
            id INTEGER PRIMARY KEY,
            invoice_id INTEGER NOT NULL REFERENCES invoices(id), outbox_id INTEGER NOT NULL,
            at TEXT NOT NULL, letter TEXT NOT NULL, state TEXT NOT NULL, code INTEGER, description TEXT NOT NULL,
            session_ref TEXT, invoice_ref TEXT, ksef_number TEXT)"""
    )
    db.execute("CREATE INDEX ksef_events_invoice ON ksef_events(invoice_id, id)")
    # Sessions we opened: an online one is closed when the queue is empty (also after a restart).
    db.execute(
        """CREATE TABLE ksef_sessions (
            ref TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('online','batch')),
            state TEXT NOT NULL CHECK (state IN ('open','closed','done')),
            offline_mode INTEGER NOT NULL DEFAULT 0, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )
    # Request timestamps per PRD limit group (ksef-docs limity/limity-api.md): the budget survives a restart.
    db.execute("CREATE TABLE ksef_requests (grp TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE INDEX ksef_requests_grp ON ksef_requests(grp, at)")
    # Pause, circuit breaker, backoff, Latarnia and reachability: small key/value facts for the banner.
    db.execute("CREATE TABLE ksef_meta (key TEXT PRIMARY KEY, value TEXT)")


def _m4_outbox_environment(db: sqlite_utils.Database) -> None:
    """Remember which KSeF each attempt went to: the printed QR code must point at that environment's
    verification host even after the settings change (a printout must never link to another environment's
    QR host: ksef-docs kody-qr.md, docs/field-notes.md)."""
    db.execute("ALTER TABLE ksef_outbox ADD COLUMN environment TEXT")


def _m5_settings_and_offline_certificate(db: sqlite_utils.Database) -> None:
    """The KSeF settings row and the Offline certificate (KOD II), which older versions created outside these
    migrations at every start: IF NOT EXISTS keeps the rows such a database already has."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS ksef_settings (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            environment TEXT NOT NULL,
            base_url TEXT,
            nip TEXT,
            batch_threshold INTEGER NOT NULL,
            updated_at TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS offline_certificate (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            certificate_pem TEXT NOT NULL,
            subject TEXT NOT NULL, serial TEXT NOT NULL, key_type TEXT NOT NULL,
            not_before TEXT NOT NULL, not_after TEXT NOT NULL, imported_at TEXT NOT NULL)"""
    )


def _m6_outbox_deadline_lifted(db: sqlite_utils.Database) -> None:
    """Keep "a total failure lifted this invoice's sending deadline" in a column.

    Older versions knew it only from the text of a history entry; the entries with that exact text are
    carried over, so no deadline lifted before the update is counted again.
    """
    db.execute("ALTER TABLE ksef_outbox ADD COLUMN deadline_lifted INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "UPDATE ksef_outbox SET deadline_lifted = 1 WHERE id IN (SELECT outbox_id FROM ksef_events"
        " WHERE description = ?)",
        ["Brak terminu wysyłki do KSeF (awaria całkowita KSeF – wysyłka nie jest obowiązkowa)"],
    )


def _m7_certificates_and_tasks(db: sqlite_utils.Database) -> None:
    """Certificates that log in to KSeF or sign KOD II, per KSeF environment and context NIP (their keys
    live in the secret store under key_secret); KSeF certificate requests in flight, so a restart can
    finish them; and the long KSeF tasks the sender runs for the screens (a login by a signed file,
    "Testuj połączenie", renewal), with their progress.

    The one Offline certificate of older versions becomes a row here, for the environment and NIP the
    settings had; its key stays where it was in the secret store.
    """
    db.execute(
        """CREATE TABLE certificates (
            id INTEGER PRIMARY KEY,
            environment TEXT NOT NULL, nip TEXT NOT NULL,
            usage TEXT NOT NULL CHECK (usage IN ('login', 'offline')),
            origin TEXT NOT NULL CHECK (origin IN ('imported', 'enrolled', 'demo')),
            ksef_type TEXT CHECK (ksef_type IN ('Authentication', 'Offline')),
            name TEXT, subject TEXT NOT NULL, issuer TEXT NOT NULL, serial TEXT NOT NULL,
            fingerprint TEXT NOT NULL, key_type TEXT NOT NULL,
            not_before TEXT NOT NULL, not_after TEXT NOT NULL,
            certificate_pem TEXT NOT NULL, key_secret TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired', 'revoked')),
            replaced_by INTEGER REFERENCES certificates(id),
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX certificates_use ON certificates(environment, nip, usage, state)")
    db.execute(
        """INSERT INTO certificates (environment, nip, usage, origin, ksef_type, name, subject, issuer, serial,
               fingerprint, key_type, not_before, not_after, certificate_pem, key_secret, created_at, updated_at)
           SELECT COALESCE((SELECT CASE WHEN environment = 'custom' THEN 'custom:' || COALESCE(base_url, '')
                                        ELSE environment END FROM ksef_settings WHERE id = 1), 'demo'),
                  COALESCE((SELECT nip FROM ksef_settings WHERE id = 1), (SELECT nip FROM company WHERE id = 1), ''),
                  'offline', 'imported', 'Offline', NULL, subject, '', serial, '', key_type, not_before,
                  not_after, certificate_pem, 'ksef-offline-certificate/private-key', imported_at, imported_at
           FROM offline_certificate"""
    )
    db.execute("DROP TABLE offline_certificate")
    db.execute(
        """CREATE TABLE certificate_requests (
            id INTEGER PRIMARY KEY,
            environment TEXT NOT NULL, nip TEXT NOT NULL,
            ksef_type TEXT NOT NULL CHECK (ksef_type IN ('Authentication', 'Offline')),
            name TEXT NOT NULL, reference TEXT, key_secret TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('new', 'submitted', 'issued', 'failed')),
            replaces INTEGER REFERENCES certificates(id), error TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE ksef_tasks (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('signed_login', 'connection_test', 'renewal')),
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
            payload BLOB, progress TEXT, result_title TEXT, result_advice TEXT, result_detail TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )


def _m8_session_environment(db: sqlite_utils.Database) -> None:
    """The KSeF a session was opened in: after a change of settings the sender stops tracking the old
    environment's sessions instead of asking the new one to close them (sending/online.py)."""
    db.execute("ALTER TABLE ksef_sessions ADD COLUMN environment TEXT")


def _folded_v9(text: str) -> str:
    """The folding of store/search.py as migration 9 knew it (a migration never changes with later code)."""
    folded = unicodedata.normalize("NFKD", text.casefold().replace("ł", "l"))
    return "".join(c for c in folded if not unicodedata.combining(c))


def _fold_sql_v9(column: str) -> str:
    return f"replace(replace({column}, 'ł', 'l'), 'Ł', 'L')"


def _m9_search_folds_polish_letters(db: sqlite_utils.Database) -> None:
    """Search without Polish letters: "wisn" finds "Wiśniewski", "Poznan" finds "Poznań", "lodz" finds "Łódź".

    The invoice search index is rebuilt with unicode61's remove_diacritics 2, which folds ą, ć, ę, ń, ó, ś,
    ź and ż (sqlite.org/fts5.html#unicode61_tokenizer) but not ł, which has no decomposition in Unicode: the
    triggers fold ł and Ł in SQL. The index now holds those folded words, so it is contentless (content='')
    rather than a copy of invoices; nothing reads its columns, search takes the rowids. The buyers' search
    keys are rebuilt with the same folding (store/search.py).
    """
    for trigger in ("invoices_ai", "invoices_ad", "invoices_au"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute("DROP TABLE invoices_fts")
    db.execute(
        "CREATE VIRTUAL TABLE invoices_fts USING fts5(number, buyer_name, buyer_nip,"
        " content='', tokenize='unicode61 remove_diacritics 2')"
    )
    old = ", ".join(_fold_sql_v9(f"old.{c}") for c in ("number", "buyer_name", "buyer_nip"))
    new = ", ".join(_fold_sql_v9(f"new.{c}") for c in ("number", "buyer_name", "buyer_nip"))
    insert = f"INSERT INTO invoices_fts (rowid, number, buyer_name, buyer_nip) VALUES (new.id, {new});"
    delete = ("INSERT INTO invoices_fts (invoices_fts, rowid, number, buyer_name, buyer_nip)"
              f" VALUES ('delete', old.id, {old});")
    db.execute(f"CREATE TRIGGER invoices_ai AFTER INSERT ON invoices BEGIN {insert} END")
    db.execute(f"CREATE TRIGGER invoices_ad AFTER DELETE ON invoices BEGIN {delete} END")
    db.execute("CREATE TRIGGER invoices_au AFTER UPDATE OF number, buyer_name, buyer_nip ON invoices"
               f" BEGIN {delete} {insert} END")
    columns = ", ".join(_fold_sql_v9(c) for c in ("number", "buyer_name", "buyer_nip"))
    db.execute(f"INSERT INTO invoices_fts (rowid, number, buyer_name, buyer_nip) SELECT id, {columns} FROM invoices")
    for buyer_id, key in db.execute("SELECT id, search_key FROM buyers").fetchall():
        db.execute("UPDATE buyers SET search_key = ? WHERE id = ?", [_folded_v9(key), buyer_id])


def _m10_purchases(db: sqlite_utils.Database) -> None:
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


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _m1_company_and_buyers,
    _m2_invoices,
    _m3_ksef_outbox,
    _m4_outbox_environment,
    _m5_settings_and_offline_certificate,
    _m6_outbox_deadline_lifted,
    _m7_certificates_and_tasks,
    _m8_session_environment,
    _m9_search_folds_polish_letters,
    _m10_purchases,
]
