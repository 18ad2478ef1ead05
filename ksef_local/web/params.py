"""What the screens read from addresses: record ids in paths and query parameters, parsed once, here.

Werkzeug's <int:…> converter takes any number of digits in any script (its regex is \\d+), and SQLite's INTEGER
holds at most 2**63 − 1: a larger id reached the database and failed there with an English 500. A parameter that
the program's own links never produce is refused with a Polish 400 or 404 before it reaches the database.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Iterable

from werkzeug.routing import IntegerConverter, Map, ValidationError

from ksef_local.errors import UserError
from ksef_local.forms.editor import DATE_MAX, DATE_MIN
from ksef_local.forms.text import MAX_RECORD_ID, is_ascii_digits, record_id, single_line

SEARCH_MAX = 200  # characters of a search box that count

PAGE_ERROR = "Numer strony w adresie jest nieprawidłowy: wróć do listy i wybierz stronę jeszcze raz."
BUYER_NOT_FOUND = "Nie ma takiego kontrahenta."
SELECTION_ERROR = "Nieprawidłowy wybór faktur: zaznacz faktury na liście jeszcze raz."
MONTH_ERROR = (f"Miesiąc w adresie strony jest nieprawidłowy: podaj go jako RRRR-MM, od {DATE_MIN:%Y-%m} do "
               f"{DATE_MAX:%Y-%m} (w tych granicach FA(3) przyjmuje datę wystawienia).")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class RecordIdConverter(IntegerConverter):
    """<int:…> for every route: ASCII digits up to SQLite's largest INTEGER; anything else matches no page (404)."""

    regex = r"[0-9]+"

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, MAX_RECORD_ID if max is None else max, signed)

    def to_python(self, value: str) -> int:
        if len(value) > len(str(self.max)):  # never int() a thousand digits only to compare them
            raise ValidationError()
        return super().to_python(value)


def positive_int(text: str | None, message: str, status: int = 400, maximum: int = MAX_RECORD_ID) -> int | None:
    """Return the number a query parameter holds (ASCII digits, 1 to maximum); None when it is absent or empty.

    Anything else raises UserError(message, status).
    """
    if text is None or text == "":
        return None
    if not is_ascii_digits(text) or len(text) > len(str(maximum)) or not 1 <= int(text) <= maximum:
        raise UserError(message, status)
    return int(text)


def record_ids(values: Iterable[str], message: str = SELECTION_ERROR) -> list[int]:
    """Return the record ids of a repeated parameter (a selection on the list) in order, without repeats."""
    ids = [record_id(value) for value in values]
    if None in ids:
        raise UserError(message)
    return list(dict.fromkeys(i for i in ids if i is not None))


def month(text: str | None) -> str | None:
    """Return a month filter "YYYY-MM" within the FA(3) range of issue dates; None when absent or empty."""
    if not text:
        return None
    match = _MONTH.fullmatch(text)
    year, number = (int(match[1]), int(match[2])) if match else (0, 0)
    if not (1 <= number <= 12 and DATE_MIN.year <= year <= DATE_MAX.year and date(year, number, 1) <= DATE_MAX):
        raise UserError(MONTH_ERROR)
    return text


def search_text(text: str | None) -> str:
    """Return what a search box holds, canonical (forms/text.py) and cut to SEARCH_MAX characters."""
    return single_line((text or "")[: SEARCH_MAX * 2])[:SEARCH_MAX]
