"""The company profile (Sprzedawca) and buyer (Kontrahent) forms: cleaning and validation, Polish messages.

NIP and account numbers are checked by their checksums (python-stdnum); text limits come from the FA(3)
types (TZnakowy512 for names and addresses, e-mail 3-255, phone at most 16).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from stdnum import iban
from stdnum.eu import vat as eu_vat
from stdnum.pl import nip as pl_nip

from ksef_local.core.model import BUYER_KINDS
from ksef_local.errors import ValidationFailed
from ksef_local.forms.text import LOOKALIKE_DIGITS, has_lookalike_digits, single_line

# VAT prefixes accepted by FA(3) KodUE (TKodyKrajowUE; Greece is EL, Northern Ireland XI).
EU_VAT_PREFIXES = (
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PT RO SE SI SK XI".split()
)
NAME_MAX = 512
ADDRESS_MAX = 512
NUMBER_PATTERN_MAX = 100
NUMBER_TOKENS = ("{nr}", "{rrrr}", "{rr}", "{mm}")


def normalize_nip(value: str) -> str:
    """Strip spaces, dashes and a PL prefix from a NIP as typed."""
    cleaned = re.sub(r"[\s\-]", "", value or "").upper()
    return cleaned[2:] if cleaned.startswith("PL") else cleaned


def nip_error(value: str) -> str | None:
    """Return a Polish message when the NIP is not a valid Polish NIP, else None."""
    if not value:
        return "Podaj NIP."
    if has_lookalike_digits(value):
        return "NIP " + LOOKALIKE_DIGITS
    if not re.fullmatch(r"[0-9]{10}", value):
        return "NIP musi mieć 10 cyfr (np. 526-104-08-28)."
    if not pl_nip.is_valid(value):
        return "NIP ma błędną sumę kontrolną: sprawdź, czy nie ma literówki."
    return None


def normalize_account(value: str) -> str:
    """Return a bank account without spaces; a 26-digit Polish NRB stays without the PL prefix."""
    cleaned = re.sub(r"[\s\-]", "", value or "").upper()
    if re.fullmatch(r"PL[0-9]{26}", cleaned):
        return cleaned[2:]
    return cleaned


def account_error(value: str) -> str | None:
    """Validate an NRB (26 digits) or an IBAN by its checksum."""
    if has_lookalike_digits(value):
        return "Numer rachunku " + LOOKALIKE_DIGITS
    if re.fullmatch(r"[0-9]{26}", value):
        return None if iban.is_valid("PL" + value) else "Numer rachunku ma błędną sumę kontrolną."
    if re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}", value):
        return None if iban.is_valid(value) else "Numer IBAN ma błędną sumę kontrolną."
    return "Podaj numer rachunku: 26 cyfr (NRB) albo IBAN, np. PL61 1090 1014 0000 0712 1981 2874."


def _text(form: Mapping[str, Any], name: str) -> str:
    return single_line(form.get(name))


def _check_length(errors: dict[str, str], values: dict[str, Any], field: str, label: str, limit: int) -> None:
    if len(values.get(field) or "") > limit:
        errors[field] = f"{label}: najwyżej {limit} znaków (wpisano {len(values[field])})."


def _check_contact(errors: dict[str, str], values: dict[str, Any]) -> None:
    email = values.get("email") or ""
    if email and (len(email) > 255 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)):
        errors["email"] = "Adres e-mail wygląda na błędny (np. biuro@firma.pl)."
    phone = values.get("phone") or ""
    if phone and (len(phone) > 16 or not re.fullmatch(r"\+?[0-9 ()\-]{5,16}", phone)):
        errors["phone"] = "Telefon: same cyfry (najwyżej 16 znaków), np. +48 22 123 45 67."


def pattern_error(pattern: str, reset: str) -> str | None:
    """Check a numbering pattern such as FV/{rrrr}/{mm}/{nr}."""
    if not pattern:
        return "Podaj wzór numeracji, np. FV/{rrrr}/{mm}/{nr}."
    if len(pattern) > NUMBER_PATTERN_MAX:
        return f"Wzór numeracji: najwyżej {NUMBER_PATTERN_MAX} znaków."
    if "{nr}" not in pattern:
        return "Wzór numeracji musi zawierać {nr} (kolejny numer)."
    unknown = set(re.findall(r"\{[^}]*\}", pattern)) - set(NUMBER_TOKENS)
    if unknown:
        return "Nieznane pole we wzorze: " + ", ".join(sorted(unknown)) + ". Dozwolone: {nr}, {rrrr}, {rr}, {mm}."
    has_year = "{rrrr}" in pattern or "{rr}" in pattern
    if not has_year:
        return "Wzór numeracji musi zawierać rok ({rrrr} lub {rr}), bo licznik zaczyna się od nowa."
    if reset == "month" and "{mm}" not in pattern:
        return "Przy numeracji miesięcznej wzór musi zawierać miesiąc {mm}."
    return None


def validate_company(form: Mapping[str, Any]) -> dict[str, Any]:
    """Return the cleaned company profile or raise ValidationFailed with Polish messages per field."""
    v: dict[str, Any] = {k: _text(form, k) for k in (
        "name", "address_l1", "address_l2", "email", "phone", "place",
        "number_pattern", "number_reset", "correction_pattern", "correction_reset")}
    v["nip"] = normalize_nip(_text(form, "nip"))
    v["bank_account"] = normalize_account(_text(form, "bank_account"))
    errors: dict[str, str] = {}
    if (msg := nip_error(v["nip"])):
        errors["nip"] = msg
    if not v["name"]:
        errors["name"] = "Podaj nazwę firmy."
    if not v["address_l1"]:
        errors["address_l1"] = "Podaj adres (ulica i numer)."
    for field, label, limit in (("name", "Nazwa", NAME_MAX), ("address_l1", "Adres", ADDRESS_MAX),
                                ("address_l2", "Kod pocztowy i miejscowość", ADDRESS_MAX),
                                ("place", "Miejsce wystawienia", 256)):
        _check_length(errors, v, field, label, limit)
    if v["bank_account"] and (msg := account_error(v["bank_account"])):
        errors["bank_account"] = msg
    _check_contact(errors, v)
    for prefix in ("number", "correction"):
        if v[f"{prefix}_reset"] not in ("month", "year"):
            v[f"{prefix}_reset"] = "month"
        if (msg := pattern_error(v[f"{prefix}_pattern"], v[f"{prefix}_reset"])):
            errors[f"{prefix}_pattern"] = msg
    if not errors and v["number_pattern"] == v["correction_pattern"]:
        errors["correction_pattern"] = "Korekty potrzebują osobnej serii numerów, np. KOR/{rrrr}/{mm}/{nr}."
    if errors:
        raise ValidationFailed(errors)
    return {k: (val or None) if k in ("address_l2", "email", "phone", "place", "bank_account") else val
            for k, val in v.items()}


def validate_buyer(form: Mapping[str, Any]) -> dict[str, Any]:
    """Return cleaned buyer fields for its kind, or raise ValidationFailed."""
    kind = _text(form, "kind") or "company"
    v: dict[str, Any] = {k: _text(form, k) for k in ("name", "address_l1", "address_l2", "email", "phone")}
    v.update(kind=kind, nip=None, country="PL", vat_eu=None, tax_id=None)
    errors: dict[str, str] = {}
    if kind not in BUYER_KINDS:
        errors["kind"] = "Wybierz rodzaj kontrahenta."
    elif kind == "company":
        v["nip"] = normalize_nip(_text(form, "nip"))
        if (msg := nip_error(v["nip"])):
            errors["nip"] = msg
    elif kind == "eu":
        _validate_eu(form, v, errors)
    elif kind == "foreign":
        v["country"] = _text(form, "country").upper()
        v["tax_id"] = _text(form, "tax_id")
        if not re.fullmatch(r"[A-Z]{2}", v["country"]) or v["country"] == "PL":
            errors["country"] = "Podaj dwuliterowy kod kraju spoza Polski (np. US, GB, UA)."
        if not v["tax_id"]:
            errors["tax_id"] = "Podaj numer identyfikacji podatkowej kontrahenta."
        elif len(v["tax_id"]) > 50:
            errors["tax_id"] = "Numer identyfikacji podatkowej: najwyżej 50 znaków."
    if not v["name"]:
        errors["name"] = "Podaj nazwę kontrahenta (imię i nazwisko osoby prywatnej)."
    if kind != "consumer" and not v["address_l1"]:
        errors["address_l1"] = "Podaj adres kontrahenta."
    for field, label, limit in (("name", "Nazwa", NAME_MAX), ("address_l1", "Adres", ADDRESS_MAX),
                                ("address_l2", "Kod pocztowy i miejscowość", ADDRESS_MAX)):
        _check_length(errors, v, field, label, limit)
    _check_contact(errors, v)
    if errors:
        raise ValidationFailed(errors)
    return {k: (val or None) if k in ("address_l2", "email", "phone") else val for k, val in v.items()}


def _validate_eu(form: Mapping[str, Any], v: dict[str, Any], errors: dict[str, str]) -> None:
    raw = re.sub(r"[\s\-.]", "", _text(form, "vat_eu")).upper()
    country = _text(form, "country").upper() or raw[:2]
    if country == "GR":
        country = "EL"
    if raw.startswith(country):
        raw = raw[len(country):]
    v["country"], v["vat_eu"] = country, raw
    if country not in EU_VAT_PREFIXES:
        errors["country"] = "Wybierz kraj Unii Europejskiej (inny niż Polska)."
    elif not re.fullmatch(r"[0-9A-Z+*]{1,12}", raw):
        errors["vat_eu"] = "Podaj numer VAT UE bez prefiksu kraju (najwyżej 12 znaków), np. 136695976."
    elif not eu_vat.is_valid(("GR" if country == "EL" else country) + raw) and not eu_vat.is_valid(country + raw):
        errors["vat_eu"] = "Numer VAT UE ma błędny format lub sumę kontrolną dla wybranego kraju."
