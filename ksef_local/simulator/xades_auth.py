"""POST /auth/xades-signature: a signed AuthTokenRequest starts an authentication operation.

Synchronous checks answer 400 (OpenAPI operation POST /auth/xades-signature: 21001, 21217, 21401, 9101,
9102, 9103, 9105, 21111, 21115, 21117, 21406); what KSeF decides after the 202 (validity, trust,
revocation, permissions: auth statuses 460 and 415, CIRFMF/ksef-docs uwierzytelnianie.md) is decided
here at once and shown after a delay: the processing delay for KSeF certificates, `xades_delay_ms` for
the others, whose OCSP/CRL checks take a while in KSeF. GET /auth/{ref}, redeem and refresh are the
token flow's (auth.py).
"""
from __future__ import annotations

from datetime import timedelta

from cryptography.hazmat.primitives import serialization

from ksef_local.ksef import crypto
from ksef_local.simulator import authrequest, ca, xades
from ksef_local.simulator.auth import CHALLENGE_LIFETIME, new_operation
from ksef_local.simulator.common import SimContext, bad_request, invalid, iso, parse_iso
from ksef_local.simulator.enrollment import status_of
from ksef_local.simulator.permissions import permissions_for
from ksef_local.simulator.subjects import Identity, identify

# AuthenticationMethod (OAS enum; deprecated) and AuthenticationMethodInfo. Only "xades.qualified-seal" is
# shown in the official OpenAPI (example of GET /auth/sessions); the other codes follow its pattern.
METHODS = {
    "seal": ("QualifiedSeal", "xades.qualified-seal", "Pieczęć kwalifikowana"),
    "person": ("QualifiedSignature", "xades.qualified-signature", "Podpis kwalifikowany"),
    "fingerprint": ("QualifiedSignature", "xades.qualified-signature", "Podpis kwalifikowany"),
    "ksef": ("InternalCertificate", "xades.internal-certificate", "Certyfikat KSeF"),
}
FORCEABLE = {460: "Niepoprawny certyfikat", 470: "Próba wykorzystania metod autoryzacyjnych osoby zmarłej",
             480: "Podejrzenie incydentu bezpieczeństwa. Skontaktuj się z Ministerstwem Finansów przez "
                  "formularz zgłoszeniowy.", 415: "Brak przypisanych uprawnień", 500: "Nieznany błąd"}


def init_xades_auth(ctx: SimContext, raw: bytes, verify_chain: bool) -> tuple[dict, str | None]:
    """Check the signed document; return (AuthenticationInitResponse, X-System-Warning or None)."""
    if not raw.strip():
        raise bad_request(21001, "Nieczytelna treść.", "Treść żądania jest pusta.")
    root = authrequest.parse_document(raw)
    xades.the_signature(root)
    element = authrequest.signed_request_element(root)
    request = authrequest.check_request(element)
    verified = xades.verify(raw, root, element)
    challenge = _fresh_challenge(ctx, request.challenge)
    certificate = verified.certificate
    issuer = ca.issuer_of(ctx, certificate)
    record = ctx.store.get("kcert", ca.serial_text(certificate)) if issuer == "ksef" else None
    identity = _identity(certificate, request.subject_type, record)
    _check_context(request, identity)
    challenge["used"] = True
    ctx.store.put("challenge", request.challenge, challenge)
    code, details = _decide(ctx, request, certificate, identity, record, issuer, verify_chain)
    kind = "ksef" if record else identity.kind
    delay = ctx.delay if record else timedelta(milliseconds=_xades_delay_ms(ctx))
    method, method_code, display = METHODS[kind]
    answer, operation = new_operation(ctx, code, details, request.context_type, request.context_value, delay)
    operation.update(method="xades", tokenRef=None, permissions=permissions_for(
        ctx, request.context_type, request.context_value, identity) if code == 200 else [],
        xades={"method": method, "code": method_code, "displayName": display, "fingerprint": identity.fingerprint,
               "idType": identity.id_type, "idValue": identity.id_value, "kind": kind,
               "serial": record["serial"] if record else None, "issuer": issuer,
               "certificate": crypto.b64(certificate.public_bytes(serialization.Encoding.DER)),
               "documentHash": crypto.sha256_b64(raw)})
    ctx.store.put("auth", operation["reference"], operation)
    if record and code == 200:
        record["lastUseDate"] = iso(ctx.now())
        ctx.store.put("kcert", record["serial"], record)
    return answer, _take_warning(ctx)


def _fresh_challenge(ctx: SimContext, value: str) -> dict:
    found = ctx.store.get("challenge", value)
    if found is None or found["used"] or ctx.now() - parse_iso(found["created"]) > CHALLENGE_LIFETIME:
        raise bad_request(21111, "Nieprawidłowe wyzwanie autoryzacyjne.",
                          "Wyzwanie jest nieznane, zostało już użyte albo minęło 10 minut od jego wydania.")
    return found


def _identity(certificate, subject_type: str, record: dict | None) -> Identity:
    """KSeF certificates identify whom they were issued to (21406 with certificateFingerprint)."""
    if record is None:
        return identify(certificate, subject_type)
    if subject_type == "certificateFingerprint":
        raise bad_request(21406, "Konflikt podpisu i typu uwierzytelnienia.",
                          "Certyfikat KSeF identyfikuje podmiot, dla którego go wydano; użyj certificateSubject.")
    owner = record["owner"]
    return Identity("ksef", owner["type"], owner["value"], record["fingerprint"])


def _check_context(request: authrequest.AuthRequest, identity: Identity) -> None:
    """21117: a Peppol provider's context needs the provider's own seal (simulator's reading, docs/simulator.md)."""
    if request.context_type == "PeppolId" and identity.kind != "seal":
        raise bad_request(21117, "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
                          f"Kontekst PeppolId wymaga pieczęci dostawcy; podmiot {identity.id_type} nie pasuje.")


def _decide(ctx, request, certificate, identity, record, issuer, verify_chain) -> tuple[int, list[str]]:
    """Return the final auth status and details, as KSeF would after its certificate checks."""
    forced = _take_forced(ctx)
    if forced is not None:
        return forced
    now = ctx.now()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return 460, ["Nieważny certyfikat"]
    if record is not None:
        if record["status"] == "Revoked":
            return 460, ["Certyfikat odwołany"]
        if status_of(ctx, record) == "Expired":
            return 460, ["Nieważny certyfikat"]
        if record["type"] != "Authentication":
            return 460, ["Niepoprawny certyfikat"]
    elif verify_chain and issuer is None:
        return 460, ["Niezaufany łańcuch certyfikatów"]
    if not permissions_for(ctx, request.context_type, request.context_value, identity):
        return 415, ["Brak przypisanych uprawnień"]
    return 200, []


def _xades_delay_ms(ctx: SimContext) -> int:
    value = ctx.options.xades_delay_ms
    return ctx.options.processing_ms if value is None else value


# -- forced outcomes and warnings (POST /sim/auth-outcome, simulator only) --------------------------

def set_outcome(ctx: SimContext, body) -> dict:
    """Force the status of the next `count` XAdES logins, and/or an X-System-Warning on their 202."""
    if not isinstance(body, dict):
        raise invalid("Treść musi być obiektem JSON.")
    status, count = body.get("authStatus"), body.get("count", 1)
    if status is not None and status not in FORCEABLE:
        raise invalid(f"Pole 'authStatus' musi być jednym z: {', '.join(map(str, FORCEABLE))}.")
    if not isinstance(count, int) or count < 1:
        raise invalid("Pole 'count' musi być liczbą całkowitą dodatnią.")
    warning = body.get("systemWarning")
    if warning is not None and (not isinstance(warning, str) or not warning.isascii()):
        raise invalid("Pole 'systemWarning' musi być tekstem ASCII, np. '[sig-001]: ...'.")
    plan = {"authStatus": status, "authDetail": body.get("authDetail") or FORCEABLE.get(status),
            "remaining": count if status is not None else 0, "systemWarning": warning,
            "warningsRemaining": count if warning else 0}
    ctx.store.put("meta", "auth-outcome", plan)
    return plan


def _take_forced(ctx: SimContext) -> tuple[int, list[str]] | None:
    plan = ctx.store.get("meta", "auth-outcome")
    if not plan or plan["remaining"] <= 0:
        return None
    plan["remaining"] -= 1
    ctx.store.put("meta", "auth-outcome", plan)
    return plan["authStatus"], [plan["authDetail"]]


def _take_warning(ctx: SimContext) -> str | None:
    plan = ctx.store.get("meta", "auth-outcome")
    if not plan or plan["warningsRemaining"] <= 0:
        return None
    plan["warningsRemaining"] -= 1
    ctx.store.put("meta", "auth-outcome", plan)
    return plan["systemWarning"]


def clear_outcome(ctx: SimContext) -> None:
    ctx.store.delete("meta", "auth-outcome")
