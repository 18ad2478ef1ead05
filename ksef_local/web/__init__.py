"""The screens: one blueprint per screen, registered by init_app with the shared security, errors and filters."""
from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask, g

from ksef_local import formats
from ksef_local.core import money
from ksef_local.core.model import Party
from ksef_local.core.settings import top_badge
from ksef_local.errors import UserError
from ksef_local.store import outbox, parties
from ksef_local.store import settings as ksef_settings
from ksef_local.web import (
    accounting,
    backup,
    buyers,
    certificates,
    company,
    invoices,
    ksef,
    moments,
    printing,
    purchases,
    settings,
)
from ksef_local.web.params import RecordIdConverter
from ksef_local.web.responses import db, disk_error, http_error, user_error
from ksef_local.web.security import check_request, csrf_token, security_headers
from ksef_local.web.uploads import allow_bulk_import


def buyer_label(buyer) -> str:
    """The buyer's tax identifier as shown in lists, from a Party or a buyers row."""
    if buyer is None:
        return ""
    return parties.buyer_identifier(buyer if isinstance(buyer, Party) else parties.buyer_party(buyer))


def environment_badge() -> dict[str, Any]:
    """The always-visible KSeF environment badge (text, title, is production), read without touching the token."""
    current = ksef_settings.load_environment(db())
    text, title = top_badge(current)
    return {"text": text, "title": title, "production": current.is_production}


def init_app(app: Flask) -> None:
    """Register the security checks, the error pages, the template filters and every screen."""
    # Before any blueprint adds its rules: every <int:…> is a record id, bounded (web/params.py).
    app.url_map.converters["int"] = RecordIdConverter
    app.before_request(allow_bulk_import)  # before check_request reads the form
    app.before_request(check_request)
    app.after_request(security_headers)
    app.register_error_handler(UserError, user_error)
    for code in (400, 403, 404, 405, 413):
        app.register_error_handler(code, http_error)
    for failure in (sqlite3.OperationalError, OSError):  # a full disk, a read-only folder: a page, not a 500
        app.register_error_handler(failure, disk_error)
    app.jinja_env.filters.update(
        pl_date=formats.pl_date, pl_datetime=formats.pl_datetime, pl_month=formats.pl_month,
        grosze=formats.format_grosze, money=formats.format_money, number=formats.format_flexible,
        nip=formats.format_nip,
        account=formats.format_account, file_size=formats.human_size, plural=formats.plural,
        time_tag=moments.time_tag, local_times=moments.local_times,
    )
    app.jinja_env.globals.update(csrf_token=csrf_token, buyer_label=buyer_label, rates=money.RATES,
                                 ksef_letters=outbox.LETTERS)
    for blueprint in (company.bp, buyers.bp, invoices.bp, ksef.bp, settings.bp, certificates.bp, backup.bp,
                      printing.bp, purchases.bp, accounting.bp):
        app.register_blueprint(blueprint)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"company": getattr(g, "company", None), "environment_badge": environment_badge,
                "purchases_counter": purchases.counter_context}
