"""The outbox worker: run_once() does one bounded step of KSeF work; start() runs it in a thin thread loop."""
from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime
from typing import Callable

from ksef_local.store import outbox
from ksef_local.store.db import Databases
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.latarnia import LatarniaClient
from ksef_local.ksef.models import OnlineSession
from ksef_local.ksef.transport import utc_now
from ksef_local.store.outbox import parse
from ksef_local.sending.batch import BatchSending
from ksef_local.sending.health import Deferred
from ksef_local.sending.online import OnlineSending
from ksef_local.sending.outages import Outages
from ksef_local.sending.statuses import Statuses

log = logging.getLogger("ksef_local.sender")


class Sender(OnlineSending, Statuses, BatchSending, Outages):
    """One background worker for the outbox of one database."""

    def __init__(self, databases: Databases, make_client: Callable[[], KsefClient], *,
                 clock: Callable[[], datetime] = utc_now, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, make_latarnia: Callable[[], LatarniaClient] | None = None,
                 batch_threshold: int = 50, poll_interval: float = 2.0, latarnia_interval: float = 300.0,
                 probe_interval: float = 60.0, busy_wait: float = 3.0, idle_wait: float = 60.0,
                 limits: outbox.Limits = outbox.PRD_LIMITS) -> None:
        self.databases = databases
        self.make_client = make_client
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.make_latarnia = make_latarnia
        self.batch_threshold = batch_threshold
        self.poll_interval = poll_interval
        self.latarnia_interval = latarnia_interval
        self.probe_interval = probe_interval
        self.busy_wait = busy_wait
        self.idle_wait = idle_wait
        self.limits = limits
        self._client: KsefClient | None = None
        self._latarnia: LatarniaClient | None = None
        self._session: OnlineSession | None = None
        self._upo_urls: dict[int, str] = {}   # pre-signed, not rate-limited; kept in memory only
        self._healthy: bool | None = None
        self._probed_at: datetime | None = None
        self._wake = threading.Event()
        self._reset = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop in a daemon thread (the launcher calls this)."""
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="ksef-sender", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def reset_client(self) -> None:
        """Build the next client from the current settings (environment, NIP or token changed).

        Called from a web thread: the worker forgets its client, Latarnia client and online session handle
        at the start of its next step, so a step in progress ends with the client it began with. A session
        opened with the old client is then like one left by an earlier run: _close_stale_sessions closes it
        and its invoices are reconciled by hash (ksef-api.md §11) before anything is sent again.
        """
        self._reset.set()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current step and end the loop; every write is its own transaction, so nothing is half-done."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                did = self.run_once()
            except Exception:  # a bug must not kill the worker; it is logged and retried later
                log.exception("KSeF sender step failed")
                did = False
            if did:
                continue
            busy = outbox.pending_count(self.databases.get()) > 0
            self._wake.wait(self.busy_wait if busy else self.idle_wait)
            self._wake.clear()

    # -- one step -----------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Do one bounded step of work; return whether anything was done."""
        db = self.databases.get()
        now = self.clock()
        if self._reset.is_set():
            self._reset.clear()
            self._client = self._latarnia = self._session = None
            self._healthy = None   # the next answer of the new client sets reachability again
        self._poll_latarnia(db, now)
        if outbox.is_paused(db) or self._held_back(db, now):
            return False
        if self._probe_due(db, now) and self._probe(db, now):
            return True
        for task in (self._close_stale_sessions, self._reconcile, self._poll_batches, self._poll_statuses,
                     self._fetch_upos, self._send_batch, self._send_online, self._close_idle_session):
            try:
                if task(db, now):
                    return True
            except Deferred as deferred:
                if deferred.reason != "budget":
                    return True
        return False

    def _held_back(self, db, now: datetime) -> bool:
        backoff = outbox.get_meta(db, "backoff_until")
        circuit = outbox.get_meta(db, "circuit") or {}
        until = [parse(v) for v in (backoff, circuit.get("open_until")) if v]
        return any(moment > now for moment in until)

