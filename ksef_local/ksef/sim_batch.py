"""Simulated batch sessions: open with declared parts, PUT the parts, close, unpack (ksef-api.md §4)."""
from __future__ import annotations

import io
import tarfile
import zipfile
from datetime import datetime, timedelta
from urllib.parse import quote

from . import crypto
from .sim_auth import access_claims
from .sim_common import SimContext, SimError, bad_request, invalid, iso, parse_iso
from .sim_processing import enqueue, finalize_invoice
from .sim_sessions import WRITE, check_form_code, decrypt_session_key, new_invoice, new_session, owned_session

MAX_PARTS = 50
MAX_INVOICES = 10_000
PART_WINDOW = timedelta(minutes=20)  # upload window = parts × 20 min (ksef-api.md §4 step 5)


def open_batch(ctx: SimContext, bearer: str | None, body: dict, base_url: str) -> dict:
    """POST /sessions/batch → 201 with one pre-signed PUT per declared part."""
    claims = access_claims(ctx, bearer, ("InvoiceWrite", "EnforcementOperations"))
    form = check_form_code(body)
    batch_file = _validated_batch_file(body.get("batchFile"))
    key = decrypt_session_key(ctx, body.get("encryption"))
    offline = body.get("offlineMode", False)
    if not isinstance(offline, bool):
        raise invalid("Pole 'offlineMode' musi być wartością logiczną.")
    now = ctx.now()
    reference = ctx.reference("SB")
    session = new_session(reference, "batch", claims, form, key, now,
                          now + timedelta(hours=ctx.options.session_hours))
    session["batch"] = dict(batch_file, offlineMode=offline,
                            uploadUntil=iso(now + PART_WINDOW * len(batch_file["fileParts"])))
    ctx.store.put("session", reference, session)
    requests = []
    for part in batch_file["fileParts"]:
        path = f"/storage/batch/{reference}/{part['ordinalNumber']}"
        url = f"{base_url.rstrip('/')}{path}?sig={quote(ctx.sign(path))}"
        requests.append({"ordinalNumber": part["ordinalNumber"], "method": "PUT", "url": url,
                         "headers": {"x-ms-blob-type": "BlockBlob"}})
    return {"referenceNumber": reference, "partUploadRequests": requests}


def _validated_batch_file(batch_file) -> dict:
    if not isinstance(batch_file, dict) or not isinstance(batch_file.get("fileParts"), list):
        raise invalid("Pole 'batchFile' jest wymagane (fileSize, fileHash, fileParts).")
    parts = batch_file["fileParts"]
    if not parts:
        raise invalid("Lista 'fileParts' nie może być pusta.")
    if len(parts) > MAX_PARTS:
        raise bad_request(21161, "Przekroczono dozwoloną liczbę części pakietu.", f"Dozwolone jest {MAX_PARTS} części.")
    for item in [batch_file] + parts:
        if not isinstance(item, dict) or not isinstance(item.get("fileSize"), int) or item["fileSize"] < 1 \
                or not isinstance(item.get("fileHash"), str) or len(item["fileHash"]) != 44:
            raise invalid("Każdy plik i część wymaga 'fileSize' (>0) i 'fileHash' (44 znaki).")
    numbers = sorted(p.get("ordinalNumber") for p in parts if isinstance(p.get("ordinalNumber"), int))
    if numbers != list(range(1, len(parts) + 1)):
        raise invalid("Numery części muszą być kolejnymi liczbami od 1.")
    compression = batch_file.get("compressionType") or "Zip"
    if compression not in ("Zip", "TarGz"):
        raise invalid("Nieobsługiwany typ kompresji.")
    return {"fileSize": batch_file["fileSize"], "fileHash": batch_file["fileHash"], "compression": compression,
            "fileParts": [{"ordinalNumber": p["ordinalNumber"], "fileSize": p["fileSize"], "fileHash": p["fileHash"]}
                          for p in parts]}


def upload_part(ctx: SimContext, reference: str, ordinal: int, signature: str, data: bytes) -> None:
    """PUT of a pre-signed part URL (no Authorization): 201, or 403 when the link is wrong or expired."""
    path = f"/storage/batch/{reference}/{ordinal}"
    session = ctx.store.get("session", reference)
    if signature != ctx.sign(path) or session is None:
        raise SimError(403, reason_code="insufficient-resource-access", detail="Nieprawidłowy podpis linku.")
    if session["status"] != 100 or ctx.now() > parse_iso(session["batch"]["uploadUntil"]):
        raise SimError(403, reason_code="insufficient-resource-access", detail="Czas na przesłanie części minął.")
    ctx.store.put("part", f"{reference}/{ordinal}", {"data": crypto.b64(data)})


def close_batch(ctx: SimContext, bearer: str | None, reference: str) -> None:
    """POST /sessions/batch/{ref}/close → 204: every part present with its declared size (21205, 21157)."""
    claims = access_claims(ctx, bearer, ("InvoiceWrite", "EnforcementOperations"))
    session = owned_session(ctx, claims, reference, "batch")
    if session["status"] != 100:
        raise bad_request(21180, "Status sesji nie pozwala na wykonanie operacji.",
                          f"Status sesji {session['status']} uniemożliwia jej zamknięcie.")
    for part in session["batch"]["fileParts"]:
        stored = ctx.store.get("part", f"{reference}/{part['ordinalNumber']}")
        if stored is None:
            raise bad_request(21205, "Pakiet nie może być pusty.",
                              f"Nie przesłano zadeklarowanej '{part['ordinalNumber']}' części pliku.")
        if len(crypto.unb64(stored["data"])) != part["fileSize"]:
            raise bad_request(21157, "Nieprawidłowy rozmiar części pakietu.",
                              f"Zadeklarowany rozmiar części '{part['ordinalNumber']}' nie zgadza się z rzeczywistym.")
    now = iso(ctx.now())
    session.update(status=150, closed=now, updated=now)
    ctx.store.put("session", reference, session)
    enqueue(ctx, "sessions", reference)


def process_batch(ctx: SimContext, session: dict, now: datetime) -> None:
    """Decrypt, join, check and unpack the archive; process every invoice in archive order."""
    failure = _unpack(ctx, session)
    if isinstance(failure, tuple):
        code, detail = failure
        session.update(status=code, details=[detail], updated=iso(now))
        ctx.store.put("session", session["reference"], session)
        return
    created = parse_iso(session["created"])  # batch invoicingDate = session open time (ksef-api.md §4)
    for ordinal, (name, xml) in enumerate(failure, start=1):
        reference = ctx.reference("EE")
        session["invoices"].append(reference)
        invoice = new_invoice(reference, session["reference"], ordinal, crypto.sha256_b64(xml), xml, True,
                              received=now, invoicing=created, due=now, offline=session["batch"]["offlineMode"],
                              file_name=name)
        finalize_invoice(ctx, invoice, now)
    ctx.store.put("session", session["reference"], session)


def _unpack(ctx: SimContext, session: dict):
    """Return [(file name, xml)] or (session status code, detail)."""
    key = crypto.SessionKey(crypto.unb64(session["key"]), crypto.unb64(session["iv"]))
    archive = b""
    for part in session["batch"]["fileParts"]:
        data = crypto.unb64(ctx.store.get("part", f"{session['reference']}/{part['ordinalNumber']}")["data"])
        if crypto.sha256_b64(data) != part["fileHash"]:
            return 405, f"Skrót części {part['ordinalNumber']} nie zgadza się z zadeklarowanym."
        try:
            archive += crypto.aes_cbc_decrypt(key, data)
        except crypto.CryptoError:
            return 435, f"Nie udało się odszyfrować części {part['ordinalNumber']}."
    if len(archive) != session["batch"]["fileSize"] or crypto.sha256_b64(archive) != session["batch"]["fileHash"]:
        return 405, "Rozmiar lub skrót paczki nie zgadza się z zadeklarowanym."
    try:
        files = _read_archive(archive, session["batch"]["compression"])
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        return 430, f"Nie można rozpakować archiwum: {exc}"
    if len(files) > MAX_INVOICES:
        return 420, f"Paczka zawiera {len(files)} faktur; dozwolone jest {MAX_INVOICES}."
    if not files:
        return 445, "Paczka nie zawiera faktur."
    return files


def _read_archive(archive: bytes, compression: str) -> list[tuple[str, bytes]]:
    if compression == "TarGz":
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist() if not info.is_dir()]
