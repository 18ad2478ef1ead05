"""Simulator routes outside /v2: storage links, Latarnia, QR verification pages and /sim (not KSeF)."""
from __future__ import annotations

import base64
from collections import defaultdict
from datetime import datetime
from html import escape

from flask import Flask, Response, jsonify, request

from ksef_local.ksef import crypto
from ksef_local.simulator import auth as sim_auth
from ksef_local.simulator import batch as sim_batch
from ksef_local.simulator import exports as sim_exports
from ksef_local.simulator import kod2, received
from ksef_local.simulator import upo as sim_upo
from ksef_local.simulator.common import invalid
from ksef_local.simulator.faults import latarnia_state
from ksef_local.simulator.processing import tick


def register(app: Flask, sim) -> None:
    """Add the non-API routes to the simulator app."""
    ctx = sim.ctx

    def locked(handler, *args):
        with ctx.lock:
            tick(ctx)
            return handler(*args)

    # -- pre-signed storage links (docs/ksef-protocol.md §3.8, §4 step 5): no Authorization ----------

    @app.put("/storage/batch/<reference>/<int:ordinal>")
    def upload_part(reference, ordinal):
        locked(sim_batch.upload_part, ctx, reference, ordinal, request.args.get("sig", ""), request.get_data())
        return Response(status=201)

    @app.get("/storage/export/<reference>/<int:ordinal>")
    def presigned_export_part(reference, ordinal):
        data = locked(sim_exports.download_part, ctx, reference, ordinal, request.args.get("se", ""),
                      request.args.get("sig", ""))
        # InvoicePackagePart.url: the answer carries x-ms-meta-hash of the encrypted part
        return Response(data, 200, {"x-ms-meta-hash": crypto.sha256_b64(data)}, content_type="application/octet-stream")

    @app.get("/storage/upo/<session_ref>/<upo_ref>")
    def presigned_upo(session_ref, upo_ref):
        xml = locked(sim_upo.presigned_upo, ctx, session_ref, upo_ref, request.args.get("se", ""),
                     request.args.get("sig", ""))
        return Response(xml, 200, {"x-ms-meta-hash": sim_upo.upo_hash(xml)}, content_type="application/xml")

    # -- Latarnia (docs/ksef-protocol.md §1.1) --------------------------------------------------------

    @app.get("/latarnia/status")
    def latarnia_status():
        state = locked(latarnia_state, ctx)
        active = [m for m in state["messages"] if m["type"] != "FAILURE_END"] if state["status"] != "AVAILABLE" else []
        return jsonify({"status": state["status"], "messages": active[-5:]})

    @app.get("/latarnia/messages")
    def latarnia_messages():
        return jsonify(locked(latarnia_state, ctx)["messages"])

    # -- QR verification pages (ksef-docs kody-qr.md) -------------------------------------------------

    @app.get("/invoice/<nip>/<issue_date>/<digest>")
    def verify_invoice(nip, issue_date, digest):
        found = locked(_find_invoice, ctx, nip, issue_date, digest)
        if found:
            body = (f"<h1>Faktura znajduje się w KSeF</h1><p>Numer KSeF: {escape(found['ksefNumber'])}</p>"
                    f"<p>Numer faktury: {escape(found['number'] or '')}</p>")
        else:
            body = "<h1>Faktura nie została znaleziona w KSeF</h1>"
        return _page("Weryfikacja faktury", body)

    @app.get("/certificate/<ctx_type>/<ctx_value>/<nip>/<serial>/<digest>/<signature>")
    def verify_certificate(ctx_type, ctx_value, nip, serial, digest, signature):
        signed_text = f"{request.host}/certificate/{ctx_type}/{ctx_value}/{nip}/{serial}/{digest}"
        parts = {"ctx_type": ctx_type, "ctx_value": ctx_value, "nip": nip, "serial": serial, "signature": signature}
        lines = locked(kod2.check_link, ctx, signed_text, parts)
        verdict = "Certyfikat zweryfikowany pozytywnie" if all(line.ok for line in lines) \
            else "Weryfikacja certyfikatu zakończona negatywnie"
        items = "".join(f'<li class="{"ok" if line.ok else "blad"}">{escape(line.text)}</li>' for line in lines)
        body = (f"<h1>{verdict}</h1><p>Numer seryjny certyfikatu: {escape(serial)}</p>"
                f"<p>NIP sprzedawcy: {escape(nip)}; kontekst: {escape(ctx_type)} {escape(ctx_value)}</p>"
                f"<ul>{items}</ul>")
        return _page("Weryfikacja certyfikatu", body)

    # -- /sim: simulator-only, not part of KSeF ------------------------------------------------------

    @app.post("/sim/tokens")
    def sim_create_token():
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            raise invalid("Treść musi być obiektem JSON z polem 'nip'.")
        response = jsonify(locked(sim_auth.create_token, ctx, body))
        response.status_code = 201
        return response

    @app.delete("/sim/tokens/<path:token>")
    def sim_revoke_token(token):
        locked(sim_auth.revoke_token, ctx, token)
        return Response(status=204)

    @app.post("/sim/faults")
    def sim_faults():
        body = request.get_json(force=True, silent=True)
        return jsonify(locked(sim.faults.configure, ctx, body))

    @app.delete("/sim/faults")
    def sim_clear_faults():
        with ctx.lock:
            sim.faults.configure(ctx, {})
        return Response(status=204)

    @app.get("/sim/state")
    def sim_state():
        report = locked(state_report, ctx)
        report["requests"] = dict(sim.requests)
        return jsonify(report)


def _page(title: str, body: str) -> Response:
    html = (f"<!doctype html><html lang=\"pl\"><head><meta charset=\"utf-8\"><title>{title}</title></head>"
            f"<body>{body}<p><small>Symulator ksef-local — to nie jest strona KSeF.</small></p></body></html>")
    return Response(html, 200, content_type="text/html; charset=utf-8")


def _find_invoice(ctx, nip: str, issue_date: str, digest: str) -> dict | None:
    """Find an accepted invoice by seller, P_1 and hash in the received index (session or /sim deliveries)."""
    try:
        day = datetime.strptime(issue_date, "%d-%m-%Y").date().isoformat()
        invoice_hash = base64.b64encode(base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4))).decode("ascii")
    except ValueError:
        return None
    for _, record in ctx.store.items(received.KIND):
        metadata = record["metadata"]
        if (metadata["seller"]["nip"], metadata["issueDate"], metadata["invoiceHash"]) == (nip, day, invoice_hash):
            return {"ksefNumber": metadata["ksefNumber"], "number": metadata["invoiceNumber"]}
    return None


def state_report(ctx) -> dict:
    """GET /sim/state: per NIP accepted and rejected invoices and refused duplicates."""
    by_nip: dict[str, dict] = defaultdict(lambda: {"accepted": [], "rejected": [], "duplicatesRefused": 0})
    for _, invoice in ctx.store.items("invoice"):
        session = ctx.store.get("session", invoice["session"])
        entry = by_nip[invoice["sellerNip"] or session["nip"]]
        final = invoice["final"]
        if final is None:
            continue
        if final["code"] == 200:
            entry["accepted"].append({"invoiceNumber": invoice["number"], "ksefNumber": invoice["ksefNumber"],
                                      "invoiceHash": invoice["hash"], "offline": invoice["mode"] == "Offline",
                                      "invoicingMode": invoice["mode"], "session": invoice["session"]})
        else:
            if final["code"] == 440:
                entry["duplicatesRefused"] += 1
            entry["rejected"].append({"invoiceNumber": invoice["number"], "invoiceHash": invoice["hash"],
                                      "code": final["code"], "description": final["description"],
                                      "details": final.get("details") or []})
    return {"nips": dict(by_nip)}
