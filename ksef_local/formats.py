"""How values are shown to the user, in Polish formats: one formatter for each kind of value.

Numbers: 1 234,56 (a no-break space groups thousands); money: 1 234,56 zł; dates: 24.11.2026; times in
the computer's local time: 24.11.2026 09:30. File names derived from invoice numbers are ASCII-safe.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal


def decimal_places(value: Decimal) -> int:
    """Return how many digits a Decimal has after the point (trailing zeros ignored)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def format_pl(value: Decimal | None, places: int = 2) -> str:
    """Format a number the Polish way: 1 234,56 (no-break space as the thousands separator)."""
    if value is None:
        return ""
    quantized = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) if places >= 0 else value
    sign = "-" if quantized < 0 else ""
    whole, _, fraction = f"{abs(quantized):f}".partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    text = "\u00a0".join(groups)
    return f"{sign}{text},{fraction}" if fraction else f"{sign}{text}"


def format_flexible(value: Decimal | str | None, min_places: int = 0) -> str:
    """Format a quantity or price with as many decimals as it has (at least min_places).

    Also takes the decimal text the database stores ("4250", "2.5"); empty text shows as nothing.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = Decimal(value)
    return format_pl(value, max(min_places, decimal_places(value)))


def format_money(value: Decimal | None, currency: str = "PLN") -> str:
    """Format an amount with its currency: 1 234,56 zł or 1 234,56 EUR."""
    if value is None:
        return ""
    suffix = "zł" if currency == "PLN" else currency
    return f"{format_pl(value)}\u00a0{suffix}"


def format_grosze(value: int | None, currency: str = "PLN") -> str:
    """Format an amount stored as an integer number of grosze (cents): 123456 → 1 234,56 zł."""
    return "" if value is None else format_money(Decimal(value).scaleb(-2), currency)


def pl_date(value: str | date | None) -> str:
    """24.11.2026 (an ISO date or date-time string, or a date)."""
    if not value:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value:%d.%m.%Y}"


MONTH_NAMES = ("styczeń", "luty", "marzec", "kwiecień", "maj", "czerwiec", "lipiec", "sierpień", "wrzesień",
               "październik", "listopad", "grudzień")


def pl_month(value: str) -> str:
    """A month as its Polish name and year: "2026-11" → "listopad 2026"."""
    return f"{MONTH_NAMES[int(value[5:7]) - 1]} {value[:4]}"


def pl_datetime(value: str | datetime | None, seconds: bool = False) -> str:
    """24.11.2026 09:30 (with seconds: 24.11.2026 09:30:05), an aware moment shown in the computer's local time."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone()
    return f"{value:%d.%m.%Y %H:%M:%S}" if seconds else f"{value:%d.%m.%Y %H:%M}"


def format_nip(value: str | None) -> str:
    """Show a NIP as 526-104-08-28."""
    if value and re.fullmatch(r"\d{10}", value):
        return f"{value[:3]}-{value[3:6]}-{value[6:8]}-{value[8:]}"
    return value or ""


def format_account(value: str | None) -> str:
    """Group an account number in fours for display: 61 1090 1014 0000 …"""
    if not value:
        return ""
    if re.fullmatch(r"\d{26}", value):
        return value[:2] + " " + " ".join(value[i:i + 4] for i in range(2, 26, 4))
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


# Polish nouns after a number (https://sjp.pwn.pl/poradnia, liczebniki): 1 faktura; 2–4, 22–24, … faktury;
# 0, 5–21, 25–31, … faktur. PLURALS names the forms of the words the program counts.
PLURALS: dict[str, tuple[str, str, str]] = {
    "faktura": ("faktura", "faktury", "faktur"),
    "faktura czeka": ("faktura czeka", "faktury czekają", "faktur czeka"),
    "fakturę zakupową": ("fakturę zakupową", "faktury zakupowe", "faktur zakupowych"),
    "plik": ("plik", "pliki", "plików"),
    "dzień": ("dzień", "dni", "dni"),
    "minuta": ("minuta", "minuty", "minut"),
    "minutę": ("minutę", "minuty", "minut"),
    "certyfikat": ("certyfikat", "certyfikaty", "certyfikatów"),
    "wniosek": ("wniosek", "wnioski", "wniosków"),
    "pozycja": ("pozycja", "pozycje", "pozycji"),
    "nowa faktura zakupowa": ("nowa faktura zakupowa", "nowe faktury zakupowe", "nowych faktur zakupowych"),
    "faktura sprzedaży": ("faktura sprzedaży", "faktury sprzedaży", "faktur sprzedaży"),
    "faktura zakupowa": ("faktura zakupowa", "faktury zakupowe", "faktur zakupowych"),
    "kopia zapasowa": ("kopia zapasowa", "kopie zapasowe", "kopii zapasowych"),
    "numer": ("numer", "numery", "numerów"),
}


def plural(count: int, word: str) -> str:
    """The count with the word in the right Polish form: plural(2, "faktura") == "2 faktury"."""
    one, few, many = PLURALS[word]
    if count == 1:
        form = one
    elif count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        form = few
    else:
        form = many
    return f"{count} {form}"


def human_size(size: int) -> str:
    """A file size for people: 1,2 MB."""
    for unit, factor in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("kB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}".replace(".", ",")
    return f"{size} B"


def safe_filename(stem: str, suffix: str = "", prefix: str = "") -> str:
    """An ASCII-safe file name from an invoice number: ("FV/2026/11/1", ".pdf", "Faktura_") → Faktura_FV_2026_11_1.pdf.

    Anything but letters, digits, dot, dash and underscore becomes "_" (slashes, spaces, Polish letters),
    so the name is valid on every system and in a Content-Disposition header.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "plik"
    return f"{prefix}{cleaned}{suffix}"
