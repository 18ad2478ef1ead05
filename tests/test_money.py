"""Tests of money.py: the half-up rule, per-rate VAT, corrections and Polish formatting."""
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ksef_local import formats
from ksef_local.core import money

GROSZ = Decimal("0.01")


def half_up(value: Decimal) -> Decimal:
    return value.quantize(GROSZ, rounding=ROUND_HALF_UP)


@st.composite
def fixed_point(draw, max_places: int, max_value: Decimal) -> Decimal:
    """A positive Decimal with 0..max_places decimals, up to max_value."""
    places = draw(st.integers(0, max_places))
    step = Decimal(1).scaleb(-places)
    units = draw(st.integers(1, int(max_value / step)))
    return Decimal(units) * step


# Up to 10^6 units at up to 10^9 per unit: line values stay inside TKwotowy (16 integer digits), while
# quantity × price still needs more than Decimal's default 28 digits.
MAX_QUANTITY = Decimal("1000000")
MAX_PRICE = Decimal("1000000000")
discounts = st.none() | st.integers(0, 10000).map(lambda hundredths: Decimal(hundredths) / 100)
line_inputs = st.builds(
    money.LineInput,
    name=st.just("Towar"),
    unit=st.just("szt."),
    quantity=fixed_point(6, MAX_QUANTITY),
    unit_price=fixed_point(8, MAX_PRICE),
    rate=st.sampled_from(list(money.RATES)),
    discount_percent=discounts,
)
line_lists = st.lists(line_inputs, min_size=1, max_size=8)
price_modes = st.sampled_from(["net", "gross"])
exchange_rates = st.none() | fixed_point(6, Decimal("1000"))


def expected_by_rate(lines: list[money.LineInput], price_mode: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Compute each rate's (net, VAT) from scratch, with enough precision to be exact."""
    sums: dict[str, Decimal] = {}
    with localcontext() as context:
        context.prec = 100
        for line in lines:
            raw = line.quantity * line.unit_price
            discount = half_up(raw * line.discount_percent / 100) if line.discount_percent else Decimal(0)
            sums[line.rate] = sums.get(line.rate, Decimal(0)) + half_up(raw - discount)
        result = {}
        for code, amount in sums.items():
            percent = money.RATES[code].percent
            if percent is None:
                result[code] = (amount, Decimal(0))
            elif price_mode == "net":
                result[code] = (amount, half_up(amount * percent / 100))
            else:
                vat = half_up(amount * percent / (100 + percent))
                result[code] = (amount - vat, vat)
    return result


def places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@given(line_lists, price_modes, exchange_rates)
def test_compute_totals_matches_independent_computation(lines, price_mode, exchange_rate):
    totals = money.compute_totals(lines, price_mode, exchange_rate)
    expected = expected_by_rate(lines, price_mode)
    assert [row.rate for row in totals.by_rate] == [code for code in money.RATE_ORDER if code in expected]
    for row in totals.by_rate:
        assert (row.net, row.vat) == expected[row.rate]
        assert row.net + row.vat == row.gross
        if exchange_rate is not None and money.RATES[row.rate].percent is not None:
            assert row.vat_pln == half_up(row.vat * exchange_rate)


@given(line_lists, price_modes, exchange_rates)
def test_compute_totals_gross_is_net_plus_vat(lines, price_mode, exchange_rate):
    totals = money.compute_totals(lines, price_mode, exchange_rate)
    assert totals.gross == sum(row.net for row in totals.by_rate) + sum(row.vat for row in totals.by_rate)
    assert totals.gross == totals.net + totals.vat


@given(line_lists, price_modes, exchange_rates)
def test_compute_totals_amounts_have_at_most_two_decimals(lines, price_mode, exchange_rate):
    totals = money.compute_totals(lines, price_mode, exchange_rate)
    for row in totals.by_rate:
        amounts = [row.net, row.vat, row.gross] + ([row.vat_pln] if row.vat_pln is not None else [])
        assert all(places(amount) <= 2 for amount in amounts)


@given(line_lists, price_modes, exchange_rates)
def test_difference_of_same_totals_is_zero(lines, price_mode, exchange_rate):
    totals = money.compute_totals(lines, price_mode, exchange_rate)
    diff = money.difference(totals, totals)
    assert len(diff.by_rate) == len(totals.by_rate)
    for row in diff.by_rate:
        assert row.net == row.vat == row.gross == 0
        assert row.vat_pln in (None, 0)


@given(line_lists, line_lists, price_modes, exchange_rates)
def test_difference_plus_before_is_after(after_lines, before_lines, price_mode, exchange_rate):
    after = money.compute_totals(after_lines, price_mode, exchange_rate)
    before = money.compute_totals(before_lines, price_mode, exchange_rate)
    diff = money.difference(after, before)
    zero = money.RateTotal("", Decimal(0), Decimal(0), Decimal(0), None)
    for code in money.RATE_ORDER:
        a, b, d = after.rate(code) or zero, before.rate(code) or zero, diff.rate(code) or zero
        assert d.net + b.net == a.net
        assert d.vat + b.vat == a.vat
        assert d.gross + b.gross == a.gross
        assert (d.vat_pln or 0) + (b.vat_pln or 0) == (a.vat_pln or 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.005", "0.01"), ("2.675", "2.68"), ("0.004999", "0.00"), ("-0.005", "-0.01"), ("1.125", "1.13")],
)
def test_round_grosz_rounds_half_up(value, expected):
    assert money.round_grosz(Decimal(value)) == Decimal(expected)


def test_compute_totals_rounds_vat_half_up_not_to_even():
    # 1.50 × 23% = 0.345: half-up gives 0.35 (banker's rounding would give 0.34).
    totals = money.compute_totals([money.LineInput("Usługa", "szt.", Decimal("1"), Decimal("1.50"), "23")])
    assert totals.rate("23").vat == Decimal("0.35")
    assert totals.gross == Decimal("1.85")


def test_compute_totals_gross_mode_extracts_vat():
    # 123.00 gross at 23%: VAT = 123 × 23 / 123 = 23.00, net 100.00.
    totals = money.compute_totals([money.LineInput("Towar", "szt.", Decimal("1"), Decimal("123"), "23")], "gross")
    assert (totals.net, totals.vat, totals.gross) == (Decimal("100.00"), Decimal("23.00"), Decimal("123.00"))


def test_line_amounts_is_exact_beyond_28_digits():
    # 99999.999999 × 10000000000.00000005 = 999999999990000.00499999999995: just under half a grosz.
    line = money.LineInput("Towar", "szt.", Decimal("99999.999999"), Decimal("10000000000.00000005"), "23")
    assert money.line_amounts(line).value == Decimal("999999999990000.00")


def test_line_amounts_applies_rounded_discount():
    line = money.LineInput("Towar", "szt.", Decimal("3"), Decimal("33.33"), "23", Decimal("10"))
    amounts = money.line_amounts(line)
    assert (amounts.discount, amounts.value) == (Decimal("10.00"), Decimal("89.99"))


def test_format_pl_groups_thousands_with_no_break_space():
    assert formats.format_pl(Decimal("1234.56")) == "1\u00a0234,56"
    assert formats.format_pl(Decimal("-1234567.891")) == "-1\u00a0234\u00a0567,89"
    assert formats.format_pl(Decimal("5")) == "5,00"


def test_format_flexible_takes_the_stored_decimal_text():
    assert formats.format_flexible("4250", 2) == "4\u00a0250,00"
    assert formats.format_flexible("2.5") == "2,5"
    assert formats.format_flexible(Decimal("0.12345678"), 2) == "0,12345678"
    assert formats.format_flexible("") == "" and formats.format_flexible(None) == ""


def test_format_money_adds_currency():
    assert formats.format_money(Decimal("1234.5")) == "1\u00a0234,50\u00a0zł"
    assert formats.format_money(Decimal("10"), "EUR") == "10,00\u00a0EUR"
    assert formats.format_money(None) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1 234,56", "1234.56"), ("1\u00a0234,56", "1234.56"), ("1234.56", "1234.56"), ("-5", "-5"), (" 7,5 ", "7.5")],
)
def test_parse_decimal_reads_polish_and_xml_numbers(text, expected):
    assert money.parse_decimal(text) == Decimal(expected)


def test_parse_decimal_returns_none_for_empty():
    assert money.parse_decimal("") is None
    assert money.parse_decimal(None) is None


@pytest.mark.parametrize("text", ["1,2,3", "abc", "1.234,56", "12a"])
def test_parse_decimal_refuses_garbage(text):
    with pytest.raises(ValueError):
        money.parse_decimal(text)


def test_amount_in_words_writes_polish_words():
    assert "tysiąc dwieście trzydzieści cztery złote 56/100" in money.amount_in_words(Decimal("1234.56"))
    assert money.amount_in_words(Decimal("1")) == "jeden złoty 00/100"
    assert money.amount_in_words(Decimal("12")).endswith("złotych 00/100")


def test_xml_amount_and_number_formats():
    assert money.xml_amount(Decimal("5")) == "5.00"
    assert money.xml_amount(Decimal("-12.345")) == "-12.35"
    assert money.xml_number(Decimal("100")) == "100"
    assert money.xml_number(Decimal("1.50000")) == "1.5"
