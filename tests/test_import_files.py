"""Importing many files and odd ones (issue 11 items 12 and 14): every file gets a line, none stops the rest.

/dev/zero was read without bound, a FIFO blocked forever, a folder gave a traceback; 1500 files were refused
as "too big" (Werkzeug's limit of 1000 form parts). The command-line cases run in a real subprocess with a
timeout, so a regression fails instead of hanging the test run.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ksef_local.app import create_app
from ksef_local.errors import UserError
from ksef_local.fa3 import MAX_DOCUMENT_BYTES
from ksef_local.forms import parties as party_forms
from ksef_local.store import imports, invoices, numbering, parties
from ksef_local.web import uploads

from .conftest import COMPANY_FORM, REPO
from .factories import dump, issued, post_files

TIMEOUT = 60


def foreign_xml(db, number: str) -> bytes:
    """An FA(3) file of "another program": one of ours, renumbered, its original removed from the book."""
    invoice_id = issued(db)
    xml = invoices.get_invoice(db, invoice_id)["xml"]
    number_now = invoices.get_invoice(db, invoice_id)["number"].encode()
    db.execute("DELETE FROM used_numbers WHERE invoice_id = ?", [invoice_id])
    db.execute("DELETE FROM invoice_lines WHERE invoice_id = ?", [invoice_id])
    db.execute("DELETE FROM invoices WHERE id = ?", [invoice_id])
    return xml.replace(number_now, number.encode())


def numbered(xml: bytes, count: int) -> list[bytes]:
    return [xml.replace(b"OBCA/WZOR", f"OBCA/{n}".encode()) for n in range(1, count + 1)]


def ksef_local(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the real command (this worktree's package) with a timeout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "KSEF_LOCAL_SECRET_BACKEND": "file"}
    return subprocess.run([sys.executable, "-m", "ksef_local", "--data-dir", str(home), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture
def book(tmp_path):
    """A data folder with the company and an FA(3) file to import (numbered OBCA/WZOR)."""
    home = tmp_path / "dane"
    app = create_app(home)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    xml = foreign_xml(db, "OBCA/WZOR")
    # The numbering journal still knows the removed invoice's number; the database learns it back now, as the
    # next start would (store/numbering.py), so the commands below print only what they are about.
    numbering.sync(db, home)
    return home, db, xml


def count(db) -> int:
    return db.execute("SELECT count(*) FROM invoices").fetchone()[0]


# --- the command line ---------------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="needs a POSIX system")
@pytest.mark.parametrize("name, message", [
    ("/dev/zero", "To nie jest zwykły plik, tylko urządzenie. Importować można pliki XML zapisane na dysku."),
    ("potok.xml", "To nie jest zwykły plik, tylko potok (FIFO). Importować można pliki XML zapisane na dysku."),
    ("folder", "To jest folder, a nie plik. Podaj pliki XML z tego folderu, np. folder/*.xml."),
    ("brak.xml", "Nie ma takiego pliku."),
])
def test_import_refuses_what_is_not_a_regular_file_without_reading_it(book, tmp_path, name, message):
    home, db, _ = book
    os.mkfifo(tmp_path / "potok.xml")  # nobody ever writes to it: opening it to read would wait forever
    (tmp_path / "folder").mkdir()
    before = dump(db)
    done = ksef_local(home, "import", name, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"{name}: {message}\n" and done.stdout == ""
    assert dump(db) == before


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="needs a POSIX system")
def test_import_reports_every_file_and_goes_on_after_each_failure(book, tmp_path):
    home, db, xml = book
    first, second = numbered(xml, 2)
    (tmp_path / "1.xml").write_bytes(first)
    (tmp_path / "2.xml").write_bytes(second)
    (tmp_path / "zla.xml").write_bytes(b"<Faktura>")
    os.mkfifo(tmp_path / "potok.xml")
    (tmp_path / "folder").mkdir()
    done = ksef_local(home, "import", "1.xml", "potok.xml", "/dev/zero", "folder", "zla.xml", "2.xml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["1.xml: zaimportowano fakturę OBCA/1", "2.xml: zaimportowano fakturę OBCA/2",
                                        "Zaimportowano 2 z 6 plików."]
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == ["potok.xml", "/dev/zero", "folder",
                                                                          "zla.xml"]
    assert count(db) == 2


def test_read_import_file_refuses_a_folder(tmp_path):
    with pytest.raises(UserError, match="To jest folder, a nie plik"):
        imports.read_import_file(tmp_path)


class CountingStream(io.BytesIO):
    """A file that says how much of it was read."""

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken = getattr(self, "taken", 0) + len(data)
        return data


def test_an_upload_longer_than_it_says_is_read_only_up_to_the_limit():
    stream = CountingStream(b"<a>" + b" " * (5 * MAX_DOCUMENT_BYTES))
    with pytest.raises(UserError, match=r"Plik jest za duży \(ponad 1 MB\)"):
        imports.read_limited(stream)
    assert stream.taken == MAX_DOCUMENT_BYTES + 1


def test_an_unforeseen_failure_of_one_file_is_reported_and_the_next_file_imported(book, caplog):
    _, db, xml = book

    def broken() -> bytes:
        raise RuntimeError("disk gone")

    results = list(imports.import_each(db, [("zepsuty.xml", broken), ("dobry.xml", lambda: numbered(xml, 1)[0])]))
    assert [r.ok for r in results] == [False, True]
    assert results[0].message.startswith("Nie udało się zaimportować tego pliku z powodu błędu programu")
    assert results[1].number == "OBCA/1"
    assert "zepsuty.xml" in caplog.text  # the traceback goes to the log for whoever investigates


# --- the import screen -------------------------------------------------------------------------------------

def test_a_year_of_invoices_imports_at_once(client, company, db):
    xml = foreign_xml(db, "OBCA/WZOR")
    files = [(data, f"faktura-{n}.xml") for n, data in enumerate(numbered(xml, 1500), start=1)]
    response = post_files(client, files)
    assert response.status_code == 200 and "Wynik importu: 1500 z 1500" in response.text
    assert count(db) == 1500 and "faktura-1500.xml" in response.text


def test_too_many_files_at_once_says_the_count_is_the_problem(client, company, db):
    before = dump(db)
    response = post_files(client, [(b"<a/>", f"{n}.xml") for n in range(uploads.MAX_IMPORT_FILES + 1)],
                          token_in_form=True)
    assert response.status_code == 413
    assert "Naraz można zaimportować najwyżej 5000 plików, a wybrano więcej." in response.text
    assert "za duż" not in response.text
    assert dump(db) == before


# Werkzeug leaves the parts it read before aborting to the garbage collector (web/uploads.py).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_countless_parts_are_refused_while_parsing_with_the_same_message(client, company, db):
    before = dump(db)
    response = post_files(client, [(b"", f"{n}.xml") for n in range(2 * uploads.MAX_IMPORT_FILES)],
                          token_in_form=True)
    assert response.status_code == 413
    assert "Naraz można zaimportować najwyżej 5000 plików, a wybrano więcej." in response.text
    assert dump(db) == before


def test_files_too_large_together_say_so(client, company, db, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_IMPORT_BYTES", 2_000_000)  # instead of sending 100 MB
    before = dump(db)
    response = post_files(client, [(b" " * 900_000, f"{n}.xml") for n in range(3)])
    assert response.status_code == 413
    assert "Wybrane pliki mają razem ponad 2 MB: tyle nie da się przesłać naraz." in response.text
    assert dump(db) == before


def test_other_uploads_keep_the_small_limit_and_say_so(client, company):
    response = post_files(client, [(b"x" * (7 * 1024 * 1024), "cert.pem")], "/ustawienia/certyfikaty/dodaj",
                          "certificate")
    assert response.status_code == 413
    assert "Przesłane pliki są za duże: razem mogą mieć najwyżej 6 MB." in response.text
