"""The ksef-local command line: run, import, send, status, settings, pdf, certificates, purchases, export, simulator
(see cli/parser.py)."""
from __future__ import annotations

import multiprocessing
import sqlite3
import sys

from ksef_local import config, disk, simulator
from ksef_local.cli import certificates as certificate_commands
from ksef_local.cli import export as export_command
from ksef_local.cli import invoices as invoice_commands
from ksef_local.cli import ksef as ksef_commands
from ksef_local.cli import printing as printing_commands
from ksef_local.cli import purchases as purchase_commands
from ksef_local.cli import run as run_command
from ksef_local.cli.parser import build_parser
from ksef_local.errors import UserError


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code (2 when the user has something to fix)."""
    # In the frozen program a PDF worker (printing/render.py) starts as this executable with multiprocessing's
    # arguments: this runs the worker and exits. Elsewhere it does nothing.
    multiprocessing.freeze_support()
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "simulator":
        return simulator.run(args)
    try:
        return _dispatch(command, args)
    except UserError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    except (sqlite3.OperationalError, OSError) as exc:  # a full disk, a read-only folder: say so in Polish
        message = disk.describe(exc)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2


def _dispatch(command: str, args) -> int:
    home = config.data_dir(args.data_dir)
    if command == "import":
        return invoice_commands.import_files(home, args.files)
    if command == "pdf":
        return printing_commands.pdf_command(home, args)
    if command == "certificates":
        return certificate_commands.command(home, args)
    if command == "purchases":
        return purchase_commands.command(home, args)
    if command == "export":
        return export_command.command(home, args)
    if command in ("send", "status", "settings"):
        return getattr(ksef_commands, command)(home, args)
    return run_command.run(home, headless=getattr(args, "headless", False), port=getattr(args, "port", 0),
                           browser=getattr(args, "browser", False))
