"""Simulated authentication: challenge, KSeF token, status, redeem, refresh, tokens (CIRFMF/ksef-docs
uwierzytelnianie.md, tokeny-ksef.md; OpenAPI paths /auth/*).

Operations started by a XAdES signature (xades_auth.py) share the status, redeem and refresh endpoints;
their access tokens record how the session authenticated, because the certificate endpoints refuse token
sessions. After `tokens_until` token logins are refused in the selected way (tokens.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ksef_local.ksef import crypto
from ksef_local.ksef.models import SYMMETRIC_KEY_ENCRYPTION, TOKEN_ENCRYPTION
from ksef_local.simulator.common import SimContext, SimError, bad_request, invalid, iso, parse_iso, unauthorized
from ksef_local.simulator.invoices import is_valid_nip
from ksef_local.simulator.tokens import check_token_login, refusal_after_cutoff

CHALLENGE_LIFETIME = timedelta(minutes=10)
TOKEN_PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage", "SubunitManage",
                     "EnforcementOperations", "Introspection")
AUTH_TEXTS = {
    100: "Uwierzytelnianie w toku",
    200: "Uwierzytelnianie zakończone sukcesem",
    415: "Uwierzytelnianie zakończone niepowodzeniem",
    425: "Uwierzytelnienie unieważnione",
    450: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
    460: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
    470: "Uwierzytelnianie zakończone niepowodzeniem",
    480: "Uwierzytelnienie zablokowane",
    500: "Nieznany błąd",
}
TOKEN_METHOD = {"method": "Token", "code": "token", "displayName": "Token KSeF"}
NO_AUTH = (21304, "Brak uwierzytelnienia.")
NOT_AUTHORISED = (21301, "Brak autoryzacji.")
REVOKED = "Token KSeF został unieważniony."


def public_key_certificates(ctx: SimContext) -> list[dict]:
    """GET /security/public-key-certificates: one certificate per usage."""
    return [ctx.keys[usage].as_json() for usage in (TOKEN_ENCRYPTION, SYMMETRIC_KEY_ENCRYPTION)]


def create_token(ctx: SimContext, body: dict) -> dict:
    """POST /sim/tokens (simulator only): issue an Active KSeF token for a NIP."""
    nip = str(body.get("nip", ""))
    permissions = body.get("permissions") or ["InvoiceRead", "InvoiceWrite"]
    if len(nip) != 10 or not nip.isdigit() or (ctx.options.check_nip and not is_valid_nip(nip)):
        raise invalid(f"Nieprawidłowy NIP: {nip!r}.")
    if not isinstance(permissions, list) or any(p not in TOKEN_PERMISSIONS for p in permissions):
        raise invalid(f"Nieznane uprawnienia; dozwolone: {', '.join(TOKEN_PERMISSIONS)}.")
    reference = ctx.reference("EC")
    token = f"{reference}|nip-{nip}|{ctx.hex(64).lower()}"
    ctx.store.put("token", reference, {"reference": reference, "token": token, "nip": nip,
                                        "permissions": permissions, "status": "Active", "created": iso(ctx.now())})
    return {"referenceNumber": reference, "token": token, "nip": nip, "permissions": permissions}


def revoke_token(ctx: SimContext, token_or_reference: str) -> None:
    """DELETE /sim/tokens/{token}: revoke by the token itself or by its reference number."""
    reference = token_or_reference.split("|", 1)[0]
    doc = ctx.store.get("token", reference)
    if doc is None:
        raise SimError(404, detail="Nie znaleziono tokena.")
    doc["status"] = "Revoked"
    ctx.store.put("token", reference, doc)


def challenge(ctx: SimContext, client_ip: str) -> dict:
    """POST /auth/challenge."""
    now = ctx.now()
    value = ctx.reference("CR")
    timestamp_ms = int(now.timestamp() * 1000)
    ctx.store.put("challenge", value, {"timestampMs": timestamp_ms, "created": iso(now), "used": False})
    return {"challenge": value, "timestamp": iso(now), "timestampMs": timestamp_ms, "clientIp": client_ip}


def init_token_auth(ctx: SimContext, body: dict) -> dict:
    """POST /auth/ksef-token: sync checks (21405, 21111, 21470), then an auth operation decided now."""
    check_token_login(ctx)
    context = _validate_init(body)
    found = ctx.store.get("challenge", body["challenge"])
    if found is None or found["used"] or ctx.now() - parse_iso(found["created"]) > CHALLENGE_LIFETIME:
        raise bad_request(21111, "Nieprawidłowe wyzwanie autoryzacyjne.")
    key = ctx.keys[TOKEN_ENCRYPTION]
    key_id = body.get("publicKeyId")
    if key_id is not None and key_id != key.public_key_id:
        raise bad_request(21470, "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
                          f"Klucz o identyfikatorze {key_id} nie jest wspierany.")
    found["used"] = True
    ctx.store.put("challenge", body["challenge"], found)
    code, details, token_ref = _check_token(ctx, body, found["timestampMs"], context)
    if code == 200 and refusal_after_cutoff(ctx) == "450":
        code, details = 450, ["Token nieaktywny"]
    answer, operation = new_operation(ctx, code, details, context["type"], context["value"], ctx.delay)
    operation.update(method="token", tokenRef=token_ref)
    ctx.store.put("auth", operation["reference"], operation)
    return answer


def new_operation(ctx: SimContext, code: int, details: list[str], context_type: str, context_value: str,
                  delay: timedelta) -> tuple[dict, dict]:
    """Return (AuthenticationInitResponse, the operation record): status 100 until the delay has passed."""
    reference = ctx.reference("AU")
    auth_token, until = ctx.issue_jwt({"typ": "auth", "arn": reference},
                                      timedelta(minutes=ctx.options.auth_token_minutes))
    now = ctx.now()
    operation = {"reference": reference, "started": iso(now), "due": iso(now + delay), "code": code,
                 "details": details, "tokenRef": None, "contextType": context_type, "nip": context_value,
                 "redeemed": False, "refreshJti": None, "lastRefresh": None, "refreshUntil": None}
    answer = {"referenceNumber": reference, "authenticationToken": {"token": auth_token, "validUntil": iso(until)}}
    return answer, operation


def _validate_init(body: dict) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("challenge"), str) or len(body["challenge"]) != 36:
        raise invalid("Pole 'challenge' jest wymagane (36 znaków).")
    context = body.get("contextIdentifier")
    if not isinstance(context, dict) or context.get("type") not in ("Nip", "InternalId", "NipVatUe", "PeppolId") \
            or not isinstance(context.get("value"), str):
        raise invalid("Pole 'contextIdentifier' jest wymagane (type, value).")
    if not isinstance(body.get("encryptedToken"), str):
        raise invalid("Pole 'encryptedToken' jest wymagane.")
    return context


def _check_token(ctx: SimContext, body: dict, timestamp_ms: int, context: dict) -> tuple[int, list[str], str | None]:
    """Return (auth status, details, token reference) exactly once, at submission."""
    try:
        plaintext = crypto.rsa_oaep_decrypt(ctx.keys[TOKEN_ENCRYPTION].private_key,
                                            crypto.unb64(body["encryptedToken"]))
        token, _, stamp = plaintext.decode("utf-8").rpartition("|")
    except (crypto.CryptoError, UnicodeDecodeError):
        return 450, ["Nieprawidłowy token"], None
    if stamp != str(timestamp_ms):
        return 450, ["Nieprawidłowy czas tokena"], None
    doc = ctx.store.get("token", token.split("|", 1)[0])
    if doc is None or doc["token"] != token:
        return 450, ["Nieprawidłowy token"], None
    if doc["status"] == "Revoked":
        return 450, ["Token unieważniony"], doc["reference"]
    if context["type"] != "Nip" or context["value"] != doc["nip"]:
        return 450, [f"Token nie może być użyty w kontekście {context['type']}:{context['value']}"], doc["reference"]
    if not doc["permissions"]:
        return 415, ["Brak przypisanych uprawnień"], doc["reference"]
    return 200, [], doc["reference"]


def auth_status(ctx: SimContext, bearer: str | None, reference: str) -> dict:
    """GET /auth/{ref}: 100 until the processing delay has passed, then the decided status."""
    claims = ctx.read_jwt(bearer, "auth")
    op = ctx.store.get("auth", reference)
    if op is None or claims["arn"] != reference:
        raise bad_request(*NO_AUTH,
                          f"Operacja uwierzytelniania o numerze referencyjnym {reference} nie została znaleziona.")
    code = _visible_code(ctx, op)
    status = {"code": code, "description": AUTH_TEXTS.get(code, "Nieznany błąd")}
    if code != 100 and op["details"]:
        status["details"] = op["details"]
    method = op.get("xades") or TOKEN_METHOD
    answer = {"startDate": op["started"], "authenticationMethod": method["method"],
              "authenticationMethodInfo": {"category": "XadesSignature" if op.get("xades") else "Token",
                                           "code": method["code"], "displayName": method["displayName"]},
              "status": status, "isTokenRedeemed": op["redeemed"]}
    if op["lastRefresh"]:
        answer["lastTokenRefreshDate"] = op["lastRefresh"]
    if op["refreshUntil"]:
        answer["refreshTokenValidUntil"] = op["refreshUntil"]
    return answer


def _visible_code(ctx: SimContext, op: dict) -> int:
    due = parse_iso(op["due"]) if op.get("due") else parse_iso(op["started"]) + ctx.delay
    if ctx.now() < due:
        return 100
    return op["code"]


def redeem(ctx: SimContext, bearer: str | None) -> dict:
    """POST /auth/token/redeem: once per successful operation."""
    claims = ctx.read_jwt(bearer, "auth")
    op = _operation(ctx, claims["arn"])
    code = _visible_code(ctx, op)
    if op["redeemed"]:
        raise bad_request(*NOT_AUTHORISED,
                          f"Tokeny dla operacji uwierzytelniania {op['reference']} zostały już pobrane.")
    if code != 200:
        raise bad_request(*NOT_AUTHORISED, f"Status uwierzytelniania ({code}) nie pozwala na pobranie tokenów.")
    access, access_until = _access_token(ctx, op, _permissions(ctx, op))
    refresh, refresh_until = ctx.issue_jwt({"typ": "refresh", "arn": op["reference"]},
                                           timedelta(days=ctx.options.refresh_token_days))
    op.update(redeemed=True, refreshUntil=iso(refresh_until))
    ctx.store.put("auth", op["reference"], op)
    return {"accessToken": {"token": access, "validUntil": iso(access_until)},
            "refreshToken": {"token": refresh, "validUntil": iso(refresh_until)}}


def refresh(ctx: SimContext, bearer: str | None) -> dict:
    """POST /auth/token/refresh: a new access token with the token's current permissions."""
    claims = ctx.read_jwt(bearer, "refresh")
    op = _operation(ctx, claims["arn"])
    if op["code"] != 200:
        raise bad_request(*NOT_AUTHORISED, f"Status uwierzytelniania ({op['code']}) nie pozwala na odświeżenie tokena.")
    access, until = _access_token(ctx, op, _permissions(ctx, op, refreshing=True))
    op["lastRefresh"] = iso(ctx.now())
    ctx.store.put("auth", op["reference"], op)
    return {"accessToken": {"token": access, "validUntil": iso(until)}}


def _operation(ctx: SimContext, reference: str) -> dict:
    op = ctx.store.get("auth", reference)
    if op is None:
        raise bad_request(*NO_AUTH,
                          f"Operacja uwierzytelniania o numerze referencyjnym {reference} nie została znaleziona.")
    return op


def _permissions(ctx: SimContext, op: dict, refreshing: bool = False) -> list[str]:
    """The session's permissions: the KSeF token's (while it is active and allowed) or the signer's."""
    if op.get("method", "token") != "token":
        return op["permissions"]
    refusal = refusal_after_cutoff(ctx)
    if refusal == "21301" or (refusal and refreshing):
        raise bad_request(*NOT_AUTHORISED, "Uwierzytelnianie tokenem KSeF nie jest już dostępne.")
    token = ctx.store.get("token", op["tokenRef"])
    if token is None or token["status"] != "Active":
        raise bad_request(*NOT_AUTHORISED, REVOKED)
    return token["permissions"]


def _access_token(ctx: SimContext, op: dict, permissions: list[str]) -> tuple[str, datetime]:
    """Return an access token whose claims say how the session authenticated (aum) and as whom."""
    claims = {"typ": "access", "arn": op["reference"], "cit": op.get("contextType", "Nip"), "civ": op["nip"],
              "per": permissions}
    xades = op.get("xades")
    if xades:
        claims.update(aum=xades["method"], amc="XadesSignature", sid={"type": xades["idType"],
                                                                      "value": xades["idValue"]},
                      cfp=xades["fingerprint"], cks=xades["serial"], adh=xades["documentHash"])
    else:
        claims.update(aum="Token", amc="Token", trn=op["tokenRef"])
    return ctx.issue_jwt(claims, timedelta(minutes=ctx.options.access_token_minutes))


def access_claims(ctx: SimContext, bearer: str | None, any_of: tuple[str, ...]) -> dict:
    """Return the claims of a valid access token holding one of the permissions; else 401/403."""
    if not bearer:
        raise unauthorized()
    claims = ctx.read_jwt(bearer, "access")
    present = claims.get("per", [])
    if not set(any_of) & set(present):
        raise SimError(403, reason_code="missing-permissions", detail="Brak wymaganych uprawnień.",
                       security={"requiredAnyOfPermissions": list(any_of), "presentPermissions": present})
    return claims
