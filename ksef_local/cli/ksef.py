"""ksef-local send / status / settings: the KSeF commands, on the same database as the running app."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ksef_local import credentials
from ksef_local.cli.common import open_app
from ksef_local.clock import utc_now
from ksef_local.core.settings import CUSTOM, describe, environment_key
from ksef_local.desktop import launcher
from ksef_local.errors import UserError, ValidationFailed
from ksef_local.formats import pl_date
from ksef_local.forms.certificates import load_files
from ksef_local.store import invoice_list, ksef_state, outbox
from ksef_local.store import settings as ksef_settings

FINAL = {"A", "B"}


def _resolve(db, args: argparse.Namespace) -> list[int]:
    if args.all:
        return invoice_list.never_sent(db)
    ids, unknown = [], []
    for number in args.numbers:
        found = invoice_list.id_by_number(db, number)
        (ids.append(found) if found is not None else unknown.append(number))
    if unknown:
        raise UserError("Nie ma faktur o numerach: " + ", ".join(unknown) + ".")
    return ids


def send(home: Path, args: argparse.Namespace) -> int:
    """Queue invoices for KSeF; with --wait also send them now and wait for A or B."""
    app, state = open_app(home)
    db = state.db()
    ids = _resolve(db, args)
    if not ids:
        print("Nie ma faktur do wysłania.")
        return 0
    result = outbox.enqueue(db, ids, utc_now(), reachable=ksef_state.health(db).reachable,
                            environment=environment_key(state.settings()))
    numbers = invoice_list.numbers_of(db, ids)
    for invoice_id, reason in result.refused.items():
        print(f"{numbers.get(invoice_id) or invoice_id}: {reason}", file=sys.stderr)
    print(f"W kolejce do KSeF: {len(result.queued)}.")
    if not args.wait or not result.queued:
        if result.queued:
            print("Faktury wyślą się, gdy działa program (ksef-local run); albo użyj --wait.")
        return 1 if result.refused else 0
    return _wait(app, state, result.queued, numbers, args.timeout) or (1 if result.refused else 0)


def _wait(app, state, ids: list[int], numbers: dict[int, str], timeout: float) -> int:
    background = launcher.start_background(app, simulator="if-sending")
    if not background.sending:
        print("Program ksef-local działa i sam wysyła faktury; czekam na wynik.")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = outbox.statuses(state.db(), ids)
            if all(st.letter in FINAL for st in current.values()) or ksef_state.health(state.db()).paused:
                break
            time.sleep(0.5)
    finally:
        background.stop()
    current = outbox.statuses(state.db(), ids)
    for invoice_id in ids:
        st = current.get(invoice_id)
        line = f"{numbers[invoice_id]}: {st.letter if st else '-'}"
        if st and st.ksef_number:
            line += f" {st.ksef_number}"
        if st and st.error_title:
            line += f" – {st.error_title}: {st.error_advice}"
        print(line)
    health = ksef_state.health(state.db())
    if health.paused:
        print(f"Wysyłanie wstrzymane: {health.pause_title} – {health.pause_advice}", file=sys.stderr)
    return 0 if all(current.get(i) and current[i].letter == "A" for i in ids) else 1


def status(home: Path, args: argparse.Namespace) -> int:
    """Print every issued invoice with its KSeF letter, number, offline flag and deadline, last error."""
    _, state = open_app(home)
    db = state.db()
    rows = invoice_list.issued_in_order(db)
    current = outbox.statuses(db, [invoice_id for invoice_id, _ in rows])
    items = []
    for invoice_id, number in rows:
        st = current.get(invoice_id)
        items.append({
            "number": number, "letter": st.letter if st else None,
            "ksef_number": st.ksef_number if st else None, "offline": bool(st and st.offline_mode),
            "offline_deadline": st.offline_deadline.isoformat() if st and st.offline_deadline else None,
            "error": f"{st.error_title}: {st.error_advice}" if st and st.error_title else None,
        })
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return 0
    for item in items:
        parts = [item["number"], item["letter"] or "-", item["ksef_number"] or ""]
        if item["offline"]:
            deadline = item["offline_deadline"]
            parts.append("offline" + (f", termin {pl_date(deadline)}" if deadline else ""))
        if item["error"]:
            parts.append(item["error"])
        print("  ".join(p for p in parts if p))
    print(f"Niewysłane do KSeF: {outbox.unsent_count(db)}")
    return 0


def settings(home: Path, args: argparse.Namespace) -> int:
    """Show the KSeF settings, or change them; the token is read from standard input, never an argument."""
    _, state = open_app(home)
    form = {}
    for option, field in (("environment", "environment"), ("base_url", "base_url"), ("nip", "nip"),
                          ("batch_threshold", "batch_threshold")):
        if getattr(args, option) is not None:
            form[field] = str(getattr(args, option))
    if args.confirm_prod:
        form["confirm_prod"] = "1"
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
    if args.token_stdin:
        form["ksef_token"] = sys.stdin.readline().strip()
    if args.certificate:
        _add_certificate(state, args, password)
    if form:
        try:
            ksef_settings.save(state.db(), state.secrets, form)
        except ValidationFailed as exc:
            for text in exc.errors.values():
                print(text, file=sys.stderr)
            return 2
        print("Zapisano ustawienia KSeF.")
    current = state.settings()
    print(f"Środowisko: {describe(current)}")
    if current.environment == CUSTOM:
        print(f"Adres: {current.base_url}")
    print(f"NIP kontekstu: {current.nip or '(brak)'}")
    print(f"Token: {current.token_hint if current.has_token else '(brak)'}")
    method = state.login_method()
    if method.kind == "certificate":
        found = method.certificate
        print(f"Logowanie: certyfikatem {found.subject}, ważnym do {pl_date(found.not_after)}")
    elif method.kind == "token":
        print("Logowanie: tokenem KSeF (tokeny działają tylko do 31.12.2026; przejdź na certyfikat: "
              "ksef-local certificates request)")
    print(f"Wysyłka wsadowa od: {current.batch_threshold} faktur")
    return 0


def _add_certificate(state, args: argparse.Namespace, password: str) -> None:
    """--certificate FILE [--key FILE] [--password-stdin] [--offline]: keep a certificate (key in the secret store)."""
    try:
        bundle = args.certificate.read_bytes()
        key = args.key.read_bytes() if args.key else b""
    except OSError as exc:
        raise UserError(f"Nie można odczytać pliku ({exc.filename}).") from None
    pair = load_files(bundle, key, password)
    if args.offline:
        stored = credentials.add_offline_certificate(state.db(), state.secrets, state.settings(), *pair)
    else:
        stored = credentials.add_login_certificate(state.db(), state.secrets, state.settings(), *pair)
    print(f"Dodano certyfikat {stored.serial} ({stored.subject}), ważny do {pl_date(stored.not_after)}.")
