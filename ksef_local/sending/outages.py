"""Latarnia, KSeF's availability beacon (docs/ksef-protocol.md §1.1), and what its announcements do to the
deadlines of invoices waiting to be sent in an offline mode (docs/ksef-protocol.md §9, core/calendar_pl.py):

- an unavailability (MAINTENANCE) or a failure (FAILURE) ends: invoices queued as "offline" / "awaryjny"
  get their deadline, the next business day / 7 business days after the end (art. 106nh, 106nf);
- a failure ends while offline24/offline invoices wait: their deadline moves to 7 business days after
  its end (art. 106nf; a later failure moves it again);
- a total failure (TOTAL_FAILURE) is announced: there is no obligation to send afterwards, so the
  invoices waiting then have no deadline any more, and none is counted for them later.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Callable, Iterable

from ksef_local.clock import warsaw_day
from ksef_local.core import calendar_pl
from ksef_local.formats import pl_date
from ksef_local.ksef import errors
from ksef_local.ksef.latarnia import LatarniaClient, LatarniaMessage
from ksef_local.store import ksef_state, outbox_work
from ksef_local.store.db import iso, parse, write
from ksef_local.store.outbox import offline_deadline

OUTAGES = ("MAINTENANCE", "FAILURE", "TOTAL_FAILURE")
NO_DEADLINE = "Brak terminu wysyłki do KSeF (awaria całkowita KSeF – wysyłka nie jest obowiązkowa)"


def ended(messages: Iterable[LatarniaMessage], categories: tuple[str, ...] = OUTAGES,
          since: datetime | None = None) -> list[datetime]:
    """When the outages of these categories that Latarnia reports as ended ended, optionally only after since."""
    ends = [m.end or m.start for m in messages if m.type == "FAILURE_END" and m.category in categories]
    return [end for end in ends if end is not None and (since is None or end >= since)]


def failures(messages: Iterable[LatarniaMessage]) -> list[tuple[datetime | None, datetime]]:
    """(start, end) of each failure (awaryjny) that has ended; start is None when its announcement is gone."""
    messages = tuple(messages)
    starts = {m.event_id: m.start for m in messages if m.type == "FAILURE_START" and m.category == "FAILURE"}
    return [(starts.get(m.event_id), m.end or m.start) for m in messages
            if m.type == "FAILURE_END" and m.category == "FAILURE" and (m.end or m.start)]


class OutageWatch:
    """Poll Latarnia for the banner and keep the offline deadlines in step with what it announces."""

    def __init__(self, make_latarnia: Callable[[], LatarniaClient] | None, interval: float) -> None:
        self.make_latarnia = make_latarnia
        self.interval = interval
        self._latarnia: LatarniaClient | None = None

    def reset(self) -> None:
        """Use the current settings' Latarnia from the next poll."""
        self._latarnia = None

    def poll(self, db, now: datetime) -> None:
        if self.make_latarnia is None:
            return
        previous = ksef_state.get_meta(db, "latarnia") or {}
        checked = parse(previous.get("checked_at"))
        if checked is not None and (now - checked).total_seconds() < self.interval:
            return
        try:
            self._latarnia = self._latarnia or self.make_latarnia()
            beacon = self._latarnia.status()
        except (errors.KsefError, ValueError):
            with write(db):
                ksef_state.set_meta(db, "latarnia", {**previous, "message": "Latarnia KSeF nie odpowiada.",
                                                     "checked_at": iso(now)})
            return
        text = next((f"{m.title}: {m.text}" for m in reversed(beacon.messages)), None)
        with write(db):
            ksef_state.set_meta(db, "latarnia", {"status": beacon.status, "message": None if beacon.is_available
                                                 else text, "checked_at": iso(now), "seen_at": iso(now)})
            if beacon.status == "TOTAL_FAILURE":
                lift_deadlines(db, now)
        if previous.get("status") in OUTAGES and beacon.status != previous["status"]:
            self._outage_over(db, now, previous, beacon.status)

    def _outage_over(self, db, now: datetime, previous: dict, status: str) -> None:
        """The outage Latarnia showed is over (or became another): count and move deadlines by its end.

        /status lists only the current announcements; the FAILURE_END messages with the ends are in /messages.
        """
        try:
            messages = self._latarnia.messages()
        except (errors.KsefError, ValueError):
            messages = ()
        seen = parse(previous.get("seen_at") or previous.get("checked_at"))   # last seen going on
        spans = failures(messages)
        if previous["status"] == "FAILURE" and not ended(messages, ("FAILURE",), since=seen):
            spans.append((None, now))   # no message: we only know that it has ended by now
        with write(db):
            if status == "AVAILABLE":
                outage_ended(db, warsaw_day(max(ended(messages, since=seen), default=now)))
            for start, end in spans:
                move_deadlines(db, now, start, end)


def outage_ended(db, end_day: date) -> None:
    """Now that the outage ended, the "offline"/"awaryjny" deadlines can be counted (inside write)."""
    for r in outbox_work.awaiting_outage_end(db):
        deadline = offline_deadline(r["offline_kind"], outbox_work.issue_date(db, r), end_day)
        if deadline:
            outbox_work.set_deadline(db, r["id"], deadline)


def move_deadlines(db, now: datetime, start: datetime | None, end: datetime) -> None:
    """Move the deadline of offline24/offline invoices that waited during a failure (inside write).

    Waiting means queued before the failure ended, with a deadline not yet past when it began.
    calendar_pl.deadline_after_failure only ever extends, so seeing the same failure again changes nothing.
    """
    not_late = warsaw_day(start).isoformat() if start else "0000-00-00"
    for r in outbox_work.movable_by_failure(db, not_late, end):
        current = date.fromisoformat(r["offline_deadline"])
        moved = calendar_pl.deadline_after_failure(current, warsaw_day(end))
        if moved != current:
            outbox_work.set_deadline(db, r["id"], moved)
            outbox_work.note(db, now, r["id"], f"Termin wysyłki przesunięty do {pl_date(moved)} (awaria KSeF)")


def lift_deadlines(db, now: datetime) -> None:
    """A total failure: the offline invoices waiting now need not be sent by any date (inside write)."""
    for r in outbox_work.liftable(db):
        outbox_work.lift_deadline(db, now, r, NO_DEADLINE)
