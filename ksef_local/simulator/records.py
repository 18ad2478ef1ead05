"""The simulator's records of sessions and invoices, and the constants the endpoints and processing share."""
from __future__ import annotations

from datetime import datetime

from ksef_local.ksef import crypto
from ksef_local.ksef.models import SYMMETRIC_KEY_ENCRYPTION
from ksef_local.simulator.common import SimContext, bad_request, invalid, iso

WRITE = ("InvoiceWrite", "PefInvoiceWrite", "EnforcementOperations")
READ_STATUS = WRITE + ("Introspection",)
SUPPORTED_FORMS = {("FA (3)", "1-0E", "FA")}
MAX_INVOICES = 10_000  # ksef-docs limity/limity.md


def new_session(reference: str, kind: str, claims: dict, form: tuple, key: crypto.SessionKey | None,
                now: datetime, until: datetime) -> dict:
    return {"reference": reference, "kind": kind, "nip": claims["civ"], "tokenRef": claims.get("trn"),
            "authDigest": claims.get("adh"),
            "form": list(form), "key": crypto.b64(key.key) if key else None, "iv": crypto.b64(key.iv) if key else None,
            "status": 100 if key else 415, "details": [], "created": iso(now), "updated": iso(now),
            "validUntil": iso(until), "closed": None, "invoices": [], "upo": None}


def check_form_code(body: dict) -> tuple:
    form = body.get("formCode") if isinstance(body, dict) else None
    if not isinstance(form, dict):
        raise invalid("Pole 'formCode' jest wymagane.")
    triple = (form.get("systemCode"), form.get("schemaVersion"), form.get("value"))
    if triple not in SUPPORTED_FORMS:
        raise invalid("Wskazany kod formularza nie jest wspierany.")
    return triple


def decrypt_session_key(ctx: SimContext, encryption) -> crypto.SessionKey | None:
    """Check EncryptionInfo (21405, 21470); return the key, or None when it does not decrypt (→ 415)."""
    if not isinstance(encryption, dict) or not isinstance(encryption.get("encryptedSymmetricKey"), str) \
            or not isinstance(encryption.get("initializationVector"), str):
        raise invalid("Pole 'encryption' jest wymagane (encryptedSymmetricKey, initializationVector).")
    sim_key = ctx.keys[SYMMETRIC_KEY_ENCRYPTION]
    key_id = encryption.get("publicKeyId")
    if key_id is not None and key_id != sim_key.public_key_id:
        raise bad_request(21470, "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
                          f"Klucz o identyfikatorze {key_id} nie jest wspierany.")
    try:
        iv = crypto.unb64(encryption["initializationVector"])
        wrapped = crypto.unb64(encryption["encryptedSymmetricKey"])
    except crypto.CryptoError as exc:
        raise invalid("Pola klucza muszą być zakodowane w Base64.") from exc
    if len(iv) != 16:
        raise invalid("Wektor inicjujący musi mieć 16 bajtów.")
    try:
        return crypto.SessionKey(crypto.rsa_oaep_decrypt(sim_key.private_key, wrapped), iv)
    except crypto.CryptoError:
        return None


def new_invoice(reference: str, session: str, ordinal: int, invoice_hash: str, xml: bytes, decrypted: bool,
                received: datetime, invoicing: datetime, due: datetime, offline: bool,
                file_name: str | None = None) -> dict:
    return {"reference": reference, "session": session, "ordinal": ordinal, "hash": invoice_hash,
            "xml": crypto.b64(xml), "decrypted": decrypted, "received": iso(received), "invoicingDate": iso(invoicing),
            "due": iso(due), "offlineMode": offline, "fileName": file_name, "final": None, "acquisition": None,
            "ksefNumber": None, "number": None, "sellerNip": None, "kind": None, "issueDate": None, "mode": None}
