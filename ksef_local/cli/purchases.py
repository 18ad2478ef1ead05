"""`ksef-local purchases …`: purchase invoices (faktury zakupowe) from KSeF, on the same data as the app.

    purchases sync [--timeout S]                 "Pobierz teraz": read new purchase invoices from KSeF now
    purchases list [--json] [--month RRRR-MM] [--unpaid]
    purchases xml NUMER_KSEF                     the exact bytes KSeF gave, to standard output
    purchases pdf NUMER_KSEF [-o PLIK] [--qr-host URL]

The sync is a task for the sender (store/tasks.py): the running app does it, or this command starts the
sender itself for the time it waits, like `send --wait`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

from ksef_local import disk, formats
from ksef_local.cli.common import open_app
from ksef_local.clock import utc_now
from ksef_local.core.settings import DEMO_MODE
from ksef_local.desktop import launcher
from ksef_local.errors import UserError
from ksef_local.printing.purchases import purchase_pdf
from ksef_local.store import ksef_state, purchase_sync, purchases, tasks

DEMO_SIMULATOR = "http://127.0.0.1:8765"  # `ksef-local simulator`'s default address
LIST_LIMIT = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    sync = actions.add_parser("sync", help="pobierz teraz nowe faktury zakupowe z KSeF")
    sync.add_argument("--timeout", type=float, default=300, help="najdłuższe czekanie w sekundach")
    listing = actions.add_parser("list", help="faktury zakupowe zapisane w programie")
    listing.add_argument("--json", action="store_true", help="wynik w JSON")
    listing.add_argument("--month", metavar="RRRR-MM", help="tylko miesiąc otrzymania w KSeF, np. 2026-11")
    listing.add_argument("--unpaid", action="store_true", help="tylko niezapłacone")
    xml = actions.add_parser("xml", help="wypisz plik XML faktury dokładnie taki, jaki dał KSeF")
    xml.add_argument("ksef_number", metavar="NUMER_KSEF")
    pdf = actions.add_parser("pdf", help="zapisz fakturę zakupową do PDF (z kodem QR KSeF)")
    pdf.add_argument("ksef_number", metavar="NUMER_KSEF")
    pdf.add_argument("-o", "--output", metavar="PLIK", help="plik wynikowy (domyślnie Zakup_<numer>.pdf)")
    pdf.add_argument("--qr-host", metavar="URL", help="adres weryfikacji dla kodu QR (domyślnie według środowiska)")


def command(home: Path, args: argparse.Namespace) -> int:
    """Run one `purchases` action; return the exit code (UserError is printed by cli.main with 2)."""
    app, state = open_app(home)
    if args.action == "sync":
        return _sync(app, state, args.timeout)
    if args.action == "list":
        return _list(state, args)
    purchase_id = purchases.id_by_ksef_number(state.db(), args.ksef_number)
    if purchase_id is None:
        raise UserError(f"Nie ma faktury zakupowej o numerze KSeF {args.ksef_number}. "
                        "Pobierz nowe faktury: ksef-local purchases sync.")
    if args.action == "xml":
        sys.stdout.buffer.write(purchases.xml_bytes(state.db(), purchase_id))
        sys.stdout.flush()
        return 0
    override = args.qr_host
    if override is None and purchases.get_purchase(state.db(), purchase_id)["environment"] == DEMO_MODE:
        override = DEMO_SIMULATOR   # the in-app simulator runs only with the app
        print(f"Tryb demonstracyjny: kod QR prowadzi do symulatora KSeF pod adresem {override}.", file=sys.stderr)
    data, filename = purchase_pdf(state, purchase_id, qr_host_override=override)
    output = Path(args.output) if args.output else Path(filename)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    disk.write_private(output, data)  # the seller's and our data: private like the data folder
    print(f"Zapisano {output}.")
    return 0


def _sync(app, state, timeout: float) -> int:
    db = state.db()
    task_id = purchase_sync.request_sync(db, utc_now())
    background = launcher.start_background(app, simulator="if-sending")
    if not background.sending:
        print("Program ksef-local działa i sam pobierze faktury; czekam na wynik.")
    shown = None
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = tasks.get(db, task_id)
            health = ksef_state.health(db)
            if task.is_final or health.paused or health.circuit_open or health.reachable is False:
                break
            if task.progress and task.progress != shown:
                print(f"… {task.progress}", flush=True)
                shown = task.progress
            time.sleep(0.5)
    finally:
        background.stop()
    task = tasks.get(db, task_id)
    health = ksef_state.health(db)
    if task.is_final:
        print(task.result_title + (f" – {task.result_advice}" if task.result_advice else ""),
              file=sys.stdout if task.succeeded else sys.stderr)
        if task.result_detail and not task.succeeded:
            print(task.result_detail, file=sys.stderr)
        return 0 if task.succeeded else 1
    if health.paused:
        print(f"Połączenie z KSeF wstrzymane: {health.pause_title} – {health.pause_advice}", file=sys.stderr)
    elif health.circuit_open or health.reachable is False:
        print("Serwis KSeF nie odpowiada. Pobieranie faktur zakupowych dokończy się samo, gdy KSeF zacznie "
              "odpowiadać (przy działającym programie albo kolejnym ksef-local purchases sync).", file=sys.stderr)
    else:
        print("Pobieranie jeszcze trwa (KSeF ogranicza liczbę zapytań); program dokończy je przy następnym "
              "uruchomieniu.", file=sys.stderr)
    return 1


def _amount(grosze: int) -> str:
    return str(Decimal(grosze).scaleb(-2))


def _list(state, args: argparse.Namespace) -> int:
    db = state.db()
    rows, _ = purchases.list_purchases(db, month=args.month, paid=False if args.unpaid else None,
                                       per_page=LIST_LIMIT)
    if args.json:
        print(json.dumps([{
            "number": r["number"], "seller_nip": r["seller_nip"], "seller_name": r["seller_name"],
            "ksef_number": r["ksef_number"], "issue_date": r["issue_date"], "net": _amount(r["net_total"]),
            "vat": _amount(r["vat_total"]), "gross": _amount(r["gross_total"]), "currency": r["currency"],
            "received_at": r["received_at"], "due_date": r["due_date"], "bank_account": r["bank_account"],
            "paid": bool(r["paid"]), "paid_date": r["paid_date"], "environment": r["environment"],
        } for r in rows], ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        paid = f"zapłacono {formats.pl_date(r['paid_date'])}" if r["paid"] else (
            f"termin {formats.pl_date(r['due_date'])}" if r["due_date"] else "niezapłacona")
        print(f"{formats.pl_date(r['received_at'])}  {r['number']:20} {formats.format_nip(r['seller_nip'])}  "
              f"{r['seller_name'][:40]:40} {formats.format_grosze(r['gross_total'], r['currency']):>16}  {paid}  "
              f"{r['ksef_number']}")
    status = purchase_sync.status(db)
    print(f"Faktury zakupowe: {len(rows)}" + (f"; do pobrania z KSeF: {status.pending}" if status.pending else ""))
    if status.problem_title:
        print(f"Uwaga: {status.problem_title} – {status.problem_advice}", file=sys.stderr)
    return 0
