"""Print what syncing 10,000 purchase invoices costs under KSeF's PRD limits: requests per group and KSeF
time (the simulated time spent waiting for the request budget), the one-by-one download path beside the
export path.

The simulator enforces the PRD table (ksef-docs limity/limity-api.md: metadata 20/h, download 64/h, export
20/h, export status 600/h) and the sync keeps its own budget below it; the clock is fake and the driver moves
it on whenever the sync waits, so the figures are what the limits allow, not this machine's speed (wall time
is shown too). Usage: python benchmarks/purchases_sync.py [COUNT]   (the one-by-one path of 10,000 takes a
few minutes of wall time for its ~160 hours of KSeF time)
"""
from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ksef_local.app import create_app  # noqa: E402
from ksef_local.forms import parties as party_forms  # noqa: E402
from ksef_local.store import parties  # noqa: E402
from tests.conftest import COMPANY_FORM  # noqa: E402
from tests.ksef_support import FakeClock  # noqa: E402
from tests.purchase_support import settle  # noqa: E402
from tests.sender_support import COMPANY_NIP, START, rig  # noqa: E402

GROUPS = ("invoiceMetadata", "invoiceDownload", "invoiceExport", "invoiceExportStatus")


def run(count: int, export_above: int, idle_step: float) -> dict:
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Path(home), testing=True)
        db = app.extensions["ksef_local"].db()
        parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
        clock = FakeClock(START)
        with rig(app, limits="prod", clock=clock) as r:
            made = r.sim.http.post(f"{r.sim.base_url}/sim/invoices/bulk", timeout=600, json={
                "count": count, "buyerNip": COMPANY_NIP, "seed": 1,
                "from": (START - timedelta(days=25)).isoformat(), "to": (START - timedelta(days=1)).isoformat()})
            assert made.status_code == 201, made.text
            sender = r.sender(purchases=True, purchase_options={"export_above": export_above}, poll_interval=2.0)
            before = dict(r.sim.state()["requests"])
            wall = time.perf_counter()
            settle(sender, clock, idle_step=idle_step, max_steps=10_000_000)
            wall = time.perf_counter() - wall
            after = dict(r.sim.state()["requests"])
        stored = db.execute("SELECT count(*) FROM purchases").fetchone()[0]
        used = {group: after.get(group, 0) - before.get(group, 0) for group in GROUPS}
        return {"stored": stored, "ksef_seconds": (clock() - START).total_seconds(), "wall": wall, "requests": used}


def main(count: int = 10_000) -> None:
    rows = [("one by one (GET /invoices/ksef)", run(count, 10 ** 9, 30.0)),
            ("export (POST /invoices/exports)", run(count, 16, 5.0))]
    print(f"{count} purchase invoices, simulator with PRD limits, the sync's own budget below them")
    print(f"{'path':34} {'stored':>7} {'KSeF time':>11} {'wall':>8} {'requests':>9}  by group")
    for name, result in rows:
        hours = result["ksef_seconds"] / 3600
        total = sum(result["requests"].values())
        print(f"{name:34} {result['stored']:>7} {hours:>9.2f} h {result['wall']:>7.1f}s {total:>9}  "
              + ", ".join(f"{group} {n}" for group, n in result["requests"].items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
