"""The simulator's WSGI app: KSeF's API under /v2, pre-signed storage links, Latarnia, QR pages, /sim.

Routes, JSON fields, status codes and error bodies follow the official OpenAPI 2.6.0 (CIRFMF/ksef-docs
open-api.json; docs/ksef-protocol.md §7): 400 as the legacy ExceptionResponse, or problem+json with
X-Error-Format: problem-details; 401/403 always problem+json; 429 with Retry-After. Everything under /sim is
simulator-only, not part of KSeF.
"""
from __future__ import annotations

import base64
import json
import os
import socket
from collections import Counter

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ksef_local.clock import utc_now
from ksef_local.simulator import auth as sim_auth
from ksef_local.simulator import batch as sim_batch
from ksef_local.simulator import certificates as sim_certificates
from ksef_local.simulator import pages as sim_pages
from ksef_local.simulator import receiving as sim_receiving
from ksef_local.simulator import sessions as sim_sessions
from ksef_local.simulator import sim_routes, xades_auth
from ksef_local.simulator import upo as sim_upo
from ksef_local.simulator.common import SimContext, SimError, SimulatorOptions, invalid, iso
from ksef_local.simulator.faults import SESSION_FAULTS, Faults, session_fault
from ksef_local.simulator.limits import RateLimiter, group_of
from ksef_local.simulator.processing import tick
from ksef_local.simulator.store import MemoryStore, SqliteStore

PROBLEM = "application/problem+json"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          410: "Gone", 429: "Too Many Requests"}


class Simulator:
    """Everything one simulator app holds; reachable as app.extensions["ksef_simulator"]."""

    def __init__(self, options: SimulatorOptions) -> None:
        store = SqliteStore(options.state_file) if options.state_file else MemoryStore()
        self.ctx = SimContext(options, store)
        self.limiter = RateLimiter(enabled=options.limits != "off")
        self.faults = Faults()
        self.requests = Counter()

    def close(self) -> None:
        self.faults.stopping.set()
        self.ctx.store.close()


def build_app(options: SimulatorOptions | None = None) -> Flask:
    """Return the simulator's Flask app for these options."""
    sim = Simulator(options or SimulatorOptions())
    app = Flask("ksef_local.simulator")
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["ksef_simulator"] = sim
    app.before_request(lambda: _before(sim))
    app.after_request(_after)
    app.register_error_handler(SimError, lambda exc: error_response(sim.ctx, exc))
    app.register_error_handler(HTTPException, lambda exc: _http_error(sim.ctx, exc))
    _register_api(app, sim)
    sim_pages.register(app, sim)
    sim_routes.register(app, sim)
    return app


# -- cross-cutting: counts, faults, rate limits, lazy processing --------------------------------------

def _before(sim: Simulator):
    path = request.path
    if not path.startswith("/v2/"):
        return None
    api_path = path[3:]
    group = group_of(request.method, api_path)
    sim.requests[group] += 1
    fault_answer = _apply_faults(sim, path)
    if fault_answer is not None:
        return fault_answer
    refusal = sim.limiter.check(_subject(group), group, sim.ctx.now())
    if refusal is not None:
        return _too_many(refusal)
    return None


def _subject(group: str) -> str:
    """Rate-limit key: client IP, plus the context read from the bearer token (unverified, keying only)."""
    ip = request.remote_addr or "-"
    if group in ("public", "anonymous"):
        return ip
    try:
        payload = (request.headers.get("Authorization", "").split(" ", 1)[1]).split(".")[1]
        context = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("civ", "")
    except (IndexError, ValueError):
        context = ""
    return f"{context}|{ip}"


def _apply_faults(sim: Simulator, path: str):
    plan = sim.faults.plan
    if plan.latency_ms:
        sim.faults.wait(plan.latency_ms / 1000)
    kind = plan.next_fault(path, request.method)
    if kind is None:
        return None
    if kind == "502":
        html = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
        return Response(html, 502, content_type="text/html")
    if kind in ("500", "503"):
        return Response(json.dumps({"title": TITLES.get(int(kind), "Error"), "status": int(kind)}), int(kind),
                        content_type="application/json")
    if kind in SESSION_FAULTS:
        error = session_fault(kind, path)
        if plan.after_processing:
            g.replace_answer = (sim.ctx, error)   # processed as usual, then answered with the error
            return None
        return error_response(sim.ctx, error)
    if kind == "drop" and plan.after_processing:
        g.drop_after = True  # the request is processed, only the answer is lost (docs/field-notes.md)
        return None
    if kind == "timeout":
        sim.faults.wait(plan.timeout_seconds)
    _drop_connection()
    return Response(status=500)  # not seen: the connection is gone


def _after(response: Response) -> Response:
    if g.get("drop_after"):
        _drop_connection()
    replaced = g.get("replace_answer")
    if replaced is not None and response.status_code < 300:
        return error_response(*replaced)
    return response


def _drop_connection() -> None:
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the client


def _too_many(refusal) -> Response:
    headers = {"Retry-After": str(refusal.retry_after)}
    if request.headers.get("X-Error-Format") == "problem-details":
        body = _problem_base(429) | {"detail": refusal.detail}
        return Response(json.dumps(body, ensure_ascii=False), 429, headers, content_type=PROBLEM)
    body = {"status": {"code": 429, "description": "Too Many Requests", "details": [refusal.detail]}}
    return Response(json.dumps(body, ensure_ascii=False), 429, headers, content_type="application/json")


# -- error bodies (docs/ksef-protocol.md §7) --------------------------------------------------------

def _problem_base(status: int) -> dict:
    return {"title": TITLES.get(status, "Error"), "status": status, "instance": request.path,
            "timestamp": iso(utc_now()), "traceId": base64.b16encode(_trace_bytes()).decode("ascii").lower()}


def _trace_bytes() -> bytes:
    return os.urandom(16)


def error_response(ctx: SimContext, exc: SimError) -> Response:
    """Render a SimError in the format KSeF uses for its status code."""
    if exc.http_status == 400 and request.headers.get("X-Error-Format") != "problem-details":
        body = {"exception": {
            "exceptionDetailList": [{"exceptionCode": exc.code, "exceptionDescription": exc.description,
                                     "details": exc.details or None}],
            "serviceCode": base64.b16encode(_trace_bytes()).decode("ascii").lower(),
            "serviceCtx": "srvKSEFSIM", "serviceName": "ksef-local-simulator", "timestamp": iso(ctx.now())}}
        return Response(json.dumps(body, ensure_ascii=False), 400, content_type="application/json")
    body = _problem_base(exc.http_status)
    if exc.http_status == 400:
        body.update(detail="Żądanie jest nieprawidłowe.",
                    errors=[{"code": exc.code, "description": exc.description, "details": exc.details or None}])
    else:
        body["detail"] = exc.detail or exc.description or TITLES.get(exc.http_status, "Error")
    if exc.reason_code:
        body["reasonCode"] = exc.reason_code
        body["security"] = exc.security
    return Response(json.dumps(body, ensure_ascii=False), exc.http_status, content_type=PROBLEM)


def _http_error(ctx: SimContext, exc: HTTPException) -> Response:
    if exc.code == 400:  # e.g. a body that is not JSON
        return error_response(ctx, invalid("Treść żądania nie jest poprawnym dokumentem JSON."))
    body = _problem_base(exc.code or 500) | {"detail": exc.description or ""}
    return Response(json.dumps(body, ensure_ascii=False), exc.code or 500, content_type=PROBLEM)


# -- the KSeF API -------------------------------------------------------------------------------------

def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def _body() -> dict:
    data = request.get_json(force=True, silent=False) if request.data else {}
    return data if isinstance(data, dict) else {}


def _base_url() -> str:
    return request.host_url


def _register_api(app: Flask, sim: Simulator) -> None:
    ctx = sim.ctx

    def route(rule: str, methods: list[str], status: int = 200):
        def wrap(handler):
            def view(**kwargs):
                with ctx.lock:
                    tick(ctx)
                    result = handler(**kwargs)
                if isinstance(result, Response):
                    return result
                if result is None:
                    return Response(status=204)
                response = jsonify(result)
                response.status_code = status
                return response
            view.__name__ = handler.__name__
            app.add_url_rule(f"/v2{rule}", view_func=view, methods=methods)
            return handler
        return wrap

    @route("/security/public-key-certificates", ["GET"])
    def certificates():
        return sim_auth.public_key_certificates(ctx)

    @route("/auth/challenge", ["POST"])
    def challenge():
        return sim_auth.challenge(ctx, request.remote_addr or "127.0.0.1")

    @route("/auth/ksef-token", ["POST"], 202)
    def ksef_token():
        return sim_auth.init_token_auth(ctx, _body())

    @route("/auth/xades-signature", ["POST"], 202)
    def xades_signature():
        if request.mimetype not in ("application/xml", "text/xml"):
            raise invalid("Treść żądania musi mieć typ application/xml.")
        answer, warning = xades_auth.init_xades_auth(ctx, request.get_data(), _flag("verifyCertificateChain"))
        response = jsonify(answer)
        response.status_code = 202
        if warning:
            response.headers["X-System-Warning"] = warning
        return response

    @route("/auth/<reference>", ["GET"])
    def auth_status(reference):
        return sim_auth.auth_status(ctx, _bearer(), reference)

    @route("/auth/token/redeem", ["POST"])
    def redeem():
        return sim_auth.redeem(ctx, _bearer())

    @route("/auth/token/refresh", ["POST"])
    def refresh():
        return sim_auth.refresh(ctx, _bearer())

    _register_certificates(route, ctx)
    sim_receiving.register(route, ctx, _bearer, _body)

    @route("/sessions/online", ["POST"], 201)
    def open_online():
        return sim_sessions.open_online(ctx, _bearer(), _body())

    @route("/sessions/online/<reference>/invoices", ["POST"], 202)
    def send_invoice(reference):
        return sim_sessions.send_invoice(ctx, _bearer(), reference, _body())

    @route("/sessions/online/<reference>/close", ["POST"])
    def close_online(reference):
        sim_sessions.close_online(ctx, _bearer(), reference)

    @route("/sessions/batch", ["POST"], 201)
    def open_batch():
        return sim_batch.open_batch(ctx, _bearer(), _body(), _base_url())

    @route("/sessions/batch/<reference>/close", ["POST"])
    def close_batch(reference):
        sim_batch.close_batch(ctx, _bearer(), reference)

    @route("/sessions", ["GET"])
    def list_sessions():
        return sim_sessions.list_sessions(ctx, _bearer(), request.args, request.headers.get("x-continuation-token"))

    @route("/sessions/<reference>", ["GET"])
    def session_status(reference):
        return sim_sessions.session_status(ctx, _bearer(), reference, _base_url())

    def _list(reference, failed_only):
        try:
            page_size = int(request.args.get("pageSize", 10))
        except ValueError as exc:
            raise invalid("Parametr 'pageSize' musi być liczbą.") from exc
        return sim_sessions.session_invoices(ctx, _bearer(), reference, _base_url(), failed_only=failed_only,
                                             page_size=page_size,
                                             continuation=request.headers.get("x-continuation-token"))

    @route("/sessions/<reference>/invoices", ["GET"])
    def session_invoices(reference):
        return _list(reference, False)

    @route("/sessions/<reference>/invoices/failed", ["GET"])
    def session_failed_invoices(reference):
        return _list(reference, True)

    @route("/sessions/<reference>/invoices/<invoice_ref>", ["GET"])
    def invoice_status(reference, invoice_ref):
        return sim_sessions.invoice_status(ctx, _bearer(), reference, invoice_ref, _base_url())

    @route("/sessions/<reference>/invoices/<invoice_ref>/upo", ["GET"])
    def invoice_upo(reference, invoice_ref):
        return _xml(sim_upo.upo_for_request(ctx, _bearer(), reference, invoice_ref=invoice_ref))

    @route("/sessions/<reference>/invoices/ksef/<ksef_number>/upo", ["GET"])
    def invoice_upo_by_ksef(reference, ksef_number):
        return _xml(sim_upo.upo_for_request(ctx, _bearer(), reference, ksef_number=ksef_number))

    @route("/sessions/<reference>/upo/<upo_ref>", ["GET"])
    def session_upo(reference, upo_ref):
        return _xml(sim_upo.upo_for_request(ctx, _bearer(), reference, upo_ref=upo_ref))


def _register_certificates(route, ctx: SimContext) -> None:
    """The /certificates endpoints (certificates.py)."""

    @route("/certificates/limits", ["GET"])
    def certificate_limits():
        return sim_certificates.limits(ctx, _bearer())

    @route("/certificates/enrollments/data", ["GET"])
    def enrollment_data():
        return sim_certificates.enrollment_data_for(ctx, _bearer())

    @route("/certificates/enrollments", ["POST"], 202)
    def enroll():
        return sim_certificates.enroll(ctx, _bearer(), _body())

    @route("/certificates/enrollments/<reference>", ["GET"])
    def enrollment_status(reference):
        return sim_certificates.enrollment_status(ctx, _bearer(), reference)

    @route("/certificates/retrieve", ["POST"])
    def retrieve_certificates():
        return sim_certificates.retrieve(ctx, _bearer(), _body())

    @route("/certificates/query", ["POST"])
    def query_certificates():
        return sim_certificates.query(ctx, _bearer(), _body(), _int_arg("pageSize", 10), _int_arg("pageOffset", 0))

    @route("/certificates/<serial>/revoke", ["POST"])
    def revoke_certificate(serial):
        sim_certificates.revoke(ctx, _bearer(), serial, _body())


def _flag(name: str) -> bool:
    value = request.args.get(name)
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise invalid(f"Parametr '{name}' musi mieć wartość true albo false.")


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError as exc:
        raise invalid(f"Parametr '{name}' musi być liczbą.") from exc


def _xml(document: bytes) -> Response:
    return Response(document, 200, {"x-ms-meta-hash": sim_upo.upo_hash(document)}, content_type="application/xml")
