"""Simulated batch sessions: open with declared parts, PUT the parts, close, unpack (ksef-docs sesja-wsadowa.md)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from ksef_local.ksef import crypto
from ksef_local.simulator.auth import access_claims
from ksef_local.simulator.common import SimContext, SimError, bad_request, invalid, iso, parse_iso
from ksef_local.simulator.processing import enqueue
from ksef_local.simulator.records import check_form_code, decrypt_session_key, new_session
from ksef_local.simulator.sessions import owned_session

MAX_PARTS = 50
PART_WINDOW = timedelta(minutes=20)  # upload window = parts × 20 min (ksef-docs sesja-wsadowa.md)


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

