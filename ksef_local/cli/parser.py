"""The ksef-local command line's arguments: every subcommand and its options (help texts in Polish)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ksef_local import config, simulator
from ksef_local.cli import certificates as certificates_cli
from ksef_local.cli import printing as printing_cli
from ksef_local.cli import purchases as purchases_cli
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
    settings.add_argument("--certificate", type=Path, metavar="PLIK",
                          help="dodaj certyfikat logowania: .p12/.pfx albo .crt/.pem (z --key)")
    settings.add_argument("--key", type=Path, metavar="PLIK", help="klucz prywatny (.key) do --certificate")
    settings.add_argument("--password-stdin", action="store_true",
                          help="wczytaj hasło do pliku .p12 lub klucza ze standardowego wejścia")
    settings.add_argument("--offline", action="store_true",
                          help="--certificate jest certyfikatem KSeF typu Offline (do kodu KOD II)")

    certs = sub.add_parser("certificates", help="logowanie certyfikatem i certyfikaty KSeF")
    certificates_cli.add_arguments(certs)

    buys = sub.add_parser("purchases", help="faktury zakupowe z KSeF: pobieranie, lista, XML, PDF")
    purchases_cli.add_arguments(buys)

    sim = sub.add_parser("simulator", help="uruchom lokalny symulator KSeF")
    simulator.add_arguments(sim)
    return parser
