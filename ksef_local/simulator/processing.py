"""Asynchronous processing, run lazily: every request first finishes whatever is due by the clock.

No background thread: an invoice received at t is final at t + processing delay, and the first request
after that makes it so, in order of receipt (so duplicates resolve as in KSeF). Statuses and checks:
docs/ksef-protocol.md §3.4 (invoice), §3.7 and §4 (sessions), §9 (offline auto-classification),
§11 (duplicates), §12 (order of checks).
"""
from __future__ import annotations

import io
import tarfile
import zipfile
from datetime import date, datetime

from ksef_local.ksef import crypto
from ksef_local.simulator import received
from ksef_local.simulator.common import SimContext, iso, parse_iso, warsaw_day
from ksef_local.simulator.invoices import is_valid_nip, read_facts, xml_problems
from ksef_local.simulator.records import MAX_INVOICES, new_invoice

INVOICE_TEXTS = {
    100: "Faktura przyjęta do dalszego przetwarzania",
    150: "Trwa przetwarzanie",
    200: "Sukces",
    410: "Nieprawidłowy zakres uprawnień",
    430: "Błąd weryfikacji pliku faktury",
    435: "Błąd odszyfrowania pliku",
    440: "Duplikat faktury",
    450: "Błąd weryfikacji semantyki dokumentu faktury",
}
ONLINE_TEXTS = {
    100: "Sesja interaktywna otwarta",
    170: "Sesja interaktywna zamknięta",
    200: "Sesja interaktywna przetworzona pomyślnie",
    415: "Błąd odszyfrowania dostarczonego klucza",
    440: "Sesja anulowana",
    445: "Błąd weryfikacji, brak poprawnych faktur",
}
BATCH_TEXTS = {
    100: "Sesja wsadowa rozpoczęta",
    150: "Trwa przetwarzanie",
    200: "Sesja wsadowa przetworzona pomyślnie",
    405: "Błąd weryfikacji poprawności dostarczonych elementów paczki",
    415: "Błąd odszyfrowania dostarczonego klucza",
    420: "Przekroczony limit faktur w sesji",
    430: "Błąd dekompresji pierwotnego archiwum",
    435: "Błąd odszyfrowania zaszyfrowanych części archiwum",
    440: "Sesja anulowana",
    445: "Błąd weryfikacji, brak poprawnych faktur",
}
MAX_DETAILS = 10


def session_text(session: dict, code: int) -> str:
    return (BATCH_TEXTS if session["kind"] == "batch" else ONLINE_TEXTS).get(code, f"Nieznany błąd ({code})")


def pending(ctx: SimContext) -> dict:
    return ctx.store.get("meta", "pending") or {"invoices": [], "sessions": []}


def enqueue(ctx: SimContext, kind: str, reference: str) -> None:
    queue = pending(ctx)
    queue[kind].append(reference)
    ctx.store.put("meta", "pending", queue)


def tick(ctx: SimContext) -> None:
    """Finish every invoice and session whose time has come, oldest first."""
    now = ctx.now()
    queue = pending(ctx)
    remaining = []
    for index, reference in enumerate(queue["invoices"]):
        invoice = ctx.store.get("invoice", reference)
        if now < parse_iso(invoice["due"]):
            remaining = queue["invoices"][index:]
            break
        finalize_invoice(ctx, invoice, now)
    queue["invoices"] = remaining
    ctx.store.put("meta", "pending", queue)
    _tick_sessions(ctx, now)


def _tick_sessions(ctx: SimContext, now: datetime) -> None:
    queue = pending(ctx)
    still = []
    for reference in queue["sessions"]:
        session = ctx.store.get("session", reference)
        if now < parse_iso(session["closed"]) + ctx.delay:
            still.append(reference)
            continue
        if session["kind"] == "batch" and session["status"] == 150:
            process_batch(ctx, session, now)
        invoices = [ctx.store.get("invoice", ref) for ref in session["invoices"]]
        if any(inv["final"] is None for inv in invoices):
            still.append(reference)
            continue
        finish_session(ctx, session, invoices, now)
    queue = pending(ctx)  # process_batch may have changed it
    queue["sessions"] = still
    ctx.store.put("meta", "pending", queue)


def finish_session(ctx: SimContext, session: dict, invoices: list[dict], now: datetime) -> None:
    """Set the final session status and, with at least one accepted invoice, its UPO (docs/ksef-protocol.md §3.7)."""
    if session["status"] not in (150, 170):
        return
    accepted = sum(1 for inv in invoices if inv["final"]["code"] == 200)
    if not invoices:
        session.update(status=440, details=["Nie przesłano faktur"])
    elif accepted == 0:
        session["status"] = 445
    else:
        session.update(status=200, upo=ctx.reference("EU"))
    session["updated"] = iso(now)
    ctx.store.put("session", session["reference"], session)


def finalize_invoice(ctx: SimContext, invoice: dict, now: datetime) -> None:
    """Decide the invoice's final status in KSeF's order of checks and record it."""
    session = ctx.store.get("session", invoice["session"])
    result = _decide(ctx, invoice, session)
    invoice["final"] = result
    invoice["acquisition"] = iso(now) if result["code"] == 200 else None
    ctx.store.put("invoice", invoice["reference"], invoice)
    if result["code"] == 200:  # from now on the buyer and third parties can find it (received.py)
        received.index_invoice(ctx, crypto.unb64(invoice["xml"]), ksef_number=invoice["ksefNumber"],
                               invoicing=parse_iso(invoice["invoicingDate"]), acquisition=now, mode=invoice["mode"],
                               corrected_hash=invoice.get("correctedHash"))


def _decide(ctx: SimContext, invoice: dict, session: dict) -> dict:
    if not invoice["decrypted"]:
        return _status(435, "Nie udało się odszyfrować pliku faktury kluczem sesji.")
    xml = crypto.unb64(invoice["xml"])
    problems = xml_problems(xml)
    if problems:
        return _status(430, *problems[:MAX_DETAILS])
    facts = read_facts(xml)
    invoice.update(number=facts.number, sellerNip=facts.seller_nip, kind=facts.kind,
                   issueDate=facts.issue_date.isoformat() if facts.issue_date else None)
    if facts.seller_nip != session["nip"]:
        return _status(410, f"Kontekst {session['nip']} nie ma uprawnień do wystawienia faktury sprzedawcy "
                            f"{facts.seller_nip}.")
    invoicing_day = warsaw_day(parse_iso(invoice["invoicingDate"]))
    semantic = semantic_problems(ctx, facts, invoicing_day)
    if semantic:
        return _status(450, *semantic)
    duplicate = duplicate_status(ctx, facts)
    if duplicate is not None:
        return duplicate
    ksef_number = ctx.ksef_number(facts.seller_nip, invoicing_day)
    offline = invoice["offlineMode"] or (facts.issue_date is not None and facts.issue_date < invoicing_day)
    invoice.update(ksefNumber=ksef_number, mode="Offline" if offline else "Online")
    remember_accepted(ctx, facts, ksef_number, session["reference"], invoice["reference"])
    return {"code": 200, "description": INVOICE_TEXTS[200]}


def _business_key(facts) -> str:
    return f"{facts.seller_nip}|{facts.kind}|{facts.number}"


def remember_accepted(ctx: SimContext, facts, ksef_number: str, session: str | None, invoice: str | None) -> None:
    """Record the business key of an accepted invoice (session None: delivered through /sim)."""
    ctx.store.put("accepted", _business_key(facts), {"ksefNumber": ksef_number, "session": session,
                                                     "invoice": invoice})


def duplicate_status(ctx: SimContext, facts) -> dict | None:
    """Return status 440 when the business key was already accepted (docs/ksef-protocol.md §11)."""
    original = ctx.store.get("accepted", _business_key(facts))
    if original is None:
        return None
    session = original["session"]  # None for an invoice delivered through /sim: no session to name
    extensions = {"originalSessionReferenceNumber": session} if session else {}
    return {"code": 440, "description": INVOICE_TEXTS[440],
            "details": [f"Duplikat faktury. Faktura o numerze KSeF: {original['ksefNumber']} została już "
                        f"prawidłowo przesłana do systemu" + (f" w sesji: {session}" if session else ".")],
            "extensions": extensions | {"originalKsefNumber": original["ksefNumber"]}}


def semantic_problems(ctx: SimContext, facts, invoicing_day: date) -> list[str]:
    """Return 450-style problems: P_1 missing or later than the day received, NIP checksums with check_nip."""
    problems = []
    if facts.issue_date is None:
        problems.append("Brak poprawnej daty wystawienia faktury (P_1).")
    elif facts.issue_date > invoicing_day:
        # docs/ksef-protocol.md §13.6: the code for P_1 later than acceptance is undocumented; 450 assumed.
        problems.append(f"Data wystawienia faktury (P_1) {facts.issue_date.isoformat()} jest późniejsza niż "
                        f"data przyjęcia faktury {invoicing_day.isoformat()}.")
    if ctx.options.check_nip:
        for label, nip in (("sprzedawcy (Podmiot1)", facts.seller_nip), ("nabywcy (Podmiot2)", facts.buyer_nip)):
            if nip is not None and not is_valid_nip(nip):
                problems.append(f"Nieprawidłowa suma kontrolna NIP {label}: {nip}.")
    return problems


def _status(code: int, *details: str) -> dict:
    return {"code": code, "description": INVOICE_TEXTS[code], "details": list(details)}


def visible_status(ctx: SimContext, invoice: dict) -> dict:
    """Return the status as seen now: 100, then 150 after half the delay, then the final one."""
    if invoice["final"] is not None:
        return invoice["final"]
    half = parse_iso(invoice["received"]) + ctx.delay / 2
    code = 150 if ctx.now() >= half else 100
    return {"code": code, "description": INVOICE_TEXTS[code]}


# -- batch archives: unpacked when the session's processing time has come (ksef-docs sesja-wsadowa.md) ---

def process_batch(ctx: SimContext, session: dict, now: datetime) -> None:
    """Decrypt, join, check and unpack the archive; process every invoice in archive order."""
    failure = _unpack(ctx, session)
    if isinstance(failure, tuple):
        code, detail = failure
        session.update(status=code, details=[detail], updated=iso(now))
        ctx.store.put("session", session["reference"], session)
        return
    created = parse_iso(session["created"])  # batch invoicingDate = session open time (docs/ksef-protocol.md §4)
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
