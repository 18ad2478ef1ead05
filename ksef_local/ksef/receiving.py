"""Reading invoices back from KSeF: the metadata query (POST /invoices/query/metadata) and the download of one
invoice by its KSeF number (GET /invoices/ksef/{ksefNumber}); the export of many is in ksef/exports.py.

The sender uses it to find its own invoices by hash (Subject1) before sending anything that may already be in
KSeF; the purchase side reads the company's purchase invoices (Subject2, Subject3) with it. Paging follows the
OpenAPI: pageOffset counts pages, pageSize is 10–250, at most 10,000 results per query (isTruncated), a date
range of at most three months (CIRFMF/ksef-docs pobieranie-faktur/pobieranie-faktur.md and
przyrostowe-pobieranie-faktur.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ksef_local.ksef import crypto, errors
from ksef_local.ksef.models import parse_datetime

if TYPE_CHECKING:
    from ksef_local.ksef.client import KsefClient

PAGE_SIZE_MAX = 250
SELLER, BUYER, THIRD_PARTY = "Subject1", "Subject2", "Subject3"
PERMANENT_STORAGE = "PermanentStorage"
NOT_YET_AVAILABLE = 21165   # "Faktura o podanym numerze KSeF nie jest jeszcze dostępna" (OpenAPI, GET /invoices/ksef)
NOT_FOUND = 21164
BEYOND_HWM = 21183          # dateRange.from after the high-water mark with restrictToPermanentStorageHwmDate


@dataclass(frozen=True)
class InvoiceMetadata:
    """One InvoiceMetadata of the OpenAPI; ``raw`` keeps every field KSeF sent."""

    ksef_number: str
    invoice_number: str
    issue_date: date | None
    invoicing_date: datetime | None
    acquisition_date: datetime | None
    permanent_storage_date: datetime | None
    seller_nip: str
    seller_name: str | None
    invoice_hash: str
    gross_amount: Decimal | None
    currency: str | None
    invoicing_mode: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> "InvoiceMetadata":
        seller = item.get("seller") or {}
        gross = item.get("grossAmount")
        issued = item.get("issueDate")
        return cls(item["ksefNumber"], item.get("invoiceNumber", ""),
                   date.fromisoformat(issued[:10]) if issued else None,
                   parse_datetime(item.get("invoicingDate")), parse_datetime(item.get("acquisitionDate")),
                   parse_datetime(item.get("permanentStorageDate")), seller.get("nip", ""), seller.get("name"),
                   item.get("invoiceHash", ""), Decimal(str(gross)) if gross is not None else None,
                   item.get("currency"), item.get("invoicingMode"), item)


@dataclass(frozen=True)
class MetadataPage:
    invoices: tuple[InvoiceMetadata, ...]
    has_more: bool
    is_truncated: bool
    permanent_storage_hwm: datetime | None


def date_range(date_type: str, start: datetime, end: datetime | None = None, *,
               restrict_to_hwm: bool = False) -> dict[str, Any]:
    """The dateRange of a query: Issue, Invoicing or PermanentStorage, in ISO 8601 with the offset.

    restrict_to_hwm caps the range at KSeF's high-water mark (PermanentStorage only; ksef-docs
    pobieranie-faktur/hwm.md): everything up to the mark is final, so the next window can start there.
    """
    found: dict[str, Any] = {"dateType": date_type, "from": start.isoformat()}
    if end is not None:
        found["to"] = end.isoformat()
    if restrict_to_hwm:
        found["restrictToPermanentStorageHwmDate"] = True
    return found


def query_metadata(client: "KsefClient", filters: dict[str, Any], *, page_offset: int = 0,
                   page_size: int = PAGE_SIZE_MAX, sort_order: str = "Asc") -> MetadataPage:
    """POST /invoices/query/metadata: one page (group invoiceMetadata: 8/s, 16/min, 20/h on PRD)."""
    path = f"/invoices/query/metadata?pageOffset={page_offset}&pageSize={page_size}&sortOrder={sort_order}"
    answer = client.call("POST", path, json_body=filters).json()
    return MetadataPage(tuple(InvoiceMetadata.from_json(item) for item in answer.get("invoices") or ()),
                        bool(answer.get("hasMore")), bool(answer.get("isTruncated")),
                        parse_datetime(answer.get("permanentStorageHwmDate")))


def download_invoice(client: "KsefClient", ksef_number: str) -> bytes:
    """GET /invoices/ksef/{ksefNumber}: the invoice's XML exactly as KSeF keeps it (group invoiceDownload: 8/s,
    16/min, 64/h on PRD). Its SHA-256 must equal the x-ms-meta-hash header KSeF sends with it (OpenAPI), else
    KsefHashMismatch: bytes damaged on the way are never returned."""
    response = client.call("GET", f"/invoices/ksef/{quote(ksef_number, safe='')}",
                           headers={"Accept": "application/xml"})
    xml = response.content
    sent_hash = response.headers.get("x-ms-meta-hash")
    if sent_hash and crypto.sha256_b64(xml) != sent_hash:
        raise errors.KsefHashMismatch(f"SHA-256 faktury {ksef_number} ({crypto.sha256_b64(xml)}) różni się od "
                                      f"x-ms-meta-hash ({sent_hash})")
    return xml
