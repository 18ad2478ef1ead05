"""Fill 100,000 invoices and print the server time per list page and per search (target: < 50 ms).

Usage: .venv/bin/python benchmarks/list_pages.py [--count N] [--repeat R]
Measures both the query alone and the whole request through Flask (query + template), in milliseconds.
"""
from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from ksef_local.forms import parties as party_forms
from ksef_local.store import invoice_list

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ksef_local.app import create_app
from ksef_local.store import db as dbmod  # noqa: E402
from ksef_local.store import parties  # noqa: E402
from ksef_local.web import csrf_token  # noqa: E402

CITIES = ["Łódź", "Kraków", "Gdańsk", "Poznań", "Wrocław", "Żywiec", "Szczecin", "Lublin"]
WORDS = ["Hurtownia", "Piekarnia", "Usługi", "Sklep", "Zakład", "Firma", "Studio", "Warsztat"]


def fill(db, count: int) -> None:
    parties.save_company(db, party_forms.validate_company({
        "nip": "5261040828", "name": "Benchmark Sp. z o.o.", "address_l1": "ul. Testowa 1",
        "number_pattern": "FV/{rrrr}/{mm}/{nr}", "number_reset": "month",
        "correction_pattern": "KOR/{rrrr}/{mm}/{nr}", "correction_reset": "month"}))
    rng = random.Random(7)
    buyers = []
    for i in range(500):
        name = f"{rng.choice(WORDS)} {rng.choice(CITIES)} {i}"
        buyers.append((parties.create_buyer(db, {"kind": "consumer", "name": name, "nip": None, "country": "PL",
                                                 "vat_eu": None, "tax_id": None, "address_l1": "", "address_l2": None,
                                                 "email": None, "phone": None}), name))
    start = date(2024, 1, 1)
    rows = []
    for i in range(count):
        buyer_id, name = rng.choice(buyers)
        day = start + timedelta(days=i * 1000 // count)
        gross = rng.randint(100, 10_000_000)
        rows.append((f"FV/{day:%Y/%m}/{i + 1}", day.isoformat(), buyer_id, name, gross))
    with dbmod.write(db):
        db.conn.executemany(
            "INSERT INTO invoices (kind, status, number, issue_date, sale_date, buyer_id, buyer_name, gross_total,"
            " net_total, vat_total, xml, xml_sha256, created_at, updated_at)"
            " VALUES ('VAT', 'issued', ?, ?, ?2, ?, ?, ?, 0, 0, x'3c782f3e', 'x', 'x', 'x')", rows)


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        begin = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - begin) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Path(home))
        db = app.extensions["ksef_local"].db()
        begin = time.perf_counter()
        fill(db, args.count)
        print(f"Filled {args.count:,} invoices in {time.perf_counter() - begin:.1f} s")
        client = app.test_client()
        last_page = -(-args.count // invoice_list.PAGE_SIZE)
        cases = [
            ("page 1, newest first", {}),
            ("page 100", {"strona": 100}),
            ("last page", {"strona": last_page}),
            ("month filter", {"miesiac": "2025-06"}),
            ("status filter", {"status": "issued", "strona": 10}),
            ("buyer filter", {"kontrahent": 42}),
            ("sort by buyer", {"sort": "nabywca", "kier": "asc"}),
            ("sort by gross", {"sort": "brutto"}),
            ("search 'łódź'", {"q": "łódź"}),
            ("search 'ŁÓDŹ 12'", {"q": "ŁÓDŹ 12"}),
            ("search number 'FV/2025/06'", {"q": "FV/2025/06"}),
            ("search no match", {"q": "nieistniejący"}),
        ]
        print(f"{'case':32} {'query ms':>9} {'request ms':>11}")
        with app.test_request_context():
            headers = {"HX-Request": "true", "X-CSRF-Token": csrf_token()}
        worst = 0.0
        for label, params in cases:
            filters = {"month": params.get("miesiac"), "status": params.get("status"),
                       "buyer_id": params.get("kontrahent"), "q": params.get("q"),
                       "sort": params.get("sort", "data"), "desc": params.get("kier") != "asc",
                       "page": params.get("strona", 1)}
            query_ms = timed(functools.partial(invoice_list.list_invoices, db, **filters), args.repeat)
            request_ms = timed(functools.partial(client.get, "/", query_string=params, headers=headers), args.repeat)
            worst = max(worst, request_ms)
            print(f"{label:32} {query_ms:9.2f} {request_ms:11.2f}")
        print(f"worst request: {worst:.2f} ms (target < 50 ms) -> {'OK' if worst < 50 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
