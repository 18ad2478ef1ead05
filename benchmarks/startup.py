"""Print the time from process start to the first HTTP 200 page: from source and from the built executable.

Usage: .venv/bin/python benchmarks/startup.py [--runs N]
Each run starts `ksef-local --data-dir NEW_FOLDER run --headless --port 0`, reads the address from its first line
("ksef-local działa pod adresem http://127.0.0.1:PORT/?klucz=..."), then GETs it with a cookie jar until it
answers 200. The executable is dist/ksef-local/ksef-local from `make dist`; without it that half is skipped.
Speed is only measured here, never asserted in tests.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os
import queue
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / ".venv" / "bin" / "ksef-local"
DIST = REPO / "dist" / "ksef-local"
EXECUTABLE = DIST / ("ksef-local.exe" if os.name == "nt" else "ksef-local")
PREFIX = "ksef-local działa pod adresem "
TIMEOUT = 60.0


def first_line(process: subprocess.Popen, timeout: float) -> str:
    """The first line of stdout, waited for at most timeout seconds (readline alone could block forever)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise RuntimeError(f"no address printed within {timeout:.0f} s") from None


def seconds_to_first_page(command: Path) -> float:
    """Start the app on a new data folder and return the seconds until its entry page answers 200."""
    env = {**os.environ, "KSEF_LOCAL_SECRET_BACKEND": "file"}  # no desktop keyring prompt in the way
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        process = subprocess.Popen([str(command), "--data-dir", home, "run", "--headless", "--port", "0"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            line = first_line(process, TIMEOUT)
            if not line.startswith(PREFIX):
                raise RuntimeError(f"unexpected first line: {line!r}")
            url = line[len(PREFIX):].strip()
            # The entry URL sets the launch cookie that every later request (the redirect, too) must carry.
            browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            while True:
                try:
                    with browser.open(url, timeout=TIMEOUT) as response:
                        if response.status == 200:
                            return time.perf_counter() - started
                except (urllib.error.URLError, ConnectionError):
                    pass
                if time.perf_counter() - started > TIMEOUT:
                    raise RuntimeError(f"no 200 from {url} within {TIMEOUT:.0f} s")
                time.sleep(0.01)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def folder_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("Process start -> first HTTP 200 (run --headless --port 0, a new data folder each run): the first run,")
    print(f"whose files may not be in the OS cache yet, then the median and min of the next {args.runs}")
    print(f"{'':22} {'first s':>8} {'median s':>9} {'min s':>7}")
    medians = {}
    for label, command in (("from source (.venv)", SOURCE), ("executable (dist/)", EXECUTABLE)):
        if not command.exists():
            hint = "make dist builds it" if command == EXECUTABLE else "make test or make run sets up .venv"
            print(f"{label:22} skipped: {command.relative_to(REPO)} is missing ({hint})")
            continue
        first = seconds_to_first_page(command)
        samples = [seconds_to_first_page(command) for _ in range(args.runs)]
        medians[label] = statistics.median(samples)
        print(f"{label:22} {first:8.2f} {medians[label]:9.2f} {min(samples):7.2f}")
    if len(medians) == 2:
        source, built = medians.values()
        print(f"executable / source (medians): {built / source:.2f}x")
    if DIST.is_dir():
        print(f"dist/ksef-local folder: {folder_mb(DIST):.0f} MB")


if __name__ == "__main__":
    main()
