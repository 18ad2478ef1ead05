"""Print how long a one-page PDF takes while a 2000-line invoice renders beside it (issue 11, item 15).

Usage: .venv/bin/python benchmarks/pdf_concurrency.py [--lines N] [--repeat R]
Two threads, as two requests of the app would be: one prints the big invoice, the other prints a 3-line invoice R
times while the big one is still rendering. It prints the one-page time alone (warm), the one-page times during the
big render and how long the big render took. The big invoice's lines are checked against the print bound first.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pdf import NOW, QR_HOST, make_invoice  # noqa: E402  (benchmarks/pdf.py)

from ksef_local import printing  # noqa: E402
from ksef_local.app import create_app  # noqa: E402
from ksef_local.forms import parties as party_forms  # noqa: E402
from ksef_local.store import parties  # noqa: E402


def one_page_ms(state, invoice_id: int) -> float:
    start = time.perf_counter()
    printing.render_invoice_pdf(state.db(), invoice_id, qr_host=QR_HOST, now=NOW)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("KSEF_LOCAL_SECRET_BACKEND", "file")
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Path(home), testing=True)
        state = app.extensions["ksef_local"]
        db = state.db()
        parties.save_company(db, party_forms.validate_company({
            "nip": "5261040828", "name": "Piekarnia Zażółć Sp. z o.o.", "address_l1": "ul. Kwiatowa 1",
            "address_l2": "00-001 Warszawa", "place": "Warszawa", "bank_account": "61 1090 1014 0000 0712 1981 2874",
            "number_pattern": "FV/{rrrr}/{mm}/{nr}", "number_reset": "month",
            "correction_pattern": "KOR/{rrrr}/{mm}/{nr}", "correction_reset": "month"}))
        small, big = make_invoice(db, 3), make_invoice(db, args.lines)
        one_page_ms(state, small)  # imports and fonts
        alone = [one_page_ms(state, small) for _ in range(args.repeat)]
        print(f"one page alone: median {statistics.median(alone):.0f} ms")

        done = threading.Event()
        big_time: list[float] = []

        def render_big() -> None:
            start = time.perf_counter()
            try:
                printing.render_invoice_pdf(state.db(), big, qr_host=QR_HOST, now=NOW)
            finally:
                big_time.append(time.perf_counter() - start)
                done.set()

        worker = threading.Thread(target=render_big, name="big-pdf")
        worker.start()
        time.sleep(1.0)  # let the big render get going (its XML read and QR code take a fraction of this)
        during = []
        for _ in range(args.repeat):
            if done.is_set():
                break
            during.append(one_page_ms(state, small))
        finished_first = done.is_set()
        worker.join()
        if during:
            print(f"one page while {args.lines} lines render: median {statistics.median(during):.0f} ms, "
                  f"max {max(during):.0f} ms ({len(during)} PDFs)")
        if finished_first:
            print("note: the big render ended before all one-page PDFs were made")
        print(f"{args.lines}-line invoice: {big_time[0]:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
