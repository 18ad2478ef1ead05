"""The one source of "now". Code that needs the time takes a clock argument whose default comes from here.

Dates the law counts in (the invoice date P_1, offline deadlines, KSeF's own day boundaries) are calendar
days in Poland, whatever the computer's time zone: see docs/ksef-protocol.md §9.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

WARSAW = ZoneInfo("Europe/Warsaw")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current moment as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def local_now() -> datetime:
    """Return the current moment in the computer's local time zone (for file names and printouts)."""
    return datetime.now().astimezone()


def warsaw_day(moment: datetime) -> date:
    """Return the calendar day in Poland of an aware moment."""
    return moment.astimezone(WARSAW).date()


def today() -> date:
    """Return today's date in Poland."""
    return warsaw_day(utc_now())
