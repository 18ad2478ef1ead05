"""An exclusive lock on a file in the data folder, released by the OS when the process dies.

Used so that only one process per data folder runs the KSeF sender (the app, or `ksef-local send
--wait` when the app is not running): two senders could post the same invoice twice. A kill -9 frees
the lock at once, so a crash never leaves the queue stuck.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from ksef_local import disk

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(handle: IO[bytes]) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
else:
    import fcntl

    def _lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


class InstanceLock:
    """A held lock; release() (or process exit) frees it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def release(self) -> None:
        if not self._handle.closed:
            self._handle.close()


def try_lock(path: Path) -> InstanceLock | None:
    """Take the lock without waiting; None when another process holds it. The file is private (0600)."""
    handle = disk.open_private(path)
    if _lock(handle):
        return InstanceLock(handle)
    handle.close()
    return None
