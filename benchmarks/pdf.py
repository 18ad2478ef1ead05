"""Print the milliseconds to render an invoice PDF: one page, and a 200-line invoice (targets 150 ms and 1.5 s).

Usage: .venv/bin/python benchmarks/pdf.py [--repeat R]
Warm process (the first render, which imports xhtml2pdf and loads the fonts, is reported apart).
Both invoices are accepted in KSeF, so the timing includes the KOD I QR code.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.datastructures import MultiDict  # noqa: E402

from ksef_local import printing  # noqa: E402
from ksef_local.app import create_app  # noqa: E402
from ksef_local.forms import parties as party_forms  # noqa: E402
from ksef_local.store import invoices, outbox, parties  # noqa: E402

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
QR_HOST = "https://qr-test.ksef.mf.gov.pl"


def make_invoice(db, lines: int) -> int:
    buyer = parties.create_buyer(db, party_forms.validate_buyer(
        {"kind": "company", "name": "Hurtownia Łódź Sp. z o.o.", "nip": "7740001454",
         "address_l1": "ul. Piotrkowska 1", "address_l2": "90-001 Łódź"}))
    invoice_id = invoices.create_draft(db, TODAY)
    invoices.set_buyer(db, invoice_id, buyer)
    form = MultiDict({"issue_date": "2026-11-24", "sale_date": "2026-11-24", "currency": "PLN",
                      "payment_form": "6", "due_date": "2026-12-08"})
    for i in range(1, lines + 1):
        for key, value in (("id", ""), ("name", f"Pieczywo żytnie nr {i}, krojone, pakowane po 500 g"),
                           ("unit", "szt."), ("quantity", str(i % 7 + 1)), ("unit_price", "4,50"),
                           ("rate", ("5", "8", "23")[i % 3]), ("discount_percent", ""), ("before", "0")):
            form.add(f"line_{key}", value)
    invoices.save_draft(db, invoice_id, form)
    invoices.issue(db, invoice_id, TODAY, NOW)
    outbox.enqueue(db, [invoice_id], NOW, reachable=True)
    row = outbox.current(db, invoice_id)
    outbox.transition(db, row["id"], NOW, "done", "benchmark",
                      ksef_number=f"5261040828-20261124-0100001AF6{invoice_id:02d}-AB")
    return invoice_id


def timed(db, invoice_id: int, repeat: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        data = printing.render_invoice_pdf(db, invoice_id, qr_host=QR_HOST, now=NOW)
        times.append((time.perf_counter() - start) * 1000)
        size = len(data)
    return times, size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("KSEF_LOCAL_SECRET_BACKEND", "file")
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Path(home), testing=True)
        db = app.extensions["ksef_local"].db()
        parties.save_company(db, party_forms.validate_company({
            "nip": "5261040828", "name": "Piekarnia Zażółć Sp. z o.o.", "address_l1": "ul. Kwiatowa 1",
            "address_l2": "00-001 Warszawa", "place": "Warszawa", "bank_account": "61 1090 1014 0000 0712 1981 2874",
            "number_pattern": "FV/{rrrr}/{mm}/{nr}", "number_reset": "month",
            "correction_pattern": "KOR/{rrrr}/{mm}/{nr}", "correction_reset": "month"}))
        small, large = make_invoice(db, 3), make_invoice(db, 200)
        start = time.perf_counter()
        printing.render_invoice_pdf(db, small, qr_host=QR_HOST, now=NOW)
        print(f"first render (imports, fonts): {(time.perf_counter() - start) * 1000:.0f} ms")
        for label, invoice_id, target, repeat in (("1 page, 3 lines", small, 150, args.repeat),
                                                  ("200 lines", large, 1500, max(3, args.repeat // 3))):
            times, size = timed(db, invoice_id, repeat)
            print(f"{label:>16}: median {statistics.median(times):.0f} ms, min {min(times):.0f} ms, "
                  f"max {max(times):.0f} ms ({size // 1024} KB; target < {target} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
