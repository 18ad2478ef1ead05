"""Every invoice number ever used, also outside the database: the numbering journal beside it.

KSeF refuses a repeated seller NIP + RodzajFaktury + P_2 for ten years (ksef-docs
faktury/weryfikacja-faktury.md), and a number given twice is a legal problem before it is a KSeF one. The
``used_numbers`` and ``number_counters`` tables guarantee that inside one database, but a database that is
emptied (a truncated file, a bad sync), deleted or replaced by an older copy forgets them. So each number is
also appended to ``numeracja.jsonl`` in the data folder (one JSON object per line, 0600, fsync'ed) before
the transaction that uses it commits, and at every start the journal and the tables are merged both ways
(``sync``): a new or restored database learns every number that was used, and an install older than the
journal gets one written from its tables. A line left half-written by a crash is skipped; at worst that
number is skipped too (a gap, never a number given twice). docs/architecture.md, "Never a number twice".
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlite_utils

from ksef_local import disk
from ksef_local.store import db as dbmod

log = logging.getLogger(__name__)

JOURNAL = "numeracja.jsonl"


@dataclass(frozen=True)
class Entry:
    """One used number (number, kind) and/or the counter of its series (series, period, counter)."""

    number: str | None = None
    kind: str | None = None
    series: str | None = None
    period: str | None = None
    counter: int | None = None
    used_at: str | None = None


def journal_path(home: Path) -> Path:
    """Return where a data folder's numbering journal is."""
    return Path(home) / JOURNAL


def journal_of(db: sqlite_utils.Database) -> Path | None:
    """The journal beside a database's file; None for a database in memory (tests, references)."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return journal_path(Path(file).parent) if file else None
    return None


# --- the file -----------------------------------------------------------------------------------------

def append(path: Path, entries: list[Entry]) -> None:
    """Append entries to the journal and fsync it (private file; a torn last line is closed first)."""
    if not entries:
        return
    data = "".join(json.dumps({k: v for k, v in asdict(e).items() if v is not None}, ensure_ascii=False) + "\n"
                   for e in entries).encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, disk.PRIVATE_FILE)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a crash cut the last line: do not glue the next one to it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path) -> list[Entry]:
    """Return the journal's entries; lines that cannot be read (a torn line) are skipped and logged."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    entries, skipped = [], 0
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            entry = Entry(**{k: fields[k] for k in Entry.__dataclass_fields__ if k in fields})
        except (ValueError, TypeError):
            skipped += 1
            continue
        if entry.number or (entry.series and entry.period and isinstance(entry.counter, int)):
            entries.append(entry)
        else:
            skipped += 1
    if skipped:
        log.warning("numbering journal %s: %d unreadable line(s) skipped", path, skipped)
    return entries


def has_history(home: Path) -> bool:
    """Whether the data folder's journal records at least one used number."""
    return any(e.number for e in read(journal_path(home)))


# --- the tables -----------------------------------------------------------------------------------------

def mark_used(db: sqlite_utils.Database, number: str, kind: str, invoice_id: int | None, used_at: str,
              slot: tuple[str, str, int] | None = None) -> None:
    """Record a number as used, in the table and in the journal (call inside the write transaction).

    slot: the (series, period, counter) the number was given from, so a new database continues the series.
    A number carried over without its invoice (invoice_id NULL, e.g. after a restore) gets the invoice
    that now uses it; the journal is written before the transaction commits, so it never misses a number.
    """
    db.execute("INSERT INTO used_numbers (number, kind, invoice_id, used_at) VALUES (?, ?, ?, ?)"
               " ON CONFLICT (number) DO UPDATE SET invoice_id = coalesce(used_numbers.invoice_id,"
               " excluded.invoice_id)", [number, kind, invoice_id, used_at])
    path = journal_of(db)
    if path is not None:
        series, period, counter = slot or (None, None, None)
        append(path, [Entry(number, kind, series, period, counter, used_at)])


def _merge(db: sqlite_utils.Database, entries: list[Entry]) -> None:
    for e in entries:
        if e.number:
            db.execute("INSERT OR IGNORE INTO used_numbers (number, kind, invoice_id, used_at)"
                       " VALUES (?, ?, NULL, ?)", [e.number, e.kind or "VAT", e.used_at or ""])
        if e.series and e.period and isinstance(e.counter, int):
            db.execute("INSERT INTO number_counters (series, period, last) VALUES (?, ?, ?)"
                       " ON CONFLICT (series, period) DO UPDATE SET last = max(last, excluded.last)",
                       [e.series, e.period, e.counter])


def sync(db: sqlite_utils.Database, home: Path) -> int:
    """Merge the journal and the tables both ways; return how many numbers the database learnt.

    Run at every start (create_app) and after every restore, so no database, however it came to be,
    gives out a number that the journal knows.
    """
    path = journal_path(home)
    entries = read(path)
    with dbmod.write(db):
        before = db.execute("SELECT count(*) FROM used_numbers").fetchone()[0]
        _merge(db, entries)
        learnt = db.execute("SELECT count(*) FROM used_numbers").fetchone()[0] - before
        known = {e.number for e in entries if e.number}
        counters = {}
        for e in entries:
            if e.series and e.period and isinstance(e.counter, int):
                counters[(e.series, e.period)] = max(e.counter, counters.get((e.series, e.period), 0))
        missing = [Entry(number, kind, used_at=used_at) for number, kind, used_at in
                   db.execute("SELECT number, kind, used_at FROM used_numbers ORDER BY used_at, number")
                   if number not in known]
        missing += [Entry(series=series, period=period, counter=last) for series, period, last in
                    db.execute("SELECT series, period, last FROM number_counters ORDER BY series, period")
                    if counters.get((series, period), 0) < last]
        append(path, missing)  # an install older than the journal, or numbers the journal lost
    if learnt:
        log.warning("numbering journal: %d used number(s) the database did not know were added", learnt)
    return learnt


def keep_used_numbers_of(db_path: Path, other: Path) -> None:
    """Carry every number another database file (a backup, the copy made before a restore) used.

    An older copy must not make numbers that were already issued (perhaps sent) available again
    (lkosson/profak issue #145: numbering restarted after moving the database, duplicates in KSeF).
    """
    live = sqlite3.connect(Path(db_path).resolve().as_uri(), uri=True, timeout=10, isolation_level=None)
    try:
        live.execute("ATTACH DATABASE ? AS other", [f"{Path(other).resolve().as_uri()}?mode=ro"])
        tables = {r[0] for r in live.execute("SELECT name FROM other.sqlite_master WHERE type = 'table'")}
        live.execute("BEGIN IMMEDIATE")
        if "used_numbers" in tables:
            # invoice_id may point at an invoice this database does not have; the number still stays used.
            live.execute("INSERT OR IGNORE INTO used_numbers (number, kind, invoice_id, used_at)"
                         " SELECT number, kind, NULL, used_at FROM other.used_numbers")
        if "number_counters" in tables:
            live.execute("INSERT INTO number_counters (series, period, last)"
                         " SELECT series, period, last FROM other.number_counters WHERE true"
                         " ON CONFLICT (series, period) DO UPDATE SET last = max(last, excluded.last)")
        live.execute("COMMIT")
        live.execute("DETACH DATABASE other")
    finally:
        live.close()
