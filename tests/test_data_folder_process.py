"""The data folder as a user meets it: the real `ksef-local run --headless` process over HTTP on a real folder.

An emptied database next to its backups, an old install's loose permissions, a read-only folder (run as
another user when the tests run as root, because root writes through any chmod) and a full disk (a small
tmpfs, when this machine lets the tests mount one).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
import requests

from ksef_local import config
from ksef_local.app import create_app
from ksef_local.desktop import instance, launcher
from ksef_local.desktop.lock import try_lock
from ksef_local.forms import parties as party_forms
from ksef_local.store import backup, invoices, numbering, parties

from .conftest import COMPANY_FORM, REPO
from .factories import issued
from .test_instance import wait_for_file

ENV = {**os.environ, "KSEF_LOCAL_SECRET_BACKEND": "file"}
NOBODY = 65534


def launch(home: Path, *, as_user: int | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "ksef_local", "--data-dir", str(home), "run", "--headless"]
    if as_user is not None:
        command = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO)


def entry(process: subprocess.Popen) -> tuple[str, str]:
    """The entry URL the process prints and its base."""
    line = process.stdout.readline()
    assert line.startswith("ksef-local działa pod adresem "), (line, process.stderr.read() if process.poll() else "")
    url = line.split()[-1]
    return url, re.match(r"http://127\.0\.0\.1:\d+", url).group(0)


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out, err


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def used_folder(home: Path) -> dict:
    """A data folder in use, program closed: FV/2026/11/1 in a backup, FV/2026/11/2 issued after it."""
    app = create_app(home, testing=True)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    first = invoices.get_invoice(db, issued(db))["number"]
    made = backup.make_backup(config.database_path(home), backup.backups_dir(home),
                              datetime(2026, 11, 24, 9, 30), "dzienna")
    second = invoices.get_invoice(db, issued(db))["number"]
    db.conn.close()
    return {"first": first, "second": second, "backup": made.name}


# --- item 8 and 10: the emptied database, the damaged page -----------------------------------------------

def test_run_on_the_emptied_database_shows_the_damage_and_restores_with_one_click(tmp_path):
    home = tmp_path / "dane"
    history = used_folder(home)
    os.truncate(config.database_path(home), 0)  # truncate -s0 ksef-local.sqlite3
    process = launch(home)
    try:
        url, base = entry(process)
        stranger = requests.get(base + "/", timeout=10)
        assert stranger.status_code == 403 and str(home) not in stranger.text  # no launch cookie, no paths
        browser = requests.Session()
        page = browser.get(url, timeout=10)
        assert page.status_code == 503 and "Baza danych zniknęła albo jest pusta" in page.text
        assert "Witaj w ksef-local" not in page.text and str(home) in page.text
        lock = try_lock(home / launcher.SENDER_LOCK)
        assert lock is not None  # nothing sends from a damaged folder
        lock.release()
        one_click = {"nazwa": history["backup"], "csrf_token": csrf(page.text)}  # the newest backup's button
        done = browser.post(base + "/naprawa/przywroc", data=one_click, timeout=30)
        assert done.status_code == 200 and "Przywrócono kopię z 24.11.2026 09:30" in done.text
        listing = browser.get(base + "/", timeout=10)
        assert history["first"] in listing.text and "Faktury sprzedaży" in listing.text
        assert try_lock(home / launcher.SENDER_LOCK) is None  # the sender started with the full app
    finally:
        out, err = stop(process)
    assert "jest pusty (0 bajtów)" in err and "Traceback" not in err
    db = create_app(home, testing=True).extensions["ksef_local"].db()
    assert invoices.next_number(db, parties.get_company(db), "VAT", datetime(2026, 11, 24)) == "FV/2026/11/3"


# --- item 11: permissions -----------------------------------------------------------------------------------

@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_run_makes_an_old_install_private_and_keeps_it_so(tmp_path):
    home = tmp_path / "dane"
    used_folder(home)
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    process = launch(home)
    try:
        entry(process)
        wait_for_file(home / instance.INFO_FILE)
        loose = {str(p.relative_to(home)): oct(stat.S_IMODE(p.stat().st_mode))
                 for p in [home, *home.rglob("*")] if stat.S_IMODE(p.stat().st_mode) & 0o077}
        names = {p.name for p in home.iterdir()}
    finally:
        stop(process)
    assert loose == {}
    assert {"ksef-local.sqlite3-wal", "ksef-local.sqlite3-shm", instance.INFO_FILE, instance.LOCK_FILE,
            launcher.SENDER_LOCK, launcher.SIMULATOR_STATE, numbering.JOURNAL} <= names


# --- item 13: a read-only folder, a full disk -------------------------------------------------------------

def other_user_or_skip() -> int | None:
    """Whom to run the app as so that chmod really stops writes: this user, or nobody when we are root."""
    if os.name == "nt":
        pytest.skip("POSIX permissions")
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, where chmod 0555 does not stop writes, and setpriv is missing to run as "
                    "another user")
    # The other user must be able to reach this Python and the project (not so in a chroot made with a 0700
    # root, or a project under /root): otherwise the test would fail for a reason that is not the app's.
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                            "-c", "import ksef_local"], capture_output=True, text=True, env=ENV, cwd=REPO,
                           timeout=60)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"running as root and user {NOBODY} cannot run this Python and project: {reason}")
    return NOBODY


def test_a_read_only_data_folder_is_said_in_polish_and_nothing_changes(tmp_path):
    as_user = other_user_or_skip()
    home = Path(tempfile.mkdtemp(prefix="ksef-ro-"))  # /tmp: another user can reach it, pytest's tmp cannot
    try:
        used_folder(home)
        if as_user is not None:
            for path in [home, *home.rglob("*")]:
                os.chown(path, as_user, as_user)
        before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
        os.chmod(home, 0o555)
        process = launch(home, as_user=as_user)
        try:
            url, _ = entry(process)
            page = requests.Session().get(url, timeout=10)
            assert page.status_code == 503 and "Nie można zapisywać w folderze danych" in page.text
            assert "Przywróć" not in page.text
        finally:
            _, err = stop(process)
        assert "jest tylko do odczytu" in err and "Traceback" not in err
        prefix = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups"] if as_user else []
        status = subprocess.run([*prefix, sys.executable, "-m", "ksef_local", "--data-dir", str(home), "status"],
                                capture_output=True, text=True, env=ENV, cwd=REPO, timeout=60)
        assert status.returncode == 2 and "tylko do odczytu" in status.stderr and "Traceback" not in status.stderr
        assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before
    finally:
        os.chmod(home, 0o700)
        shutil.rmtree(home)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs, when this machine lets the tests mount one (root on Linux); else skip, saying why."""
    mount_point = tmp_path / "maly-dysk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): the full disk is covered by "
                    "SQLite's own limit in tests/test_disk.py")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "zapychacz.bin"
    with open(filler, "wb", buffering=0) as handle:   # unbuffered: closing it has nothing left to write
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_a_full_disk_is_a_polish_page_and_loses_nothing(small_disk):
    home = small_disk / "dane"
    process = launch(home)
    try:
        url, base = entry(process)
        browser = requests.Session()
        wizard = browser.get(url, timeout=10)
        saved = browser.post(base + "/firma", data={**COMPANY_FORM, "csrf_token": csrf(wizard.text)}, timeout=10)
        assert saved.status_code == 200
        token = csrf(browser.get(base + "/kontrahenci/nowy", timeout=10).text)
        buyer = {"kind": "company", "name": "Hurtownia Łódź", "nip": "7740001454", "address_l1": "ul. Piotrkowska 1",
                 "address_l2": "90-001 Łódź", "csrf_token": token}
        filler = fill(small_disk)
        refused = browser.post(base + "/kontrahenci/nowy", data=buyer, timeout=10)
        assert refused.status_code == 507 and "Na dysku zabrakło miejsca" in refused.text
        cli = subprocess.run([sys.executable, "-m", "ksef_local", "--data-dir", str(home), "settings", "--nip",
                              "5261040828"], capture_output=True, text=True, env=ENV, cwd=REPO, timeout=60)
        assert cli.returncode == 2 and "Na dysku zabrakło miejsca" in cli.stderr and "Traceback" not in cli.stderr
        filler.unlink()
        again = browser.post(base + "/kontrahenci/nowy", data=buyer, timeout=10)
        assert again.status_code == 200 and "Hurtownia Łódź" in browser.get(base + "/kontrahenci/", timeout=10).text
        assert "Piekarnia Zażółć" in browser.get(base + "/firma", timeout=10).text  # saved before: still there
    finally:
        _, err = stop(process)
    assert "Traceback" not in err
