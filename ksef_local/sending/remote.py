"""Talking to KSeF safely: one remote call within the request budget, its failure classified, and what that
does to the queue's health (backoff, the circuit breaker, a pause); plus our own reachability check.

Transient failures back off with jitter, honour Retry-After and open a circuit; every request is counted
against KSeF's rate limits (docs/ksef-protocol.md §6) in SQLite. Errors that need the user (token,
permissions, a refused request) pause the queue.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, Callable

from ksef_local.errors import UserError
from ksef_local.ksef import errors, messages
from ksef_local.ksef.client import KsefClient
from ksef_local.store import ksef_state
from ksef_local.store.db import iso, parse, write

FAILURES_TO_OPEN = 5          # consecutive transient failures before the circuit opens (as the official C# client)
CIRCUIT_SECONDS = 30.0        # first open period; doubles up to CIRCUIT_MAX
CIRCUIT_MAX = 600.0
BACKOFF_MAX = 60.0
MISSING_PERMISSIONS = "missing-permissions"   # 403 reasonCode (OpenAPI ForbiddenProblemDetails)
PAUSING = (errors.KsefTokenRevoked, errors.KsefUnauthenticated, errors.KsefUnauthorized, errors.KsefRequestInvalid)
NO_CREDENTIALS = "Brak danych logowania do KSeF"
CREDENTIAL_ERRORS = (errors.KsefUnauthenticated, errors.KsefUnauthorized, errors.KsefTokenRevoked)
# Our own reachability check beside Latarnia, which goes down too: GET /security/public-key-certificates
# needs no token and is limited only per IP (docs/ksef-protocol.md §2 and §6, group "anonymous").
PROBE_GROUP = "anonymous"


class Deferred(Exception):
    """A remote step cannot be done now (budget, backoff, pause); rows stay where they were."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


def describe(error: errors.KsefError, session_ref: str | None = None, invoice_ref: str | None = None,
             at: datetime | None = None) -> str:
    """The copyable report of a KSeF error: code, description, details, references, time."""
    lines = [f"Kod KSeF: {error.code if error.code is not None else '-'}"
             + (f" (HTTP {error.http_status})" if error.http_status else ""),
             f"Opis: {error.detail}"]
    lines += [f"Szczegóły: {item}" for item in error.details]
    lines += [f"Sesja: {session_ref}"] if session_ref else []
    lines += [f"Numer referencyjny faktury: {invoice_ref}"] if invoice_ref else []
    lines += [f"Czas: {at.isoformat()}"] if at else []
    lines += [f"Ostrzeżenie KSeF: {text}" for text in getattr(error, "warnings", ())]
    return "\n".join(lines)


class Remote:
    """The KSeF client of the sender, built lazily, and every remote call the sender makes.

    ``epoch`` grows whenever the client is dropped (settings changed, or a pause): what was opened with an
    older client, such as the online session, is not used again.
    """

    def __init__(self, make_client: Callable[[], KsefClient], *, clock: Callable[[], datetime],
                 rng: random.Random, limits: ksef_state.Limits) -> None:
        self.make_client = make_client
        self.clock = clock
        self.rng = rng
        self.limits = limits
        self.epoch = 0
        self._client: KsefClient | None = None
        self._stamp: str | None = None   # the settings the client was built from (ksef_state.credentials_stamp)
        self._healthy: bool | None = None
        self._probed_at: datetime | None = None
        self.client_problem: str | None = None   # why try_client could not make a client (Polish)

    def reset(self) -> None:
        """Build the next client from the current settings; the next answer sets reachability again."""
        self._client = None
        self._healthy = None
        self.epoch += 1

    def client(self, db, now: datetime) -> KsefClient:
        """The client for the current settings; without credentials the queue pauses with why."""
        if self._client is None:
            self._stamp = ksef_state.credentials_stamp(db)
            try:
                self._client = self.make_client()
            except UserError as exc:
                ksef_state.pause(db, now, NO_CREDENTIALS, exc.message, cause="credentials")
                raise Deferred("paused", exc) from exc
            # A login by a qualified certificate may take minutes (KSeF asks its issuer): the banner shows it.
            self._client.auth.on_progress = lambda text: ksef_state.login_progress(db, self.clock(), text)
        return self._client

    def try_client(self, db) -> KsefClient | None:
        """The client when one can be made, else None without pausing: work that is not sending (the purchase
        sync) must not stop the queue for credentials that sending does not need yet."""
        if self._client is None:
            stamp = ksef_state.credentials_stamp(db)
            try:
                self._client = self.make_client()
            except UserError as exc:
                self.client_problem = exc.message
                return None
            self.client_problem = None
            self._stamp = stamp
            self._client.auth.on_progress = lambda text: ksef_state.login_progress(db, self.clock(), text)
        return self._client

    def ensure_current(self, db) -> None:
        """Raise Deferred("settings") when the settings changed (any process) since the client was built.

        Called before every remote step, and inside the transaction that marks an invoice as being sent, so
        a change saved by another process (ksef-local settings) can never send an invoice to the old KSeF.
        """
        if self._client is not None and ksef_state.credentials_stamp(db) != self._stamp:
            self.reset()
            raise Deferred("settings")

    @property
    def environment_key(self) -> str | None:
        """Where the current client sends (None before it is built or when its maker does not say)."""
        return self._client.environment_key if self._client is not None else None

    def call(self, db, now: datetime, group: str | None, action: Callable[[KsefClient], Any],
             passthrough: tuple[type[errors.KsefError], ...] = (errors.KsefNoSession,
                                                                errors.KsefSessionUnavailable)) -> Any:
        """Make one remote call within the budget; classify failures (see the module docstring)."""
        if group is not None and ksef_state.budget_wait(db, group, now, self.limits) > 0:
            raise Deferred("budget")
        self.ensure_current(db)
        client = self.client(db, now)
        if group is not None:
            # Time the request now, not at the start of the step: logging in may have taken a while.
            at = self.clock()
            if ksef_state.budget_wait(db, group, at, self.limits) > 0:
                raise Deferred("budget")
            ksef_state.record_request(db, group, at)
        try:
            result = action(client)
        except passthrough:
            self._answered(db, now)
            raise
        except errors.KsefRateLimited as exc:
            self._limited(db, now, exc)
            raise Deferred("limited", exc) from exc
        except errors.KsefUnavailable as exc:
            self._failed(db, now)
            raise Deferred("unavailable", exc) from exc
        except PAUSING + (errors.KsefNoSession,) as exc:
            self._pause_for(db, now, exc)
            raise Deferred("paused", exc) from exc
        except errors.KsefError as exc:  # anything else KSeF did not do: treat as transient
            self._failed(db, now)
            raise Deferred("unavailable", exc) from exc
        self._answered(db, now)
        return result

    def _answered(self, db, now: datetime) -> None:
        if ksef_state.get_meta(db, "login_progress"):
            ksef_state.login_progress(db, now, None)
        if self._healthy:
            return
        with write(db):
            ksef_state.set_meta(db, "circuit", {"failures": 0, "opens": 0, "open_until": None})
            ksef_state.set_meta(db, "reach", {"reachable": True, "checked_at": iso(now)})
        self._healthy = True

    def _limited(self, db, now: datetime, exc: errors.KsefRateLimited) -> None:
        wait = exc.retry_after if exc.retry_after is not None else 30.0
        with write(db):
            ksef_state.set_meta(db, "backoff_until", iso(now + timedelta(seconds=wait + self.rng.random())))

    def _failed(self, db, now: datetime) -> None:
        """Count a transient failure: exponential backoff with jitter, then open the circuit."""
        self._healthy = False
        with write(db):
            circuit = ksef_state.get_meta(db, "circuit") or {"failures": 0, "opens": 0, "open_until": None}
            circuit["failures"] += 1
            if circuit["failures"] >= FAILURES_TO_OPEN:
                circuit["opens"] += 1
                seconds = min(CIRCUIT_MAX, CIRCUIT_SECONDS * 2 ** (circuit["opens"] - 1))
                circuit["open_until"] = iso(now + timedelta(seconds=seconds * (0.8 + 0.4 * self.rng.random())))
                ksef_state.set_meta(db, "reach", {"reachable": False, "checked_at": iso(now)})
            else:
                delay = min(BACKOFF_MAX, 2.0 ** (circuit["failures"] - 1)) * (0.5 + 0.5 * self.rng.random())
                ksef_state.set_meta(db, "backoff_until", iso(now + timedelta(seconds=delay)))
            ksef_state.set_meta(db, "circuit", circuit)

    def _set_reach(self, db, now: datetime, reachable: bool) -> None:
        with write(db):
            ksef_state.set_meta(db, "reach", {"reachable": reachable, "checked_at": iso(now)})

    def pause_for(self, db, now: datetime, exc: errors.KsefError) -> Deferred:
        """Pause for an error a caller let pass through and found to need the user; return what to raise."""
        self._pause_for(db, now, exc)
        return Deferred("paused", exc)

    def _pause_for(self, db, now: datetime, exc: errors.KsefError) -> None:
        message = messages.user_message(exc, (ksef_state.get_meta(db, "latarnia") or {}).get("status"))
        cause = "credentials" if isinstance(exc, CREDENTIAL_ERRORS) else "request"
        ksef_state.pause(db, now, message.title, message.advice, describe(exc, at=now), cause=cause)
        ksef_state.login_progress(db, now, None)
        self.reset()  # an open online session's row stays in ksef_sessions and is closed after resume

    # -- our reachability check --------------------------------------------------------------------

    def probe_due(self, db, now: datetime, probe_interval: float, pending: int) -> bool:
        """At the circuit's half-open time, or every probe_interval while nothing W/O makes real requests."""
        if (ksef_state.get_meta(db, "circuit") or {}).get("open_until"):
            return True   # run_once asks only once open_until has passed: try the cheap request first
        if pending > 0:
            return False
        last = (parse((ksef_state.get_meta(db, "reach") or {}).get("checked_at")), self._probed_at)
        return all(moment is None or (now - moment).total_seconds() >= probe_interval for moment in last)

    def probe(self, db, now: datetime) -> bool:
        """Ask KSeF for its public keys and record whether it answered; return whether a request was made.

        enqueue() marks invoices offline while the answer is "unreachable", even before anything was sent.
        Failures count towards the circuit like any other, so a long outage is checked ever more rarely.
        """
        self._probed_at = now
        if self._client is None:
            self._stamp = ksef_state.credentials_stamp(db)
            try:
                self._client = self.make_client()
            except UserError:
                return False   # no token yet: nothing can be sent, and a check must not pause the queue
        try:
            self.call(db, now, PROBE_GROUP, lambda c: c.certificates.all(refresh=True))
        except Deferred as deferred:
            if deferred.reason == "budget":
                self._probed_at = None   # no request went out: check again at the next step
                return False
            if deferred.reason == "paused":
                return True
            self._set_reach(db, now, deferred.reason == "limited")   # a 429 is an answer too
            return True
        self._set_reach(db, now, True)
        return True
