"""`ksef-local import`: FA(3) files made elsewhere into the invoice book."""
from __future__ import annotations

import sys
from pathlib import Path

from ksef_local.app import create_app, database_problem
from ksef_local.errors import UserError
from ksef_local.store import imports, invoices


def import_files(home: Path, files: list[Path]) -> int:
    app = create_app(home)
    if database_problem(app):
        print(database_problem(app), file=sys.stderr)
        return 2
    failures = 0
    with app.app_context():
        db = app.extensions["ksef_local"].db()
        for path in files:
            try:
                data = imports.read_import_file(path)
                invoice_id = imports.import_xml(db, data, path.name)
            except UserError as exc:
                failures += 1
                print(f"{path}: {exc}", file=sys.stderr)
                continue
            number = invoices.get_invoice(db, invoice_id)["number"]
            print(f"{path}: zaimportowano fakturę {number}")
    return 1 if failures else 0
