"""The receiving side's index: every accepted invoice, findable by its seller, buyer, third parties and
authorized subject, with the fields of InvoiceMetadata and the XML bytes exactly as received.

Permanent storage. KSeF stores an invoice permanently a while after giving it its number (OpenAPI
SessionInvoiceStatusResponse.permanentStorageDate: "zawsze późniejsza niż acquisitionDate", filled in
asynchronously); from then on it can be downloaded (GET /invoices/ksef/{ksefNumber} answers 21165 before).
The simulator stores an invoice `storage_delay` after acceptance and shows it to the metadata query, the
export and the download only from then on.

High-water mark (ksef-docs pobieranie-faktur/hwm.md): the moment up to which storage is complete, so that no
invoice will ever appear later with a permanentStorageDate at or before it. Storage dates here are acceptance
plus a fixed delay and acceptance happens at the simulator's "now", so every invoice still to come is stored
after now; KSeF's writers are asynchronous and its mark trails the clock, and the simulator's trails it by
the storage delay. An invoice delivered through /sim with an acceptance time in the past rewrites history:
deliver such invoices before a client syncs that period.
"""
from __future__ import annotations

from datetime import datetime

from ksef_local.ksef import crypto
from ksef_local.simulator.common import SimContext, iso, parse_iso
from ksef_local.simulator.metadata import read_metadata

SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")
KIND, XML_KIND = "received", "received-xml"


def index_invoice(ctx: SimContext, xml: bytes, *, ksef_number: str, invoicing: datetime, acquisition: datetime,
                  mode: str, corrected_hash: str | None = None) -> dict:
    """Index an invoice KSeF has just accepted; return its record."""
    metadata = read_metadata(xml)
    stored_at = acquisition + ctx.storage_delay
    metadata = {"ksefNumber": ksef_number, **metadata, "invoicingDate": iso(invoicing),
                "acquisitionDate": iso(acquisition), "permanentStorageDate": iso(stored_at), "invoicingMode": mode,
                "invoiceHash": crypto.sha256_b64(xml)}
    if isinstance(corrected_hash, str) and len(corrected_hash) == 44:  # the send body's hashOfCorrectedInvoice
        metadata["hashOfCorrectedInvoice"] = corrected_hash
    metadata = _ordered(metadata)
    record = {"metadata": metadata, "subjects": _subjects(metadata)}
    ctx.store.put(KIND, ksef_number, record)
    ctx.store.put(XML_KIND, ksef_number, {"xml": crypto.b64(xml)})
    return record


def _ordered(metadata: dict) -> dict:
    """Put the fields in the order of the OpenAPI schema (and of its example)."""
    order = ("ksefNumber", "invoiceNumber", "issueDate", "invoicingDate", "acquisitionDate", "permanentStorageDate",
             "seller", "buyer", "netAmount", "grossAmount", "vatAmount", "currency", "invoicingMode", "invoiceType",
             "formCode", "isSelfInvoicing", "hasAttachment", "invoiceHash", "hashOfCorrectedInvoice", "thirdSubjects",
             "authorizedSubject")
    return {name: metadata[name] for name in order if name in metadata}


def _subjects(metadata: dict) -> dict[str, list[str]]:
    """The context identifiers that see the invoice as each subject type (values of Nip or InternalId)."""
    buyer = metadata["buyer"]["identifier"]
    third = [s["identifier"]["value"] for s in metadata["thirdSubjects"]
             if s["identifier"]["type"] in ("Nip", "InternalId")]
    authorized = metadata.get("authorizedSubject")
    return {"Subject1": [metadata["seller"]["nip"]],
            "Subject2": [buyer["value"]] if buyer["type"] == "Nip" else [],
            "Subject3": third,
            "SubjectAuthorized": [authorized["nip"]] if authorized else []}


def record_of(ctx: SimContext, ksef_number: str) -> dict | None:
    return ctx.store.get(KIND, ksef_number)


def xml_of(ctx: SimContext, ksef_number: str) -> bytes:
    return crypto.unb64(ctx.store.get(XML_KIND, ksef_number)["xml"])


def stored_at(record: dict) -> datetime:
    return parse_iso(record["metadata"]["permanentStorageDate"])


def is_stored(record: dict, now: datetime) -> bool:
    return stored_at(record) <= now


def stored_records(ctx: SimContext, now: datetime) -> list[dict]:
    """Every permanently stored invoice, in no particular order."""
    moment = iso(now)  # iso() writes one fixed format, so the strings compare like the moments
    return [record for _, record in ctx.store.items(KIND) if record["metadata"]["permanentStorageDate"] <= moment]


def high_water_mark(ctx: SimContext, now: datetime) -> datetime:
    """Return the moment up to which permanent storage is complete (see the module docstring)."""
    return now - ctx.storage_delay


def concerns(record: dict, subject_type: str, context_value: str) -> bool:
    """Whether the context is the invoice's subject of this type (Podmiot1, Podmiot2, Podmiot3, upoważniony)."""
    return context_value in record["subjects"].get(subject_type, [])


def is_entitled(record: dict, context_value: str) -> bool:
    """Whether the context appears on the invoice in any role (the download's rule: CIRFMF/ksef-api #841)."""
    return any(concerns(record, kind, context_value) for kind in SUBJECT_TYPES)


def storage_json(record: dict | None, now: datetime) -> str | None:
    """permanentStorageDate as a session's invoice status shows it: absent until the invoice is stored."""
    if record is None or not is_stored(record, now):
        return None
    return record["metadata"]["permanentStorageDate"]
