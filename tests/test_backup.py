"""Backups: integrity check, online-backup copies, daily rule, pruning, the migration hook, restore, the screen."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ksef_local import config
from ksef_local.app import create_app, database_problem
from ksef_local.forms import parties as party_forms
from ksef_local.store import backup, parties
from ksef_local.store import db as dbmod
from ksef_local.web import backup as backup_web
from ksef_local.web.security import new_entry_url

from .conftest import COMPANY_FORM, Client

NOW = datetime(2026, 11, 24, 9, 30, 0)


def make_db(path: Path, target: int | None = None, company: bool = True) -> Path:
    """A real ksef-local database file (optionally at an old schema version) with the company saved."""
    database = dbmod.connect(path)
    dbmod.migrate(database, target=target)
    if company:
        database.execute("INSERT INTO company (id, nip, name, address_l1, number_pattern, number_reset,"
                         " correction_pattern, correction_reset, updated_at) VALUES (1, '5261040828', ?,"
                         " 'ul. Kwiatowa 1', 'FV/{nr}', 'month', 'KOR/{nr}', 'month', '2026-11-24')",
                         ["Piekarnia Zażółć"])
    database.conn.close()
    return path


def company_name(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT name FROM company").fetchone()[0]
    finally:
        conn.close()


def set_company_name(path: Path, name: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("UPDATE company SET name = ?", [name])
    finally:
        conn.close()


def corrupt(path: Path) -> None:
    """Write garbage over the pages after the header page (the file stays a 'database' to SQLite)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(b"\xde\xad\xbe\xef" * ((size - 4096) // 4))


@pytest.fixture
def live(tmp_path: Path) -> Path:
    home = tmp_path / "data"
    home.mkdir()
    return make_db(config.database_path(home))


@pytest.fixture
def folder(live: Path) -> Path:
    return backup.backups_dir(live.parent)


# --- making a backup ----------------------------------------------------------------------------------

def test_make_backup_holds_the_data_and_passes_quick_check(live, folder):
    made = backup.make_backup(live, folder, NOW, "reczna")
    assert made.name == "ksef-local-2026-11-24T093000-reczna.sqlite3"
    assert company_name(made) == "Piekarnia Zażółć"
    assert backup.integrity_problem(made) is None
    assert not Path(f"{made}-wal").exists()  # one self-contained file, not a WAL pair
    assert [p.name for p in folder.iterdir()] == [made.name]  # no temporary file left behind


def test_make_backup_while_another_connection_has_uncheckpointed_writes(live, folder):
    writer = dbmod.connect(live)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("UPDATE company SET name = 'Zapisane tylko w WAL'")
    made = backup.make_backup(live, folder, NOW, "reczna")
    writer.conn.close()
    assert company_name(made) == "Zapisane tylko w WAL"


def test_two_backups_in_the_same_second_both_kept(live, folder):
    first = backup.make_backup(live, folder, NOW, "reczna")
    second = backup.make_backup(live, folder, NOW, "reczna")
    assert first != second and first.exists() and second.exists()
    assert [b.path for b in backup.list_backups(folder)] == [second, first]


def test_make_backup_refuses_an_unknown_reason(live, folder):
    with pytest.raises(ValueError):
        backup.make_backup(live, folder, NOW, "../../etc")


def test_make_backup_of_a_corrupted_database_fails_and_keeps_the_old_backups(live, folder):
    good = backup.make_backup(live, folder, NOW, "dzienna")
    corrupt(live)
    with pytest.raises(backup.BackupError, match="Nie udało się zrobić"):
        backup.make_backup(live, folder, NOW + timedelta(hours=1), "reczna")
    assert [b.path for b in backup.list_backups(folder)] == [good]
    assert [p.name for p in folder.iterdir()] == [good.name]


def test_list_backups_reads_date_reason_and_size_and_ignores_other_files(live, folder):
    made = backup.make_backup(live, folder, NOW, "przed-migracja")
    (folder / "notatki.txt").write_text("x")
    (folder / "ksef-local-2026-11-24T093000-reczna.sqlite3.tmp").write_text("x")
    [info] = backup.list_backups(folder)
    assert (info.path, info.created, info.reason, info.size) == (made, NOW, "przed-migracja", made.stat().st_size)
    assert info.reason_label == "przed aktualizacją bazy"


# --- daily and pruning ----------------------------------------------------------------------------------

def test_daily_backup_made_once_per_calendar_day(live, folder):
    first = backup.daily_backup_if_due(live, folder, NOW)
    assert first is not None
    assert backup.daily_backup_if_due(live, folder, NOW + timedelta(hours=14)) is None  # 23:30 same day
    backup.make_backup(live, folder, NOW + timedelta(hours=1), "reczna")  # a manual one does not count
    next_day = backup.daily_backup_if_due(live, folder, NOW + timedelta(hours=15))  # 00:30 next day
    assert next_day is not None and next_day.name.startswith("ksef-local-2026-11-25T003000-dzienna")
    assert [b.reason for b in backup.list_backups(folder)] == ["dzienna", "reczna", "dzienna"]


def test_daily_backup_skips_a_missing_or_empty_database(tmp_path):
    assert backup.daily_backup_if_due(tmp_path / "brak.sqlite3", tmp_path / "kopie", NOW) is None
    dbmod.connect(tmp_path / "pusta.sqlite3").conn.close()
    assert backup.daily_backup_if_due(tmp_path / "pusta.sqlite3", tmp_path / "kopie", NOW) is None
    assert not (tmp_path / "kopie").exists()


def test_prune_keeps_the_newest_n(live, folder):
    made = [backup.make_backup(live, folder, NOW + timedelta(days=d), "dzienna") for d in range(5)]
    removed = backup.prune(folder, keep=3)
    assert sorted(removed) == made[:2]
    assert [b.path for b in backup.list_backups(folder)] == made[:1:-1]


def test_prune_never_deletes_the_backup_just_made(live, folder):
    # A clock set back: the new backup sorts as the oldest, yet survives.
    newer = [backup.make_backup(live, folder, NOW + timedelta(days=d), "dzienna") for d in range(1, 4)]
    just_made = backup.make_backup(live, folder, NOW, "reczna")
    backup.prune(folder, keep=2, protect=just_made)
    assert just_made.exists()
    assert {b.path for b in backup.list_backups(folder)} == {just_made, newer[2], newer[1]}


def test_daily_backup_prunes_to_keep(live, folder):
    for d in range(4):
        backup.daily_backup_if_due(live, folder, NOW + timedelta(days=d), keep=2)
    assert [b.created.day for b in backup.list_backups(folder)] == [27, 26]


# --- integrity ----------------------------------------------------------------------------------------

def test_integrity_problem_none_for_a_healthy_or_missing_database(live, tmp_path):
    assert backup.integrity_problem(live) is None
    assert backup.integrity_problem(tmp_path / "jeszcze-nie-ma.sqlite3") is None


def test_integrity_problem_reports_overwritten_pages_in_polish(live):
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 200)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    corrupt(live)
    problem = backup.integrity_problem(live)
    assert problem is not None and "uszkodzony" in problem and live.name in problem


def test_integrity_problem_reports_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "ksef-local.sqlite3"
    path.write_bytes(b"To nie jest baza danych, tylko list od cioci. " * 200)
    assert backup.integrity_problem(path) == (
        "Plik ksef-local.sqlite3 nie jest bazą danych SQLite (jest nadpisany albo to inny plik).")
    assert path.read_bytes().startswith(b"To nie jest")  # the check changed nothing


def test_on_start_returns_the_problem_and_makes_no_backup_of_a_broken_file(tmp_path):
    home = tmp_path / "data"
    home.mkdir()
    config.database_path(home).write_bytes(b"\x00garbage" * 1000)
    problem = backup.on_start(home, config.database_path(home), NOW)
    assert problem and "nie jest bazą danych" in problem
    assert backup.list_backups(backup.backups_dir(home)) == []


def test_on_start_makes_the_daily_backup_of_a_healthy_database(live, folder):
    assert backup.on_start(live.parent, live, NOW) is None
    assert [b.reason for b in backup.list_backups(folder)] == ["dzienna"]


def test_damaged_database_page_serves_the_polish_page_on_every_url(home):
    home.mkdir(parents=True)
    path = make_db(config.database_path(home))
    folder = backup.backups_dir(home)
    backup.make_backup(path, folder, NOW, "dzienna")
    path.write_bytes(b"\x00nie baza" * 1000)
    app = create_app(home, testing=True)
    assert "nie jest bazą danych SQLite" in database_problem(app)
    client = app.test_client()
    for url in ("/", "/faktury", "/ustawienia/kopie"):
        response = client.get(url)
        assert response.status_code == 503
        html = response.get_data(as_text=True)
        assert "Baza danych jest uszkodzona" in html
        assert "nie jest bazą danych SQLite" in html
        assert "24.11.2026 09:30" in html and "kopia dzienna" in html
        assert str(folder) in html
    with client.get("/static/app.css") as stylesheet:
        assert stylesheet.status_code == 200
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_damaged_database_page_has_the_same_security_as_every_page(home):
    """It shows the data folder's paths: no launch cookie, no page; no CSRF token, no POST."""
    home.mkdir(parents=True)
    config.database_path(home).write_bytes(b"\x00nie baza" * 1000)
    app = create_app(home, testing=True, launch_secret="sekret-uruchomienia")
    client = app.test_client()
    refused = client.get("/")
    assert refused.status_code == 403 and "Brak dostępu" in refused.get_data(as_text=True)
    assert str(home) not in refused.get_data(as_text=True)
    assert client.get("/?klucz=sekret-uruchomienia").status_code == 403   # the secret is no entry ticket
    handed = client.get(new_entry_url(app, ""))
    assert handed.status_code == 302
    assert client.get("/").status_code == 503
    posted = client.post("/faktury/nowa")
    assert posted.status_code == 403 and "token formularza" in posted.get_data(as_text=True)


# --- the migration hook ---------------------------------------------------------------------------------

def test_migration_hook_backs_up_an_old_schema_before_migrating(tmp_path):
    home = tmp_path / "data"
    home.mkdir()
    path = make_db(config.database_path(home), target=2)
    database = dbmod.connect(path)
    seen = []

    def hook(current: int, target: int) -> None:
        seen.append((current, target))
        backup.before_migration(home, path, NOW)(current, target)

    assert dbmod.migrate(database, before_migration=hook) == len(dbmod.MIGRATIONS)
    database.conn.close()
    assert seen == [(2, len(dbmod.MIGRATIONS))]
    [made] = backup.list_backups(backup.backups_dir(home))
    assert made.reason == "przed-migracja"
    conn = sqlite3.connect(made.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # the copy is of the old schema
    assert "ksef_outbox" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()


def test_migration_hook_not_called_when_nothing_is_pending(live):
    database = dbmod.connect(live)
    calls = []
    dbmod.migrate(database, before_migration=lambda c, t: calls.append((c, t)))
    database.conn.close()
    assert calls == []


def test_migration_hook_makes_no_backup_of_a_brand_new_database(tmp_path):
    home = tmp_path / "data"
    home.mkdir()
    path = config.database_path(home)
    database = dbmod.connect(path)
    dbmod.migrate(database, before_migration=backup.before_migration(home, path, NOW))
    database.conn.close()
    assert not backup.backups_dir(home).exists()


def test_migration_hook_failure_stops_the_migration(tmp_path):
    home = tmp_path / "data"
    home.mkdir()
    path = make_db(config.database_path(home), target=1)
    backup.backups_dir(home).write_text("a file where the folder should be")
    database = dbmod.connect(path)
    with pytest.raises(backup.BackupError):
        dbmod.migrate(database, before_migration=backup.before_migration(home, path, NOW))
    assert dbmod.schema_version(database) == 1
    database.conn.close()


# --- restore -------------------------------------------------------------------------------------------

def test_restore_brings_back_old_data_and_keeps_a_safety_copy(live, folder):
    old = backup.make_backup(live, folder, NOW, "dzienna")
    set_company_name(live, "Nowa nazwa po kopii")
    open_connection = dbmod.connect(live)  # the app keeps per-thread connections open
    assert open_connection.execute("SELECT name FROM company").fetchone()[0] == "Nowa nazwa po kopii"

    safety = backup.restore(live, old, NOW + timedelta(hours=1))

    assert open_connection.execute("SELECT name FROM company").fetchone()[0] == "Piekarnia Zażółć"
    open_connection.conn.close()
    assert company_name(live) == "Piekarnia Zażółć"
    assert safety.name == "ksef-local-2026-11-24T103000-przed-przywroceniem.sqlite3"
    assert company_name(safety) == "Nowa nazwa po kopii"
    assert old.exists() and backup.integrity_problem(live) is None


def test_restore_of_an_older_schema_migrates_it(live, tmp_path):
    folder = backup.backups_dir(live.parent)
    folder.mkdir()
    old_schema = make_db(folder / "ksef-local-2026-01-02T030405-dzienna.sqlite3", target=1)
    sqlite3.connect(old_schema).execute("PRAGMA journal_mode = DELETE").connection.close()
    backup.restore(live, old_schema, NOW)
    conn = sqlite3.connect(live)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(dbmod.MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM invoices").fetchone()[0] == 0
    conn.close()


def test_restore_refuses_a_database_that_is_not_ksef_local(live, folder, tmp_path):
    foreign = folder / "ksef-local-2026-11-20T100000-reczna.sqlite3"
    folder.mkdir()
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE przepisy (nazwa TEXT)")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(backup.BackupError, match="nie jest kopią bazy ksef-local"):
        backup.restore(live, foreign, NOW)
    assert company_name(live) == "Piekarnia Zażółć"
    assert [b.path for b in backup.list_backups(folder)] == [foreign]  # refused before any safety copy


def test_restore_refuses_a_backup_from_a_newer_version(live, folder):
    newer = backup.make_backup(live, folder, NOW, "reczna")
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {len(dbmod.MIGRATIONS) + 1}").connection.close()
    with pytest.raises(backup.BackupError, match="nowszej wersji"):
        backup.restore(live, newer, NOW)


def test_restore_refuses_a_corrupted_backup(live, folder):
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 200)
    conn.close()
    damaged = backup.make_backup(live, folder, NOW, "reczna")
    corrupt(damaged)
    set_company_name(live, "Bieżąca")
    with pytest.raises(backup.BackupError, match="nie można przywrócić"):
        backup.restore(live, damaged, NOW + timedelta(hours=1))
    assert company_name(live) == "Bieżąca"


def test_find_backup_refuses_a_name_not_in_the_listing(live, folder):
    made = backup.make_backup(live, folder, NOW, "reczna")
    assert backup.find_backup(folder, made.name).path == made
    for name in ("../ksef-local.sqlite3", str(made), "ksef-local-2026-11-24T093000-reczna.sqlite3/..", ""):
        with pytest.raises(backup.BackupError, match="Nie ma takiej kopii"):
            backup.find_backup(folder, name)


# --- the screen ----------------------------------------------------------------------------------------

@pytest.fixture
def web(client: Client, company) -> Client:
    """The app with the Kopia zapasowa screen (registered here until create_app registers it)."""
    if "backup" not in client.app.blueprints:
        client.app.register_blueprint(backup_web.bp)
    check = client.app.extensions[backup_web.EXTENSION]
    check.clock, check.checked_on = (lambda: NOW), NOW.date()
    return client


def home_of(client: Client) -> Path:
    return client.app.extensions["ksef_local"].home


def test_page_lists_backups_in_polish(web):
    folder = backup.backups_dir(home_of(web))
    backup.make_backup(config.database_path(home_of(web)), folder, NOW, "przed-migracja")
    html = web.get("/ustawienia/kopie").get_data(as_text=True)
    assert "Kopia zapasowa" in html
    assert "24.11.2026 09:30" in html and "przed aktualizacją bazy" in html and " kB" in html
    assert str(folder) in html


def test_page_without_backups_says_so(web):
    html = web.get("/ustawienia/kopie").get_data(as_text=True)
    assert "Nie ma jeszcze żadnej kopii zapasowej." in html
    assert "Przywróć wybraną kopię" not in html


def test_make_now_makes_a_manual_backup(web):
    response = web.post("/ustawienia/kopie/teraz")
    assert response.status_code == 302
    [made] = backup.list_backups(backup.backups_dir(home_of(web)))
    assert made.reason == "reczna" and company_name(made.path) == COMPANY_FORM["name"]
    html = web.get(response.headers["Location"]).get_data(as_text=True)
    assert "Zrobiono kopię zapasową z 24.11.2026 09:30" in html


def test_make_now_needs_the_csrf_token(web):
    assert web.raw.post("/ustawienia/kopie/teraz").status_code == 403
    assert backup.list_backups(backup.backups_dir(home_of(web))) == []


def test_restore_from_the_page(web, db):
    folder = backup.backups_dir(home_of(web))
    old = backup.make_backup(config.database_path(home_of(web)), folder, NOW, "dzienna")
    parties.save_company(db, party_forms.validate_company({**COMPANY_FORM, "name": "Zmieniona"}))
    web.app.extensions[backup_web.EXTENSION].clock = lambda: NOW + timedelta(hours=2)

    response = web.post("/ustawienia/kopie/przywroc", data={"nazwa": old.name, "potwierdzam": "1"}, htmx=True)

    assert response.status_code == 204 and "przywrocono=" in response.headers["HX-Redirect"]
    assert parties.get_company(db)["name"] == COMPANY_FORM["name"]  # the open connection sees it
    html = web.get(response.headers["HX-Redirect"]).get_data(as_text=True)
    assert "Przywrócono kopię z 24.11.2026 09:30" in html
    assert "Baza sprzed przywrócenia jest zachowana jako kopia z 24.11.2026 11:30" in html
    safety = backup.list_backups(folder)[0]
    assert safety.reason == "przed-przywroceniem" and company_name(safety.path) == "Zmieniona"


def test_within_one_second_the_backup_written_last_lists_first(live, folder):
    manual = backup.make_backup(live, folder, NOW, "reczna")
    safety = backup.make_backup(live, folder, NOW, "przed-przywroceniem")
    assert [b.path for b in backup.list_backups(folder)] == [safety, manual]


def test_restore_needs_the_confirmation(web, db):
    folder = backup.backups_dir(home_of(web))
    old = backup.make_backup(config.database_path(home_of(web)), folder, NOW, "dzienna")
    response = web.post("/ustawienia/kopie/przywroc", data={"nazwa": old.name})
    assert response.status_code == 422 and "Zaznacz" in response.get_data(as_text=True)
    assert len(backup.list_backups(folder)) == 1


@pytest.mark.parametrize("name", ["../ksef-local.sqlite3", "/etc/passwd", "ksef-local.sqlite3", ""])
def test_restore_refuses_a_name_not_in_the_listing(web, name):
    folder = backup.backups_dir(home_of(web))
    backup.make_backup(config.database_path(home_of(web)), folder, NOW, "dzienna")
    response = web.post("/ustawienia/kopie/przywroc", data={"nazwa": name, "potwierdzam": "1"})
    assert response.status_code == 404
    assert "Nie ma takiej kopii zapasowej" in response.get_data(as_text=True)
    assert len(backup.list_backups(folder)) == 1


def test_daily_backup_on_the_first_request_of_a_new_day(web):
    folder = backup.backups_dir(home_of(web))
    web.get("/ustawienia/kopie")
    assert backup.list_backups(folder) == []  # the day's backup belongs to start-up (backup.on_start)
    web.app.extensions[backup_web.EXTENSION].clock = lambda: NOW + timedelta(days=1)
    web.get("/ustawienia/kopie")
    web.get("/ustawienia/kopie")
    assert [b.reason for b in backup.list_backups(folder)] == ["dzienna"]


# --- create_app wiring (runs once create_app calls backup.on_start / backup.before_migration) -----------

def test_create_app_serves_the_integrity_page_for_a_broken_database(home):
    from ksef_local.app import create_app

    home.mkdir(parents=True)
    config.database_path(home).write_bytes(b"\x00nie baza" * 1000)
    app = create_app(home, testing=True)
    assert "ksef_local" not in app.extensions and "nie jest bazą danych" in database_problem(app)
    response = app.test_client().get("/")
    assert response.status_code == 503 and "Baza danych jest uszkodzona" in response.get_data(as_text=True)
    assert config.database_path(home).read_bytes().startswith(b"\x00nie baza")  # untouched


def test_create_app_backs_up_an_old_schema_before_migrating(home):
    from ksef_local.app import create_app

    home.mkdir(parents=True)
    make_db(config.database_path(home), target=2)
    create_app(home, testing=True)
    reasons = {b.reason for b in backup.list_backups(backup.backups_dir(home))}
    assert reasons == {"dzienna", "przed-migracja"}
    assert company_name(config.database_path(home)) == "Piekarnia Zażółć"


def test_create_app_on_a_new_data_folder_makes_no_backup(home):
    from ksef_local.app import create_app

    create_app(home, testing=True)
    assert backup.list_backups(backup.backups_dir(home)) == []


def test_restore_keeps_numbers_issued_after_the_backup(live, folder):
    """An older copy must not make invoice numbers issued since then available again (KSeF 440)."""
    from ksef_local.store import invoices, parties

    from .factories import TODAY, issued

    old = backup.make_backup(live, folder, NOW, "dzienna")
    database = dbmod.connect(live)
    invoice_id = issued(database)
    number = invoices.get_invoice(database, invoice_id)["number"]
    database.conn.close()

    backup.restore(live, old, NOW + timedelta(hours=1))

    restored = dbmod.connect(live)
    assert restored.execute("SELECT count(*) FROM invoices WHERE number = ?", [number]).fetchone()[0] == 0
    assert restored.execute("SELECT 1 FROM used_numbers WHERE number = ?", [number]).fetchone()
    company = parties.get_company(restored)
    assert invoices.next_number(restored, company, "VAT", TODAY) != number
    restored.conn.close()
