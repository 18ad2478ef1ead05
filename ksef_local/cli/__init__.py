"""The ksef-local command line: run, import, send, status, settings, simulator."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ksef_local import config
from ksef_local.errors import UserError
from ksef_local.version import VERSION


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="ksef-local", description="Fakturowanie z modułem KSeF.")
    parser.add_argument("--version", action="version", version=f"ksef-local {VERSION}")
    parser.add_argument(
        "--data-dir",
        help=f"folder danych (domyślnie ${config.ENV_HOME} albo folder danych użytkownika systemu)",
    )
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="uruchom aplikację")
    shown = run.add_mutually_exclusive_group()
    shown.add_argument("--headless", action="store_true", help="tylko serwer: wypisz adres i nie otwieraj okna")
    shown.add_argument("--browser", action="store_true", help="otwórz w domyślnej przeglądarce zamiast w oknie")
    run.add_argument("--port", type=int, default=0, help="port na 127.0.0.1 (domyślnie wolny port)")

    imp = sub.add_parser("import", help="zaimportuj faktury FA(3) z plików XML")
    imp.add_argument("files", nargs="+", type=Path, metavar="PLIK")

    send = sub.add_parser("send", help="wyślij wystawione faktury do KSeF")
    which = send.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="wszystkie wystawione, jeszcze niewysłane faktury")
    which.add_argument("numbers", nargs="*", default=[], metavar="NUMER", help="numery faktur")
    send.add_argument("--wait", action="store_true", help="wyślij teraz i poczekaj na wynik (A lub B)")
    send.add_argument("--timeout", type=float, default=300, help="najdłuższe czekanie w sekundach (z --wait)")

    pdf = sub.add_parser("pdf", help="zapisz faktury do pliku PDF (z kodami QR KSeF)")
    from ksef_local.cli import printing as printing_cli

    printing_cli.add_arguments(pdf)

    status = sub.add_parser("status", help="statusy faktur w KSeF")
    status.add_argument("--json", action="store_true", help="wynik w JSON")

    settings = sub.add_parser("settings", help="pokaż albo zmień ustawienia KSeF")
    settings.add_argument("--environment", choices=["demo", "TEST", "DEMO", "PROD", "custom"])
    settings.add_argument("--base-url", help="adres serwera dla środowiska custom")
    settings.add_argument("--nip", help="NIP kontekstu (puste = NIP firmy)")
    settings.add_argument("--batch-threshold", type=int)
    settings.add_argument("--token-stdin", action="store_true", help="wczytaj token KSeF ze standardowego wejścia")
    settings.add_argument("--confirm-prod", action="store_true", help="potwierdź środowisko produkcyjne")

    sim = sub.add_parser("simulator", help="uruchom lokalny symulator KSeF")
    from ksef_local import simulator

    simulator.add_arguments(sim)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    if command == "simulator":
        from ksef_local import simulator

        return simulator.run(args)
    home = config.data_dir(args.data_dir)
    if command == "import":
        return _import_files(home, args.files)
    if command == "pdf":
        from ksef_local.cli import printing as printing_cli

        return printing_cli.pdf_command(home, args)
    if command in ("send", "status", "settings"):
        from ksef_local.cli import ksef as cli_ksef

        try:
            return getattr(cli_ksef, command)(home, args)
        except UserError as exc:
            print(exc.message, file=sys.stderr)
            return 2
    return _run(home, headless=getattr(args, "headless", False), port=getattr(args, "port", 0),
                browser=getattr(args, "browser", False))


def _run(home: Path, headless: bool, port: int, browser: bool = False) -> int:
    import secrets

    from waitress import create_server

    from ksef_local.store import backup
    from ksef_local import create_app
    from ksef_local.desktop import window as desktop, instance, launcher
    from ksef_local.web.security import entry_url

    mode, why = desktop.choose_mode(browser=browser, headless=headless)
    held = instance.claim(home)
    if held is None:  # another launch serves this data folder: show it rather than start a second sender
        running = instance.find_running(home)
        if running is None:
            print("ksef-local już działa dla tego folderu danych, ale nie odpowiada. Zamknij go albo poczekaj "
                  "chwilę i spróbuj ponownie.", file=sys.stderr, flush=True)
            return 1
        desktop.open_running(entry_url(running.base_url, running.secret), mode)
        return 0
    background = None
    try:
        launch_secret = secrets.token_urlsafe(32)
        app = create_app(home, launch_secret=launch_secret)
        damaged = backup.problem_of(app)
        if damaged:  # the app then serves only a page that explains it and lists the backups
            print(damaged, file=sys.stderr, flush=True)
        server = create_server(app, host="127.0.0.1", port=port, threads=8, ident="ksef-local")
        app.config["SERVER_PORT"] = server.effective_port  # Host must name exactly this port (DNS rebinding)
        background = None if damaged else launcher.start_background(app)
        url = entry_url(f"http://127.0.0.1:{server.effective_port}", launch_secret)
        print(f"ksef-local działa pod adresem {url}", flush=True)
        print(f"Folder danych: {home}", flush=True)
        held.publish(server.effective_port, launch_secret)
        if why:
            print(why, flush=True)
        desktop.serve(server, url, mode)
    finally:
        if background is not None:
            background.stop()  # the sender finishes its current step; nothing is left half-written
        held.release()
    return 0


def _import_files(home: Path, files: list[Path]) -> int:
    from ksef_local.store import backup, invoices
    from ksef_local import create_app

    app = create_app(home)
    if backup.problem_of(app):
        print(backup.problem_of(app), file=sys.stderr)
        return 2
    failures = 0
    with app.app_context():
        db = app.extensions["ksef_local"].db()
        for path in files:
            try:
                data = invoices.read_import_file(path)
                invoice_id = invoices.import_xml(db, data, path.name)
            except invoices.UserError as exc:
                failures += 1
                print(f"{path}: {exc}", file=sys.stderr)
                continue
            number = invoices.get_invoice(db, invoice_id)["number"]
            print(f"{path}: zaimportowano fakturę {number}")
    return 1 if failures else 0
