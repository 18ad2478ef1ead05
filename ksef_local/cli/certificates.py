"""`ksef-local certificates …`: logging in by certificate from the command line, on the same data as the app.

    certificates list [--json] [--ksef]     the program's certificates (and, with --ksef, KSeF's list)
    certificates request -o PLIK            the AuthTokenRequest to sign outside the program (10 minutes)
    certificates submit PLIK [--timeout S]  log in with the signed file, then get the program's KSeF certificates
    certificates renew [--timeout S]        get successors of the KSeF certificates now
    certificates test [--timeout S]         "Testuj połączenie": log in and check the right to send invoices
    certificates revoke NUMER_SERYJNY       revoke a KSeF certificate in KSeF

The long ones are KSeF tasks for the sender (store/tasks.py): the running app does them, or this command
starts the sender itself for the time it waits, like `send --wait`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ksef_local import disk
from ksef_local.cli.common import open_app
from ksef_local.clock import utc_now
from ksef_local.core.settings import describe, environment_key
from ksef_local.desktop import launcher
from ksef_local.errors import UserError
from ksef_local.formats import pl_date, plural
from ksef_local.ksef import certificates as ksef_certificates
from ksef_local.ksef import errors as ksef_errors
from ksef_local.ksef import messages
from ksef_local.store import certificates, ksef_state, tasks

KINDS = {"Authentication": "KSeF – logowanie", "Offline": "KSeF – offline (KOD II)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="certyfikaty programu")
    listing.add_argument("--json", action="store_true", help="wynik w JSON")
    listing.add_argument("--ksef", action="store_true", help="także lista certyfikatów zapisanych w KSeF")
    request = actions.add_parser("request", help="zapisz plik do podpisania (ważny 10 minut)")
    request.add_argument("-o", "--output", required=True, type=Path, metavar="PLIK")
    submit = actions.add_parser("submit", help="zaloguj się podpisanym plikiem i uzyskaj certyfikaty KSeF")
    submit.add_argument("file", type=Path, metavar="PLIK")
    for name, text in (("renew", "odnów certyfikaty KSeF teraz"), ("test", "sprawdź połączenie z KSeF")):
        actions.add_parser(name, help=text)
    for action in (submit, actions.choices["renew"], actions.choices["test"]):
        action.add_argument("--timeout", type=float, default=900, help="najdłuższe czekanie w sekundach")
    revoke = actions.add_parser("revoke", help="odwołaj certyfikat KSeF")
    revoke.add_argument("serial", metavar="NUMER_SERYJNY")


def command(home: Path, args: argparse.Namespace) -> int:
    """Run one `certificates` action; return the exit code."""
    app, state = open_app(home)
    if args.action == "list":
        return _list(state, args)
    if args.action == "request":
        settings = state.settings()
        if not settings.nip:
            raise UserError("Uzupełnij NIP w danych firmy albo w ustawieniach KSeF.")
        disk.write_private(args.output, _ksef(lambda: state.anonymous_client().auth_request_to_sign(settings.nip)))
        print(f"Zapisano {args.output}. Podpisz go w ciągu 10 minut (Profil Zaufany albo podpis kwalifikowany, "
              "format XAdES otaczany lub otaczający) i wczytaj: ksef-local certificates submit PODPISANY.xml")
        return 0
    if args.action == "revoke":
        _ksef(lambda: ksef_certificates.revoke(state.make_client(), args.serial))
        for kept in certificates.listed(state.db()):
            if kept.serial == args.serial:
                certificates.set_state(state.db(), kept.id, "revoked", utc_now())
        ksef_state.credentials_changed(state.db(), utc_now())
        print(f"Odwołano certyfikat {args.serial}.")
        return 0
    kind = {"submit": "signed_login", "renew": "renewal", "test": "connection_test"}[args.action]
    payload = None
    if args.action == "submit":
        try:
            payload = args.file.read_bytes()
        except OSError:
            raise UserError(f"Nie można odczytać pliku {args.file}.") from None
    return _run_task(app, state, tasks.create(state.db(), kind, utc_now(), payload=payload), args.timeout)


def _ksef(action):
    try:
        return action()
    except ksef_errors.KsefError as exc:
        message = messages.user_message(exc)
        raise UserError(f"{message.title}: {message.advice}") from None


def _run_task(app, state, task_id: int, timeout: float) -> int:
    background = launcher.start_background(app, simulator="if-sending")
    if not background.sending:
        print("Program ksef-local działa i sam wykona to zadanie; czekam na wynik.")
    shown = None
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = tasks.get(state.db(), task_id)
            if task.is_final:
                break
            if task.progress and task.progress != shown:
                print(f"… {task.progress}", flush=True)
                shown = task.progress
            time.sleep(0.5)
    finally:
        background.stop()
    task = tasks.get(state.db(), task_id)
    if not task.is_final:
        print("Zadanie jeszcze trwa; program dokończy je przy następnym uruchomieniu.", file=sys.stderr)
        return 1
    print(f"{task.result_title}" + (f" – {task.result_advice}" if task.result_advice else ""),
          file=sys.stdout if task.succeeded else sys.stderr)
    if task.result_detail and not task.succeeded:
        print(task.result_detail, file=sys.stderr)
    return 0 if task.succeeded else 1


def _list(state, args: argparse.Namespace) -> int:
    settings = state.settings()
    now = utc_now()
    kept = certificates.listed(state.db(), environment_key(settings), settings.nip)
    items = [{"kind": KINDS.get(c.ksef_type or "", "kwalifikowany" if c.origin != "demo" else "demonstracyjny"),
              "usage": c.usage, "serial": c.serial, "subject": c.subject, "valid_from": c.not_before.isoformat(),
              "valid_to": c.not_after.isoformat(), "days_left": c.days_left(now), "origin": c.origin} for c in kept]
    listed = _ksef(lambda: ksef_certificates.query(state.make_client())) if args.ksef else []
    if args.json:
        print(json.dumps({"certificates": items, "ksef": [
            {"serial": c.serial, "name": c.name, "type": c.type, "status": c.status,
             "valid_to": c.valid_to.isoformat() if c.valid_to else None} for c in listed]},
            ensure_ascii=False, indent=2))
        return 0
    print(f"Środowisko: {describe(settings)}, NIP {settings.nip or '(brak)'}")
    for item in items:
        print(f"{item['kind']:26} {item['serial']:18} ważny do {pl_date(item['valid_to'])}"
              f" (jeszcze {plural(item['days_left'], 'dzień')})  {item['subject']}")
    if not items:
        print("Brak certyfikatów: ksef-local certificates request -o plik.xml, potem submit.")
    for c in listed:
        print(f"KSeF: {c.type:14} {c.serial:18} {c.status:8} do {pl_date(c.valid_to) if c.valid_to else '-'}  {c.name}")
    return 0
