"""The company profile (Sprzedawca) and buyers (Kontrahenci): storage, search, and their Party snapshots.

What users type is cleaned by forms/parties.py before it reaches these functions.
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlite_utils

from ksef_local import formats
from ksef_local.clock import utc_now
from ksef_local.core.model import Party
from ksef_local.errors import NotFound
from ksef_local.store import db as dbmod
from ksef_local.store.search import fold

MAX_SEARCH_WORDS = 20  # more words only narrow a search the first twenty already made


def _stamp() -> str:
    return utc_now().isoformat(timespec="seconds")


def search_key(*parts: str | None) -> str:
    """Build a buyer's search text: case and Polish letters folded (store/search.py), so that "lodz" and
    "łódź" find "Łódź" (SQLite's LIKE folds ASCII only)."""
    return fold(" ".join(p for p in parts if p))


# --- company -----------------------------------------------------------------------------------------


def get_company(db: sqlite_utils.Database) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM company WHERE id = 1"))
    return rows[0] if rows else None


def save_company(db: sqlite_utils.Database, values: dict[str, Any]) -> None:
    row = {**values, "id": 1, "country": "PL", "updated_at": _stamp()}
    columns = ", ".join(row)
    params = ", ".join(f":{k}" for k in row)
    with dbmod.write(db):
        db.execute(f"INSERT OR REPLACE INTO company ({columns}) VALUES ({params})", row)


def company_party(row: Mapping[str, Any]) -> Party:
    return Party(
        name=row["name"], kind="company", nip=row["nip"], country="PL",
        address_l1=row["address_l1"], address_l2=row.get("address_l2"),
        email=row.get("email"), phone=row.get("phone"),
    )


# --- buyers ------------------------------------------------------------------------------------------


def _buyer_search_key(v: Mapping[str, Any]) -> str:
    return search_key(v.get("name"), v.get("nip"), v.get("vat_eu"), v.get("tax_id"),
                      v.get("address_l1"), v.get("address_l2"))


def create_buyer(db: sqlite_utils.Database, values: dict[str, Any]) -> int:
    row = {**values, "search_key": _buyer_search_key(values), "created_at": _stamp(), "updated_at": _stamp()}
    columns = ", ".join(row)
    with dbmod.write(db):
        cursor = db.execute(f"INSERT INTO buyers ({columns}) VALUES ({', '.join(':' + k for k in row)})", row)
        return cursor.lastrowid


def update_buyer(db: sqlite_utils.Database, buyer_id: int, values: dict[str, Any]) -> None:
    get_buyer(db, buyer_id)
    row = {**values, "search_key": _buyer_search_key(values), "updated_at": _stamp(), "id": buyer_id}
    assignments = ", ".join(f"{k} = :{k}" for k in row if k != "id")
    with dbmod.write(db):
        db.execute(f"UPDATE buyers SET {assignments} WHERE id = :id", row)


def get_buyer(db: sqlite_utils.Database, buyer_id: int) -> dict[str, Any]:
    rows = list(db.query("SELECT * FROM buyers WHERE id = ?", [buyer_id]))
    if not rows:
        raise NotFound("Nie ma takiego kontrahenta.")
    return rows[0]


def same_identifier(db: sqlite_utils.Database, values: Mapping[str, Any],
                    exclude_id: int | None = None) -> list[dict[str, Any]]:
    """Other buyers with the NIP (or EU VAT number) of these cleaned values, so a form can offer them."""
    if values.get("kind") == "company" and values.get("nip"):
        where, params = "kind = 'company' AND nip = ?", [values["nip"]]
    elif values.get("kind") == "eu" and values.get("vat_eu"):
        where, params = "kind = 'eu' AND country = ? AND vat_eu = ?", [values["country"], values["vat_eu"]]
    else:
        return []
    return list(db.query(f"SELECT * FROM buyers WHERE {where} AND id != ? ORDER BY id",
                         [*params, exclude_id or 0]))


def search_buyers(db: sqlite_utils.Database, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """Find buyers by any part of the name, NIP or address, case-insensitively for Polish letters."""
    # Each word adds an instr() to the WHERE; SQLite refuses an expression deeper than 1000 (sqlite.org/limits.html).
    words = search_key(query).split()[:MAX_SEARCH_WORDS]
    where = " AND ".join("instr(search_key, ?) > 0" for _ in words) or "1"
    sql = f"SELECT * FROM buyers WHERE {where} ORDER BY name COLLATE NOCASE, id LIMIT ?"
    return list(db.query(sql, [*words, limit]))


def buyer_party(row: Mapping[str, Any]) -> Party:
    return Party(
        name=row["name"], kind=row["kind"], nip=row.get("nip"), country=row.get("country") or "PL",
        vat_eu=row.get("vat_eu"), tax_id=row.get("tax_id"),
        address_l1=row.get("address_l1") or "", address_l2=row.get("address_l2"),
        email=row.get("email"), phone=row.get("phone"),
    )


def buyer_identifier(party: Party) -> str:
    """Describe the buyer's tax identifier for lists and pages."""
    if party.kind == "company":
        return f"NIP {formats.format_nip(party.nip)}"
    if party.kind == "eu":
        return f"VAT UE {party.country}{party.vat_eu}"
    if party.kind == "foreign":
        return f"{party.country} {party.tax_id}"
    return "osoba prywatna"
