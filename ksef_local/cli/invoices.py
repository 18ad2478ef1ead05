"""`ksef-local import`: FA(3) files made elsewhere into the invoice book."""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from ksef_local.cli.common import open_app
from ksef_local.store import imports


def import_files(home: Path, files: list[Path]) -> int:
    """Import the files one by one, a line per file (OK or why not); exit code 1 when any was refused.

    No limit on the number of files: each is read only when its turn comes (at most the FA(3) size limit), so a
    year of invoices (`ksef-local import faktury/*.xml`) needs no more memory than one.
    """
    app, _ = open_app(home)
    failures = 0
    with app.app_context():
        db = app.extensions["ksef_local"].db()
        for result in imports.import_each(db, ((str(path), partial(imports.read_import_file, path))
                                               for path in files)):
            if result.ok:
                print(f"{result.name}: zaimportowano fakturę {result.number}", flush=True)
            else:
                failures += 1
                print(f"{result.name}: {result.message}", file=sys.stderr, flush=True)
    if len(files) > 1:
        print(f"Zaimportowano {len(files) - failures} z {len(files)} plików.")
    return 1 if failures else 0
