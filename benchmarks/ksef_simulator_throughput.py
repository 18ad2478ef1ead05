"""Print the simulator's throughput: invoices accepted per second (send + processing), memory and SQLite."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from tests.ksef_support import invoice_xml, running_simulator  # noqa: E402


def run(label: str, count: int, **options) -> None:
    with running_simulator(processing_ms=0, **options) as sim, requests.Session() as http:
        client = sim.client(sim.create_token(), http)
        session = client.open_online_session()
        started = time.perf_counter()
        sent = [client.send_invoice(session, invoice_xml(f"TP/{n}/2026")) for n in range(count)]
        accepted = sum(1 for s in client.session_invoices(session.reference_number, page_size=1000) if s.code == 200)
        elapsed = time.perf_counter() - started
    print(f"{label}: {len(sent)} sent, {accepted} accepted in {elapsed:.2f} s = {count / elapsed:.0f} invoices/s")


def main(count: int = 300) -> None:
    run("memory", count)
    with tempfile.TemporaryDirectory() as folder:
        run("sqlite", count, state_file=str(Path(folder) / "state.sqlite"))


if __name__ == "__main__":
    main()
