"""The numbering journal: every used invoice number also in numeracja.jsonl, so no database gives one twice."""
from __future__ import annotations

import json
import os
import stat
from datetime import datetime

import pytest

from ksef_local import config
from ksef_local.app import create_app
from ksef_local.errors import UserError
from ksef_local.forms import parties as party_forms
from ksef_local.store import backup, imports, invoices, numbering, parties
from ksef_local.store import db as dbmod

from .conftest import COMPANY_FORM
from .factories import TODAY, issued

NOW = datetime(2026, 11, 24, 9, 30)


def journal_numbers(home) -> list[str]:
    return [e.number for e in numbering.read(numbering.journal_path(home)) if e.number]


def test_issuing_appends_the_number_and_its_counter_before_commit(home, db, company):
    number = invoices.get_invoice(db, issued(db))["number"]
    [entry] = numbering.read(numbering.journal_path(home))
    assert (entry.number, entry.kind, entry.period, entry.counter) == (number, "VAT", "2026-11", 1)
    assert entry.series == "VAT:FV/{rrrr}/{mm}/{nr}"
    if os.name != "nt":
        assert stat.S_IMODE(numbering.journal_path(home).stat().st_mode) == 0o600


def test_a_new_database_learns_the_journal_and_never_reissues(home, company):
    """The emptied database without any backup: numbering history survives in the journal."""
    database = create_app(home, testing=True).extensions["ksef_local"].db()
    first = invoices.get_invoice(database, issued(database))["number"]
    second = invoices.get_invoice(database, issued(database))["number"]
    database.conn.close()
    path = config.database_path(home)
    for companion in ("", "-wal", "-shm"):
        (home / f"ksef-local.sqlite3{companion}").unlink(missing_ok=True)
    fresh = dbmod.connect(path)
    dbmod.migrate(fresh)
    assert numbering.sync(fresh, home) == 2
    parties.save_company(fresh, party_forms.validate_company(COMPANY_FORM))
    company = parties.get_company(fresh)
    assert invoices.next_number(fresh, company, "VAT", TODAY) not in (first, second)
    assert invoices.next_number(fresh, company, "VAT", TODAY).endswith("/3")


def test_sync_writes_an_older_install_into_the_journal(home, db, company):
    """A database from before the journal: its used numbers and counters are journaled at the next start."""
    issued(db)
    numbering.journal_path(home).unlink()
    db.execute("INSERT INTO used_numbers (number, kind, used_at) VALUES ('STARY/7', 'VAT', '2025-01-01')")
    assert numbering.sync(db, home) == 0
    entries = numbering.read(numbering.journal_path(home))
    assert {e.number for e in entries if e.number} == {"FV/2026/11/1", "STARY/7"}
    assert [(e.series, e.period, e.counter) for e in entries if e.series] == [("VAT:FV/{rrrr}/{mm}/{nr}", "2026-11", 1)]
    size = numbering.journal_path(home).stat().st_size
    numbering.sync(db, home)
    assert numbering.journal_path(home).stat().st_size == size  # nothing new: nothing appended


def test_a_torn_last_line_is_skipped_and_not_glued_to_the_next(home, db, company):
    issued(db)
    with open(numbering.journal_path(home), "ab") as journal:
        journal.write(b'{"number": "FV/2026/11/9", "ki')  # a crash in the middle of a line
    issued(db)
    numbers = journal_numbers(home)
    assert numbers == ["FV/2026/11/1", "FV/2026/11/2"]
    lines = numbering.journal_path(home).read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["number"] == "FV/2026/11/2"


def test_restore_of_an_old_copy_keeps_numbers_the_journal_knows(home, db, company):
    """Even when the copy made before the restore does not have them (it was replaced by hand)."""
    path = config.database_path(home)
    old = backup.make_backup(path, backup.backups_dir(home), NOW, "dzienna")
    issued(db)
    db.execute("DELETE FROM used_numbers")  # this database forgot; the journal did not
    db.execute("DELETE FROM number_counters")
    backup.restore(path, old, NOW.replace(hour=10))
    restored = dbmod.connect(path)
    assert restored.execute("SELECT number FROM used_numbers").fetchall() == [("FV/2026/11/1",)]
    assert invoices.next_number(restored, parties.get_company(restored), "VAT", TODAY) == "FV/2026/11/2"


def test_a_number_kept_without_its_invoice_can_be_imported_back(home, db, company):
    """After a lost database, the user imports the lost invoice's XML again (same number): allowed once."""
    invoice_id = issued(db)
    row = invoices.get_invoice(db, invoice_id)
    xml = row["xml"]
    db.execute("DELETE FROM invoice_lines")
    db.execute("DELETE FROM invoices")
    db.execute("UPDATE used_numbers SET invoice_id = NULL")
    imported = imports.import_xml(db, xml, "FV_2026_11_1.xml")
    assert invoices.get_invoice(db, imported)["number"] == row["number"]
    assert db.execute("SELECT invoice_id FROM used_numbers").fetchall() == [(imported,)]
    with pytest.raises(UserError, match="już jest w programie"):
        imports.import_xml(db, xml, "FV_2026_11_1.xml")
