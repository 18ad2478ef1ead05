"""Typed views of the KSeF JSON answers the client uses (OpenAPI component schemas; docs/ksef-protocol.md §2-§4)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ksef_local.ksef import errors
from ksef_local.ksef.crypto import SessionKey

TOKEN_ENCRYPTION = "KsefTokenEncryption"
SYMMETRIC_KEY_ENCRYPTION = "SymmetricKeyEncryption"


def parse_datetime(value: str | None) -> datetime | None:
    """Parse an API date-time (ISO 8601 with offset, possibly 7 fractional digits)."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    head, sep, rest = text.partition(".")
    if sep:  # Python accepts at most 6 fractional digits; KSeF sends 7.
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class FormCode:
    """The invoice schema of a session (OAS FormCode); note the space in "FA (3)"."""

    system_code: str
    schema_version: str
    value: str

    def as_json(self) -> dict:
        return {"systemCode": self.system_code, "schemaVersion": self.schema_version, "value": self.value}


FA3 = FormCode("FA (3)", "1-0E", "FA")


@dataclass(frozen=True)
class PublicKeyCertificate:
    """One MF public-key certificate (OpenAPI #/components/schemas/PublicKeyCertificate)."""

    certificate_der: bytes = field(repr=False)
    certificate_id: str
    public_key_id: str
    valid_from: datetime
    valid_to: datetime
    usage: tuple[str, ...]

    @classmethod
    def from_json(cls, item: dict) -> "PublicKeyCertificate":
        from ksef_local.ksef.crypto import unb64

        return cls(unb64(item["certificate"]), item["certificateId"], item["publicKeyId"],
                   parse_datetime(item["validFrom"]), parse_datetime(item["validTo"]), tuple(item["usage"]))

    def is_valid_at(self, now: datetime) -> bool:
        return self.valid_from <= now <= self.valid_to


def pick_certificate(certificates: list[PublicKeyCertificate], usage: str,
                     now: datetime) -> PublicKeyCertificate | None:
    """Return the certificate for usage valid now with the latest validFrom, or None (docs/ksef-protocol.md §2.1)."""
    candidates = [c for c in certificates if usage in c.usage and c.is_valid_at(now)]
    return max(candidates, key=lambda c: c.valid_from, default=None)


@dataclass(frozen=True)
class IssuedToken:
    """A JWT with its validUntil; the token never appears in repr."""

    token: str = field(repr=False)
    valid_until: datetime

    @classmethod
    def from_json(cls, item: dict) -> "IssuedToken":
        return cls(item["token"], parse_datetime(item["validUntil"]))


@dataclass(frozen=True)
class OnlineSession:
    """An open online session and the key that encrypts its invoices."""

    reference_number: str
    valid_until: datetime | None
    session_key: SessionKey = field(repr=False)
    form_code: FormCode = FA3


@dataclass(frozen=True)
class SentInvoice:
    """What we know right after POST …/invoices answered 202."""

    session_reference: str
    reference_number: str
    invoice_hash: str
    invoice_size: int


FINAL_IN_PROGRESS = (100, 150)


@dataclass(frozen=True)
class InvoiceStatus:
    """SessionInvoiceStatusResponse (OpenAPI; docs/ksef-protocol.md §3.4)."""

    reference_number: str
    ordinal_number: int
    code: int
    description: str
    details: tuple[str, ...] = ()
    extensions: dict | None = None
    invoice_hash: str | None = None
    invoice_number: str | None = None
    ksef_number: str | None = None
    invoice_file_name: str | None = None
    invoicing_mode: str | None = None
    acquisition_date: datetime | None = None
    invoicing_date: datetime | None = None
    upo_download_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, item: dict) -> "InvoiceStatus":
        status = item["status"]
        return cls(
            item["referenceNumber"], item.get("ordinalNumber", 0), status["code"], status.get("description", ""),
            tuple(status.get("details") or ()), status.get("extensions"), item.get("invoiceHash"),
            item.get("invoiceNumber"), item.get("ksefNumber"), item.get("invoiceFileName"),
            item.get("invoicingMode"), parse_datetime(item.get("acquisitionDate")),
            parse_datetime(item.get("invoicingDate")), item.get("upoDownloadUrl"),
        )

    @property
    def is_final(self) -> bool:
        return self.code not in FINAL_IN_PROGRESS

    @property
    def is_accepted(self) -> bool:
        return self.code == 200

    def rejection(self) -> errors.KsefInvoiceRejected | None:
        """Return the typed rejection for a final status other than 200, else None."""
        if not self.is_final or self.is_accepted:
            return None
        return errors.error_for_invoice_status(self.code, self.description, self.details, self.extensions,
                                               self.invoice_number)


@dataclass(frozen=True)
class UpoPage:
    reference_number: str
    download_url: str = field(repr=False)
    expires: datetime | None = None


@dataclass(frozen=True)
class SessionStatus:
    """SessionStatusResponse (OpenAPI; docs/ksef-protocol.md §3.7, §4)."""

    code: int
    description: str
    details: tuple[str, ...]
    date_created: datetime | None
    date_updated: datetime | None
    upo_pages: tuple[UpoPage, ...]
    invoice_count: int | None
    successful_invoice_count: int | None
    failed_invoice_count: int | None

    @classmethod
    def from_json(cls, item: dict) -> "SessionStatus":
        status = item["status"]
        pages = tuple(UpoPage(p["referenceNumber"], p["downloadUrl"],
                              parse_datetime(p.get("downloadUrlExpirationDate")))
                      for p in ((item.get("upo") or {}).get("pages") or ()))
        return cls(status["code"], status.get("description", ""), tuple(status.get("details") or ()),
                   parse_datetime(item.get("dateCreated")), parse_datetime(item.get("dateUpdated")), pages,
                   item.get("invoiceCount"), item.get("successfulInvoiceCount"), item.get("failedInvoiceCount"))

    @property
    def is_final(self) -> bool:
        """True once KSeF finished with the session (no longer 100 open, 150 or 170 closed-in-processing)."""
        return self.code not in (100, 150, 170)


@dataclass(frozen=True)
class Upo:
    """An UPO document as downloaded; sha256 is x-ms-meta-hash when KSeF sent it."""

    xml: bytes = field(repr=False)
    sha256: str | None
