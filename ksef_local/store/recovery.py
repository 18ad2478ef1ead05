"""What the data folder's files say at start, and the repairs the damaged-database page offers.

``check_at_start`` runs before anything writes (create_app): a folder the program cannot write to, a
database that fails quick_check, or a database that is missing or holds nothing although backups or the
numbering journal prove there was one (a truncated file, a bad sync: damage, not a first run). Then the
app serves only the page that explains it (web/damaged.py), which offers ``restore_in_place`` (a backup in
place of the damaged file) and, for a missing or empty database, ``start_new``. Both keep every file they
replace in ``kopie/odlozone-<time>/`` and carry every invoice number that the numbering journal and the
backups know into the new database, so no number is ever given twice (store/numbering.py).
"""
from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ksef_local import disk
from ksef_local.formats import pl_datetime, plural
from ksef_local.store import backup, numbering
from ksef_local.store import db as dbmod

log = logging.getLogger(__name__)

DAMAGED, EMPTY, FOLDER = "uszkodzona", "pusta", "folder"
ASIDE = "odlozone-"
COMPANIONS = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class StartProblem:
    """Why the app serves only the explanation page: kind (DAMAGED, EMPTY, FOLDER) and a Polish message."""

    kind: str
    message: str

    @property
    def repairable(self) -> bool:
        """Whether the page can repair it (a folder that cannot be written cannot be repaired from inside)."""
        return self.kind != FOLDER


def check_at_start(home: Path, db_path: Path, now: datetime) -> StartProblem | None:
    """Check the data folder before anything writes to it; on success the day's backup is made."""
    unwritable = disk.write_problem(home, db_path)
    if unwritable:
        log.error("data folder cannot be written: %s", unwritable)
        return StartProblem(FOLDER, unwritable)
    damaged = backup.on_start(home, db_path, now)
    if damaged:
        return StartProblem(DAMAGED, damaged)
    emptied = emptied_problem(home, db_path)
    if emptied:
        log.error("database missing or empty next to its history: %s", emptied)
        return StartProblem(EMPTY, emptied)
    return None


def emptied_problem(home: Path, db_path: Path) -> str | None:
    """Return why a missing or empty database is damage (backups or used numbers exist), in Polish, or None.

    A first run has neither; a database that lost its content keeps them, because they live in other files.
    """
    if backup.has_data(db_path):
        return None
    backups = backup.list_backups(backup.backups_dir(home))
    numbers = {e.number for e in numbering.read(numbering.journal_path(home)) if e.number}
    if not backups and not numbers:
        return None
    if not db_path.exists():
        what = f"Brakuje pliku bazy danych {db_path.name}"
    elif db_path.stat().st_size == 0:
        what = f"Plik bazy danych {db_path.name} jest pusty (0 bajtów)"
    else:
        what = f"Plik bazy danych {db_path.name} nie zawiera żadnych danych"
    proofs = []
    if backups:
        count = len(backups)
        verb = "są" if count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14) else "jest"  # 1, 5: "jest"
        proofs.append(f"w folderze kopii {verb} {plural(count, 'kopia zapasowa')} (najnowsza z "
                      f"{pl_datetime(backups[0].created)})")
    if numbers:
        proofs.append(f"dziennik numeracji ({numbering.JOURNAL}) pamięta {plural(len(numbers), 'numer')} "
                      "wystawionych faktur")
    return (f"{what}, a {' i '.join(proofs)}. To nie jest pierwsze uruchomienie: baza została najpewniej "
            "wyczyszczona albo usunięta (na przykład przez błąd dysku albo synchronizacji). Program niczego nie "
            "zmienił i nie nada ponownie żadnego numeru faktury, który był już użyty.")


# --- repairs ----------------------------------------------------------------------------------------------

def _set_aside(db_path: Path, now: datetime) -> Path | None:
    """Move the database and its -wal/-shm/-journal into kopie/odlozone-<time>/; return that folder or None.

    Nothing is deleted (the damaged file may still help to recover data); and a stale -wal must never stay
    beside a new database file, or SQLite would replay its pages into it.
    """
    present = [Path(f"{db_path}{c}") for c in COMPANIONS if Path(f"{db_path}{c}").exists()]
    if not present:
        return None
    folder = backup.backups_dir(db_path.parent) / f"{ASIDE}{now.strftime(backup.STAMP)}"
    n = 2
    while folder.exists():
        folder, n = folder.with_name(f"{ASIDE}{now.strftime(backup.STAMP)}-{n}"), n + 1
    disk.make_dir(folder)
    for path in present:
        os.replace(path, folder / path.name)
    backup.fsync(db_path.parent)
    log.warning("set the damaged database aside in %s", folder)
    return folder


def _healthy_backups(home: Path) -> list[Path]:
    return [b.path for b in backup.list_backups(backup.backups_dir(home)) if backup.integrity_problem(b.path) is None]


def restore_in_place(home: Path, db_path: Path, name: str, now: datetime) -> Path | None:
    """Put the listed backup `name` in place of a damaged, emptied or missing database; return the aside folder.

    The copy is made, migrated and given every used number (journal and all healthy backups) under a
    temporary name; only when it passes quick_check are the old files set aside and the copy renamed into
    place, so a failure on the way leaves the folder as it was.
    """
    chosen = backup.find_backup(backup.backups_dir(home), name)
    backup.check_restorable(chosen.path)
    temporary = db_path.with_name(f".{db_path.name}.przywracanie")
    _remove(temporary)
    try:
        disk.create_file(temporary)
        dst = sqlite3.connect(temporary, isolation_level=None)
        try:
            backup.copy_into(chosen.path, dst)
        finally:
            dst.close()
        backup.finish_restore(temporary, now, keep_from=_healthy_backups(home))
        _salvage_numbers(temporary, db_path)
        _single_file(temporary)
        problem = backup.integrity_problem(temporary)
        if problem:
            raise backup.BackupError(f"Przywrócona kopia nie przeszła sprawdzenia: {problem} Nic nie zmieniono.")
        backup.fsync(temporary)
        aside = _set_aside(db_path, now)
        os.replace(temporary, db_path)
        backup.fsync(db_path.parent)
    except sqlite3.Error as exc:
        raise backup.BackupError(f"Nie udało się przywrócić kopii ({exc}). Nic nie zmieniono.") from exc
    finally:
        _remove(temporary)
    log.info("restored %s in place of the damaged database", chosen.name)
    return aside


def start_new(home: Path, db_path: Path, now: datetime) -> Path | None:
    """Start an empty database in place of a missing or emptied one, keeping every used number."""
    aside = _set_aside(db_path, now)
    fresh = dbmod.connect(db_path)
    try:
        dbmod.migrate(fresh)
    finally:
        fresh.conn.close()
    for other in _healthy_backups(home):
        numbering.keep_used_numbers_of(db_path, other)
    fresh = dbmod.connect(db_path)
    try:
        numbering.sync(fresh, home)
    finally:
        fresh.conn.close()
    log.warning("started a new database; used numbers kept")
    return aside


def _salvage_numbers(target: Path, damaged: Path) -> None:
    """Carry what numbers can still be read from the damaged file itself; a file too broken is skipped."""
    if not damaged.exists() or damaged.stat().st_size == 0:
        return
    try:
        numbering.keep_used_numbers_of(target, damaged)
    except sqlite3.Error as exc:
        log.warning("no used numbers could be read from the damaged database: %s", exc)


def _single_file(path: Path) -> None:
    """Fold a database's WAL back into its file, so that renaming the one file moves all of it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()


def _remove(path: Path) -> None:
    for companion in COMPANIONS:
        Path(f"{path}{companion}").unlink(missing_ok=True)
