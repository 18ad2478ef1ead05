"""Long runs of the sender: many invoices under a storm of faults, and a sender process killed with -9."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ksef_local.store import ksef_state, outbox
from tests.ksef_support import running_simulator
from tests.sender_support import COMPANY_NIP, drive, issue_many, letters, rig

REPO = Path(__file__).resolve().parent.parent
GENEROUS = {group: (1000, 100000, 1000000) for group in ksef_state.PRD_LIMITS}

PLANS = [
    {"fault": "500", "share": 0.3},
    {"fault": "502", "share": 0.3},                              # an HTML page from the gateway
    {"fault": "timeout", "share": 0.3, "timeoutSeconds": 0.6},   # longer than the client's timeout
    {"fault": "drop", "share": 0.3},
    {"fault": "drop", "share": 0.3, "afterProcessing": True},    # processed, answer lost
    "429 storm",
]


def _exactly_once(state: dict, db, ids: list[int]) -> None:
    entry = state["nips"][COMPANY_NIP]
    numbers = [a["invoiceNumber"] for a in entry["accepted"]]
    assert len(numbers) == len(set(numbers)) == len(ids)
    assert entry["duplicatesRefused"] == 0
    assert letters(db) == {i: "A" for i in ids}
    assert all(outbox.upo(db, i) for i in ids)


@pytest.mark.slow
def test_200_invoices_with_30_percent_faults_all_reach_a_exactly_once(app, db, company):
    ids = issue_many(db, 200)
    with rig(app, limits="prod") as r:
        sender = r.sender(rng=random.Random(3), batch_threshold=10_000)   # online: every POST at risk
        sender.make_client = lambda: r.make_client(timeout=0.4)
        outbox.enqueue(db, ids, r.clock(), reachable=True)
        steps = {"n": 0, "plan": 0}

        def rotate() -> bool:
            steps["n"] += 1
            if steps["n"] % 60 == 0:
                plan = PLANS[steps["plan"] % len(PLANS)]
                steps["plan"] += 1
                # a 429 storm: this sender forgets its budget for a while, so KSeF's limits refuse it
                sender.remote.limits = GENEROUS if plan == "429 storm" else ksef_state.PRD_LIMITS
                r.sim.faults(**({} if plan == "429 storm" else {**plan, "seed": steps["plan"]}))
            return False

        drive(sender, r.clock, max_steps=100_000, idle_step=5.0, stop=rotate)
        r.sim.http.delete(f"{r.sim.base_url}/sim/faults", timeout=10)
        drive(sender, r.clock, max_steps=100_000, idle_step=5.0)
        state = r.sim.state()
    assert not ksef_state.is_paused(db)
    _exactly_once(state, db, ids)
    found = db.execute("SELECT COUNT(*) FROM ksef_events WHERE description LIKE 'Faktura odnaleziona%'").fetchone()[0]
    assert found > 0   # some answers were lost and reconciled by hash, not re-posted


@pytest.mark.slow
def test_sender_process_killed_5_times_sends_100_invoices_exactly_once(app, db, company):
    ids = issue_many(db, 100)
    db_path = app.extensions["ksef_local"].databases.path
    rnd = random.Random(11)
    from ksef_local.clock import utc_now

    with running_simulator(clock=utc_now, processing_ms=50) as sim:
        sim.faults(fault="drop", share=0.1, afterProcessing=True, seed=5)
        token = sim.create_token(COMPANY_NIP)
        outbox.enqueue(db, ids, utc_now(), reachable=True)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "tests.sender_support", str(db_path), sim.base_url, token]
        for _ in range(5):
            process = subprocess.Popen(command, cwd=REPO, env=env)
            time.sleep(rnd.uniform(0.8, 2.0))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        process = subprocess.Popen(command, cwd=REPO, env=env)
        try:
            deadline = time.monotonic() + 120
            while outbox.pending_count(db) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        state = sim.state()
    assert not ksef_state.is_paused(db)
    _exactly_once(state, db, ids)
