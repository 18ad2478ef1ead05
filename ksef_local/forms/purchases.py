"""What users type on the purchase and accountant screens: a month (2026-11), the date a purchase invoice was paid,
and the day from which the purchase sync reads KSeF. Polish messages per field; no SQL."""
from __future__ import annotations

import re
from datetime import date

from ksef_local.errors import UserError, ValidationFailed
from ksef_local.forms.editor import parse_date

MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")   # not \d: it takes fullwidth and other scripts' digits too
# KSeF has received invoices since 1 January 2022, when it opened for voluntary use (ustawa z 29.10.2021,
# Dz.U. 2021 poz. 2076): nothing older can be read from it.
KSEF_SINCE = date(2022, 1, 1)


def parse_month(value: str | None) -> str:
    """A month as YYYY-MM; UserError (400, Polish) when it is anything else."""
    text = (value or "").strip()
    found = MONTH.fullmatch(text)
    if not found or not 1 <= int(found.group(2)) <= 12 or not 2000 <= int(found.group(1)) <= 2100:
        shown = text[:20] or "(pusty)"
        raise UserError(f"Nieprawidłowy miesiąc: {shown}. Podaj rok i miesiąc w postaci RRRR-MM, np. 2026-11.")
    return text


def optional_month(value: str | None) -> str | None:
    """A month filter: empty is "every month", anything else must be a month (UserError 400)."""
    return parse_month(value) if (value or "").strip() else None


def _day(value: str, label: str, field: str) -> date:
    errors: dict[str, str] = {}
    parsed = parse_date(value.strip(), label, errors, field)
    if errors:
        raise ValidationFailed(errors, errors[field])
    if parsed is None:
        raise ValidationFailed({field: f"{label}: podaj datę."}, f"{label}: podaj datę.")
    return date.fromisoformat(parsed)


def parse_paid_date(value: str | None, issue_date: date, today: date) -> date:
    """The day a purchase invoice was paid: not after today, not before the invoice was issued."""
    field, label = "data_zaplaty", "Data zapłaty"
    paid = _day(value or "", label, field)
    if paid > today:
        message = f"Data zapłaty nie może być późniejsza niż dzisiaj ({today:%d.%m.%Y})."
        raise ValidationFailed({field: message}, message)
    if paid < issue_date:
        message = f"Data zapłaty nie może być wcześniejsza niż data wystawienia faktury ({issue_date:%d.%m.%Y})."
        raise ValidationFailed({field: message}, message)
    return paid


def parse_sync_start(value: str | None, today: date) -> date:
    """The earlier day from which the purchase sync reads KSeF."""
    field, label = "od_dnia", "Pobieraj od dnia"
    day = _day(value or "", label, field)
    if day > today:
        message = "Ten dzień jeszcze nie nadszedł: podaj dzień z przeszłości."
        raise ValidationFailed({field: message}, message)
    if day < KSEF_SINCE:
        message = f"KSeF przyjmuje faktury od {KSEF_SINCE:%d.%m.%Y}: wcześniejszych nie da się z niego pobrać."
        raise ValidationFailed({field: message}, message)
    return day
