"""`ksef-local export RRRR-MM [-o PLIK.zip]`: the accountant's package of one month, as "Dla księgowej" makes it
(accounting/package.py): every sales and purchase invoice as XML and PDF, the UPOs, the CSV register.

Exit codes: 0 written; 1 the file could not be written (or the run was interrupted: nothing half-written is
left); 2 what was asked cannot be done (a bad month, a month without invoices, no company yet).
"""
from __future__ import annotations

import argparse
import errno
import sys
import time
from pathlib import Path

from ksef_local import formats
from ksef_local.accounting.package import build, package_name
from ksef_local.cli.common import open_app
from ksef_local.core.settings import DEMO_MODE
from ksef_local.desktop.launcher import remembered_simulator_port
from ksef_local.errors import UserError
from ksef_local.forms.purchases import parse_month
from ksef_local.store import parties

DEMO_SIMULATOR = "http://127.0.0.1:8765"  # `ksef-local simulator`'s default address
PROGRESS_EVERY = 2.0                      # seconds between progress lines
WHY = {errno.ENOENT: "nie ma takiego folderu", errno.EACCES: "brak uprawnień do zapisu w tym folderze",
       errno.EPERM: "brak uprawnień do zapisu w tym folderze", errno.ENOSPC: "brak miejsca na dysku",
       errno.EROFS: "folder jest tylko do odczytu", errno.EISDIR: "to jest folder"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("month", metavar="RRRR-MM", help="miesiąc, np. 2026-11: faktury sprzedaży według daty "
                                                         "wystawienia, zakupowe według daty otrzymania w KSeF")
    parser.add_argument("-o", "--output", metavar="PLIK",
                        help="plik ZIP albo folder (domyślnie Faktury_RRRR-MM_NIP.zip w bieżącym folderze)")


def command(home: Path, args: argparse.Namespace) -> int:
    """Write the month's package; UserError (printed by cli.main with exit code 2) when it cannot be made."""
    month = parse_month(args.month)
    _, state = open_app(home)
    company = parties.get_company(state.db())
    if company is None:
        raise UserError("Program nie ma jeszcze danych firmy: uruchom ksef-local run i wypełnij kreator.")
    output = Path(args.output) if args.output else Path(package_name(month, company["nip"]))
    if output.is_dir():
        output = output / package_name(month, company["nip"])
    demo_url = None
    if state.settings().environment == DEMO_MODE:
        port = remembered_simulator_port(home)   # the QR codes of demo invoices lead to the app's own simulator
        demo_url = f"http://127.0.0.1:{port}" if port else DEMO_SIMULATOR
    shown = {"at": time.monotonic()}

    def progress(done: int, total: int) -> bool:
        if done == 0:
            print(f"Przygotowuję paczkę za {formats.pl_month(month)}: {formats.plural(total, 'faktura')}.",
                  file=sys.stderr, flush=True)
        elif time.monotonic() - shown["at"] >= PROGRESS_EVERY or done == total:
            print(f"… {done} z {total}", file=sys.stderr, flush=True)
            shown["at"] = time.monotonic()
        return True

    try:
        made = build(state, month, output, progress=progress, demo_url=demo_url)
    except OSError as exc:
        why = WHY.get(exc.errno or 0, exc.strerror or str(exc))
        print(f"Nie można zapisać pliku {output}: {why}. Nic nie zostało zapisane.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Przerwano: paczka nie została zapisana.", file=sys.stderr)
        return 1
    print(f"Zapisano {output} ({formats.human_size(made.size)}): faktury sprzedaży: {made.sales}, "
          f"faktury zakupowe: {made.purchases}.")
    for note in made.notes:
        print(f"Uwaga: {note}", file=sys.stderr)
    return 0
