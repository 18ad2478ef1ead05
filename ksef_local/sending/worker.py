"""The outbox worker: run_once() does one bounded step of KSeF work; start() runs it in a thin thread loop."""
from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime
from typing import Callable

from ksef_local.clock import utc_now
from ksef_local.core.settings import environment_key
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.latarnia import LatarniaClient
from ksef_local.sending.batch import BatchSender
from ksef_local.sending.certificates import CertificateWork
from ksef_local.sending.online import OnlineSender
from ksef_local.sending.outages import OutageWatch
from ksef_local.sending.purchases import PurchaseSync
from ksef_local.sending.reconcile import KsefFinder
from ksef_local.sending.remote import Deferred, Remote
from ksef_local.sending.statuses import StatusTracker
from ksef_local.store import ksef_state, outbox
from ksef_local.store import settings as ksef_settings
from ksef_local.store.db import Databases, parse

log = logging.getLogger("ksef_local.sender")
WAKE_CHECK = 1.0   # seconds between looks at the database for work left by another process


class Sender:
    """One background worker for the outbox of one database, built from its collaborators:

    remote (every KSeF call, budget, backoff, circuit, pause) ← statuses (O → A, UPO) ← batches ← online;
    certificates (the screens' KSeF tasks and certificate renewal) uses remote's client; purchases (the
    purchase invoices' sync and "Pobierz teraz") uses remote too, after all sending work; outages (Latarnia
    and offline deadlines) stands apart.
    """

    def __init__(self, databases: Databases, make_client: Callable[[], KsefClient], *,
                 clock: Callable[[], datetime] = utc_now, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, make_latarnia: Callable[[], LatarniaClient] | None = None,
                 batch_threshold: int = 50, poll_interval: float = 2.0, latarnia_interval: float = 300.0,
                 probe_interval: float = 60.0, busy_wait: float = 3.0, idle_wait: float = 60.0,
                 limits: ksef_state.Limits = ksef_state.PRD_LIMITS, services=None, purchases: bool = False,
                 purchase_options: dict | None = None) -> None:
        self.databases = databases
        self.clock = clock
        self.sleep = sleep
        self.probe_interval = probe_interval
        self.busy_wait = busy_wait
        self.idle_wait = idle_wait
        self.remote = Remote(make_client, clock=clock, rng=rng or random.Random(), limits=limits)
        self.statuses = StatusTracker(self.remote, poll_interval)
        self.batches = BatchSender(self.remote, self.statuses, batch_threshold, poll_interval)
        self.finder = KsefFinder(self.remote, self.statuses, poll_interval)
        self.online = OnlineSender(self.remote, self.statuses, self.batches, self.finder, poll_interval)
        self.outages = OutageWatch(make_latarnia, latarnia_interval)
        # Purchase invoices from KSeF, after every piece of sending work (sending/purchases.py); the launcher
        # turns it on, so tests of sending alone see only sending's requests.
        self.purchases = PurchaseSync(self.remote, clock, services=services, poll_interval=poll_interval,
                                      **(purchase_options or {})) if purchases else None
        # Tasks of the screens and certificate renewal need the settings and the secret store.
        self.certificates = CertificateWork(services, self.remote, clock, sleep) if services is not None else None
        # Where the settings send now, to stop tracking sessions another KSeF opened before they changed.
        self.tracks_environment = services is not None
        self._credentials_stamp: str | None = None
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
        opened with the old client is then like one left by an earlier run: close_stale_sessions closes it
        and its invoices are reconciled by hash (docs/ksef-protocol.md §11) before anything is sent again.
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
            db = self.databases.get()
            signal = ksef_state.wake_signal(db)   # before the step: work left during it wakes the wait below
            try:
                did = self.run_once()
            except Exception:  # a bug must not kill the worker; it is logged and retried later
                log.exception("KSeF sender step failed")
                did = False
            if did:
                continue
            self._idle(db, signal, self.busy_wait if outbox.pending_count(db) > 0 else self.idle_wait)

    def _idle(self, db, signal: tuple, seconds: float) -> None:
        """Wait until woken in this process, or until another process (ksef-local send, settings) leaves new
        work or changed settings in the database (ksef_state.wake_signal, looked at every WAKE_CHECK s)."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._wake.wait(min(WAKE_CHECK, left)) or ksef_state.wake_signal(db) != signal:
                break
        self._wake.clear()

    # -- one step -----------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Do one bounded step of work; return whether anything was done."""
        db = self.databases.get()
        now = self.clock()
        stamp = ksef_state.credentials_stamp(db)
        if self._reset.is_set() or stamp != self._credentials_stamp:
            # Settings or credentials changed, here or in another process: a new client from the next call,
            # and a pause they caused is over.
            self._reset.clear()
            self._credentials_stamp = stamp
            self.remote.reset()
            self.outages.reset()
            ksef_state.lift_credentials_pause(db)
            if self.tracks_environment:   # the stored environment only: no secret store needed for this
                ksef_state.forget_foreign_sessions(db, environment_key(ksef_settings.load_environment(db)), now)
        self.outages.poll(db, now)
        if self.certificates is not None and self.certificates.run_task(db, now):
            return True
        if ksef_state.is_paused(db) or self._held_back(db, now):
            return False
        if self.remote.probe_due(db, now, self.probe_interval, outbox.pending_count(db)) and \
                self.remote.probe(db, now):
            return True
        for task in (self.online.close_stale_sessions, self.online.reconcile, self.batches.poll, self.statuses.poll,
                     self.statuses.fetch_upos, self.batches.send, self.online.send, self.online.close_idle):
            try:
                if task(db, now):
                    return True
            except Deferred as deferred:
                if deferred.reason != "budget":
                    return True
        # Certificates last two years; sending always goes first.
        if self.certificates is not None and self.certificates.renew_if_due(db, now):
            return True
        return self.purchases is not None and self.purchases.run(db, now)

    def _held_back(self, db, now: datetime) -> bool:
        backoff = ksef_state.get_meta(db, "backoff_until")
        circuit = ksef_state.get_meta(db, "circuit") or {}
        until = [parse(v) for v in (backoff, circuit.get("open_until")) if v]
        return any(moment > now for moment in until)
