"""Ustawienia KSeF: the environment, the context NIP, the batch threshold and the KSeF token.

The settings row lives in the ksef_settings table; the token lives only in the SecretStore,
under a name per environment and NIP (credentials per environment, default to a safe environment, a
visible badge: TEST and DEMO must never see production invoices, ksef-docs srodowiska.md). House rule 14:
the token is never logged, rendered back, put in a URL or in an exception message; only ``has_token`` and a
masked ``token_hint`` leave this module.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Mapping

import sqlite_utils

from ksef_local.clock import utc_now
from ksef_local.core.settings import CUSTOM, DEFAULT_BATCH_THRESHOLD, DEFAULT_ENVIRONMENT, ENVIRONMENTS, KsefSettings
from ksef_local.forms import ksef_settings as ksef_form
from ksef_local.store import db as dbmod
from ksef_local.store import ksef_state, outbox_work, parties
from ksef_local.store.secrets import SecretStore, SecretStoreError, mask

# -- reading ------------------------------------------------------------------------------------------

def load(db: sqlite_utils.Database, store: SecretStore) -> KsefSettings:
    """Return the settings (defaults on first run: demo mode, the company's NIP, threshold 50)."""
    rows = list(db.query("SELECT * FROM ksef_settings WHERE id = 1"))
    row = rows[0] if rows else {}
    company_nip = _company_nip(db)
    settings = KsefSettings(
        environment=row.get("environment") if row.get("environment") in ENVIRONMENTS else DEFAULT_ENVIRONMENT,
        base_url=row.get("base_url"),
        nip=row.get("nip") or company_nip,
        batch_threshold=row.get("batch_threshold") or DEFAULT_BATCH_THRESHOLD,
        updated_at=row.get("updated_at"),
        nip_follows_company=not row.get("nip"),
    )
    try:
        token = _stored_token(store, settings)
    except SecretStoreError as exc:
        return replace(settings, token_problem=exc.message)
    return replace(settings, has_token=token is not None, token_hint=mask(token))


def token_for(db: sqlite_utils.Database, store: SecretStore, settings: KsefSettings | None = None) -> str | None:
    """Return the KSeF token stored for the settings' environment and NIP, or None."""
    return _stored_token(store, settings or load(db, store))


def secret_name(settings: KsefSettings) -> str | None:
    """Return the SecretStore name of the token for this environment and NIP (None without a NIP).

    A custom server gets its own name per URL, so a token typed for one server is never sent to another.
    """
    if not settings.nip:
        return None
    place = settings.environment
    if settings.environment == CUSTOM:
        digest = hashlib.sha256((settings.base_url or "").encode("utf-8")).hexdigest()[:16]
        place = f"{CUSTOM}-{digest}"
    return f"ksef-token/{place}/{settings.nip}"


# -- saving -------------------------------------------------------------------------------------------

def save(db: sqlite_utils.Database, store: SecretStore, form: Mapping[str, Any]) -> KsefSettings:
    """Validate the form (forms/ksef_settings.py), store the token if a new one came, save the row.

    On any error nothing changes: ValidationFailed carries a Polish message per field. The form is checked
    again under the write lock, with the row and the credentials stamp written in the same transaction: a
    sender (of any process) either marked an invoice as being sent before, and the change is refused, or
    sees the new settings before its next remote step (sending/remote.py, ensure_current).
    """
    current = load(db, store)
    company_nip = _company_nip(db)
    cleaned = ksef_form.clean(form, current, company_nip, outbox_work.in_flight_count(db))
    chosen = KsefSettings(environment=cleaned.environment, base_url=cleaned.base_url, nip=cleaned.nip,
                          batch_threshold=cleaned.batch_threshold)
    if cleaned.token:
        store.set(secret_name(chosen),
                  cleaned.token)  # before the row: a store failure leaves the settings as they were
    now = utc_now()
    row = {"environment": cleaned.environment, "base_url": cleaned.base_url, "nip": cleaned.stored_nip,
           "batch_threshold": cleaned.batch_threshold, "updated_at": now.isoformat(timespec="seconds")}
    with dbmod.write(db):
        ksef_form.clean(form, current, company_nip, outbox_work.in_flight_count(db))
        db.execute("INSERT OR REPLACE INTO ksef_settings (id, environment, base_url, nip, batch_threshold,"
                   " updated_at) VALUES (1, :environment, :base_url, :nip, :batch_threshold, :updated_at)", row)
        ksef_state.mark_credentials_changed(db, now)
    return load(db, store)


def forget_token(db: sqlite_utils.Database, store: SecretStore) -> None:
    """Delete the token of the current environment and NIP from the SecretStore."""
    name = secret_name(load(db, store))
    if name is not None:
        store.delete(name)
        ksef_state.credentials_changed(db, utc_now())


# -- using --------------------------------------------------------------------------------------------


# -- helpers ------------------------------------------------------------------------------------------

def _stored_token(store: SecretStore, settings: KsefSettings) -> str | None:
    name = secret_name(settings)
    return store.get(name) if name else None


def _company_nip(db: sqlite_utils.Database) -> str | None:
    company = parties.get_company(db)
    return company["nip"] if company else None




def load_environment(db: sqlite_utils.Database) -> KsefSettings:
    """Return only the stored environment and address (for the badge): no secret store, no company NIP."""
    rows = list(db.query("SELECT environment, base_url FROM ksef_settings WHERE id = 1"))
    return KsefSettings(**rows[0]) if rows else KsefSettings()
