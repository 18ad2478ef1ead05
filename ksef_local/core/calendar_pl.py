"""Polish public holidays, business days and the KSeF offline-mode deadlines.

Pure functions: every date comes in as an argument, nothing reads the clock. A business day (dzień roboczy)
is a day that is neither Saturday, Sunday nor a statutory day off (ustawa z dnia 18 stycznia 1951 r. o dniach
wolnych od pracy). The deadlines follow CIRFMF/ksef-docs tryby-offline.md (art. 106nda, 106nf, 106nh ustawy o VAT;
docs/ksef-protocol.md §9).
"""
from __future__ import annotations

from datetime import date, timedelta

from ksef_local.core.model import OfflineKind
from ksef_local.formats import pl_date

OFFLINE24, OFFLINE, AWARYJNY, AWARIA_CALKOWITA = (OfflineKind.OFFLINE24, OfflineKind.OFFLINE, OfflineKind.AWARYJNY,
                                                OfflineKind.AWARIA_CALKOWITA)
MODES = tuple(OfflineKind)

# art. 106nf ust. 1 ustawy o VAT: an announced failure gives 7 business days after it ends (ksef-docs tryby-offline.md).
FAILURE_BUSINESS_DAYS = 7

# Fixed-date days off, art. 1 ustawy o dniach wolnych od pracy, as in force now. Only the additions since
# 2011 carry their first year (older changes, e.g. 3 May restored in 1990, are not modelled).
_FIXED_HOLIDAYS: tuple[tuple[int, int, str, int], ...] = (
    (1, 1, "Nowy Rok", 0),
    # Restored by the ustawa z dnia 24 września 2010 r., in force from 2011.
    (1, 6, "Święto Trzech Króli", 2011),
    (5, 1, "Święto Państwowe (Święto Pracy)", 0),
    (5, 3, "Święto Narodowe Trzeciego Maja", 0),
    (8, 15, "Wniebowzięcie Najświętszej Maryi Panny", 0),
    (11, 1, "Wszystkich Świętych", 0),
    (11, 11, "Narodowe Święto Niepodległości", 0),
    # Added by the ustawa z dnia 6 grudnia 2024 r. (Dz.U. 2024 poz. 1965), in force from 1 February 2025,
    # so 24 December is a day off from 2025 onwards only.
    (12, 24, "Wigilia Bożego Narodzenia", 2025),
    (12, 25, "Boże Narodzenie (pierwszy dzień)", 0),
    (12, 26, "Boże Narodzenie (drugi dzień)", 0),
)

# Movable days off, as offsets from Easter Sunday (same article of the same act).
_EASTER_HOLIDAYS: tuple[tuple[int, str], ...] = (
    (0, "Wielkanoc (pierwszy dzień)"),
    (1, "Poniedziałek Wielkanocny"),
    (49, "Zielone Świątki"),
    (60, "Boże Ciało"),
)

# Locative weekday phrases ("mija w środę"), Monday first like date.weekday().
_WEEKDAY_PHRASES = (
    "w poniedziałek", "we wtorek", "w środę", "w czwartek", "w piątek", "w sobotę", "w niedzielę",
)


def easter_sunday(year: int) -> date:
    """Return Easter Sunday of a Gregorian year (anonymous Gregorian computus, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)


def public_holidays(year: int) -> dict[date, str]:
    """Return the statutory days off in Poland for a year, mapped to their Polish names."""
    holidays = {
        date(year, month, day): name
        for month, day, name, since in _FIXED_HOLIDAYS
        if year >= since
    }
    easter = easter_sunday(year)
    for offset, name in _EASTER_HOLIDAYS:
        holidays[easter + timedelta(days=offset)] = name
    return dict(sorted(holidays.items()))


def is_business_day(d: date) -> bool:
    """Tell whether d is a business day: not Saturday, not Sunday, not a public holiday."""
    return d.weekday() < 5 and d not in public_holidays(d.year)


def next_business_day(d: date) -> date:
    """Return the first business day strictly after d."""
    d += timedelta(days=1)
    while not is_business_day(d):
        d += timedelta(days=1)
    return d


def add_business_days(d: date, n: int) -> date:
    """Return the n-th business day after d (d itself for n == 0)."""
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    for _ in range(n):
        d = next_business_day(d)
    return d


def offline_deadline(mode: str, issued_on: date, failure_end: date | None = None) -> date | None:
    """Return the last day to send an invoice issued in an offline mode to KSeF (None: no obligation).

    failure_end is the last day of the announced unavailability ("offline") or failure ("awaryjny").
    """
    if mode not in MODES:
        raise ValueError(f"unknown KSeF offline mode: {mode!r} (expected one of {', '.join(MODES)})")
    if mode == OFFLINE24:
        # art. 106nda ust. 1: by the next business day after the issue date.
        return next_business_day(issued_on)
    if mode == AWARIA_CALKOWITA:
        # Total failure announced in the mass media: no obligation to send afterwards (ksef-docs tryby-offline.md).
        return None
    if failure_end is None:
        raise ValueError(f"mode {mode!r} needs failure_end, the day the KSeF outage ended")
    if failure_end < issued_on:
        raise ValueError(f"failure_end {failure_end} is before the issue date {issued_on}")
    if mode == OFFLINE:
        # art. 106nh: by the next business day after the announced unavailability ends.
        return next_business_day(failure_end)
    # AWARYJNY, art. 106nf ust. 1: within 7 business days after the failure ends.
    return add_business_days(failure_end, FAILURE_BUSINESS_DAYS)


def deadline_after_failure(current_deadline: date, failure_end: date) -> date:
    """Return the deadline of a waiting offline24/offline invoice after a failure is announced.

    ksef-docs tryby-offline.md (art. 106nf): the deadline moves to 7 business days counted from the end of the (last)
    failure; call this once per announced failure. The move only ever extends: a deadline already later
    than the failure's is kept.
    """
    return max(current_deadline, add_business_days(failure_end, FAILURE_BUSINESS_DAYS))


def deadline_warning(deadline: date, today: date) -> str | None:
    """Return a short Polish warning when the KSeF deadline is today, next, or past; otherwise None."""
    shown = pl_date(deadline)
    if deadline < today:
        return f"Termin wysłania do KSeF minął {shown} — wyślij fakturę jak najszybciej."
    if deadline == today:
        return f"Termin wysłania do KSeF mija dzisiaj ({shown})."
    if deadline == today + timedelta(days=1):
        return f"Termin wysłania do KSeF mija jutro ({shown})."
    if deadline <= next_business_day(today):
        # Friday before a Monday deadline: "jutro" would be wrong, so name the weekday.
        return f"Termin wysłania do KSeF mija {_WEEKDAY_PHRASES[deadline.weekday()]} ({shown})."
    return None
