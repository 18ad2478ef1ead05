"""Simulated online sessions and the session/invoice status and UPO endpoints (docs/ksef-protocol.md §3, §3.8)."""
from __future__ import annotations

import base64
from datetime import timedelta

from ksef_local.ksef import crypto
from ksef_local.simulator import received
from ksef_local.simulator.auth import access_claims
from ksef_local.simulator.common import SimContext, SimError, bad_request, invalid, iso, parse_iso
from ksef_local.simulator.processing import enqueue, session_text, visible_status
from ksef_local.simulator.records import (
    MAX_INVOICES,
    READ_STATUS,
    WRITE,
    check_form_code,
    decrypt_session_key,
    new_invoice,
    new_session,
)

UPO_LINK_DAYS = 3


def open_online(ctx: SimContext, bearer: str | None, body: dict) -> dict:
    """POST /sessions/online → 201."""
    claims = access_claims(ctx, bearer, WRITE)
    form = check_form_code(body)
    key = decrypt_session_key(ctx, body.get("encryption"))
    now = ctx.now()
    reference = ctx.reference("SO")
    until = now + timedelta(hours=ctx.options.session_hours)
    session = new_session(reference, "online", claims, form, key, now, until)
    ctx.store.put("session", reference, session)
    return {"referenceNumber": reference, "validUntil": iso(until)}


def owned_session(ctx: SimContext, claims: dict, reference: str, kind: str | None = None) -> dict:
    """Return the session of this context, auto-closing it after 12 h; else 21173."""
    session = ctx.store.get("session", reference)
    if session is None or session["nip"] != claims["civ"] or (kind and session["kind"] != kind):
        raise bad_request(21173, "Brak sesji o wskazanym numerze referencyjnym.",
                          f"Sesja o numerze referencyjnym {reference} nie została odnaleziona.")
    if session["status"] == 100 and ctx.now() >= parse_iso(session["validUntil"]):
        expire_session(ctx, session)
    return session


def expire_session(ctx: SimContext, session: dict) -> None:
    """12 h passed: online sessions close (→ 170), batch sessions are cancelled (docs/ksef-protocol.md §12)."""
    if session["kind"] == "online":
        session.update(status=170, closed=session["validUntil"], updated=session["validUntil"])
        enqueue(ctx, "sessions", session["reference"])
    else:
        session.update(status=440, details=["Przekroczono czas wysyłki"], updated=session["validUntil"])
    ctx.store.put("session", session["reference"], session)


def send_invoice(ctx: SimContext, bearer: str | None, reference: str, body: dict) -> dict:
    """POST /sessions/online/{ref}/invoices: sync checks in KSeF's order, then 202 (docs/ksef-protocol.md §12)."""
    claims = access_claims(ctx, bearer, WRITE)
    session = owned_session(ctx, claims, reference, "online")
    if session["status"] != 100:
        raise bad_request(21180, "Status sesji nie pozwala na wykonanie operacji.",
                          f"Status sesji {session['status']} uniemożliwia wysyłkę faktur.")
    if len(session["invoices"]) >= MAX_INVOICES:
        raise bad_request(21155, "Przekroczono dozwoloną liczbę faktur w sesji.",
                          f"Sesja o numerze referencyjnym {reference} osiągnęła dozwolony limit liczby faktur "
                          f"{MAX_INVOICES}.")
    content = _validated_send_body(body)
    xml, decrypted = _decrypt_checked(session, body, content)
    now = ctx.now()
    invoice_ref = ctx.reference("EE")
    session["invoices"].append(invoice_ref)
    session["updated"] = iso(now)
    ctx.store.put("session", reference, session)
    invoice = new_invoice(invoice_ref, reference, len(session["invoices"]), body["invoiceHash"], xml, decrypted,
                          received=now, invoicing=now, due=now + ctx.delay,
                          offline=bool(body.get("offlineMode", False)))
    invoice["correctedHash"] = body.get("hashOfCorrectedInvoice")  # a technical correction names its original
    ctx.store.put("invoice", invoice_ref, invoice)
    enqueue(ctx, "invoices", invoice_ref)
    return {"referenceNumber": invoice_ref}


_HASH_FIELDS = ("invoiceHash", "encryptedInvoiceHash")


def _validated_send_body(body: dict) -> bytes:
    if not isinstance(body, dict):
        raise invalid("Treść żądania musi być obiektem JSON.")
    for name in _HASH_FIELDS:
        value = body.get(name)
        if not isinstance(value, str) or len(value) != 44:
            raise invalid(f"Pole '{name}' jest wymagane (SHA-256 w Base64, 44 znaki).")
    for name in ("invoiceSize", "encryptedInvoiceSize"):
        value = body.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise invalid(f"Pole '{name}' jest wymagane (liczba całkowita dodatnia).")
    if not isinstance(body.get("offlineMode", False), bool):
        raise invalid("Pole 'offlineMode' musi być wartością logiczną.")
    try:
        return crypto.unb64(body.get("encryptedInvoiceContent") or "")
    except crypto.CryptoError as exc:
        raise invalid("Pole 'encryptedInvoiceContent' musi być zakodowane w Base64.") from exc


def _decrypt_checked(session: dict, body: dict, content: bytes) -> tuple[bytes, bool]:
    """Check sizes and hashes (21402/21403) of the ciphertext and, when it decrypts, of the plaintext."""
    if len(content) != body["encryptedInvoiceSize"]:
        raise _size_error()
    if crypto.sha256_b64(content) != body["encryptedInvoiceHash"]:
        raise _hash_error()
    key = crypto.SessionKey(crypto.unb64(session["key"]), crypto.unb64(session["iv"]))
    try:
        xml = crypto.aes_cbc_decrypt(key, content)
    except crypto.CryptoError:
        return b"", False  # reported asynchronously as 435
    if len(xml) != body["invoiceSize"]:
        raise _size_error()
    if crypto.sha256_b64(xml) != body["invoiceHash"]:
        raise _hash_error()
    return xml, True


def _size_error() -> SimError:
    return bad_request(21402, "Nieprawidłowy rozmiar pliku.", "Długość treści nie zgadza się z rozmiarem pliku.")


def _hash_error() -> SimError:
    return bad_request(21403, "Nieprawidłowy skrót pliku.", "Skrót treści nie zgadza się ze skrótem pliku.")


def close_online(ctx: SimContext, bearer: str | None, reference: str) -> None:
    """POST /sessions/online/{ref}/close → 204; status 170, the final status comes later."""
    claims = access_claims(ctx, bearer, WRITE)
    session = owned_session(ctx, claims, reference, "online")
    if session["status"] != 100:
        raise bad_request(21180, "Status sesji nie pozwala na wykonanie operacji.",
                          f"Status sesji {session['status']} uniemożliwia jej zamknięcie.")
    now = iso(ctx.now())
    session.update(status=170, closed=now, updated=now)
    ctx.store.put("session", reference, session)
    enqueue(ctx, "sessions", reference)


# -- status, lists, UPO -------------------------------------------------------------------------------

def session_status(ctx: SimContext, bearer: str | None, reference: str, base_url: str) -> dict:
    """GET /sessions/{ref} (docs/ksef-protocol.md §3.7)."""
    claims = access_claims(ctx, bearer, READ_STATUS)
    session = owned_session(ctx, claims, reference)
    invoices = [ctx.store.get("invoice", ref) for ref in session["invoices"]]
    finals = [inv["final"]["code"] for inv in invoices if inv["final"] is not None]
    status = {"code": session["status"], "description": session_text(session, session["status"])}
    if session["details"]:
        status["details"] = session["details"]
    answer = {"status": status, "dateCreated": session["created"], "dateUpdated": session["updated"],
              "validUntil": session["validUntil"],
              "invoiceCount": len(invoices) or None,
              "successfulInvoiceCount": sum(1 for c in finals if c == 200) or None,
              "failedInvoiceCount": sum(1 for c in finals if c != 200) or None}
    if session["upo"]:
        url, expires = presigned_upo_url(ctx, base_url, reference, session["upo"])
        answer["upo"] = {"pages": [{"referenceNumber": session["upo"], "downloadUrl": url,
                                    "downloadUrlExpirationDate": expires}]}
    return answer


def invoice_json(ctx: SimContext, invoice: dict, base_url: str) -> dict:
    """Render SessionInvoiceStatusResponse as visible now."""
    status = visible_status(ctx, invoice)
    answer = {"ordinalNumber": invoice["ordinal"], "referenceNumber": invoice["reference"],
              "invoiceHash": invoice["hash"], "invoicingDate": invoice["invoicingDate"],
              "status": {k: v for k, v in status.items() if v}}
    answer["status"]["code"] = status["code"]
    if invoice["fileName"]:
        answer["invoiceFileName"] = invoice["fileName"]
    if invoice["final"] is not None and invoice["number"]:
        answer["invoiceNumber"] = invoice["number"]
    if status["code"] == 200:
        url, expires = presigned_upo_url(ctx, base_url, invoice["session"], invoice["reference"])
        answer.update(ksefNumber=invoice["ksefNumber"], acquisitionDate=invoice["acquisition"], upoDownloadUrl=url,
                      upoDownloadUrlExpirationDate=expires, invoicingMode=invoice["mode"])
        # OpenAPI SessionInvoiceStatusResponse: filled in once stored, "może być jeszcze niedostępna" before.
        stored = received.storage_json(received.record_of(ctx, invoice["ksefNumber"]), ctx.now())
        if stored:
            answer["permanentStorageDate"] = stored
    return answer


def invoice_status(ctx: SimContext, bearer: str | None, reference: str, invoice_ref: str, base_url: str) -> dict:
    """GET /sessions/{ref}/invoices/{invoiceRef}."""
    claims = access_claims(ctx, bearer, READ_STATUS)
    owned_session(ctx, claims, reference)
    invoice = ctx.store.get("invoice", invoice_ref)
    if invoice is None or invoice["session"] != reference:
        raise bad_request(21164, "Faktura o podanym identyfikatorze nie istnieje.",
                          f"Faktura o numerze referencyjnym {invoice_ref} nie została znaleziona.")
    return invoice_json(ctx, invoice, base_url)


def session_invoices(ctx: SimContext, bearer: str | None, reference: str, base_url: str, *, failed_only: bool,
                     page_size: int, continuation: str | None) -> dict:
    """GET /sessions/{ref}/invoices[/failed] with pageSize 10-1000 and x-continuation-token."""
    claims = access_claims(ctx, bearer, READ_STATUS)
    session = owned_session(ctx, claims, reference)
    if not 10 <= page_size <= 1000:
        raise invalid("Parametr 'pageSize' musi mieścić się w zakresie 10-1000.")
    start = _decode_continuation(continuation)
    rendered = [invoice_json(ctx, ctx.store.get("invoice", ref), base_url) for ref in session["invoices"]]
    if failed_only:
        rendered = [item for item in rendered if item["status"]["code"] >= 400]
    page = rendered[start:start + page_size]
    answer: dict = {"invoices": page}
    if start + page_size < len(rendered):
        answer["continuationToken"] = base64.urlsafe_b64encode(str(start + page_size).encode()).decode("ascii")
    return answer


SESSION_TYPES = {"Online": "online", "Batch": "batch"}


def _common_status(session: dict) -> str:
    """CommonSessionStatus of the OpenAPI from a session's numeric status."""
    code = session["status"]
    if code in (100, 150, 170):
        return "InProgress"
    if code == 200:
        return "Succeeded"
    return "Cancelled" if code == 440 else "Failed"   # 440: batch time out, or an online session with no invoice


def list_sessions(ctx: SimContext, bearer: str | None, args, continuation: str | None) -> dict:
    """GET /sessions: this context's sessions of one type, newest first, filtered by dates and statuses.

    KSeF shows an InvoiceWrite login only the sessions its own subject opened; the simulator keys sessions by
    context only, so it shows all of the context's (as for Introspection).
    """
    claims = access_claims(ctx, bearer, READ_STATUS)
    kind = SESSION_TYPES.get(args.get("sessionType", ""))
    if kind is None:
        raise invalid("Parametr 'sessionType' jest wymagany: Online albo Batch.")
    try:
        page_size = int(args.get("pageSize", 10))
    except ValueError as exc:
        raise invalid("Parametr 'pageSize' musi być liczbą.") from exc
    if not 10 <= page_size <= 1000:
        raise invalid("Parametr 'pageSize' musi mieścić się w zakresie 10-1000.")
    bounds = {}
    for name in ("dateCreatedFrom", "dateCreatedTo", "dateClosedFrom", "dateClosedTo", "dateModifiedFrom",
                 "dateModifiedTo"):
        if args.get(name):
            try:
                bounds[name] = parse_iso(args[name])
            except ValueError as exc:
                raise invalid(f"Parametr '{name}' musi być datą i czasem ISO 8601.") from exc
    statuses = set(args.getlist("statuses"))
    found = []
    for _, session in ctx.store.items("session"):
        if session["nip"] != claims["civ"] or session["kind"] != kind:
            continue
        if session["status"] == 100 and ctx.now() >= parse_iso(session["validUntil"]):
            expire_session(ctx, session)
        moments = {"Created": session["created"], "Closed": session["closed"], "Modified": session["updated"]}
        if any(not _within(moments[name[4:-4] if name.endswith("From") else name[4:-2]], name, bound)
               for name, bound in bounds.items()):
            continue
        if statuses and _common_status(session) not in statuses:
            continue
        found.append(session)
    found.sort(key=lambda item: item["created"], reverse=True)
    start = _decode_continuation(continuation)
    page = found[start:start + page_size]
    answer: dict = {"sessions": [_session_item(ctx, item) for item in page]}
    if start + page_size < len(found):
        answer["continuationToken"] = base64.urlsafe_b64encode(str(start + page_size).encode()).decode("ascii")
    return answer


def _within(moment: str | None, name: str, bound) -> bool:
    if moment is None:
        return False
    return parse_iso(moment) >= bound if name.endswith("From") else parse_iso(moment) <= bound


def _session_item(ctx: SimContext, session: dict) -> dict:
    finals = [invoice["final"]["code"] for invoice in (ctx.store.get("invoice", ref) for ref in session["invoices"])
              if invoice["final"] is not None]
    status = {"code": session["status"], "description": session_text(session, session["status"])}
    return {"referenceNumber": session["reference"], "status": status, "dateCreated": session["created"],
            "dateUpdated": session["updated"], "validUntil": session["validUntil"],
            "totalInvoiceCount": len(session["invoices"]),
            "successfulInvoiceCount": sum(1 for code in finals if code == 200),
            "failedInvoiceCount": sum(1 for code in finals if code != 200)}


def _decode_continuation(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii"))
    except ValueError as exc:
        raise bad_request(21418, "Przekazany token kontynuacji ma nieprawidłowy format.") from exc


def presigned_upo_url(ctx: SimContext, base_url: str, session_ref: str, upo_ref: str) -> tuple[str, str]:
    """Return a pre-signed UPO link (no Authorization needed) and its expiry, like KSeF's storage links."""
    expires = iso(ctx.now() + timedelta(days=UPO_LINK_DAYS))
    path = f"/storage/upo/{session_ref}/{upo_ref}"
    signature = ctx.sign(f"{path}|{expires}")
    from urllib.parse import quote

    return f"{base_url.rstrip('/')}{path}?se={quote(expires)}&sig={signature}", expires
