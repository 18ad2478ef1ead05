"""The executable folder from build.spec: it builds, serves headless, and sends an invoice to the simulator."""
from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ksef_local.app import create_app
from ksef_local.forms import parties as party_forms
from ksef_local.printing import render
from ksef_local.store import parties

from .conftest import COMPANY_FORM, REPO
from .factories import issued
from .test_printing import pdf_pages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executable(tmp_path_factory) -> Path:
    """Build with PyInstaller into a temporary folder (Qt included, as shipped): about 2-4 minutes."""
    work = tmp_path_factory.mktemp("pyinstaller")
    started = time.monotonic()
    build = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(work / "dist"),
                            "--workpath", str(work / "build"), str(REPO / "build.spec")],
                           cwd=work, capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stderr[-5000:]
    folder = work / "dist" / "ksef-local"
    binary = folder / ("ksef-local.exe" if os.name == "nt" else "ksef-local")
    assert binary.exists()
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())
    print(f"build: {time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB")
    return binary


def test_the_executable_serves_and_sends_an_invoice(executable, tmp_path):
    home = tmp_path / "dane"
    app = create_app(home)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    issued(db)
    env = {**os.environ, "KSEF_LOCAL_SECRET_BACKEND": "file"}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)

    server = subprocess.Popen([str(executable), "--data-dir", str(home), "run", "--headless", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()
        assert line.startswith("ksef-local działa pod adresem http://127.0.0.1:"), server.stderr.read()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with browser.open(line.split()[-1], timeout=30) as response:  # the entry URL sets the launch cookie
            assert response.status == 200
            assert "FV/2026/11/1" in response.read().decode()
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0

    sent = subprocess.run([str(executable), "--data-dir", str(home), "send", "--all", "--wait", "--timeout", "120"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    status = subprocess.run([str(executable), "--data-dir", str(home), "status", "--json"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert status.returncode == 0, status.stderr
    listed = json.loads(status.stdout)
    assert [item["letter"] for item in listed] == ["A"]
    assert listed[0]["ksef_number"].startswith("5261040828-")


def test_the_executable_prints_a_big_invoice_in_its_worker_process(executable, tmp_path):
    """A big PDF renders in a spawned worker (printing/render.py): the frozen program must start that worker
    as itself, which multiprocessing.freeze_support() in cli.main makes work."""
    assert render.weight([render.LIMITS.in_process_weight]) > render.LIMITS.in_process_weight
    home = tmp_path / "dane"
    app = create_app(home)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    count = render.LIMITS.in_process_weight  # more than the process renders itself
    lines = [{"name": f"Towar {i}", "quantity": "1", "unit_price": "10", "rate": "23"} for i in range(1, count + 1)]
    issued(db, lines=lines)
    output = tmp_path / "duza.pdf"
    env = {**os.environ, "KSEF_LOCAL_SECRET_BACKEND": "file"}
    printed = subprocess.run([str(executable), "--data-dir", str(home), "pdf", "FV/2026/11/1", "-o", str(output)],
                             capture_output=True, text=True, env=env, timeout=300)
    assert printed.returncode == 0, printed.stdout + printed.stderr
    text = " ".join(pdf_pages(output.read_bytes()))
    assert "Towar 1 " in text and f"Towar {count} " in text
