"""The /certificates endpoints (OpenAPI tag Certyfikaty; CIRFMF/ksef-docs certyfikaty-KSeF.md).

Certificates belong to the authenticated subject (its NIP, PESEL or fingerprint), not to the context.
Only a session that logged in with a signature may ask for enrollment data or enroll (25001, 25002: "Uwierzytelnienie
przy użyciu tokena systemowego KSeF nie pozwala na złożenie wniosku o certyfikat", certyfikaty-KSeF.md §2);
revoking is "not available to a subject authenticated with a KSeF token" (OpenAPI POST
/certificates/{certificateSerialNumber}/revoke), which the simulator answers as KSeF answers any operation
the authentication method may not use: 403 auth-method-not-allowed. Queries are refused the same way.
"""
from __future__ import annotations

import base64
import re

from cryptography import x509

from ksef_local.simulator.common import SimContext, SimError, bad_request, invalid, iso, parse_iso, unauthorized
from ksef_local.simulator.enrollment import (
    ENROLLMENT_TEXTS,
    LIMITS,
    active_count,
    checked_csr,
    enrollment_count,
    settle,
    status_of,
)
from ksef_local.simulator.subjects import enrollment_data

NAME = re.compile(r"[a-zA-Z0-9_\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]{5,100}")
SERIAL = re.compile(r"[0-9A-F]{16}")
TYPES = ("Authentication", "Offline")
STATUSES = ("Active", "Blocked", "Revoked", "Expired")
REASONS = ("Unspecified", "Superseded", "KeyCompromise")


class Caller:
    """Who calls a certificate endpoint: the access token's claims and the operation behind them."""

    def __init__(self, ctx: SimContext, bearer: str | None) -> None:
        if not bearer:
            raise unauthorized()
        self.claims = ctx.read_jwt(bearer, "access")
        self.operation = ctx.store.get("auth", self.claims["arn"]) or {}
        self.signed = self.claims.get("amc") == "XadesSignature"
        xades = self.operation.get("xades") or {}
        self.owner = {"type": xades["idType"], "value": xades["idValue"]} if self.signed \
            else {"type": "Nip", "value": self.claims["civ"]}

    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(base64.b64decode(self.operation["xades"]["certificate"]))

    def refuse_token(self) -> None:
        if not self.signed:
            raise SimError(403, reason_code="auth-method-not-allowed",
                           detail="Ta operacja nie jest dostępna dla użytej metody uwierzytelnienia.",
                           security={"authenticationMethodCategory": "Token"})


def limits(ctx: SimContext, bearer: str | None) -> dict:
    """GET /certificates/limits."""
    caller = Caller(ctx, bearer)
    enrollments, certificates = LIMITS[caller.owner["type"]]
    left_enrollments = max(0, enrollments - enrollment_count(ctx, caller.owner))
    left_certificates = max(0, certificates - active_count(ctx, caller.owner))
    return {"canRequest": caller.signed and left_enrollments > 0 and left_certificates > 0,
            "enrollment": {"remaining": left_enrollments, "limit": enrollments},
            "certificate": {"remaining": left_certificates, "limit": certificates}}


def enrollment_data_for(ctx: SimContext, bearer: str | None) -> dict:
    """GET /certificates/enrollments/data: the DN attributes of the certificate the session signed with."""
    caller = Caller(ctx, bearer)
    if not caller.signed:
        raise bad_request(25001, "Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia.")
    return enrollment_data(caller.certificate().subject)


def enroll(ctx: SimContext, bearer: str | None, body) -> dict:
    """POST /certificates/enrollments → 202 {referenceNumber, timestamp}."""
    caller = Caller(ctx, bearer)
    name, kind, csr_text, valid_from = _enrollment_fields(body)
    if not caller.signed:
        raise bad_request(25002, "Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu "
                                 "uwierzytelnienia.")
    checked_csr(csr_text, caller.certificate())
    enrollments, certificates = LIMITS[caller.owner["type"]]
    if enrollment_count(ctx, caller.owner) >= enrollments:
        raise bad_request(25006, "Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych.")
    if active_count(ctx, caller.owner) >= certificates:
        raise bad_request(25007, "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.")
    now = ctx.now()
    reference = ctx.reference("EH")
    ctx.store.put("enrollment", reference, {
        "reference": reference, "owner": caller.owner, "name": name, "type": kind, "csr": csr_text,
        "validFrom": valid_from, "requested": iso(now), "due": iso(now + ctx.delay), "serial": None,
        "status": {"code": 100, "description": ENROLLMENT_TEXTS[100]}})
    return {"referenceNumber": reference, "timestamp": iso(now)}


def _enrollment_fields(body) -> tuple[str, str, str, str | None]:
    if not isinstance(body, dict):
        raise invalid("Treść żądania musi być obiektem JSON.")
    name, kind, csr_text = body.get("certificateName"), body.get("certificateType"), body.get("csr")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise invalid("Pole 'certificateName' musi mieć 5-100 znaków: litery (także polskie), cyfry, _, - i spacje.")
    if kind not in TYPES:
        raise invalid("Pole 'certificateType' musi mieć wartość Authentication albo Offline.")
    if not isinstance(csr_text, str) or not csr_text:
        raise invalid("Pole 'csr' jest wymagane (PKCS#10 DER w Base64).")
    valid_from = body.get("validFrom")
    if valid_from is not None:
        try:
            valid_from = iso(parse_iso(str(valid_from)))
        except ValueError as exc:
            raise invalid("Pole 'validFrom' musi być datą i czasem ISO 8601.") from exc
    return name, kind, csr_text, valid_from


def enrollment_status(ctx: SimContext, bearer: str | None, reference: str) -> dict:
    """GET /certificates/enrollments/{ref}: 100, then 200 with the serial, or 400 rejected."""
    caller = Caller(ctx, bearer)
    settle(ctx)
    item = ctx.store.get("enrollment", reference)
    if item is None or item["owner"] != caller.owner:
        raise bad_request(25005, "Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje.")
    answer = {"requestDate": item["requested"], "status": item["status"]}
    if item["serial"]:
        answer["certificateSerialNumber"] = item["serial"]
    return answer


def retrieve(ctx: SimContext, bearer: str | None, body) -> dict:
    """POST /certificates/retrieve: the caller's certificates among the serials, DER in Base64."""
    caller = Caller(ctx, bearer)
    settle(ctx)
    serials = body.get("certificateSerialNumbers") if isinstance(body, dict) else None
    if not isinstance(serials, list) or not 1 <= len(serials) <= 10 or \
            any(not isinstance(s, str) or not SERIAL.fullmatch(s) for s in serials):
        raise invalid("Pole 'certificateSerialNumbers' musi zawierać od 1 do 10 numerów (16 znaków 0-9A-F).")
    found = [ctx.store.get("kcert", serial) for serial in serials]
    return {"certificates": [{"certificate": cert["der"], "certificateName": cert["name"],
                              "certificateSerialNumber": cert["serial"], "certificateType": cert["type"]}
                             for cert in found if cert and cert["owner"] == caller.owner]}


def query(ctx: SimContext, bearer: str | None, body, page_size: int, page_offset: int) -> dict:
    """POST /certificates/query: filters, newest request first, pages of 10-50."""
    caller = Caller(ctx, bearer)
    caller.refuse_token()
    settle(ctx)
    filters = _query_filters(body)
    if not 10 <= page_size <= 50 or page_offset < 0:
        raise invalid("Parametr 'pageSize' musi mieścić się w zakresie 10-50, a 'pageOffset' być nieujemny.")
    items = [cert for _, cert in ctx.store.items("kcert") if cert["owner"] == caller.owner and _matches(ctx, cert,
                                                                                                        filters)]
    items.sort(key=lambda cert: cert["requestDate"], reverse=True)
    page = items[page_offset * page_size:(page_offset + 1) * page_size]
    return {"certificates": [_list_item(ctx, cert) for cert in page],
            "hasMore": (page_offset + 1) * page_size < len(items)}


def _query_filters(body) -> dict:
    body = body if isinstance(body, dict) else {}
    serial, kind, status = body.get("certificateSerialNumber"), body.get("type"), body.get("status")
    if serial is not None and not (isinstance(serial, str) and SERIAL.fullmatch(serial)):
        raise invalid("Pole 'certificateSerialNumber' musi mieć 16 znaków 0-9A-F.")
    if kind is not None and kind not in TYPES:
        raise invalid("Pole 'type' musi mieć wartość Authentication albo Offline.")
    if status is not None and status not in STATUSES:
        raise invalid(f"Pole 'status' musi być jednym z: {', '.join(STATUSES)}.")
    expires_after = body.get("expiresAfter")
    try:
        expires_after = parse_iso(expires_after) if expires_after else None
    except (TypeError, ValueError) as exc:
        raise invalid("Pole 'expiresAfter' musi być datą i czasem ISO 8601.") from exc
    return {"serial": serial, "name": body.get("name"), "type": kind, "status": status, "expiresAfter": expires_after}


def _matches(ctx: SimContext, cert: dict, filters: dict) -> bool:
    return ((filters["serial"] is None or cert["serial"] == filters["serial"])
            and (not filters["name"] or str(filters["name"]) in cert["name"])
            and (filters["type"] is None or cert["type"] == filters["type"])
            and (filters["status"] is None or status_of(ctx, cert) == filters["status"])
            and (filters["expiresAfter"] is None or parse_iso(cert["validTo"]) > filters["expiresAfter"]))


def _list_item(ctx: SimContext, cert: dict) -> dict:
    item = {"certificateSerialNumber": cert["serial"], "name": cert["name"], "type": cert["type"],
            "commonName": cert["commonName"], "status": status_of(ctx, cert), "subjectIdentifier": cert["owner"],
            "validFrom": cert["validFrom"], "validTo": cert["validTo"], "requestDate": cert["requestDate"]}
    if cert["lastUseDate"]:
        item["lastUseDate"] = cert["lastUseDate"]
    return item


def revoke(ctx: SimContext, bearer: str | None, serial: str, body) -> None:
    """POST /certificates/{serial}/revoke → 204 (25008 unknown, 25009 no longer active)."""
    caller = Caller(ctx, bearer)
    caller.refuse_token()
    settle(ctx)
    reason = body.get("revocationReason") if isinstance(body, dict) else None
    if not SERIAL.fullmatch(serial) or (reason is not None and reason not in REASONS):
        raise invalid("Numer seryjny musi mieć 16 znaków 0-9A-F, a 'revocationReason' jedną z wartości: "
                      f"{', '.join(REASONS)}.")
    cert = ctx.store.get("kcert", serial)
    if cert is None or cert["owner"] != caller.owner:
        raise bad_request(25008, "Certyfikat o podanym numerze seryjnym nie istnieje.")
    if status_of(ctx, cert) != "Active":
        raise bad_request(25009, "Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, "
                                 "zablokowany lub nieważny.")
    cert.update(status="Revoked", revocationReason=reason or "Unspecified", revocationDate=iso(ctx.now()))
    ctx.store.put("kcert", serial, cert)
