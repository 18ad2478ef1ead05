"""The invoice editor's form: parsing what the user typed, with a Polish message for every mistake.

Two levels of checks. parse_draft_form() accepts an incomplete draft but refuses malformed values (a
quantity that is not a number, 600 characters in a name); completeness_errors() runs at "Wystaw" and asks
for everything an invoice needs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

from ksef_local.core import money
from ksef_local.core.model import CORRECTION_TYPES, EXEMPTION_KINDS, PAYMENT_FORMS
from ksef_local.errors import ValidationFailed
from ksef_local.formats import decimal_places, format_flexible, format_money
from ksef_local.forms import parties as party_forms
from ksef_local.forms.text import multi_line, record_id, single_line
from ksef_local.ksef.ksef_number import is_valid_ksef_number

LINE_FIELDS = ("id", "name", "unit", "quantity", "unit_price", "rate", "discount_percent", "before")
DATE_MIN, DATE_MAX = date(2006, 1, 1), date(2050, 1, 1)  # the FA(3) range of P_1 and P_6
TEXT_LIMITS = {"place": 256, "exemption_text": 256, "corr_reason": 256, "corr_number": 256, "notes": 3500}


@dataclass
class DraftInput:
    fields: dict[str, Any]
    lines: list[dict[str, Any]]


def _get(form: Mapping[str, Any], name: str) -> str:
    return single_line(form.get(name))


def _getlist(form: Mapping[str, Any], name: str) -> list[str]:
    if hasattr(form, "getlist"):
        return [single_line(v) for v in form.getlist(name)]
    value = form.get(name, [])
    return [single_line(v) for v in (value if isinstance(value, list) else [value])]


# The two ways a date reaches the form: the date input's value (ISO, as HTML gives it) and typed by hand the
# Polish way. Not date.fromisoformat: it also takes ISO week dates ("2026-W01") and the basic format
# ("20260101"), which nobody means as an issue date.
_ISO_DATE = re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})")
_PL_DATE = re.compile(r"(?P<d>[0-9]{2})\.(?P<m>[0-9]{2})\.(?P<y>[0-9]{4})")


def _calendar_date(value: str) -> date | None:
    match = _ISO_DATE.fullmatch(value) or _PL_DATE.fullmatch(value)
    if match is None:
        return None
    try:
        return date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None


def parse_date(value: str, label: str, errors: dict[str, str], field: str) -> str | None:
    if not value:
        return None
    parsed = _calendar_date(value)
    if parsed is None:
        errors[field] = f"{label}: podaj datę w formacie dd.mm.rrrr."
        return None
    if not DATE_MIN <= parsed <= DATE_MAX:
        errors[field] = f"{label}: data musi być między 01.01.2006 a 01.01.2050."
        return None
    return parsed.isoformat()


def parse_number(value: str, label: str, errors: dict[str, str], field: str, places: int,
                 maximum: Decimal, allow_negative: bool = False) -> Decimal | None:
    """Parse one number typed by the user, checking decimals and range; record a Polish error."""
    try:
        number = money.parse_decimal(value)
    except ValueError:
        errors[field] = f"{label}: wpisz liczbę, np. 12,5."
        return None
    if number is None:
        return None
    if number < 0 and not allow_negative:
        errors[field] = f"{label}: liczba nie może być ujemna."
    elif abs(number) > maximum:
        errors[field] = f"{label}: liczba jest za duża (najwyżej {format_flexible(maximum)})."
    elif decimal_places(number) > places:
        errors[field] = f"{label}: najwyżej {places} miejsc po przecinku."
    else:
        return number
    return None


def _store(number: Decimal | None) -> str | None:
    return None if number is None else money.xml_number(number)


def parse_draft_form(form: Mapping[str, Any]) -> DraftInput:
    """Parse the editor's form into invoice columns and lines, or raise ValidationFailed."""
    errors: dict[str, str] = {}
    fields = _parse_header(form, errors)
    lines = _parse_lines(form, errors)
    if not errors:
        errors = _amount_errors(fields, lines)
    if errors:
        raise ValidationFailed(errors)
    return DraftInput(fields, lines)


def _amount_errors(fields: Mapping[str, Any], lines: list[dict[str, Any]]) -> dict[str, str]:
    """Refuse amounts an FA(3) invoice cannot carry (docs/fa3-notes.md §3.1), though each number typed fits.

    A line's quantity × price and its discount, and every sum of each state (the lines before and after a
    correction): rate sums, the total due and, for a foreign currency, the VAT converted to PLN.
    """
    limit = money.MAX_AMOUNT
    currency = fields["currency"]
    errors: dict[str, str] = {}
    states: dict[int, list[money.LineInput]] = {0: [], 1: []}
    for i, ln in enumerate(lines):
        line = money.LineInput(ln["name"], ln["unit"], Decimal(ln["quantity"]), Decimal(ln["unit_price"]),
                               ln["rate"], Decimal(ln["discount_percent"]) if ln["discount_percent"] else None)
        amounts = money.line_amounts(line)
        if abs(amounts.gross_before_discount) > limit:
            errors[f"line_unit_price-{i}"] = (
                f"Pozycja {i + 1}: ilość × cena to {format_money(amounts.gross_before_discount, currency)}, a kwota "
                f"na fakturze FA(3) może mieć najwyżej {format_money(limit, currency)}. Sprawdź ilość i cenę.")
        elif amounts.discount > money.MAX_DISCOUNT:
            errors[f"line_discount_percent-{i}"] = (
                f"Pozycja {i + 1}: rabat to {format_money(amounts.discount, currency)}, a rabat pozycji na fakturze "
                f"FA(3) może mieć najwyżej {format_money(money.MAX_DISCOUNT, currency)}. Sprawdź rabat i cenę.")
        states[ln["before"]].append(line)
    if errors:
        return errors
    rate = money.parse_decimal(fields["exchange_rate"]) if currency != "PLN" else None
    for before, group in states.items():
        which = "Suma pozycji przed korektą" if before else "Suma faktury"
        if money.largest_amount(money.compute_totals(group, fields["price_mode"])) > limit:
            errors["lines"] = (f"{which} przekracza {format_money(limit, currency)}: tyle najwyżej może mieć kwota "
                               "na fakturze FA(3). Sprawdź ilości i ceny.")
        elif rate and money.largest_amount(money.compute_totals(group, fields["price_mode"], rate)) > limit:
            errors["exchange_rate"] = (f"VAT przeliczony na złote przekracza {format_money(limit)}: tyle najwyżej "
                                       "może mieć kwota na fakturze FA(3). Sprawdź kurs waluty i kwoty.")
    return errors


def _parse_header(form: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    f: dict[str, Any] = {}
    for name, label in (("issue_date", "Data wystawienia"), ("sale_date", "Data sprzedaży"),
                        ("due_date", "Termin płatności"), ("paid_date", "Data zapłaty"),
                        ("exchange_rate_date", "Data kursu"), ("corr_issue_date", "Data faktury korygowanej")):
        f[name] = parse_date(_get(form, name), label, errors, name)
    if not f["issue_date"] and "issue_date" not in errors:
        errors["issue_date"] = "Podaj datę wystawienia."
    for name in ("place", "notes", "exemption_text", "corr_reason", "corr_number", "corr_ksef_number"):
        text = multi_line(form.get(name)) if name == "notes" else _get(form, name)
        f[name] = text or None
        if name in TEXT_LIMITS and len(text) > TEXT_LIMITS[name]:
            errors[name] = f"Najwyżej {TEXT_LIMITS[name]} znaków (wpisano {len(text)})."
    f["price_mode"] = "gross" if _get(form, "price_mode") == "gross" else "net"
    f["currency"] = (_get(form, "currency") or "PLN").upper()
    if not re.fullmatch(r"[A-Z]{3}", f["currency"]):
        errors["currency"] = "Waluta: trzyliterowy kod, np. PLN, EUR, USD."
    rate = parse_number(_get(form, "exchange_rate"), "Kurs waluty", errors, "exchange_rate",
                        money.RATE_PLACES, Decimal("100000"))
    if rate is not None and rate == 0:
        errors["exchange_rate"] = "Kurs waluty musi być większy od zera."
    f["exchange_rate"] = _store(rate)
    f["payment_form"] = _get(form, "payment_form") or None
    if f["payment_form"] and f["payment_form"] not in PAYMENT_FORMS:
        errors["payment_form"] = "Wybierz formę płatności z listy."
    account = party_forms.normalize_account(_get(form, "bank_account"))
    if account and (msg := party_forms.account_error(account)):
        errors["bank_account"] = msg
    f["bank_account"] = account or None
    f["paid"] = int(_get(form, "paid") in ("1", "on", "true"))
    f["split_payment"] = int(_get(form, "split_payment") in ("1", "on", "true"))
    f["exemption_kind"] = _get(form, "exemption_kind") or "A"
    if f["exemption_kind"] not in EXEMPTION_KINDS:
        errors["exemption_kind"] = "Wybierz rodzaj podstawy zwolnienia."
    f["corr_type"] = _get(form, "corr_type") or None
    if f["corr_type"] and f["corr_type"] not in CORRECTION_TYPES:
        errors["corr_type"] = "Wybierz typ korekty z listy."
    if f["corr_ksef_number"]:
        f["corr_ksef_number"] = f["corr_ksef_number"].upper()
    return f


def _parse_lines(form: Mapping[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    columns = {name: _getlist(form, f"line_{name}") for name in LINE_FIELDS}
    count = len(columns["name"])
    if any(len(values) != count for values in columns.values()):
        errors["lines"] = "Formularz pozycji jest niekompletny: odśwież stronę."
        return []
    lines = []
    for i in range(count):
        lines.append(_parse_line({k: v[i] for k, v in columns.items()}, i, errors))
    return lines


def _parse_line(raw: dict[str, str], i: int, errors: dict[str, str]) -> dict[str, Any]:
    pos = i + 1
    name = raw["name"]
    if len(name) > 512:
        errors[f"line_name-{i}"] = f"Pozycja {pos}: nazwa może mieć najwyżej 512 znaków (wpisano {len(name)})."
    unit = raw["unit"]
    if len(unit) > 50:
        errors[f"line_unit-{i}"] = f"Pozycja {pos}: jednostka może mieć najwyżej 50 znaków."
    quantity = parse_number(raw["quantity"], f"Pozycja {pos}, ilość", errors, f"line_quantity-{i}",
                            money.QUANTITY_PLACES, money.MAX_QUANTITY)
    price = parse_number(raw["unit_price"], f"Pozycja {pos}, cena", errors, f"line_unit_price-{i}",
                         money.PRICE_PLACES, money.MAX_UNIT_PRICE)
    discount = parse_number(raw["discount_percent"], f"Pozycja {pos}, rabat", errors,
                            f"line_discount_percent-{i}", 2, Decimal("100"))
    if raw["rate"] not in money.RATES:
        errors[f"line_rate-{i}"] = f"Pozycja {pos}: wybierz stawkę VAT z listy."
    line_id = record_id(raw["id"]) if raw["id"] else None
    if raw["id"] and line_id is None:  # the hidden id is the program's own: a broken or tampered form
        errors["lines"] = "Formularz pozycji jest niekompletny: odśwież stronę."
    return {
        "id": line_id, "position": pos, "before": int(raw["before"] == "1"),
        "name": name, "unit": unit or "szt.",
        "quantity": _store(quantity) or "0", "unit_price": _store(price) or "0",
        "rate": raw["rate"] if raw["rate"] in money.RATES else "23", "discount_percent": _store(discount),
    }


def completeness_errors(row: Mapping[str, Any], lines: list[Mapping[str, Any]], today: date) -> dict[str, str]:
    """What a draft still lacks before it can be issued, as Polish messages per field."""
    e: dict[str, str] = {}
    if not row.get("buyer_json"):
        e["buyer"] = "Wybierz nabywcę."
    if row["issue_date"] > today.isoformat():
        e["issue_date"] = ("Data wystawienia nie może być późniejsza niż dzisiaj: "
                           "KSeF odrzuca faktury z przyszłą datą wystawienia.")
    if not any(not ln["before"] for ln in lines) and row["kind"] != "KOR":
        e["lines"] = "Dodaj co najmniej jedną pozycję."
    # Indexes count the lines in the editor's order (before-lines first), as parse_draft_form does.
    for i, ln in enumerate(lines):
        pos = ln["position"]
        side = "przed korektą " if ln["before"] else ""
        if not ln["name"]:
            e[f"line_name-{i}"] = f"Pozycja {side}{pos}: podaj nazwę towaru lub usługi."
        if row["kind"] != "KOR" and Decimal(ln["quantity"]) <= 0:
            e[f"line_quantity-{i}"] = f"Pozycja {pos}: ilość musi być większa od zera."
    if any(ln["rate"] == "zw" for ln in lines) and not row.get("exemption_text"):
        e["exemption_text"] = ("Przy stawce „zw” podaj podstawę prawną zwolnienia (np. art. 43 ust. 1 pkt 37 "
                               "ustawy o VAT).")
    if row["currency"] != "PLN" and not (row.get("exchange_rate") and row.get("exchange_rate_date")):
        e["exchange_rate"] = ("Przy fakturze w walucie obcej podaj kurs waluty i datę kursu (VAT musi być też "
                              "w złotych).")
    if row["paid"] and not row.get("paid_date"):
        e["paid_date"] = "Podaj datę zapłaty."
    if row["kind"] == "KOR":
        e.update(_correction_errors(row))
    return e


def _correction_errors(row: Mapping[str, Any]) -> dict[str, str]:
    e: dict[str, str] = {}
    if not row.get("corr_number"):
        e["corr_number"] = "Podaj numer faktury korygowanej."
    if not row.get("corr_issue_date"):
        e["corr_issue_date"] = "Podaj datę wystawienia faktury korygowanej."
    if not is_valid_ksef_number(row.get("corr_ksef_number") or ""):
        e["corr_ksef_number"] = ("Podaj numer KSeF faktury korygowanej (35 znaków, np. "
                                 "5265877635-20250826-0100001AF629-AF); sprawdź, czy nie ma literówki.")
    if not row.get("corr_reason"):
        e["corr_reason"] = "Podaj przyczynę korekty."
    return e
