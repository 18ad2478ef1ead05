"""The accountant's month packages ("Dla księgowej"): each request, how far the worker is, the finished file and
the outcome (table month_exports); and what a month holds, without the bytes, for the package to read one
invoice at a time.

The rule of a month (docs/architecture.md): sales invoices by their issue date, purchase invoices by the day
KSeF received them (the KSeF number's date), the latter of the current KSeF environment only.
Only the newest request counts: a new one supersedes any queued or running one, whose worker then stops.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlite_utils

from ksef_local.store import db as dbmod
from ksef_local.store.db import iso

FINAL = ("done", "failed")
SUPERSEDED = "Zastąpione nowszym poleceniem"
SALES_COLUMNS = ("id, kind, source, number, issue_date, sale_date, buyer_name, buyer_nip, currency, net_total,"
                 " vat_total, gross_total, due_date, paid, paid_date, ksef_number")


@dataclass(frozen=True)
class MonthExport:
    id: int
    month: str
    environment: str
    state: str
    done: int
    total: int
    file_name: str | None
    size: int | None
    sales: int | None
    purchases: int | None
    result_title: str | None
    result_advice: str | None
    result_detail: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_final(self) -> bool:
        return self.state in FINAL

    @property
    def succeeded(self) -> bool:
        return self.state == "done"


def _export(row: dict[str, Any]) -> MonthExport:
    return MonthExport(**{**row, "created_at": datetime.fromisoformat(row["created_at"]),
                          "updated_at": datetime.fromisoformat(row["updated_at"])})


def month_range(month: str) -> tuple[str, str]:
    """The first day of the month and of the next one, as ISO dates: day >= start AND day < end."""
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, 1).isoformat(), date(year + (mon == 12), mon % 12 + 1, 1).isoformat()


# -- requests and progress ----------------------------------------------------------------------------------

def request(db: sqlite_utils.Database, month: str, environment: str, now: datetime) -> int:
    """Ask for a month's package; an earlier request still waiting or running is superseded."""
    with dbmod.write(db):
        db.execute("UPDATE month_exports SET state = 'failed', result_title = ?, updated_at = ?"
                   " WHERE state IN ('queued', 'running')", [SUPERSEDED, iso(now)])
        return db.execute("INSERT INTO month_exports (month, environment, state, created_at, updated_at)"
                          " VALUES (?, ?, 'queued', ?, ?)", [month, environment, iso(now), iso(now)]).lastrowid


def get(db: sqlite_utils.Database, export_id: int) -> MonthExport | None:
    rows = list(db.query("SELECT * FROM month_exports WHERE id = ?", [export_id]))
    return _export(rows[0]) if rows else None


def latest(db: sqlite_utils.Database) -> MonthExport | None:
    rows = list(db.query("SELECT * FROM month_exports ORDER BY id DESC LIMIT 1"))
    return _export(rows[0]) if rows else None


def claim(db: sqlite_utils.Database, now: datetime) -> MonthExport | None:
    """The oldest waiting request, now running (None when there is none)."""
    with dbmod.write(db):
        rows = list(db.query("SELECT * FROM month_exports WHERE state = 'queued' ORDER BY id LIMIT 1"))
        if not rows:
            return None
        db.execute("UPDATE month_exports SET state = 'running', updated_at = ? WHERE id = ?",
                   [iso(now), rows[0]["id"]])
    return get(db, rows[0]["id"])


def progress(db: sqlite_utils.Database, export_id: int, done: int, total: int, now: datetime) -> bool:
    """Note how many invoices are in the package; False when the request was superseded (stop working)."""
    with dbmod.write(db):
        return db.execute("UPDATE month_exports SET done = ?, total = ?, updated_at = ? WHERE id = ? AND"
                          " state = 'running'", [done, total, iso(now), export_id]).rowcount == 1


def finish(db: sqlite_utils.Database, export_id: int, now: datetime, *, ok: bool, title: str, advice: str = "",
           detail: str = "", file_name: str | None = None, size: int | None = None, sales: int | None = None,
           purchases: int | None = None) -> bool:
    """Record the outcome of a running request; False when it was superseded meanwhile."""
    with dbmod.write(db):
        return db.execute(
            "UPDATE month_exports SET state = ?, result_title = ?, result_advice = ?, result_detail = ?,"
            " file_name = ?, size = ?, sales = ?, purchases = ?, updated_at = ? WHERE id = ? AND state = 'running'",
            ["done" if ok else "failed", title, advice, detail, file_name, size, sales, purchases, iso(now),
             export_id]).rowcount == 1


def abandon_unfinished(db: sqlite_utils.Database, now: datetime, title: str, advice: str) -> int:
    """Requests a previous run of the program left queued or running end as failed, saying why."""
    with dbmod.write(db):
        return db.execute("UPDATE month_exports SET state = 'failed', result_title = ?, result_advice = ?,"
                          " updated_at = ? WHERE state IN ('queued', 'running')", [title, advice, iso(now)]).rowcount


# -- what a month holds -------------------------------------------------------------------------------------

def sales_of_month(db: sqlite_utils.Database, month: str) -> list[dict[str, Any]]:
    """The issued sales invoices (also imported ones) dated in the month, without their XML, by date."""
    start, end = month_range(month)
    return list(db.query(f"SELECT {SALES_COLUMNS} FROM invoices WHERE status = 'issued' AND issue_date >= ? AND"
                         " issue_date < ? ORDER BY issue_date, id", [start, end]))


def counts(db: sqlite_utils.Database, month: str, environment: str) -> tuple[int, int]:
    """How many sales invoices (by issue date) and purchase invoices (by receipt in KSeF) the month has."""
    start, end = month_range(month)
    sales = db.execute("SELECT count(*) FROM invoices WHERE status = 'issued' AND issue_date >= ? AND"
                       " issue_date < ?", [start, end]).fetchone()[0]
    bought = db.execute("SELECT count(*) FROM purchases WHERE environment = ? AND received_day >= ? AND"
                        " received_day < ?", [environment, start, end]).fetchone()[0]
    return sales, bought
