"""Latarnia, KSeF's availability beacon: GET {latarnia}/status and /messages (docs/ksef-protocol.md §1.1)."""
from __future__ import annotations

from dataclasses import dataclass

import requests

from ksef_local.ksef import errors
from ksef_local.ksef.environments import Environment, resolve
from ksef_local.ksef.models import parse_datetime
from ksef_local.ksef.transport import Transport

STATUSES = ("AVAILABLE", "MAINTENANCE", "FAILURE", "TOTAL_FAILURE")


@dataclass(frozen=True)
class LatarniaMessage:
    id: str
    event_id: int
    category: str
    type: str
    title: str
    text: str
    start: object
    end: object

    @classmethod
    def from_json(cls, item: dict) -> "LatarniaMessage":
        return cls(str(item.get("id", "")), int(item.get("eventId", 0)), item.get("category", ""),
                   item.get("type", ""), item.get("title", ""), item.get("text", ""),
                   parse_datetime(item.get("start")), parse_datetime(item.get("end")))


@dataclass(frozen=True)
class LatarniaStatus:
    status: str
    messages: tuple[LatarniaMessage, ...]

    @property
    def is_available(self) -> bool:
        return self.status == "AVAILABLE"


class LatarniaClient:
    """Read Latarnia; unreachable or unknown answers raise KsefUnavailable (Latarnia itself fails too)."""

    def __init__(self, environment: str | Environment, session: requests.Session | None = None,
                 timeout: float = 10.0) -> None:
        env = resolve(environment)
        if env.latarnia_base is None:
            raise ValueError(f"Środowisko {env.name} nie ma Latarni")
        self.transport = Transport(env.latarnia_base, session or requests.Session(), timeout=timeout,
                                   problem_details=False)

    def status(self) -> LatarniaStatus:
        """GET /status."""
        body = self.transport.request("GET", "/status").json()
        if body.get("status") not in STATUSES:
            raise errors.KsefUnavailable("Latarnia KSeF zwróciła nieznany status")
        return LatarniaStatus(body["status"], tuple(LatarniaMessage.from_json(m) for m in body.get("messages") or ()))

    def messages(self) -> tuple[LatarniaMessage, ...]:
        """GET /messages."""
        return tuple(LatarniaMessage.from_json(m) for m in self.transport.request("GET", "/messages").json())
