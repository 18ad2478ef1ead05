"""The launch secret is on no process's command line (issue 11, item 9).

`ksef-local run --browser` opens "the browser" (here a stand-in named by $BROWSER, as Python's webbrowser
honours it) which, like a real browser, keeps the URL on its command line while it runs. Every local user
can read command lines (ps, /proc/PID/cmdline); what they find there must be useless: a one-time code,
spent by the first opening. The second launch and the first launch's printed address behave the same.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ksef_local.desktop import instance

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc (Linux)")

STAND_IN = """#!{python}
import subprocess, sys
url = sys.argv[1]
# like a browser: a long-lived process that keeps the URL on its command line
keeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", url], start_new_session=True,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open({log!r}, "a", encoding="utf-8") as log:
    log.write(f"{{keeper.pid}} {{url}}\\n")
"""


def every_command_line() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                continue   # the process ended meanwhile
    return found


def opened(log: Path, count: int, seconds: float = 30) -> list[tuple[int, str]]:
    deadline = time.monotonic() + seconds
    while True:
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        if len(lines) >= count:
            return [(int(pid), url) for pid, url in (line.split(" ", 1) for line in lines)]
        assert time.monotonic() < deadline, f"the browser was not opened {count} times: {lines}"
        time.sleep(0.1)


def status_of(url: str) -> int:
    """Open url as a new browser would (its own cookie jar); return the final status."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        with browser.open(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_the_launch_secret_is_on_no_command_line_and_what_is_there_opens_once(tmp_path):
    home, log, stand_in = tmp_path / "dane", tmp_path / "opened.log", tmp_path / "browser"
    stand_in.write_text(STAND_IN.format(python=sys.executable, log=str(log)), encoding="utf-8")
    stand_in.chmod(0o755)
    env = {**os.environ, "KSEF_LOCAL_SECRET_BACKEND": "file", "BROWSER": str(stand_in)}
    command = [sys.executable, "-m", "ksef_local", "--data-dir", str(home), "run", "--browser"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    keepers = []
    try:
        printed = first.stdout.readline().split()[-1]
        [(keeper, url)] = opened(log, 1)
        keepers.append(keeper)
        secret = json.loads((home / instance.INFO_FILE).read_text(encoding="utf-8"))["secret"]
        lines = every_command_line()
        assert any(url in line for line in lines)          # the stand-in browser holds its URL, as browsers do
        assert not any(secret in line for line in lines)   # but nowhere is the secret
        assert status_of(url) == 200                       # the first opening works…
        assert status_of(url) == 403                       # …and what `ps` shows is spent
        assert status_of(printed) == 200 and status_of(printed) == 403

        second = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
        assert second.returncode == 0, second.stderr
        [_, (keeper, again)] = opened(log, 2)
        keepers.append(keeper)
        assert again != url and not any(secret in line for line in every_command_line())
        assert status_of(again) == 200 and status_of(again) == 403
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)
        for pid in keepers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
