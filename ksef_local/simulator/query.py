"""InvoiceQueryFilters: checked as KSeF checks them (400 21405, 21183) and applied to the received index.

Shared by POST /invoices/query/metadata and POST /invoices/exports (OpenAPI 2.6.0 schemas InvoiceQueryFilters,
InvoiceQueryDateRange, InvoiceQueryAmount, InvoiceQueryBuyerIdentifier; ksef-docs pobieranie-faktur/hwm.md).
Unknown properties are ignored: since 2.1.2 the schemas allow additional properties (ksef-docs api-changelog.md).
"""
from __future__ import annotations

import functools
import importlib.resources
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from lxml import etree

from ksef_local.simulator import received
from ksef_local.simulator.common import WARSAW, SimContext, bad_request, invalid, iso, warsaw_day

SUBJECT_TYPES = received.SUBJECT_TYPES
DATE_TYPES = ("Issue", "Invoicing", "PermanentStorage")
AMOUNT_FIELDS = {"Brutto": "grossAmount", "Netto": "netAmount", "Vat": "vatAmount"}
BUYER_TYPES = ("Nip", "VatUe", "Other", "None")
MODES = ("Online", "Offline")
FORM_TYPES = ("FA", "PEF", "FA_RR")
INVOICE_TYPES = ("Vat", "Zal", "Kor", "Roz", "Upr", "KorZal", "KorRoz", "VatPef", "VatPefSp", "KorPef", "VatRr",
                 "KorVatRr")
MAX_MONTHS = 3  # "Maksymalny dozwolony okres wynosi 3 miesiące w strefie UTC lub w strefie Europe/Warsaw"
NIP = re.compile(r"[1-9]((\d[1-9])|([1-9]\d))\d{7}")  # OpenAPI schema Nip
KSEF_NUMBER = re.compile(r"([1-9](\d[1-9]|[1-9]\d)\d{7})-(20[2-9][0-9]|2[1-9]\d{2}|[3-9]\d{3})(0[1-9]|1[0-2])"
                         r"(0[1-9]|[12]\d|3[01])-([0-9A-F]{6})-?([0-9A-F]{6})-([0-9A-F]{2})")  # schema KsefNumber
BEYOND_HWM = (21183, "Zakres filtrowania wykracza poza dostępny zakres danych.",
              "Parametr dateRange.from jest późniejszy niż PermanentStorageHwmDate przy włączonym "
              "restrictToPermanentStorageHwmDate.")


@dataclass(frozen=True)
class Filters:
    """A checked InvoiceQueryFilters."""

    subject_type: str
    date_type: str
    date_from: datetime
    date_to: datetime | None
    restrict: bool
    body: dict  # the other filters, checked, by their OpenAPI names


@dataclass(frozen=True)
class Selection:
    """The matching stored invoices in ascending order of the date type, and the answer's HWM."""

    records: list[dict]
    hwm: str | None
    beyond_hwm: bool


def parse_filters(body, now: datetime) -> Filters:
    """Check an InvoiceQueryFilters object; raise 21405 with the reason."""
    if not isinstance(body, dict):
        raise invalid("Kryteria filtrowania muszą być obiektem JSON.")
    subject = body.get("subjectType")
    if subject not in SUBJECT_TYPES:
        raise invalid(f"Pole 'subjectType' jest wymagane; dozwolone wartości: {', '.join(SUBJECT_TYPES)}.")
    date_range = body.get("dateRange")
    if not isinstance(date_range, dict):
        raise invalid("Pole 'dateRange' jest wymagane (dateType, from).")
    date_type = date_range.get("dateType")
    if date_type not in DATE_TYPES:
        raise invalid(f"Pole 'dateRange.dateType' jest wymagane; dozwolone wartości: {', '.join(DATE_TYPES)}.")
    date_from = _moment(date_range.get("from"), "dateRange.from", required=True)
    date_to = _moment(date_range.get("to"), "dateRange.to", required=False)
    _check_range(date_from, date_to or now)
    restrict = _optional_bool(date_range, "restrictToPermanentStorageHwmDate", "dateRange.") or False
    return Filters(subject, date_type, date_from, date_to, restrict and date_type == "PermanentStorage",
                   _other_filters(body))


def _moment(value, name: str, required: bool) -> datetime | None:
    """ISO 8601 with Z, with an offset, or without one (then Europe/Warsaw), as InvoiceQueryFilters says."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise invalid(f"Pole '{name}' jest wymagane (data i czas w formacie ISO 8601).")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise invalid(f"Pole '{name}' musi być datą i czasem w formacie ISO 8601.") from exc
    return moment.replace(tzinfo=WARSAW) if moment.tzinfo is None else moment


def _check_range(date_from: datetime, date_to: datetime) -> None:
    if date_from > date_to:
        raise invalid("Data początkowa zakresu 'dateRange.from' jest późniejsza niż data końcowa.")
    # ksef-docs api-changelog.md 2.1.1: valid when within three months in UTC or in Polish time.
    in_utc = date_to.astimezone(timezone.utc) <= _plus_months(date_from.astimezone(timezone.utc), MAX_MONTHS)
    in_warsaw = date_to.astimezone(WARSAW).replace(tzinfo=None) <= \
        _plus_months(date_from.astimezone(WARSAW).replace(tzinfo=None), MAX_MONTHS)
    if not (in_utc or in_warsaw):
        raise invalid(f"Zakres dat 'dateRange' nie może być dłuższy niż {MAX_MONTHS} miesiące.")


def _plus_months(moment: datetime, months: int) -> datetime:
    """Add calendar months, clamping the day to the month's last (31 January + 1 month = 28/29 February)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    next_month = date(year + month // 12, month % 12 + 1, 1)
    return moment.replace(year=year, month=month, day=min(moment.day, (next_month - timedelta(days=1)).day))


def _optional_bool(body: dict, name: str, prefix: str = "") -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"Pole '{prefix}{name}' musi być wartością logiczną.")
    return value


def _other_filters(body: dict) -> dict:
    checked: dict = {}
    number = body.get("ksefNumber")
    if number is not None:
        if not isinstance(number, str) or not KSEF_NUMBER.fullmatch(number):
            raise invalid("Pole 'ksefNumber' nie jest poprawnym numerem KSeF.")
        checked["ksefNumber"] = number
    invoice_number = body.get("invoiceNumber")
    if invoice_number is not None:
        if not isinstance(invoice_number, str) or not 0 < len(invoice_number) <= 256:
            raise invalid("Pole 'invoiceNumber' musi być tekstem o długości do 256 znaków.")
        checked["invoiceNumber"] = invoice_number
    seller = body.get("sellerNip")
    if seller is not None:
        if not isinstance(seller, str) or not NIP.fullmatch(seller):
            raise invalid("Pole 'sellerNip' musi być 10-cyfrowym numerem NIP.")
        checked["sellerNip"] = seller
    for name, allowed in (("invoicingMode", MODES), ("formType", FORM_TYPES)):
        value = body.get(name)
        if value is not None:
            if value not in allowed:
                raise invalid(f"Pole '{name}' ma nieznaną wartość {value!r}; dozwolone: {', '.join(allowed)}.")
            checked[name] = value
    for name in ("isSelfInvoicing", "hasAttachment"):
        if _optional_bool(body, name) is not None:
            checked[name] = body[name]
    _list_filter(body, checked, "currencyCodes", currency_codes())
    _list_filter(body, checked, "invoiceTypes", frozenset(INVOICE_TYPES))
    if body.get("amount") is not None:
        checked["amount"] = _amount(body["amount"])
    if body.get("buyerIdentifier") is not None:
        checked["buyerIdentifier"] = _buyer(body["buyerIdentifier"])
    return checked


def _list_filter(body: dict, checked: dict, name: str, allowed: frozenset[str]) -> None:
    values = body.get(name)
    if values is None:
        return
    if not isinstance(values, list) or any(not isinstance(v, str) or v not in allowed for v in values):
        raise invalid(f"Pole '{name}' musi być listą znanych wartości (nieznana wartość w {values!r}).")
    if values:
        checked[name] = set(values)


def _amount(amount) -> dict:
    if not isinstance(amount, dict) or amount.get("type") not in AMOUNT_FIELDS:
        raise invalid("Pole 'amount.type' jest wymagane; dozwolone wartości: Brutto, Netto, Vat.")
    for end in ("from", "to"):
        value = amount.get(end)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise invalid(f"Pole 'amount.{end}' musi być liczbą.")
    if amount.get("from") is not None and amount.get("to") is not None and amount["from"] > amount["to"]:
        raise invalid("Pole 'amount.from' nie może być większe niż 'amount.to'.")
    return {"field": AMOUNT_FIELDS[amount["type"]], "from": amount.get("from"), "to": amount.get("to")}


def _buyer(buyer) -> dict:
    if not isinstance(buyer, dict) or buyer.get("type") not in BUYER_TYPES:
        raise invalid(f"Pole 'buyerIdentifier.type' jest wymagane; dozwolone wartości: {', '.join(BUYER_TYPES)}.")
    value = buyer.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > 50):
        raise invalid("Pole 'buyerIdentifier.value' musi być tekstem o długości do 50 znaków.")
    if buyer["type"] == "Nip" and value is not None and not NIP.fullmatch(value):
        raise invalid("Pole 'buyerIdentifier.value' musi być 10-cyfrowym numerem NIP.")
    return {"type": buyer["type"], "value": value}


@functools.lru_cache(maxsize=1)
def currency_codes() -> frozenset[str]:
    """ISO 4217 codes of FA(3) TKodWaluty: the same 182 as OpenAPI CurrencyCode, read from the shipped XSD."""
    folder = importlib.resources.files("ksef_client") / "documents" / "fa3" / "schemas"
    root = etree.fromstring((folder / "schemat_FA(3)_v1-0E.xsd").read_bytes())
    return frozenset(root.xpath("//xsd:simpleType[@name='TKodWaluty']//xsd:enumeration/@value",
                                namespaces={"xsd": "http://www.w3.org/2001/XMLSchema"}))


# -- applying the filters -----------------------------------------------------------------------------

def select(ctx: SimContext, filters: Filters, context_value: str, now: datetime) -> Selection:
    """Return the stored invoices of this context and filters, ascending by the date type."""
    hwm = received.high_water_mark(ctx, now)
    date_to = filters.date_to or now  # "Jeśli nie zostanie podana, przyjmowana jest bieżąca data i czas w UTC"
    if filters.restrict:
        if filters.date_from > hwm:
            return Selection([], None, True)
        date_to = min(date_to, hwm)  # the HWM restriction caps dateRange.to (CIRFMF/ksef-api #566)
    wanted = [record for record in received.stored_records(ctx, now)
              if received.concerns(record, filters.subject_type, context_value)
              and _in_range(record["metadata"], filters, date_to) and _matches(record["metadata"], filters.body)]
    wanted.sort(key=sort_key(filters.date_type))
    # OpenAPI permanentStorageHwmDate: only for PermanentStorage; the query's upper bound, or the HWM when lower.
    mark = iso(min(date_to, hwm)) if filters.date_type == "PermanentStorage" else None
    return Selection(wanted, mark, False)


def sort_key(date_type: str):
    """Order by the date type (OpenAPI x-sort), then by KSeF number so that pages never overlap."""
    if date_type == "Issue":
        return lambda r: (r["metadata"]["issueDate"], r["metadata"]["invoicingDate"], r["metadata"]["ksefNumber"])
    field = {"Invoicing": "invoicingDate", "PermanentStorage": "permanentStorageDate"}[date_type]
    return lambda r: (r["metadata"][field], r["metadata"]["ksefNumber"])


def _in_range(metadata: dict, filters: Filters, date_to: datetime) -> bool:
    if filters.date_type == "Issue":
        # issueDate is a calendar day (P_1): compared with the Warsaw days of the bounds (docs/simulator.md).
        day = date.fromisoformat(metadata["issueDate"])
        return warsaw_day(filters.date_from) <= day <= warsaw_day(date_to)
    field = "invoicingDate" if filters.date_type == "Invoicing" else "permanentStorageDate"
    return filters.date_from <= datetime.fromisoformat(metadata[field]) <= date_to


def _matches(metadata: dict, checked: dict) -> bool:
    for name in ("ksefNumber", "invoiceNumber", "invoicingMode", "isSelfInvoicing", "hasAttachment"):
        if name in checked and metadata[name] != checked[name]:
            return False
    if "sellerNip" in checked and metadata["seller"]["nip"] != checked["sellerNip"]:
        return False
    if "formType" in checked and metadata["formCode"]["value"] != checked["formType"]:
        return False
    if "currencyCodes" in checked and metadata["currency"] not in checked["currencyCodes"]:
        return False
    if "invoiceTypes" in checked and metadata["invoiceType"] not in checked["invoiceTypes"]:
        return False
    amount = checked.get("amount")
    if amount is not None:
        value = metadata[amount["field"]]
        if (amount["from"] is not None and value < amount["from"]) or \
                (amount["to"] is not None and value > amount["to"]):
            return False
    buyer = checked.get("buyerIdentifier")
    if buyer is not None:
        identifier = metadata["buyer"]["identifier"]
        if identifier["type"] != buyer["type"] or (buyer["value"] is not None and
                                                   identifier.get("value") != buyer["value"]):
            return False
    return True


def beyond_hwm_error():
    return bad_request(*BEYOND_HWM)
