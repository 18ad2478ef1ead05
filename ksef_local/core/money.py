"""Decimal helpers, the one rounding rule, VAT rates and invoice totals.

Every amount is a ``Decimal`` from the form to the XML. VAT is computed per rate over the whole invoice
(art. 106e ust. 1 pkt 14 ustawy o VAT) and rounded half-up to the grosz (art. 106e ust. 11).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Iterable

GROSZ = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")

# The largest amount an FA(3) invoice can carry: TKwotowy is xsd:decimal with totalDigits 18 and
# fractionDigits 2 (docs/fa3-notes.md §3.1). Every line value, rate sum, VAT in PLN and the total due is a
# TKwotowy, so each must fit; in grosze it also fits SQLite's INTEGER. A line's discount (P_10) is a TKwotowy2:
# 14 integer digits, and we write it to the grosz.
MAX_AMOUNT = Decimal("9999999999999999.99")
MAX_DISCOUNT = Decimal("99999999999999.99")
# Limits per field that keep a quantity (TIlosci) and a unit price (TKwotowy2) inside their XSD types and catch
# typos; their product can still exceed MAX_AMOUNT, which forms/editor.py checks.
MAX_QUANTITY = Decimal("999999999")
MAX_UNIT_PRICE = Decimal("999999999999")
QUANTITY_PLACES = 6  # TIlosci
PRICE_PLACES = 8  # TKwotowy2
RATE_PLACES = 6  # exchange rate, TIlosci


@dataclass(frozen=True)
class Rate:
    """A VAT rate as written in FA(3) P_12, with its summary bucket and Polish label."""

    code: str
    percent: Decimal | None  # None for rates without VAT amount (0 %, zw, oo, np)
    bucket: str  # the suffix of P_13_x / P_14_x in the fa3 package
    label: str


RATES: dict[str, Rate] = {
    r.code: r
    for r in (
        Rate("23", Decimal("23"), "1", "23%"),
        Rate("8", Decimal("8"), "2", "8%"),
        Rate("5", Decimal("5"), "3", "5%"),
        Rate("0 KR", None, "6_1", "0% – krajowe"),
        Rate("0 WDT", None, "6_2", "0% – WDT"),
        Rate("0 EX", None, "6_3", "0% – eksport"),
        Rate("zw", None, "7", "zw – zwolnione"),
        Rate("oo", None, "10", "oo – odwrotne obciążenie"),
        Rate("np I", None, "8", "np – poza terytorium kraju"),
        Rate("np II", None, "9", "np – art. 100 ust. 1 pkt 4"),
    )
}
RATE_ORDER = list(RATES)


def round_grosz(value: Decimal) -> Decimal:
    """Round to the grosz, half-up (art. 106e ust. 11 ustawy o VAT)."""
    return value.quantize(GROSZ, rounding=ROUND_HALF_UP)


def to_grosze(value: Decimal) -> int:
    """Return an amount in whole grosze (for sorting and storage)."""
    return int(round_grosz(value) * 100)


def from_grosze(value: int) -> Decimal:
    """Return the Decimal amount of an integer number of grosze."""
    return (Decimal(value) / 100).quantize(GROSZ)


# ASCII digits only: \d would also take "５" (fullwidth) and other scripts' digits (docs/fa3-notes.md §1).
_NUMBER_RE = re.compile(r"-?[0-9]+([.,][0-9]+)?")


def parse_decimal(text: str | None) -> Decimal | None:
    """Parse a number typed the Polish way ("1 234,56") or the XML way ("1234.56"); None if empty.

    Raises ValueError for anything that is not a plain decimal number.
    """
    if text is None:
        return None
    cleaned = str(text).strip().replace("\u00a0", "").replace(" ", "").replace("\u202f", "")
    if not cleaned:
        return None
    if not _NUMBER_RE.fullmatch(cleaned):
        raise ValueError(text)
    try:
        return Decimal(cleaned.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise ValueError(text) from exc


def xml_amount(value: Decimal) -> str:
    """Write an amount for the XML: dot separator, exactly two decimals (TKwotowy)."""
    return f"{round_grosz(value):f}"


def xml_number(value: Decimal) -> str:
    """Write a quantity or price for the XML with no exponent and no trailing zeros."""
    normalized = value.normalize()
    text = f"{normalized:f}"
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class LineInput:
    """What the user typed for one invoice line, already parsed."""

    name: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    rate: str
    discount_percent: Decimal | None = None


@dataclass(frozen=True)
class LineAmounts:
    """The computed amounts of one line: before-discount value, discount and the rounded line value.

    In net-price mode ``value`` is the line net value (P_11); in gross-price mode it is the line gross
    value (P_11A).
    """

    gross_before_discount: Decimal
    discount: Decimal
    value: Decimal


def line_amounts(line: LineInput) -> LineAmounts:
    """Compute one line: quantity × unit price, less the discount, rounded to the grosz."""
    # quantity (up to 15 digits) × price (up to 20) overflows the default 28-digit context; rounding there
    # first and then to the grosz could round twice (…0.00499999999995 → 0.01), so compute exactly.
    with localcontext() as context:
        context.prec = 60
        raw = line.quantity * line.unit_price
        discount = ZERO
        if line.discount_percent:
            discount = round_grosz(raw * line.discount_percent / HUNDRED)
        return LineAmounts(raw, discount, round_grosz(raw - discount))


@dataclass(frozen=True)
class RateTotal:
    """The summary of one VAT rate: net, VAT, gross and VAT in PLN for a foreign currency."""

    rate: str
    net: Decimal
    vat: Decimal
    gross: Decimal
    vat_pln: Decimal | None = None


@dataclass(frozen=True)
class Totals:
    """Per-rate summary (in RATE_ORDER) and invoice totals."""

    by_rate: tuple[RateTotal, ...] = field(default_factory=tuple)

    @property
    def net(self) -> Decimal:
        return sum((r.net for r in self.by_rate), ZERO)

    @property
    def vat(self) -> Decimal:
        return sum((r.vat for r in self.by_rate), ZERO)

    @property
    def gross(self) -> Decimal:
        """P_15: the sum of all P_13_x and P_14_x."""
        return sum((r.gross for r in self.by_rate), ZERO)

    @property
    def vat_pln(self) -> Decimal | None:
        values = [r.vat_pln for r in self.by_rate if r.vat_pln is not None]
        return sum(values, ZERO) if values else None

    def rate(self, code: str) -> RateTotal | None:
        return next((r for r in self.by_rate if r.rate == code), None)


def compute_totals(
    lines: Iterable[LineInput],
    price_mode: str = "net",
    exchange_rate: Decimal | None = None,
) -> Totals:
    """Sum the lines per rate and compute VAT over each rate's sum.

    price_mode "net": the lines hold net prices; VAT = round(net × rate).
    price_mode "gross": the lines hold gross prices; VAT = round(gross × rate / (100 + rate)), net = gross − VAT
    (art. 106e ust. 7–8). exchange_rate given: VAT is also converted to PLN (P_14_xW).
    """
    if price_mode not in ("net", "gross"):
        raise ValueError(price_mode)
    sums: dict[str, Decimal] = {}
    for line in lines:
        sums[line.rate] = sums.get(line.rate, ZERO) + line_amounts(line).value
    result = []
    for code in RATE_ORDER:
        if code not in sums:
            continue
        amount = sums[code]
        percent = RATES[code].percent
        if percent is None:
            net, vat = amount, ZERO
        elif price_mode == "net":
            net, vat = amount, round_grosz(amount * percent / HUNDRED)
        else:
            vat = round_grosz(amount * percent / (HUNDRED + percent))
            net = amount - vat
        vat_pln = None
        if exchange_rate is not None and percent is not None:
            vat_pln = round_grosz(vat * exchange_rate)
        result.append(RateTotal(code, net, vat, net + vat, vat_pln))
    return Totals(tuple(result))


def largest_amount(totals: Totals) -> Decimal:
    """Return the largest absolute amount among the sums the totals hold (each rate's net, VAT, gross, VAT in
    PLN, and the invoice's net, VAT and gross): what must not exceed MAX_AMOUNT."""
    amounts = [totals.net, totals.vat, totals.gross]
    for r in totals.by_rate:
        amounts += [r.net, r.vat, r.gross, r.vat_pln or ZERO]
    return max((abs(a) for a in amounts), default=ZERO)


def difference(after: Totals, before: Totals) -> Totals:
    """Return after − before per rate: the amounts of a correcting invoice (docs/fa3-notes.md §3.5).

    Each state is computed in full first and only then subtracted, so the difference never drifts by a
    grosz from what the two invoices say.
    """
    result = []
    for code in RATE_ORDER:
        a, b = after.rate(code), before.rate(code)
        if a is None and b is None:
            continue
        a = a or RateTotal(code, ZERO, ZERO, ZERO, ZERO if (b and b.vat_pln is not None) else None)
        b = b or RateTotal(code, ZERO, ZERO, ZERO, ZERO if a.vat_pln is not None else None)
        vat_pln = None
        if a.vat_pln is not None or b.vat_pln is not None:
            vat_pln = (a.vat_pln or ZERO) - (b.vat_pln or ZERO)
        result.append(RateTotal(code, a.net - b.net, a.vat - b.vat, a.gross - b.gross, vat_pln))
    return Totals(tuple(result))


def amount_in_words(value: Decimal, currency: str = "PLN") -> str:
    """Return the amount in Polish words ("słownie"), whole units in words and grosze as digits/100."""
    from num2words import num2words

    sign = "minus " if value < 0 else ""
    value = abs(round_grosz(value))
    whole = int(value)
    cents = int((value - whole) * 100)
    words = num2words(whole, lang="pl")
    unit = _currency_word(whole, currency)
    return f"{sign}{words} {unit} {cents:02d}/100"


def _currency_word(whole: int, currency: str) -> str:
    if currency != "PLN":
        return currency
    if whole == 1:
        return "złoty"
    last_two, last = whole % 100, whole % 10
    if 2 <= last <= 4 and not 12 <= last_two <= 14:
        return "złote"
    return "złotych"
