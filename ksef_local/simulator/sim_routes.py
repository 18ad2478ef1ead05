"""Simulator-only endpoints for certificate login (not part of KSeF; docs/simulator.md).

/sim/permissions grants permissions to a NIP, PESEL or certificate fingerprint; /sim/options changes the
token cut-off and delays at run time; /sim/auth-outcome forces the next XAdES logins' status;
/sim/certificates issues demonstration seal/signature certificates and shortens KSeF certificates;
/sim/invoices, /sim/invoices/bulk and /sim/demo-purchases deliver purchase invoices from any seller.
"""
from __future__ import annotations

from flask import Flask, Response, jsonify, request

from ksef_local.simulator import deliveries, demo_purchases, democerts, enrollment, permissions, tokens, xades_auth
from ksef_local.simulator.common import SimContext, bad_request, invalid, parse_iso
from ksef_local.simulator.processing import tick


def register(app: Flask, sim) -> None:
    """Add the /sim routes of certificate login to the simulator app."""
    ctx = sim.ctx

    def answer(handler, *args, status: int = 200):
        with ctx.lock:
            tick(ctx)
            response = jsonify(handler(ctx, *args))
        response.status_code = status
        return response

    @app.post("/sim/permissions")
    def sim_permissions():
        return answer(permissions.grant, _json(), status=201)

    @app.get("/sim/options")
    def sim_get_options():
        return answer(lambda c: tokens.options_json(c))

    @app.post("/sim/options")
    def sim_options():
        return answer(tokens.set_options, _json())

    @app.post("/sim/auth-outcome")
    def sim_auth_outcome():
        return answer(xades_auth.set_outcome, _json())

    @app.delete("/sim/auth-outcome")
    def sim_clear_auth_outcome():
        with ctx.lock:
            xades_auth.clear_outcome(ctx)
        return Response(status=204)

    @app.post("/sim/certificates")
    def sim_demo_certificate():
        return answer(democerts.issue_demo_certificate, _json(), status=201)

    @app.put("/sim/certificates/<serial>")
    def sim_shorten_certificate(serial):
        return answer(shorten, serial, _json())

    # -- purchase invoices from any seller (deliveries.py, demo_purchases.py) ---------------------------

    @app.post("/sim/invoices")
    def sim_deliver_invoice():
        return answer(deliveries.deliver, _json(), status=201)

    @app.post("/sim/invoices/bulk")
    def sim_deliver_bulk():
        return answer(deliveries.deliver_bulk, _json(), status=201)

    @app.post("/sim/demo-purchases")
    def sim_demo_purchases():
        with ctx.lock:
            tick(ctx)
            made, is_new = demo_purchases.demo_purchases(ctx, _json())
        response = jsonify(made | {"created": is_new})
        response.status_code = 201 if is_new else 200
        return response

    app.register_error_handler(deliveries.Refused, _refused)


def _refused(exc: deliveries.Refused):
    """A refused delivery: 422 with the status KSeF would give the invoice (StatusInfo of a session invoice)."""
    response = jsonify({"status": exc.status})
    response.status_code = 422
    return response


def shorten(ctx: SimContext, serial: str, body) -> dict:
    """PUT /sim/certificates/{serial} {"validTo"}: end a KSeF certificate earlier (TEST 2.7 has
    PUT /testdata/certificates/{serialNumber} for this; the new date may not be later than the current one)."""
    enrollment.settle(ctx)
    record = ctx.store.get("kcert", serial)
    if record is None:
        raise bad_request(25008, "Certyfikat o podanym numerze seryjnym nie istnieje.")
    try:
        valid_to = parse_iso(str((body or {}).get("validTo")))
    except ValueError as exc:
        raise invalid("Pole 'validTo' musi być datą i czasem ISO 8601 ze strefą.") from exc
    if valid_to.tzinfo is None or valid_to > parse_iso(record["validTo"]):
        raise invalid("Nowa data ważności nie może być późniejsza niż obecna (i musi mieć strefę czasową).")
    record = enrollment.reissue(ctx, record, valid_to)
    return {"certificateSerialNumber": serial, "validTo": record["validTo"]}


def _json():
    body = request.get_json(force=True, silent=True)
    return body if body is not None else {}
