"""One running app per data folder, and how a second launch finds the first.

The first launch takes an OS lock on ``instance.lock`` (freed by the OS when the process dies, even on
kill -9) and writes ``instance.json`` (port and launch secret, readable only by the user) once it serves.
A second launch cannot take the lock: it reads the file, checks that the running app answers, asks it for
a one-time entry code (the secret travels in a request header, never on a command line) and opens that
instead of starting a second server and sender. A stale file left by a killed process never
blocks a start, because its lock is free: the new launch takes over and rewrites the file.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ksef_local.desktop.lock import InstanceLock, try_lock
from ksef_local.web.security import ENTRY_PATH, SECRET_HEADER, entry_url

LOCK_FILE = "instance.lock"
INFO_FILE = "instance.json"


@dataclass(frozen=True)
class Running:
    """What a second launch needs to reach the running app."""

    port: int
    secret: str
    pid: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Instance:
    """This process's claim on a data folder; release() (or process death) gives it up."""

    def __init__(self, home: Path, lock: InstanceLock) -> None:
        self.home = home
        self._lock = lock
        self._published = False

    def publish(self, port: int, secret: str) -> None:
        """Write the port and launch secret for a second launch, readable only by this user (0600)."""
        path = self.home / INFO_FILE
        temporary = path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"port": port, "secret": secret, "pid": os.getpid()}, handle)
        os.replace(temporary, path)  # a reader never sees half a file
        self._published = True

    def release(self) -> None:
        """Remove the instance file, then free the lock (in that order, so a new launch finds no stale file)."""
        if self._published:
            (self.home / INFO_FILE).unlink(missing_ok=True)
            self._published = False
        self._lock.release()


def claim(home: Path) -> Instance | None:
    """Become the data folder's running instance; None when another live process already is."""
    lock = try_lock(home / LOCK_FILE)
    return None if lock is None else Instance(home, lock)


def read_running(home: Path) -> Running | None:
    """The running instance's port and secret from its file, or None when there is no usable file."""
    try:
        data = json.loads((home / INFO_FILE).read_text(encoding="utf-8"))
        return Running(port=int(data["port"]), secret=str(data["secret"]), pid=int(data.get("pid", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def answers(running: Running, timeout: float = 2.0) -> bool:
    """Whether the app on that port is ours and serving (its stylesheet needs no launch cookie)."""
    try:
        with urllib.request.urlopen(f"{running.base_url}/static/app.css", timeout=timeout) as response:
            return response.status == 200 and response.headers.get("Server") == "ksef-local"
    except (OSError, urllib.error.URLError):
        return False


def entry_url_of(running: Running, timeout: float = 5.0) -> str | None:
    """A fresh one-time entry URL from the running app, or None when it does not give one."""
    ask = urllib.request.Request(f"{running.base_url}{ENTRY_PATH}", data=b"", method="POST",
                                 headers={SECRET_HEADER: running.secret})
    try:
        with urllib.request.urlopen(ask, timeout=timeout) as response:
            code = response.read(200).decode("ascii").strip()
    except (OSError, urllib.error.URLError, UnicodeDecodeError):
        return None
    return entry_url(running.base_url, code) if code else None


def find_running(home: Path, wait: float = 15.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> Running | None:
    """Wait up to `wait` seconds for the lock holder to publish its file and answer (it may be starting)."""
    deadline = clock() + wait
    while True:
        running = read_running(home)
        if running is not None and answers(running):
            return running
        if clock() >= deadline:
            return None
        sleep(0.2)
