"""The asynchronous export: an encrypted package of invoices in parts behind pre-signed links.

OpenAPI 2.6.0 POST /invoices/exports (InvoiceExportRequest → 201 ExportInvoicesResponse; 400 21181, 21182,
21470, 21405) and GET /invoices/exports/{referenceNumber} (InvoiceExportStatusResponse, InvoicePackage,
InvoicePackagePart; 400 21175; 410); ksef-docs pobieranie-faktur/pobieranie-faktur.md and
przyrostowe-pobieranie-faktur.md. The package is a ZIP (or TarGz) of {ksefNumber}.xml files plus
_metadata.json ({"invoices": [InvoiceMetadata, …]}), ascending by the date type, at most `result_cap`
invoices; it is cut into parts of `export_part_bytes`, each encrypted on its own with AES-256-CBC/PKCS#7
under the client's key.

Which invoices go in is decided when the export is ordered; the package is built on the first status
request after the processing delay. Timings KSeF does not document and the simulator chooses: the package
expires 7 days after completion (as observed, CIRFMF/ksef-api #816 and #821), part links live 1 hour from
the status request (observed likewise), and the status answers 210 for 7 more days before 410 Gone.
"""
from __future__ import annotations

import io
import json
import tarfile
import zipfile
from datetime import datetime, timedelta
from urllib.parse import quote

from ksef_local.ksef import crypto
from ksef_local.simulator import received
from ksef_local.simulator.auth import access_claims
from ksef_local.simulator.common import SimContext, SimError, bad_request, invalid, iso, parse_iso
from ksef_local.simulator.query import parse_filters, select
from ksef_local.simulator.records import decrypt_session_key

STATUS_TEXTS = {
    100: "Eksport faktur w toku",
    200: "Eksport faktur zakończony sukcesem",
    210: "Eksport faktur wygasł i nie jest już dostępny do pobrania",
    415: "Błąd odszyfrowania dostarczonego klucza",
    420: "Zakres filtrowania wykracza poza dostępny zakres danych",
}
BEYOND_HWM_DETAIL = ("Parametr dateRange.from jest późniejszy niż PermanentStorageHwmDate przy włączonym "
                     "restrictToPermanentStorageHwmDate.")
MAX_RUNNING = 10  # "Maksymalnie można uruchomić 10 równoczesnych eksportów w zalogowanym kontekście"
PACKAGE_LIFETIME = timedelta(days=7)
STATUS_AFTER_EXPIRY = timedelta(days=7)
LINK_LIFETIME = timedelta(hours=1)
LAST_DATE = {"Issue": ("lastIssueDate", "issueDate"), "Invoicing": ("lastInvoicingDate", "invoicingDate"),
             "PermanentStorage": ("lastPermanentStorageDate", "permanentStorageDate")}
EXTENSIONS = {"Zip": "zip", "TarGz": "tar.gz"}


def start_export(ctx: SimContext, bearer: str | None, body) -> dict:
    """POST /invoices/exports → 201 {referenceNumber}; the checks of the OpenAPI 400 table first."""
    claims = access_claims(ctx, bearer, ("InvoiceRead",))
    if not isinstance(body, dict):
        raise invalid("Treść żądania musi być obiektem JSON.")
    now = ctx.now()
    filters = parse_filters(body.get("filters"), now)
    only_metadata = body.get("onlyMetadata", False)
    if not isinstance(only_metadata, bool):
        raise invalid("Pole 'onlyMetadata' musi być wartością logiczną.")
    compression = body.get("compressionType") or "Zip"
    if compression not in EXTENSIONS:
        raise invalid("Pole 'compressionType' musi mieć wartość Zip albo TarGz.")
    key = decrypt_session_key(ctx, body.get("encryption"))
    context_type = claims.get("cit", "Nip")
    if not _may_export(filters.subject_type, context_type):
        raise bad_request(21181, "Nieprawidłowe żądanie eksportu faktur.",
                          f"Nie można wyeksportować paczki faktur dla wybranego podmiotu ({filters.subject_type}) "
                          f"i zalogowanego identyfikatora kontekstu ({context_type}).")
    running = sum(1 for _, e in ctx.store.items("export") if e["nip"] == claims["civ"] and now < parse_iso(e["due"]))
    if running >= MAX_RUNNING:
        raise bad_request(21182, "Osiągnięto limit trwających eksportów.",
                          "Dla uwierzytelnionego podmiotu w bieżącym kontekście osiągnięto maksymalny limit "
                          f"{MAX_RUNNING} równoczesnych eksportów faktur. Spróbuj ponownie później.")
    reference = ctx.reference("EH")
    record = {"reference": reference, "nip": claims["civ"], "created": iso(now), "due": iso(now + ctx.delay),
              "dateType": filters.date_type, "onlyMetadata": only_metadata, "compression": compression,
              "key": crypto.b64(key.key) if key else None, "iv": crypto.b64(key.iv) if key else None,
              "outcome": 415 if key is None else 200, "ksefNumbers": [], "truncated": False, "hwm": None,
              "package": None}
    if key is not None:
        selection = select(ctx, filters, claims["civ"], now)  # "rosnąco według daty określonej w filtrze"
        cap = ctx.options.result_cap
        record.update(outcome=420 if selection.beyond_hwm else 200, hwm=selection.hwm,
                      truncated=len(selection.records) > cap,
                      ksefNumbers=[r["metadata"]["ksefNumber"] for r in selection.records[:cap]])
    ctx.store.put("export", reference, record)
    return {"referenceNumber": reference}


def _may_export(subject_type: str, context_type: str) -> bool:
    """A NIP context exports as any subject; an internal identifier only as a third party (Podmiot3 IDWew).
    The simulator's reading of 21181, which KSeF does not spell out."""
    return context_type == "Nip" or (context_type == "InternalId" and subject_type == "Subject3")


def export_status(ctx: SimContext, bearer: str | None, reference: str, base_url: str) -> dict:
    """GET /invoices/exports/{referenceNumber}: 100, then 200 with the package, 415 or 420; later 210, 410."""
    claims = access_claims(ctx, bearer, ("InvoiceRead",))
    record = ctx.store.get("export", reference)
    if record is None or record["nip"] != claims["civ"]:
        raise bad_request(21175, "Wynik zapytania o podanym identyfikatorze nie istnieje.")
    now = ctx.now()
    completed = parse_iso(record["due"])
    if now < completed:
        return {"status": _status(100)}
    expires = completed + PACKAGE_LIFETIME
    if now >= expires + STATUS_AFTER_EXPIRY:
        raise SimError(410, detail="Operacja wygasła i nie jest już dostępna.")
    answer = {"completedDate": iso(completed)}
    if record["outcome"] == 415:
        return {"status": _status(415)} | answer
    if record["outcome"] == 420:
        return {"status": _status(420) | {"details": [BEYOND_HWM_DETAIL]}} | answer
    answer["packageExpirationDate"] = iso(expires)
    if now >= expires:
        return {"status": _status(210)} | answer
    if record["package"] is None:
        record["package"] = _build_package(ctx, record, completed)
        ctx.store.put("export", reference, record)
    return {"status": _status(200)} | answer | {"package": _with_links(ctx, record, base_url, now, expires)}


def _status(code: int) -> dict:
    return {"code": code, "description": STATUS_TEXTS[code]}


def _build_package(ctx: SimContext, record: dict, completed: datetime) -> dict:
    """Write the archive, cut it into parts, encrypt and keep each part; return InvoicePackage without URLs."""
    records = [received.record_of(ctx, number) for number in record["ksefNumbers"]]
    files = [] if record["onlyMetadata"] else [(f"{r['metadata']['ksefNumber']}.xml",
                                                 received.xml_of(ctx, r["metadata"]["ksefNumber"])) for r in records]
    metadata = json.dumps({"invoices": [r["metadata"] for r in records]}, ensure_ascii=False, indent=1)
    files.insert(0, ("_metadata.json", metadata.encode("utf-8")))
    archive = _archive(files, record["compression"], completed)
    key = crypto.SessionKey(crypto.unb64(record["key"]), crypto.unb64(record["iv"]))
    size = max(1, ctx.options.export_part_bytes)
    parts = []
    for ordinal, start in enumerate(range(0, len(archive), size), start=1):
        chunk = archive[start:start + size]
        encrypted = crypto.aes_cbc_encrypt(key, chunk)
        ctx.store.put("export-part", f"{record['reference']}/{ordinal}", {"data": crypto.b64(encrypted)})
        parts.append({"ordinalNumber": ordinal,
                      "partName": f"{record['reference']}-{ordinal:03d}.{EXTENSIONS[record['compression']]}.aes",
                      "method": "GET", "partSize": len(chunk), "partHash": crypto.sha256_b64(chunk),
                      "encryptedPartSize": len(encrypted), "encryptedPartHash": crypto.sha256_b64(encrypted)})
    package = {"invoiceCount": len(records), "size": len(archive), "parts": parts, "isTruncated": record["truncated"]}
    if record["truncated"] and records:  # "Pole występuje wyłącznie wtedy, gdy paczka została ucięta"
        name, field = LAST_DATE[record["dateType"]]
        package[name] = records[-1]["metadata"][field]
    if record["hwm"] is not None:
        package["permanentStorageHwmDate"] = record["hwm"]
    return package


def _archive(files: list[tuple[str, bytes]], compression: str, moment: datetime) -> bytes:
    buffer = io.BytesIO()
    if compression == "TarGz":
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in files:
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), int(moment.timestamp())
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, moment.timetuple()[:6]), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _with_links(ctx: SimContext, record: dict, base_url: str, now: datetime, expires: datetime) -> dict:
    """Add to each part a pre-signed GET link made now ("generowany dynamicznie w momencie odpytania")."""
    link_expires = iso(min(now + LINK_LIFETIME, expires))
    package = dict(record["package"])
    parts = []
    for part in package["parts"]:
        path = f"/storage/export/{record['reference']}/{part['ordinalNumber']}"
        url = f"{base_url.rstrip('/')}{path}?se={quote(link_expires)}&sig={ctx.sign(f'{path}|{link_expires}')}"
        parts.append({"ordinalNumber": part["ordinalNumber"], "partName": part["partName"], "method": "GET",
                      "url": url, **{k: part[k] for k in ("partSize", "partHash", "encryptedPartSize",
                                                            "encryptedPartHash")},
                      "expirationDate": link_expires})
    package["parts"] = parts
    return package


def download_part(ctx: SimContext, reference: str, ordinal: int, expires: str, signature: str) -> bytes:
    """GET of a pre-signed part link: no Authorization and no rate limit, but a valid signature and expiry."""
    path = f"/storage/export/{reference}/{ordinal}"
    try:
        expired = ctx.now() > parse_iso(expires)
    except ValueError:
        expired = True
    stored = ctx.store.get("export-part", f"{reference}/{ordinal}")
    if signature != ctx.sign(f"{path}|{expires}") or expired or stored is None:
        raise SimError(403, reason_code="insufficient-resource-access", detail="Link wygasł lub jest nieprawidłowy.")
    return crypto.unb64(stored["data"])
