"""Print how long 1,000 queued invoices take to reach A against the simulator with the PRD rate limits,
and how many API requests each invoice costs: online sessions only versus a batch session.

KSeF time is simulated (a fake clock that the driver moves on when the sender waits for its request
budget), so the figure is what the PRD limits allow, not this machine's speed; wall time is shown too.
Usage: python benchmarks/sending.py [COUNT]   (takes a few minutes for 1,000)
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from ksef_local.forms import parties as party_forms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ksef_local.app import create_app
from ksef_local.store import outbox, parties  # noqa: E402
from tests.conftest import COMPANY_FORM  # noqa: E402
from tests.factories import issued  # noqa: E402
from tests.ksef_support import FakeClock  # noqa: E402
from tests.sender_support import START, drive, rig  # noqa: E402


def run(count: int, batch_threshold: int) -> dict:
    with tempfile.TemporaryDirectory() as home:
        app = create_app(Path(home), testing=True)
        db = app.extensions["ksef_local"].db()
        parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
        ids = [issued(db) for _ in range(count)]
        clock = FakeClock(START)
        with rig(app, limits="prod", clock=clock) as r:
            outbox.enqueue(db, ids, clock(), reachable=True)
            sender = r.sender(batch_threshold=batch_threshold, poll_interval=2.0)
            wall = time.perf_counter()
            drive(sender, clock, max_steps=10_000_000, idle_step=5.0)
            wall = time.perf_counter() - wall
            state = r.sim.state()
        done = sum(1 for v in db.execute("SELECT ksef_status FROM invoices").fetchall() if v[0] == "A")
        requests = {k: v for k, v in state["requests"].items()}
        return {"done": done, "ksef_seconds": (clock() - START).total_seconds(), "wall": wall,
                "per_invoice": sum(v for k, v in requests.items() if k != "public") / count,
                "requests": requests}


def main(count: int = 1000) -> None:
    rows = [("online sessions only", run(count, 10 ** 9)), ("batch session (threshold 50)", run(count, 50))]
    print(f"{count} invoices, simulator with PRD limits (ksef-docs limity/limity-api.md)")
    print(f"{'mode':32} {'all A after (KSeF time)':>24} {'wall':>8} {'API req/invoice':>16}  requests by group")
    for name, result in rows:
        hours = result["ksef_seconds"] / 3600
        print(f"{name:32} {hours:>20.2f} h {result['wall']:>7.1f}s {result['per_invoice']:>16.2f}  "
              f"{result['requests']}  ({result['done']} A)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
