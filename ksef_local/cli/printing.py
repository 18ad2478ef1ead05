"""`ksef-local pdf NUMER [NUMER ...] [-o PLIK] [--qr-host URL]`: print invoices to one PDF file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ksef_local import disk, formats
from ksef_local.cli.common import open_app
from ksef_local.core.settings import DEMO_MODE
from ksef_local.desktop.launcher import remembered_simulator_port
from ksef_local.errors import UserError
from ksef_local.printing import render_many, verification_setup
from ksef_local.store import invoice_list

DEMO_SIMULATOR = "http://127.0.0.1:8765"  # `ksef-local simulator`'s default address


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the pdf subcommand's options to its parser."""
    parser.add_argument("numbers", nargs="+", metavar="NUMER", help="numery faktur (kilka = jeden plik PDF)")
    parser.add_argument("-o", "--output", metavar="PLIK",
                        help="plik wynikowy (domyślnie Faktura_<numer>.pdf; „-” = standardowe wyjście)")
    parser.add_argument("--qr-host", metavar="URL",
                        help="adres weryfikacji dla kodów QR (domyślnie według środowiska w Ustawieniach KSeF)")


def default_output(numbers: list[str]) -> Path:
    if len(numbers) > 1:
        return Path("Faktury.pdf")
    return Path(formats.safe_filename(numbers[0], ".pdf", "Faktura_"))


def pdf_command(home: Path, args: argparse.Namespace) -> int:
    """Write the invoices with the given numbers to one PDF; return the exit code (2 on a user error)."""
    _, state = open_app(home)
    try:
        db = state.db()
        ids = []
        for number in args.numbers:
            found = invoice_list.id_by_number(db, number)
            if found is None:
                raise UserError(f"Nie ma faktury o numerze {number}.")
            ids.append(found)
        override = args.qr_host
        if override is None and state.settings().environment == DEMO_MODE:
            # The app's simulator listens on the port it keeps in the data folder (desktop/launcher.py); before
            # it has ever run, the standalone simulator's default.
            port = remembered_simulator_port(home)
            override = f"http://127.0.0.1:{port}" if port else DEMO_SIMULATOR
            print(f"Tryb demonstracyjny: kody QR prowadzą do symulatora KSeF pod adresem {override} "
                  "(odpowiada, gdy działa ksef-local).", file=sys.stderr)
        qr_host, signer = verification_setup(state, qr_host_override=override)
        data = render_many(db, ids, qr_host=qr_host, offline_cert=signer)
    except UserError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    output = Path(args.output) if args.output else default_output(args.numbers)
    disk.write_private(output, data)  # buyers' data: private like the data folder
    print(f"Zapisano {output} (liczba faktur: {len(ids)}).")
    return 0
