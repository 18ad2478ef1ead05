"""The end of KSeF-token logins: `tokens_until` and how KSeF refuses a token afterwards.

The regulation of 12.12.2025 (Dz.U. 2025 poz. 1815, § 13 ust. 1 pkt 1) allows KSeF tokens until
31.12.2026; KSeF has not documented how it will refuse them. Each plausible answer can be selected so
the app can be tested against all of them (docs/simulator.md):

- "403": POST /auth/ksef-token → 403 problem+json, reasonCode auth-method-not-allowed (ForbiddenProblemDetails);
- "450": the login is accepted and its auth status ends 450 "Token nieaktywny";
- "21301": the login succeeds, but redeem and refresh answer 400 21301 "Brak autoryzacji.".

In every variant a token session's refresh token stops working after the date.
"""
from __future__ import annotations

from datetime import date

from ksef_local.simulator.common import SimContext, SimError, invalid, warsaw_day

REFUSALS = ("403", "450", "21301")


def refusal_after_cutoff(ctx: SimContext) -> str | None:
    """Return the refusal variant when today (Warsaw) is after tokens_until, else None."""
    until = ctx.options.tokens_until
    if until is None or warsaw_day(ctx.now()) <= until:
        return None
    return ctx.options.tokens_refusal


def check_token_login(ctx: SimContext) -> None:
    """Raise the 403 variant at POST /auth/ksef-token."""
    if refusal_after_cutoff(ctx) == "403":
        raise SimError(403, reason_code="auth-method-not-allowed",
                       detail="Ta operacja nie jest dostępna dla użytej metody uwierzytelnienia.",
                       security={"authenticationMethodCategory": "Token"})


def set_options(ctx: SimContext, body) -> dict:
    """POST /sim/options: change tokensUntil (ISO date or null) and tokensRefusal at run time."""
    if not isinstance(body, dict):
        raise invalid("Treść musi być obiektem JSON.")
    if "tokensUntil" in body:
        value = body["tokensUntil"]
        try:
            ctx.options.tokens_until = None if value is None else date.fromisoformat(str(value))
        except ValueError as exc:
            raise invalid("Pole 'tokensUntil' musi być datą RRRR-MM-DD albo null.") from exc
    if "tokensRefusal" in body:
        if str(body["tokensRefusal"]) not in REFUSALS:
            raise invalid(f"Pole 'tokensRefusal' musi być jednym z: {', '.join(REFUSALS)}.")
        ctx.options.tokens_refusal = str(body["tokensRefusal"])
    if "xadesDelayMs" in body:
        value = body["xadesDelayMs"]
        if value is not None and (not isinstance(value, int) or value < 0):
            raise invalid("Pole 'xadesDelayMs' musi być liczbą nieujemną albo null.")
        ctx.options.xades_delay_ms = value
    if "ksefCertificateDays" in body:
        value = body["ksefCertificateDays"]
        if not isinstance(value, int) or value < 1:
            raise invalid("Pole 'ksefCertificateDays' musi być liczbą dodatnią.")
        ctx.options.ksef_certificate_days = value
    return options_json(ctx)


def options_json(ctx: SimContext) -> dict:
    options = ctx.options
    return {"tokensUntil": options.tokens_until.isoformat() if options.tokens_until else None,
            "tokensRefusal": options.tokens_refusal, "xadesDelayMs": options.xades_delay_ms,
            "ksefCertificateDays": options.ksef_certificate_days}
