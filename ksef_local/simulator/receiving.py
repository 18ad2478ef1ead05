"""The receiving side of KSeF's API: the metadata query, the download by KSeF number and the export routes.

OpenAPI 2.6.0 operations POST /invoices/query/metadata, GET /invoices/ksef/{ksefNumber}, POST /invoices/exports,
GET /invoices/exports/{referenceNumber} (tag "Pobieranie faktur"); ksef-docs pobieranie-faktur/*.md. Each
requires InvoiceRead in the context (x-required-permissions); rate-limit groups in limits.py.
"""
from __future__ import annotations

from flask import Response, request

from ksef_local.simulator import exports, received
from ksef_local.simulator.auth import access_claims
from ksef_local.simulator.common import SimContext, SimError, bad_request, invalid
from ksef_local.simulator.query import KSEF_NUMBER, beyond_hwm_error, parse_filters, select

READ = ("InvoiceRead",)
PAGE_SIZES = (10, 250)  # OpenAPI pageSize minimum and maximum
NOT_FOUND = (21164, "Faktura o podanym identyfikatorze nie istnieje.")
NOT_YET = (21165, "Faktura o podanym numerze KSeF nie jest jeszcze dostępna.")


def query_metadata(ctx: SimContext, bearer: str | None, body, page_offset: int, page_size: int,
                   sort_order: str) -> dict:
    """POST /invoices/query/metadata → QueryInvoicesMetadataResponse."""
    claims = access_claims(ctx, bearer, READ)
    if not PAGE_SIZES[0] <= page_size <= PAGE_SIZES[1]:
        raise invalid(f"Parametr 'pageSize' musi mieścić się w zakresie {PAGE_SIZES[0]}-{PAGE_SIZES[1]}.")
    if page_offset < 0:
        raise invalid("Parametr 'pageOffset' nie może być ujemny.")
    if sort_order not in ("Asc", "Desc"):
        raise invalid("Parametr 'sortOrder' musi mieć wartość Asc albo Desc.")
    now = ctx.now()
    filters = parse_filters(body, now)
    selection = select(ctx, filters, claims["civ"], now)
    if selection.beyond_hwm:
        raise beyond_hwm_error()
    ordered = selection.records[::-1] if sort_order == "Desc" else selection.records
    cap = ctx.options.result_cap
    start = page_offset * page_size  # pageOffset counts pages: "0 = pierwsza strona"
    if start >= cap:
        # KSeF answers so from the record of number 10 000 on (CIRFMF/ksef-api #165).
        raise invalid(f"Nie można pobrać faktur od pozycji {cap} wzwyż. Zawęź filtry (dateRange).")
    end = start + page_size
    page = ordered[:cap][start:end]
    # OpenAPI: hasMore and isTruncated both true → narrow dateRange from the last record; isTruncated false →
    # turn the page. So isTruncated is set on the page that reaches the cap while more records match.
    return {"hasMore": end < len(ordered), "isTruncated": len(ordered) > cap and end >= cap,
            "permanentStorageHwmDate": selection.hwm, "invoices": [record["metadata"] for record in page]}


def download(ctx: SimContext, bearer: str | None, ksef_number: str) -> Response:
    """GET /invoices/ksef/{ksefNumber}: the XML as received, x-ms-meta-hash = its SHA-256 (Base64)."""
    claims = access_claims(ctx, bearer, READ)
    if not KSEF_NUMBER.fullmatch(ksef_number):
        raise invalid(f"Numer KSeF {ksef_number} ma nieprawidłowy format.")
    record = received.record_of(ctx, ksef_number)
    if record is None:
        raise bad_request(*NOT_FOUND, f"Faktura o numerze KSeF {ksef_number} nie została znaleziona.")
    if not received.is_entitled(record, claims["civ"]):
        # KSeF checks that the context appears on the invoice (CIRFMF/ksef-api #841) and answers 403.
        raise SimError(403, reason_code="insufficient-resource-access", detail="Brak dostępu do wskazanego zasobu.")
    if not received.is_stored(record, ctx.now()):
        raise bad_request(*NOT_YET, f"Faktura o numerze KSeF {ksef_number} została przetworzona, ale nie jest "
                                    "jeszcze dostępna do pobrania. Spróbuj ponownie później.")
    xml = received.xml_of(ctx, ksef_number)
    return Response(xml, 200, {"x-ms-meta-hash": record["metadata"]["invoiceHash"]}, content_type="application/xml")


def register(route, ctx: SimContext, bearer, body) -> None:
    """Add the receiving endpoints to the simulator's /v2 API (app.py's route wrapper: lock, tick, JSON)."""

    @route("/invoices/query/metadata", ["POST"])
    def query_invoice_metadata():
        return query_metadata(ctx, bearer(), body(), _int_arg("pageOffset", 0), _int_arg("pageSize", 10),
                              request.args.get("sortOrder", "Asc"))

    @route("/invoices/ksef/<ksef_number>", ["GET"])
    def download_invoice(ksef_number):
        return download(ctx, bearer(), ksef_number)

    @route("/invoices/exports", ["POST"], 201)
    def start_export():
        return exports.start_export(ctx, bearer(), body())

    @route("/invoices/exports/<reference>", ["GET"])
    def export_status(reference):
        return exports.export_status(ctx, bearer(), reference, request.host_url)


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError as exc:
        raise invalid(f"Parametr '{name}' musi być liczbą.") from exc
