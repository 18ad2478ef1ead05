"""The asynchronous export of invoices (POST /invoices/exports, GET /invoices/exports/{referenceNumber}): many
invoices for a handful of requests, in an encrypted ZIP package cut into parts behind pre-signed links.

Sources: the OpenAPI (InvoiceExportRequest, InvoiceExportStatusResponse, InvoicePackage, InvoicePackagePart),
CIRFMF/ksef-docs pobieranie-faktur/pobieranie-faktur.md and przyrostowe-pobieranie-faktur.md: each part is
encrypted on its own with our AES-256-CBC key and IV (PKCS#7), the decrypted parts joined make one ZIP with
{ksefNumber}.xml files and _metadata.json ({"invoices": [InvoiceMetadata, …]}). Part links need no
Authorization and are not rate-limited, but they are secrets: they are never logged, shown or put in errors.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ksef_local.ksef import crypto, errors
from ksef_local.ksef.auth import retry_on_unknown_key
from ksef_local.ksef.models import parse_datetime

if TYPE_CHECKING:
    from ksef_local.ksef.client import KsefClient

PENDING, READY, EXPIRED, KEY_FAILED, BEYOND_HWM = 100, 200, 210, 415, 420
METADATA_FILE = "_metadata.json"
MAX_ENTRY_BYTES = 20_000_000   # an invoice with attachments is far smaller; anything bigger is not an invoice


@dataclass(frozen=True)
class ExportPart:
    ordinal: int
    url: str = field(repr=False)   # pre-signed: a secret
    part_hash: str
    encrypted_hash: str


@dataclass(frozen=True)
class ExportPackage:
    invoice_count: int
    parts: tuple[ExportPart, ...]
    is_truncated: bool
    last_permanent_storage: datetime | None   # the continuation point of a truncated package
    permanent_storage_hwm: datetime | None    # the continuation point of a complete one

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "ExportPackage":
        parts = tuple(ExportPart(int(p["ordinalNumber"]), p["url"], p.get("partHash", ""),
                                 p.get("encryptedPartHash", ""))
                      for p in sorted(body.get("parts") or (), key=lambda p: int(p["ordinalNumber"])))
        return cls(int(body.get("invoiceCount") or 0), parts, bool(body.get("isTruncated")),
                   parse_datetime(body.get("lastPermanentStorageDate")),
                   parse_datetime(body.get("permanentStorageHwmDate")))


@dataclass(frozen=True)
class ExportStatus:
    code: int
    description: str
    details: tuple[str, ...]
    package: ExportPackage | None

    @property
    def is_pending(self) -> bool:
        return self.code == PENDING


@dataclass(frozen=True)
class Package:
    """An opened package: the invoices' metadata in KSeF's order and their XML bytes by KSeF number."""

    invoices: tuple[dict[str, Any], ...]
    files: dict[str, bytes] = field(repr=False)


def start_export(client: "KsefClient", filters: dict[str, Any], key: crypto.SessionKey) -> str:
    """POST /invoices/exports with our key under MF's SymmetricKeyEncryption key; return its reference
    (group invoiceExport: 8/s, 16/min, 20/h on PRD)."""
    def attempt() -> str:
        body = {"encryption": client.encryption_info(key), "filters": filters}
        return client.call("POST", "/invoices/exports", json_body=body, ok=(201,)).json()["referenceNumber"]

    return retry_on_unknown_key(client.certificates, attempt)


def export_status(client: "KsefClient", reference: str) -> ExportStatus:
    """GET /invoices/exports/{referenceNumber} (group invoiceExportStatus: 10/s, 60/min, 600/h on PRD)."""
    body = client.call("GET", f"/invoices/exports/{quote(reference, safe='')}").json()
    status = body.get("status") or {}
    package = body.get("package")
    return ExportStatus(int(status.get("code") or 0), status.get("description") or "",
                        tuple(status.get("details") or ()), ExportPackage.from_json(package) if package else None)


def download_part(client: "KsefClient", part: ExportPart) -> bytes:
    """GET one part from its pre-signed link (no Authorization); check its hash. Failures never carry the link."""
    try:
        response = client.transport.request("GET", part.url, plain=True)
    except errors.KsefError as exc:
        raise type(exc)(f"Nie udało się pobrać części {part.ordinal} paczki eksportu: {exc.detail}",
                        http_status=exc.http_status, code=exc.code) from None
    data = response.content
    if part.encrypted_hash and crypto.sha256_b64(data) != part.encrypted_hash:
        raise errors.KsefHashMismatch(f"SHA-256 części {part.ordinal} paczki eksportu różni się od encryptedPartHash")
    return data


def open_package(key: crypto.SessionKey, parts: list[tuple[ExportPart, bytes]]) -> Package:
    """Decrypt every part, join them and read the ZIP: _metadata.json and the {ksefNumber}.xml files."""
    plain = bytearray()
    for part, encrypted in parts:
        try:
            chunk = crypto.aes_cbc_decrypt(key, encrypted)
        except crypto.CryptoError as exc:
            raise errors.KsefHashMismatch(f"Części {part.ordinal} paczki eksportu nie da się odszyfrować: {exc}") \
                from None
        if part.part_hash and crypto.sha256_b64(chunk) != part.part_hash:
            raise errors.KsefHashMismatch(f"SHA-256 odszyfrowanej części {part.ordinal} różni się od partHash")
        plain += chunk
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(plain)))
        files: dict[str, bytes] = {}
        for info in archive.infolist():
            if info.is_dir():
                continue
            if info.file_size > MAX_ENTRY_BYTES:
                raise errors.KsefHashMismatch(f"Plik {info.filename} w paczce eksportu jest za duży")
            files[info.filename] = archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise errors.KsefHashMismatch(f"Paczka eksportu nie jest poprawnym archiwum ZIP: {exc}") from None
    try:
        metadata = json.loads(files.pop(METADATA_FILE).decode("utf-8"))
        invoices = tuple(metadata.get("invoices") or ())
    except (KeyError, ValueError, AttributeError) as exc:
        raise errors.KsefHashMismatch(f"Paczka eksportu nie ma czytelnego pliku {METADATA_FILE}") from exc
    return Package(invoices, {name.removesuffix(".xml"): data for name, data in files.items()
                              if name.endswith(".xml")})
