"""Print the client-side cost per invoice: encrypt + hash, and a full send round trip to the simulator."""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from ksef_local.ksef import crypto  # noqa: E402
from tests.ksef_support import invoice_xml, running_simulator  # noqa: E402


def main(count: int = 200) -> None:
    key = crypto.new_session_key()
    xml = invoice_xml("BENCH/1/2026") + b"<!--" + os.urandom(3000).hex().encode() + b"-->"
    started = time.perf_counter()
    for _ in range(count):
        crypto.encrypt_invoice(key, xml)
    per_encrypt = (time.perf_counter() - started) / count
    print(f"encrypt + hash ({len(xml)} B): {per_encrypt * 1e6:.0f} µs per invoice")
    with running_simulator(processing_ms=0) as sim, requests.Session() as http:
        client = sim.client(sim.create_token(), http)
        session = client.open_online_session()
        times = []
        for n in range(count):
            t = time.perf_counter()
            client.send_invoice(session, invoice_xml(f"BENCH/{n}/2026"))
            times.append(time.perf_counter() - t)
    print(f"send (encrypt, hash, HTTP to the simulator): median {statistics.median(times) * 1e3:.2f} ms, "
          f"p95 {sorted(times)[int(len(times) * 0.95)] * 1e3:.2f} ms over {count} invoices")


if __name__ == "__main__":
    main()
