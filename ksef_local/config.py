"""Settings and the two places on disk: bundled resources (read-only) and user data."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from ksef_local import disk
from ksef_local.errors import UserError

APP_NAME = "ksef-local"
ENV_HOME = "KSEF_LOCAL_HOME"


def resources_dir() -> Path:
    """Return the folder holding templates/ and static/ (inside the bundle when frozen)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    return Path(__file__).resolve().parent.parent


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the user data folder: --data-dir, else $KSEF_LOCAL_HOME, else the OS default.

    The folder is created private (0700) and what an older version left in it is made private at every
    start (disk.make_private): it holds invoices and buyers. A folder that cannot be created is a UserError.
    """
    if explicit:
        chosen = Path(explicit)
    elif os.environ.get(ENV_HOME):
        chosen = Path(os.environ[ENV_HOME])
    else:
        chosen = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    chosen = chosen.expanduser().resolve()
    try:
        disk.make_dir(chosen)
    except OSError as exc:
        raise UserError(f"Nie można utworzyć folderu danych {chosen} ({exc.strerror or exc}). Wybierz inny folder "
                        "(--data-dir) albo sprawdź uprawnienia folderu nadrzędnego.", 503) from exc
    disk.make_private(chosen)
    return chosen


def database_path(home: Path) -> Path:
    """Return the path of the SQLite database inside a data folder."""
    return home / "ksef-local.sqlite3"
