"""The data folder on disk: private permissions (0700/0600), a full disk and a read-only folder said in Polish.

A full disk is SQLite's own SQLITE_FULL, made with PRAGMA max_page_count on the connection the request uses:
the same error, raised by the same write, reaches the same handler as on a real full disk (a real one is in
tests/test_data_folder_process.py). Nothing written may be lost and nothing half-written may stay.
"""
from __future__ import annotations

import errno
import os
import sqlite3
import stat
from datetime import date, datetime
from pathlib import Path

import pytest

from ksef_local import config, disk
from ksef_local.app import create_app, database_problem
from ksef_local.cli import main
from ksef_local.desktop import instance, launcher
from ksef_local.desktop.lock import try_lock
from ksef_local.store import backup, invoices, numbering, parties
from ksef_local.store import db as dbmod
from ksef_local.store.secrets import SecretStore

from .conftest import Client
from .factories import draft, form, issued

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(home: Path) -> dict[str, int]:
    """Every file and folder under home with its permission bits, by relative path."""
    found = {".": mode(home)}
    for path in home.rglob("*"):
        found[str(path.relative_to(home))] = mode(path)
    return found


def not_private(home: Path) -> dict[str, str]:
    return {name: oct(bits) for name, bits in modes(home).items() if bits & 0o077}


# --- permissions ---------------------------------------------------------------------------------------

@posix_only
def test_a_new_data_folder_and_everything_in_it_is_private(home, company):
    """The app on a new folder: database, -wal, -shm, backup, secrets, journal, locks: the user's only."""
    services = create_app(home, testing=True).extensions["ksef_local"]
    issued(services.db())
    services.secrets.set("ksef_token", "token-testowy")
    backup.make_backup(config.database_path(home), backup.backups_dir(home), datetime(2026, 11, 24), "reczna")
    try_lock(home / launcher.SENDER_LOCK).release()
    instance.claim(home).release()
    names = set(modes(home))
    assert {"ksef-local.sqlite3", "ksef-local.sqlite3-wal", "ksef-local.sqlite3-shm", "kopie",
            numbering.JOURNAL, launcher.SENDER_LOCK, instance.LOCK_FILE} <= names
    assert any(name.startswith("kopie/") for name in names) and any(name.startswith("secrets") for name in names)
    assert not_private(home) == {}
    assert mode(home) == 0o700 and mode(config.database_path(home)) == 0o600


@posix_only
def test_an_old_install_is_made_private_at_start(home, company):
    """Files an older version left 0755/0644 (umask 022) are fixed by the next start, data untouched."""
    issued(create_app(home, testing=True).extensions["ksef_local"].db())
    (home / "kopie").mkdir(exist_ok=True)
    (home / "kopie" / "stara-kopia.sqlite3").write_bytes(b"x")
    (home / "Faktura_FV_1.pdf").write_bytes(b"%PDF")
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert not_private(home)
    create_app(home, testing=True)
    assert not_private(home) == {}
    assert mode(home / "kopie") == 0o700 and mode(home / "Faktura_FV_1.pdf") == 0o600
    assert dbmod.connect(config.database_path(home)).execute("SELECT count(*) FROM invoices").fetchone()[0] == 1


@posix_only
def test_making_private_only_takes_permissions_away(tmp_path):
    """A folder the user made read-only stays read-only; a link's target is not touched."""
    folder = tmp_path / "dane"
    folder.mkdir()
    outside = tmp_path / "poza.txt"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    (folder / "link").symlink_to(outside)
    os.chmod(folder, 0o555)
    disk.make_private(folder)
    assert mode(folder) == 0o500
    assert mode(outside) == 0o644
    os.chmod(folder, 0o700)


@posix_only
def test_secret_store_and_cli_outputs_are_private(home, tmp_path, company, capsys):
    SecretStore(home, backend="file").set("ksef_token", "sekret")
    assert not_private(home) == {}
    database = create_app(home, testing=True).extensions["ksef_local"].db()
    number = invoices.get_invoice(database, issued(database))["number"]
    output = tmp_path / "faktura.pdf"
    assert main(["--data-dir", str(home), "pdf", number, "-o", str(output)]) == 0
    assert mode(output) == 0o600 and output.read_bytes().startswith(b"%PDF")


def test_a_data_folder_that_cannot_be_created_is_said_in_polish(tmp_path, capsys):
    blocker = tmp_path / "plik"
    blocker.write_text("to nie folder")
    assert main(["--data-dir", str(blocker / "dane"), "status"]) == 2
    err = capsys.readouterr().err
    assert "Nie można utworzyć folderu danych" in err and "Traceback" not in err


# --- what disk errors mean --------------------------------------------------------------------------------

@pytest.mark.parametrize(("error", "expected"), [
    (OSError(errno.ENOSPC, "No space left on device"), disk.DISK_FULL),
    (OSError(errno.EROFS, "Read-only file system"), "tylko do odczytu"),
    (PermissionError(errno.EACCES, "Permission denied"), "tylko do odczytu"),
    (OSError(errno.ECONNREFUSED, "Connection refused"), None),
    (sqlite3.OperationalError("database is locked"), None),
])
def test_describe_names_a_full_disk_and_a_read_only_folder(error, expected):
    message = disk.describe(error, Path("/dane"))
    assert message == expected if expected in (None, disk.DISK_FULL) else expected in message


def full(db) -> None:
    """Let the database grow no more and use up its free pages: the next write that needs a page gets SQLITE_FULL."""
    db.execute("CREATE TABLE IF NOT EXISTS ballast (x BLOB)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        for _ in range(10_000):
            db.execute("INSERT INTO ballast VALUES (zeroblob(512))")


def test_sqlite_full_is_recognised_with_its_own_code(tmp_path):
    database = dbmod.connect(tmp_path / "a.sqlite3")
    database.execute("CREATE TABLE t (x BLOB)")
    full(database)
    with pytest.raises(sqlite3.OperationalError) as caught:
        with dbmod.write(database):
            database.execute("INSERT INTO t VALUES (zeroblob(100000))")
    assert disk.describe(caught.value) == disk.DISK_FULL
    assert not database.conn.in_transaction  # rolled back, the connection usable again
    database.execute("PRAGMA max_page_count = 1000000")
    with dbmod.write(database):
        database.execute("INSERT INTO t VALUES (x'00')")
    assert database.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_write_does_not_hide_the_error_when_sqlite_rolled_back_itself(tmp_path):
    """A failed COMMIT or an automatic rollback must surface the real error, not 'no transaction is active'."""
    database = dbmod.connect(tmp_path / "a.sqlite3")
    database.execute("CREATE TABLE t (x)")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        with dbmod.write(database):
            database.execute("INSERT INTO t VALUES (1)")
            database.execute("ROLLBACK")  # what SQLite does on its own after SQLITE_FULL
            raise sqlite3.OperationalError("database or disk is full")
    assert database.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_a_full_disk_while_saving_a_buyer_is_a_polish_page_and_changes_nothing(app, company):
    client = Client(app)
    db = app.extensions["ksef_local"].db()
    full(db)
    long = "ż" * 480  # a row bigger than the free room of any page: the insert needs a new one
    form = {"kind": "company", "name": "Hurtownia " + long, "nip": "7740001454",
            "address_l1": "ul. Piotrkowska 1 " + long, "address_l2": "90-001 Łódź " + long}
    page = client.post("/kontrahenci/nowy", data=form)
    assert page.status_code == 507 and "Na dysku zabrakło miejsca" in page.text
    fragment = client.post("/kontrahenci/nowy", data=form, htmx=True)
    assert fragment.status_code == 507 and fragment.headers["HX-Retarget"] == "#messages"
    assert "Na dysku zabrakło miejsca" in fragment.text and "<html" not in fragment.text
    assert parties.search_buyers(db, "") == []
    db.execute("PRAGMA max_page_count = 1073741823")
    assert client.post("/kontrahenci/nowy", data=form).status_code in (200, 302, 303)
    assert len(parties.search_buyers(db, "")) == 1


def test_a_full_disk_while_issuing_keeps_the_draft_and_uses_no_number(app, company):
    client = Client(app)
    db = app.extensions["ksef_local"].db()
    lines = [{"name": f"Tort urodzinowy nr {n} " + "z" * 300, "unit_price": "120", "rate": "8"} for n in range(8)]
    invoice_id = draft(db, lines=lines)
    full(db)  # the frozen XML (over 4 kB) needs new pages
    response = client.post(f"/faktury/{invoice_id}/wystaw", htmx=True,
                           data=form(lines, issue_date=date.today().isoformat()))
    assert response.status_code == 507 and "Na dysku zabrakło miejsca" in response.text
    row = invoices.get_invoice(db, invoice_id)
    assert row["status"] == "draft" and row["number"] is None
    assert db.execute("SELECT count(*) FROM used_numbers").fetchone()[0] == 0
    assert numbering.read(numbering.journal_path(app.extensions["ksef_local"].home)) == []  # no gap either


def test_other_database_errors_stay_errors(app, company, monkeypatch):
    """Only a full disk or a read-only folder becomes the Polish page; a bug is not hidden as one."""
    from ksef_local.web import buyers as buyers_web

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("no such table: nie_ma")

    monkeypatch.setattr(buyers_web.parties, "search_buyers", broken)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        Client(app).get("/kontrahenci/")


def real_sqlite_full() -> sqlite3.OperationalError:
    """A SQLITE_FULL exactly as SQLite raises it (with its error code), from a database that may not grow."""
    database = sqlite3.connect(":memory:")
    database.execute("CREATE TABLE t (x BLOB)")
    database.execute(f"PRAGMA max_page_count = {database.execute('PRAGMA page_count').fetchone()[0]}")
    try:
        database.execute("INSERT INTO t VALUES (zeroblob(100000))")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        database.close()
    raise AssertionError("SQLite did not refuse to grow")


def test_the_cli_says_a_full_disk_in_polish(home, company, capsys, monkeypatch):
    create_app(home, testing=True)

    def no_room(*args, **kwargs):
        raise real_sqlite_full()

    monkeypatch.setattr(dbmod, "migrate", no_room)  # the start's first write
    assert main(["--data-dir", str(home), "status"]) == 2
    err = capsys.readouterr().err
    assert "Na dysku zabrakło miejsca" in err and "Traceback" not in err
    monkeypatch.undo()
    assert database_problem(create_app(home, testing=True)) is None  # nothing was damaged
