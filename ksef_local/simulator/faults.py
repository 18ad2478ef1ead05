"""Injected failures and Latarnia's state (simulator only, not part of KSeF)."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from ksef_local.simulator.common import SimContext, SimError, bad_request, invalid, iso

# HTTP failures, and two KSeF answers about a session (API 2.8: 21184 means the invoice was not taken).
SESSION_FAULTS = ("21173", "21184")
FAULT_KINDS = ("500", "502", "503", "timeout", "drop") + SESSION_FAULTS
LATARNIA_STATES = ("AVAILABLE", "MAINTENANCE", "FAILURE", "TOTAL_FAILURE")


@dataclass
class FaultPlan:
    """What the next requests to /v2 suffer: a fault for the next count requests or a share of them."""

    kind: str | None = None
    remaining: int | None = None
    share: float | None = None
    latency_ms: int = 0
    timeout_seconds: float = 30.0
    path_prefix: str | None = None
    path_suffix: str | None = None
    method: str | None = None
    after_processing: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def as_json(self) -> dict:
        return {"fault": self.kind, "count": self.remaining, "share": self.share, "latencyMs": self.latency_ms,
                "timeoutSeconds": self.timeout_seconds, "pathPrefix": self.path_prefix,
                "pathSuffix": self.path_suffix, "method": self.method,
                "afterProcessing": self.after_processing}

    def next_fault(self, path: str, method: str = "GET") -> str | None:
        """Return the fault for this request (and use up one of count), or None."""
        if self.kind is None or (self.path_prefix and not path.startswith(self.path_prefix)) \
                or (self.path_suffix and not path.endswith(self.path_suffix)) \
                or (self.method and method != self.method):
            return None
        if self.remaining is not None:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
            return self.kind
        if self.share is not None and self.rng.random() < self.share:
            return self.kind
        return None


class Faults:
    """The plan plus an event that cuts injected waits short when the simulator stops."""

    def __init__(self) -> None:
        self.plan = FaultPlan()
        self.stopping = threading.Event()

    def configure(self, ctx: SimContext, body: dict) -> dict:
        """POST /sim/faults: replace the plan; optionally set Latarnia's status."""
        if not isinstance(body, dict):
            raise invalid("Treść musi być obiektem JSON.")
        kind = body.get("fault")
        if kind is not None and str(kind) not in FAULT_KINDS:
            raise invalid(f"Pole 'fault' musi być jednym z: {', '.join(FAULT_KINDS)}.")
        count, share = body.get("count"), body.get("share")
        if kind is not None and count is None and share is None:
            count = 1
        if share is not None and not (isinstance(share, (int, float)) and 0 <= share <= 1):
            raise invalid("Pole 'share' musi być liczbą od 0 do 1.")
        self.plan = FaultPlan(str(kind) if kind is not None else None, count, share,
                              int(body.get("latencyMs", 0)), float(body.get("timeoutSeconds", 30.0)),
                              body.get("pathPrefix"), body.get("pathSuffix"),
                              str(body["method"]).upper() if body.get("method") else None,
                              bool(body.get("afterProcessing", False)), random.Random(body.get("seed", 0)))
        if "latarnia" in body:
            set_latarnia(ctx, body["latarnia"])
        return self.plan.as_json()

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up at once when the simulator stops."""
        self.stopping.wait(seconds)


def session_fault(kind: str, path: str) -> SimError:
    """The 400 KSeF gives for a session it does not find (21173) or cannot use just now (21184).

    With afterProcessing the request is processed first and only its answer is replaced: KSeF took the
    invoice but the client hears "no session" (how a client that resends blindly makes duplicates).
    """
    parts = path.split("/")   # /v2/sessions/{ref}/… or /v2/sessions/online/{ref}/…
    reference = "-"
    if len(parts) > 3 and parts[2] == "sessions":
        reference = parts[4] if parts[3] in ("online", "batch") and len(parts) > 4 else parts[3]
    if kind == "21173":
        return bad_request(21173, "Brak sesji o wskazanym numerze referencyjnym.",
                           f"Sesja o numerze referencyjnym {reference} nie została odnaleziona.")
    return bad_request(21184, "Sesja tymczasowo niedostępna.",
                       f"Sesja o numerze referencyjnym {reference} jest chwilowo niedostępna; otwórz nową sesję.")


def latarnia_state(ctx: SimContext) -> dict:
    return ctx.store.get("meta", "latarnia") or {"status": "AVAILABLE", "messages": [], "eventId": 0}


def set_latarnia(ctx: SimContext, value) -> None:
    """Set Latarnia's status; a change adds the start/end message the official beacon would publish."""
    spec = value if isinstance(value, dict) else {"status": value}
    status = spec.get("status")
    if status not in LATARNIA_STATES:
        raise invalid(f"Status Latarni musi być jednym z: {', '.join(LATARNIA_STATES)}.")
    state = latarnia_state(ctx)
    now = iso(ctx.now())
    if status == "AVAILABLE":
        if state["status"] != "AVAILABLE":
            state["messages"].append(_message(state, state["eventId"], "FAILURE_END", state["status"], now, spec,
                                              "Zakończenie niedostępności KSeF"))
    else:
        state["eventId"] += 1
        kind = "MAINTENANCE_ANNOUNCEMENT" if status == "MAINTENANCE" else "FAILURE_START"
        state["messages"].append(_message(state, state["eventId"], kind, status, now, spec,
                                          "Niedostępność KSeF (symulacja)"))
    state["status"] = status
    ctx.store.put("meta", "latarnia", state)


def _message(state: dict, event_id: int, kind: str, category: str, now: str, spec: dict, title: str) -> dict:
    return {"id": f"sim-{len(state['messages']) + 1}", "eventId": event_id,
            "category": category if category != "AVAILABLE" else "FAILURE", "type": kind,
            "title": spec.get("title", title), "text": spec.get("text", "Komunikat symulatora ksef-local."),
            "start": now, "end": now if kind == "FAILURE_END" else None, "version": 1, "published": now}

