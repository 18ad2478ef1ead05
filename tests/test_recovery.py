"""A missing, emptied or damaged database is damage, not a first run: the page says so, repairs with one click,
and no invoice number is ever given twice (issue 11, items 8 and 10)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ksef_local import config
from ksef_local.app import create_app, database_problem
from ksef_local.store import backup, invoices, numbering, parties, recovery
from ksef_local.store import db as dbmod
from ksef_local.web.security import new_entry_url

from .conftest import Client
from .factories import TODAY, issued

NOW = datetime(2026, 11, 24, 9, 30)
SECRET = "sekret-uruchomienia"


@pytest.fixture
def history(home: Path, db, company) -> dict:
    """A data folder in use: FV/2026/11/1 in the newest backup, FV/2026/11/2 issued after it; program closed."""
    first = invoices.get_invoice(db, issued(db))["number"]
    made = backup.make_backup(config.database_path(home), backup.backups_dir(home), NOW, "dzienna")
    second = invoices.get_invoice(db, issued(db))["number"]
    db.conn.close()  # what closing the program leaves: no connection, the WAL folded into the file
    assert not Path(f"{config.database_path(home)}-wal").exists()
    return {"first": first, "second": second, "backup": made.name}


def emptied(home: Path) -> Path:
    """`truncate -s0 ksef-local.sqlite3` on a closed program."""
    path = config.database_path(home)
    with open(path, "r+b") as handle:
        handle.truncate(0)
    return path


def test_the_emptied_database_is_damage_not_a_first_run(home, history):
    path = emptied(home)
    app = create_app(home, testing=True)
    problem = database_problem(app)
    assert problem.startswith("Plik bazy danych ksef-local.sqlite3 jest pusty (0 bajtów), a w folderze kopii jest "
                              "1 kopia zapasowa (najnowsza z 24.11.2026 09:30) i dziennik numeracji")
    assert "pamięta 2 numery" in problem and "To nie jest pierwsze uruchomienie" in problem
    assert "ksef_local" not in app.extensions
    page = app.test_client().get("/")
    assert page.status_code == 503
    assert "Baza danych zniknęła albo jest pusta" in page.text and "Witaj w ksef-local" not in page.text
    assert "Przywróć najnowszą kopię" in page.text and "Zacznij od nowej bazy" in page.text
    assert path.stat().st_size == 0  # touched by nothing


def test_the_missing_database_next_to_backups_is_damage(home, history):
    backup.make_backup(config.database_path(home), backup.backups_dir(home), NOW.replace(hour=12), "reczna")
    for companion in ("", "-wal", "-shm"):
        Path(f"{config.database_path(home)}{companion}").unlink(missing_ok=True)
    app = create_app(home, testing=True)
    assert database_problem(app).startswith("Brakuje pliku bazy danych ksef-local.sqlite3, a w folderze kopii są "
                                            "2 kopie zapasowe (najnowsza z 24.11.2026 12:30)")
    assert not config.database_path(home).exists()  # not created by the check


def test_a_first_run_is_still_a_first_run(home):
    app = create_app(home, testing=True)
    assert database_problem(app) is None
    assert "Witaj w ksef-local" in app.test_client().get("/", follow_redirects=True).text


def test_one_click_restores_the_newest_backup_and_no_number_is_given_twice(home, history):
    emptied(home)
    app = create_app(home, testing=True)
    client = Client(app)
    restored = client.post("/naprawa/przywroc", data={"nazwa": history["backup"]})
    assert restored.status_code == 302
    assert restored.headers["Location"] == f"/ustawienia/kopie?przywrocono={history['backup']}"
    assert database_problem(app) is None
    screen = client.get(restored.headers["Location"])
    assert screen.status_code == 200 and "Przywrócono kopię z 24.11.2026 09:30" in screen.text
    assert history["first"] in client.get("/").text  # the backup's invoice is back
    db = app.extensions["ksef_local"].db()
    assert invoices.next_number(db, parties.get_company(db), "VAT", TODAY) == "FV/2026/11/3"  # /2 stays used
    [aside] = [p for p in backup.backups_dir(home).iterdir() if p.name.startswith(recovery.ASIDE)]
    assert (aside / "ksef-local.sqlite3").stat().st_size == 0  # the emptied file is kept, not deleted


def test_a_damaged_file_is_set_aside_and_the_backup_put_in_its_place(home, history):
    path = config.database_path(home)
    path.write_bytes(b"\x00nie baza" * 1000)
    app = create_app(home, testing=True)
    assert "nie jest bazą danych SQLite" in database_problem(app)
    page = app.test_client().get("/")
    assert "Baza danych jest uszkodzona" in page.text and "Zacznij od nowej bazy" not in page.text
    assert Client(app).post("/naprawa/przywroc", data={"nazwa": history["backup"]}).status_code == 302
    assert backup.integrity_problem(path) is None
    [aside] = [p for p in backup.backups_dir(home).iterdir() if p.name.startswith(recovery.ASIDE)]
    assert (aside / "ksef-local.sqlite3").read_bytes().startswith(b"\x00nie baza")
    db = dbmod.connect(path)
    assert db.execute("SELECT 1 FROM used_numbers WHERE number = ?", [history["second"]]).fetchone()


def test_start_new_keeps_the_numbers_when_there_is_no_backup(home, history):
    for made in backup.list_backups(backup.backups_dir(home)):
        made.path.unlink()
    emptied(home)
    app = create_app(home, testing=True)
    assert "dziennik numeracji (numeracja.jsonl) pamięta 2 numery" in database_problem(app)
    client = Client(app)
    page = client.get("/")
    assert "nie ma kopii zapasowych" in page.text and "Przywróć najnowszą kopię" not in page.text
    refused = client.post("/naprawa/nowa-baza", data={})
    assert refused.status_code == 422 and "Zaznacz, że rozumiesz" in refused.text
    assert database_problem(app) is not None and config.database_path(home).stat().st_size == 0
    started = client.post("/naprawa/nowa-baza", data={"potwierdzam": "1"})
    assert started.status_code == 302 and database_problem(app) is None
    assert "Witaj w ksef-local" in client.get("/", follow_redirects=True).text  # company data is gone
    db = app.extensions["ksef_local"].db()
    from ksef_local.forms import parties as party_forms

    from .conftest import COMPANY_FORM

    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    number = invoices.get_invoice(db, issued(db))["number"]
    assert number == "FV/2026/11/3"


def test_restoring_an_unknown_or_broken_backup_changes_nothing(home, history):
    path = emptied(home)
    app = create_app(home, testing=True)
    client = Client(app)
    unknown = client.post("/naprawa/przywroc", data={"nazwa": "../../etc/passwd"})
    assert unknown.status_code == 404 and "Nie ma takiej kopii" in unknown.text
    broken = backup.list_backups(backup.backups_dir(home))[0].path
    broken.write_bytes(b"zepsuta" * 100)
    refused = client.post("/naprawa/przywroc", data={"nazwa": broken.name})
    assert refused.status_code == 400 and "Tej kopii nie można przywrócić" in refused.text
    assert path.stat().st_size == 0 and database_problem(app) is not None
    assert [p.name for p in backup.backups_dir(home).iterdir() if p.name.startswith(recovery.ASIDE)] == []


def test_the_repair_has_the_same_security_as_every_page(home, history):
    """No launch cookie, no page (the paths are not shown); no CSRF token, no repair."""
    path = emptied(home)
    app = create_app(home, testing=True, launch_secret=SECRET)
    client = app.test_client()
    refused = client.get("/")
    assert refused.status_code == 403 and str(home) not in refused.text
    assert client.post("/naprawa/przywroc", data={"nazwa": history["backup"]}).status_code == 403
    client.get(new_entry_url(app, ""))
    page = client.get("/")
    assert page.status_code == 503 and str(home) in page.text
    no_token = client.post("/naprawa/przywroc", data={"nazwa": history["backup"]})
    assert no_token.status_code == 403 and "token formularza" in no_token.text
    foreign = client.post("/naprawa/przywroc", data={"nazwa": history["backup"]},
                          headers={"Origin": "http://evil.example", "X-CSRF-Token": Client(app).token})
    assert foreign.status_code == 403
    assert path.stat().st_size == 0 and database_problem(app) is not None
    done = client.post("/naprawa/przywroc", data={"nazwa": history["backup"]},
                       headers={"X-CSRF-Token": Client(app).token})
    assert done.status_code == 302
    assert client.get("/").status_code == 200  # the same cookie opens the full app
    assert app.test_client().get("/").status_code == 403  # and the full app asks for it too


def test_repair_calls_the_hooks_with_the_full_app(home, history):
    """The launcher starts the sender when the repair is done (cli/run.py)."""
    from ksef_local.app import on_repaired

    emptied(home)
    app = create_app(home, testing=True)
    seen = []
    on_repaired(app, seen.append)
    Client(app).post("/naprawa/przywroc", data={"nazwa": history["backup"]})
    [full] = seen
    assert full.extensions["ksef_local"] is app.extensions["ksef_local"]


def test_the_journal_alone_is_history_enough(home, company, db):
    """No backup yet (first day), one invoice issued, then the file is emptied: still damage."""
    issued(db)
    db.conn.close()
    emptied(home)
    problem = recovery.emptied_problem(home, config.database_path(home))
    assert problem and "pamięta 1 numer wystawionych faktur" in problem
    assert numbering.has_history(home)
