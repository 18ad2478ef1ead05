"""Local KSeF simulator: `ksef-local simulator`, and an embeddable app for tests and the demo mode.

Serves KSeF's API under /v2 like KSeF (designed from the official OpenAPI 2.6.0), for sending and for
receiving invoices, plus Latarnia, the QR verification pages and simulator-only endpoints under /sim (not
part of KSeF). See docs/simulator.md.
"""
from __future__ import annotations

import argparse
import socket
import threading
from datetime import date
from typing import Callable

from werkzeug.serving import WSGIRequestHandler, make_server

from ksef_local.simulator.app import Simulator, build_app
from ksef_local.simulator.common import SimulatorOptions
from ksef_local.simulator.tokens import REFUSALS

__all__ = ["add_arguments", "run", "build_app", "serve_in_thread", "SimulatorOptions", "options_from_args",
           "simulator_of"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's command-line options."""
    parser.add_argument("--host", default="127.0.0.1", help="adres nasłuchu (domyślnie 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (domyślnie 8765)")
    parser.add_argument("--limits", choices=("prod", "off"), default="prod",
                        help="limity żądań jak na produkcji (prod) albo wyłączone (off)")
    parser.add_argument("--processing-ms", type=int, default=1000, metavar="N",
                        help="czas przetwarzania faktury i sesji w milisekundach (domyślnie 1000)")
    parser.add_argument("--state", metavar="PLIK", help="plik SQLite ze stanem (przetrwa restart)")
    parser.add_argument("--check-nip", action="store_true", help="sprawdzaj sumy kontrolne NIP (jak na produkcji)")
    parser.add_argument("--xades-delay-ms", type=int, metavar="N",
                        help="jak długo logowanie podpisem (certyfikat spoza KSeF) ma status 100; domyślnie jak "
                             "--processing-ms")
    parser.add_argument("--tokens-until", type=date.fromisoformat, metavar="RRRR-MM-DD",
                        help="ostatni dzień logowania tokenem KSeF (później logowanie tokenem jest odrzucane)")
    parser.add_argument("--tokens-refusal", choices=REFUSALS, default="403",
                        help="jak odrzucać token po --tokens-until: 403, status 450 albo 21301 (domyślnie 403)")
    parser.add_argument("--ksef-cert-days", type=int, default=730, metavar="N",
                        help="ważność wydawanych certyfikatów KSeF w dniach (domyślnie 730)")
    parser.add_argument("--storage-ms", type=int, metavar="N",
                        help="po ilu milisekundach od przyjęcia faktura jest trwale zapisana i widoczna dla "
                             "nabywcy; domyślnie jak --processing-ms")


def options_from_args(args: argparse.Namespace) -> SimulatorOptions:
    """Return SimulatorOptions from parsed arguments."""
    return SimulatorOptions(host=args.host, port=args.port, limits=args.limits, processing_ms=args.processing_ms,
                            state_file=args.state, check_nip=args.check_nip, xades_delay_ms=args.xades_delay_ms,
                            tokens_until=args.tokens_until, tokens_refusal=args.tokens_refusal,
                            ksef_certificate_days=args.ksef_cert_days, storage_ms=args.storage_ms)


def run(args: argparse.Namespace) -> int:
    """Run the simulator until interrupted."""
    options = options_from_args(args)
    app = build_app(options)
    server = make_server(options.host, options.port, app, threaded=True)
    base = f"http://{options.host}:{server.server_port}"
    print(f"Symulator KSeF działa: {base}/v2 (to nie jest KSeF; UPO są niepodpisane)", flush=True)
    print(f"Utwórz token: curl -s -X POST {base}/sim/tokens -H 'Content-Type: application/json' "
          "-d '{\"nip\": \"5265877635\"}'", flush=True)
    print("Zatrzymanie: Ctrl+C.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Zatrzymano.", flush=True)
    finally:
        server.server_close()
        simulator_of(app).close()
    return 0


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # tests and the demo mode need no access log
        pass


def serve_in_thread(app=None, host: str = "127.0.0.1", port: int = 0,
                    sock: socket.socket | None = None) -> tuple[str, Callable[[], None]]:
    """Serve a simulator app on host:port (0 = any free port) in a daemon thread; return (base_url, stop).

    sock, when given, is a socket the caller already bound and made listen (the server takes it over): a
    taken port is then the caller's OSError, where werkzeug's own bind would print and exit the process.
    """
    app = app or build_app(SimulatorOptions(port=port))
    if sock is not None:
        port = sock.getsockname()[1]
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler,
                         fd=sock.fileno() if sock is not None else None)
    if sock is not None:
        sock.close()  # the server holds its own duplicate of the descriptor
    thread = threading.Thread(target=server.serve_forever, name="ksef-simulator", daemon=True)
    thread.start()

    def stop() -> None:
        simulator_of(app).faults.stopping.set()
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        simulator_of(app).close()

    return f"http://{host}:{server.port}", stop


def simulator_of(app) -> Simulator:
    """Return the Simulator behind an app built by build_app."""
    return app.extensions["ksef_simulator"]
