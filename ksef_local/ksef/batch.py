"""Batch sessions: a ZIP of invoices, split, encrypted, uploaded to pre-signed URLs (ksef-docs sesja-wsadowa.md)."""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

from ksef_local.ksef import crypto, errors
from ksef_local.ksef.auth import retry_on_unknown_key
from ksef_local.ksef.client import KsefClient
from ksef_local.ksef.models import FA3, FormCode, InvoiceStatus

MAX_PART_BYTES = 100_000_000  # before encryption (ksef-docs sesja-wsadowa.md)
MAX_PARTS = 50
_ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # fixed, so the same invoices make the same archive


@dataclass(frozen=True)
class PreparedBatch:
    """The archive cut into encrypted parts, plus what we need to match the results."""

    session_key: crypto.SessionKey = field(repr=False)
    archive_size: int
    archive_hash: str
    parts: tuple[bytes, ...] = field(repr=False)
    hashes_by_file: dict[str, str] = field(default_factory=dict)

    def batch_file(self) -> dict:
        """Return BatchFileInfo for POST /sessions/batch."""
        return {"fileSize": self.archive_size, "fileHash": self.archive_hash, "compressionType": "Zip",
                "fileParts": [{"ordinalNumber": n, "fileSize": len(part), "fileHash": crypto.sha256_b64(part)}
                              for n, part in enumerate(self.parts, start=1)]}


@dataclass(frozen=True)
class BatchSession:
    reference_number: str
    upload_requests: tuple[dict, ...] = field(repr=False)


def build_zip(files: dict[str, bytes]) -> bytes:
    """Return a deflated ZIP of {file name: exact XML bytes}, deterministic for the same input."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def split(data: bytes, part_size: int) -> list[bytes]:
    """Cut data binarily into parts of at most part_size bytes."""
    if part_size < 1:
        raise ValueError("part_size must be positive")
    return [data[i:i + part_size] for i in range(0, len(data), part_size)] or [b""]


def prepare_batch(files: dict[str, bytes], session_key: crypto.SessionKey,
                  part_size: int = MAX_PART_BYTES) -> PreparedBatch:
    """Zip, split and encrypt each part with the session key (AES-256-CBC, PKCS#7)."""
    archive = build_zip(files)
    pieces = split(archive, min(part_size, MAX_PART_BYTES))
    if len(pieces) > MAX_PARTS:
        raise ValueError(f"archive needs {len(pieces)} parts; KSeF accepts at most {MAX_PARTS}")
    encrypted = tuple(crypto.aes_cbc_encrypt(session_key, piece) for piece in pieces)
    return PreparedBatch(session_key, len(archive), crypto.sha256_b64(archive), encrypted,
                         {name: crypto.sha256_b64(data) for name, data in files.items()})


def open_batch_session(client: KsefClient, batch: PreparedBatch, form_code: FormCode = FA3,
                       offline_mode: bool = False) -> BatchSession:
    """POST /sessions/batch → 201 with one upload request per part."""
    def attempt() -> dict:
        body = {"formCode": form_code.as_json(), "batchFile": batch.batch_file(),
                "encryption": client.encryption_info(batch.session_key), "offlineMode": offline_mode}
        return client.call("POST", "/sessions/batch", json_body=body, ok=(201,)).json()

    answer = retry_on_unknown_key(client.certificates, attempt)
    return BatchSession(answer["referenceNumber"], tuple(answer["partUploadRequests"]))


def upload_parts(client: KsefClient, session: BatchSession, batch: PreparedBatch) -> None:
    """Send each part with exactly the returned method, URL and headers, without Authorization."""
    for request in session.upload_requests:
        data = batch.parts[request["ordinalNumber"] - 1]
        headers = {k: v for k, v in (request.get("headers") or {}).items() if v is not None}
        client.transport.request(request["method"], request["url"], data=data, headers=headers, ok=(200, 201),
                                 plain=True)


def close_batch_session(client: KsefClient, reference_number: str) -> None:
    """POST /sessions/batch/{ref}/close → 204; KSeF then unpacks and processes the invoices."""
    client.call("POST", f"/sessions/batch/{reference_number}/close", ok=(204,))


def match_results(batch: PreparedBatch, statuses: list[InvoiceStatus]) -> dict[str, InvoiceStatus]:
    """Return {file name: status}, trusting a status only when its hash is the file's hash."""
    matched: dict[str, InvoiceStatus] = {}
    for status in statuses:
        expected = batch.hashes_by_file.get(status.invoice_file_name or "")
        if expected is not None and expected == status.invoice_hash:
            matched[status.invoice_file_name] = status
    return matched


def send_batch(client: KsefClient, files: dict[str, bytes], *, part_size: int = MAX_PART_BYTES,
               offline_mode: bool = False) -> tuple[str, PreparedBatch]:
    """Prepare, open, upload and close; return the session reference and the prepared batch."""
    batch = prepare_batch(files, crypto.new_session_key(client.random_bytes), part_size)
    session = open_batch_session(client, batch, offline_mode=offline_mode)
    upload_parts(client, session, batch)
    close_batch_session(client, session.reference_number)
    return session.reference_number, batch


def batch_results(client: KsefClient, reference_number: str, batch: PreparedBatch) -> dict[str, InvoiceStatus]:
    """Wait for the session to finish and return the per-invoice statuses by file name."""
    status = client.wait_for_session(reference_number)
    if not status.is_final:
        raise errors.KsefUnavailable("Sesja wsadowa jest wciąż przetwarzana; sprawdź jej status później")
    return match_results(batch, client.session_invoices(reference_number, page_size=1000))
