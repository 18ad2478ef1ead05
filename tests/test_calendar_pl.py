"""Tests of calendar_pl.py: Polish holidays, business days and KSeF offline deadlines (ksef-docs tryby-offline.md)."""
from datetime import date

import pytest

from ksef_local.core import calendar_pl
from ksef_local.core.calendar_pl import (
    add_business_days,
    deadline_after_failure,
    deadline_warning,
    is_business_day,
    next_business_day,
    offline_deadline,
    public_holidays,
)


@pytest.mark.parametrize(
    "year, easter",
    [
        (1818, date(1818, 3, 22)),  # earliest possible
        (1900, date(1900, 4, 15)),
        (2000, date(2000, 4, 23)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),  # latest possible
        (2100, date(2100, 3, 28)),
    ],
)
def test_easter_sunday_known_years(year, easter):
    assert calendar_pl.easter_sunday(year) == easter
    assert public_holidays(year)[easter] == "Wielkanoc (pierwszy dzień)"


@pytest.mark.parametrize(
    "day, name",
    [
        (date(2026, 1, 1), "Nowy Rok"),
        (date(2026, 1, 6), "Święto Trzech Króli"),
        (date(2026, 4, 6), "Poniedziałek Wielkanocny"),
        (date(2026, 5, 1), "Święto Państwowe (Święto Pracy)"),
        (date(2026, 5, 3), "Święto Narodowe Trzeciego Maja"),
        (date(2026, 5, 24), "Zielone Świątki"),
        (date(2026, 6, 4), "Boże Ciało"),
        (date(2026, 8, 15), "Wniebowzięcie Najświętszej Maryi Panny"),
        (date(2026, 11, 1), "Wszystkich Świętych"),
        (date(2026, 11, 11), "Narodowe Święto Niepodległości"),
        (date(2026, 12, 24), "Wigilia Bożego Narodzenia"),
        (date(2026, 12, 25), "Boże Narodzenie (pierwszy dzień)"),
        (date(2026, 12, 26), "Boże Narodzenie (drugi dzień)"),
    ],
)
def test_public_holidays_2026_names(day, name):
    assert public_holidays(2026)[day] == name


def test_public_holidays_2026_has_exactly_fourteen_days():
    assert len(public_holidays(2026)) == 14


@pytest.mark.parametrize(
    "year, count",
    [(2010, 12), (2011, 13), (2024, 13), (2025, 14)],
)
def test_public_holidays_count_follows_the_amendments(year, count):
    # Trzech Króli from 2011, Wigilia from 2025 (ustawa z 6 grudnia 2024 r.).
    assert len(public_holidays(year)) == count


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2024, 12, 24), True),  # Tuesday; Wigilia not yet a day off in 2024
        (date(2025, 12, 24), False),  # Wednesday; first Wigilia off
        (date(2026, 12, 24), False),  # Thursday
        (date(2026, 6, 4), False),  # Boże Ciało, Thursday
        (date(2026, 6, 5), True),  # Friday after Boże Ciało
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 11, 22), False),  # Sunday
        (date(2026, 11, 23), True),  # Monday
    ],
)
def test_is_business_day(day, expected):
    assert is_business_day(day) is expected


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2026, 11, 23), date(2026, 11, 24)),  # Monday → Tuesday
        (date(2026, 11, 20), date(2026, 11, 23)),  # Friday → Monday
        (date(2026, 11, 21), date(2026, 11, 23)),  # Saturday → Monday
        (date(2026, 4, 30), date(2026, 5, 4)),  # Thursday; 1 May Friday, 3 May Sunday
        (date(2026, 12, 23), date(2026, 12, 28)),  # over Wigilia and Christmas
        (date(2026, 12, 31), date(2027, 1, 4)),  # over New Year into the next year
    ],
)
def test_next_business_day_is_strictly_after(day, expected):
    assert next_business_day(day) == expected


def test_add_business_days_zero_is_the_same_day():
    assert add_business_days(date(2026, 11, 21), 0) == date(2026, 11, 21)


def test_add_business_days_negative_is_an_error():
    with pytest.raises(ValueError):
        add_business_days(date(2026, 11, 23), -1)


@pytest.mark.parametrize(
    "issued_on, deadline",
    [
        (date(2026, 11, 24), date(2026, 11, 25)),  # Tuesday → Wednesday
        (date(2026, 11, 20), date(2026, 11, 23)),  # Friday → Monday, over the weekend
        (date(2026, 11, 21), date(2026, 11, 23)),  # issued on a Saturday
        (date(2026, 4, 30), date(2026, 5, 4)),  # long weekend: 1 May Friday, 2–3 May weekend
        (date(2026, 11, 10), date(2026, 11, 12)),  # over 11 November
    ],
)
def test_offline_deadline_offline24_is_next_business_day(issued_on, deadline):
    assert offline_deadline("offline24", issued_on) == deadline


def test_offline_deadline_offline_counts_from_the_end_of_unavailability():
    # Unavailability announced Thu 2026-06-04 (Boże Ciało) until Fri 06-05 → Monday 06-08.
    assert offline_deadline("offline", date(2026, 6, 3), failure_end=date(2026, 6, 5)) == date(2026, 6, 8)


@pytest.mark.parametrize(
    "failure_end, deadline",
    [
        # Wed 23(1), 24–27 Wigilia, Christmas, weekend, 28(2) 29(3) 30(4) 31(5), 1 Jan, weekend, 4(6) 5(7)
        (date(2026, 12, 22), date(2027, 1, 5)),
        # ... and one day later the count also steps over Trzech Króli (Wed 2027-01-06).
        (date(2026, 12, 23), date(2027, 1, 7)),
    ],
)
def test_offline_deadline_awaryjny_seven_business_days_across_christmas(failure_end, deadline):
    assert offline_deadline("awaryjny", date(2026, 12, 21), failure_end=failure_end) == deadline


def test_offline_deadline_awaria_calkowita_has_no_obligation():
    assert offline_deadline("awaria_calkowita", date(2026, 11, 24)) is None


@pytest.mark.parametrize("mode", ["online", "Offline24", "awaria całkowita", ""])
def test_offline_deadline_unknown_mode_is_an_error(mode):
    with pytest.raises(ValueError):
        offline_deadline(mode, date(2026, 11, 24))


@pytest.mark.parametrize("mode", ["offline", "awaryjny"])
def test_offline_deadline_needs_failure_end(mode):
    with pytest.raises(ValueError):
        offline_deadline(mode, date(2026, 11, 24))


def test_offline_deadline_failure_end_before_issue_is_an_error():
    with pytest.raises(ValueError):
        offline_deadline("awaryjny", date(2026, 11, 24), failure_end=date(2026, 11, 23))


def test_deadline_after_failure_worked_example_from_ksef_api_doc():
    # ksef-docs tryby-offline.md: issued Wed 2025-07-08 (deadline 07-09); failure announced 07-09, ends Sat 07-12
    # → deadline Tue 07-22.
    issued_on = date(2025, 7, 8)
    current = offline_deadline("offline24", issued_on)
    assert current == date(2025, 7, 9)
    assert deadline_after_failure(current, failure_end=date(2025, 7, 12)) == date(2025, 7, 22)


def test_deadline_after_failure_last_failure_counts():
    first = deadline_after_failure(date(2025, 7, 9), failure_end=date(2025, 7, 12))
    assert deadline_after_failure(first, failure_end=date(2025, 7, 15)) == date(2025, 7, 24)


def test_deadline_after_failure_never_shortens():
    assert deadline_after_failure(date(2025, 8, 29), failure_end=date(2025, 7, 12)) == date(2025, 8, 29)


@pytest.mark.parametrize(
    "deadline, today, warning",
    [
        (date(2026, 11, 24), date(2026, 11, 24), "Termin wysłania do KSeF mija dzisiaj (24.11.2026)."),
        (date(2026, 11, 25), date(2026, 11, 24), "Termin wysłania do KSeF mija jutro (25.11.2026)."),
        # Friday, deadline Monday: the next business day, but not "jutro".
        (
            date(2026, 11, 23),
            date(2026, 11, 20),
            "Termin wysłania do KSeF mija w poniedziałek (23.11.2026).",
        ),
        (
            date(2026, 11, 23),
            date(2026, 11, 24),
            "Termin wysłania do KSeF minął 23.11.2026 — wyślij fakturę jak najszybciej.",
        ),
        (date(2026, 11, 26), date(2026, 11, 24), None),  # two business days away
        (date(2026, 11, 24), date(2026, 11, 20), None),  # Friday, deadline Tuesday
    ],
)
def test_deadline_warning(deadline, today, warning):
    assert deadline_warning(deadline, today) == warning


def test_deadline_warning_pads_day_and_month():
    warning = deadline_warning(date(2027, 1, 5), date(2027, 1, 5))
    assert warning == "Termin wysłania do KSeF mija dzisiaj (05.01.2027)."
