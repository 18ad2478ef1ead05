"""Whose permissions a signed login gets (CIRFMF/ksef-docs uwierzytelnianie.md, uprawnienia.md).

A certificate carries no permissions (certyfikaty-KSeF.md, Wstęp): the owner of a NIP holds the owner's
permissions in that NIP's context; anyone else holds what was granted to their NIP, PESEL or certificate
fingerprint in that context. KSeF grants through /permissions; the simulator has the simulator-only
POST /sim/permissions instead (docs/simulator.md).
"""
from __future__ import annotations

import re

from ksef_local.simulator.common import SimContext, invalid
from ksef_local.simulator.subjects import Identity

OWNER_PERMISSIONS = ("InvoiceWrite", "InvoiceRead", "CredentialsManage", "CredentialsRead", "Introspection",
                     "SubunitManage", "EnforcementOperations")
GRANTABLE = OWNER_PERMISSIONS + ("PefInvoiceWrite",)
SUBJECT_PATTERNS = {"Nip": re.compile(r"\d{10}"), "Pesel": re.compile(r"\d{11}"),
                    "Fingerprint": re.compile(r"[0-9A-F]{64}")}


def permissions_for(ctx: SimContext, context_type: str, context_value: str, identity: Identity) -> list[str]:
    """Return the permissions the subject holds in the context: the owner's, or the granted ones."""
    if context_type == "Nip" and identity.nip == context_value:
        return list(OWNER_PERMISSIONS)
    grant = ctx.store.get("grant", _key(context_value, identity.id_type, identity.id_value))
    return list(grant["permissions"]) if grant else []


def grant(ctx: SimContext, body) -> dict:
    """POST /sim/permissions: replace what a subject holds in a NIP's context (an empty list takes it all)."""
    if not isinstance(body, dict):
        raise invalid("Treść musi być obiektem JSON z polami contextNip, subject, permissions.")
    context = str(body.get("contextNip", ""))
    subject = body.get("subject") if isinstance(body.get("subject"), dict) else {}
    kind, value = subject.get("type"), str(subject.get("value", "")).upper()
    permissions = body.get("permissions")
    if not re.fullmatch(r"\d{10}", context):
        raise invalid("Pole 'contextNip' musi zawierać 10 cyfr.")
    if kind not in SUBJECT_PATTERNS or not SUBJECT_PATTERNS[kind].fullmatch(value):
        raise invalid("Pole 'subject' musi mieć type Nip (10 cyfr), Pesel (11 cyfr) albo Fingerprint "
                      "(SHA-256 certyfikatu, 64 znaki szesnastkowe).")
    if not isinstance(permissions, list) or any(p not in GRANTABLE for p in permissions):
        raise invalid(f"Pole 'permissions' musi być listą spośród: {', '.join(GRANTABLE)}.")
    doc = {"contextNip": context, "subject": {"type": kind, "value": value}, "permissions": permissions}
    ctx.store.put("grant", _key(context, kind, value), doc)
    return doc


def _key(context_value: str, id_type: str, id_value: str) -> str:
    return f"{context_value}|{id_type}|{id_value.upper()}"
