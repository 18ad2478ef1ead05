"""Injected failures and Latarnia's state (simulator only, not part of KSeF)."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from ksef_local.simulator.common import SimContext, invalid, iso

FAULT_KINDS = ("500", "502", "503", "timeout", "drop")
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
    after_processing: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def as_json(self) -> dict:
        return {"fault": self.kind, "count": self.remaining, "share": self.share, "latencyMs": self.latency_ms,
                "timeoutSeconds": self.timeout_seconds, "pathPrefix": self.path_prefix,
                "afterProcessing": self.after_processing}

    def next_fault(self, path: str) -> str | None:
        """Return the fault for this request (and use up one of count), or None."""
        if self.kind is None or (self.path_prefix and not path.startswith(self.path_prefix)):
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
                              body.get("pathPrefix"), bool(body.get("afterProcessing", False)),
                              random.Random(body.get("seed", 0)))
        if "latarnia" in body:
            set_latarnia(ctx, body["latarnia"])
        return self.plan.as_json()

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up at once when the simulator stops."""
        self.stopping.wait(seconds)


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

