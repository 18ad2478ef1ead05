"""What runs beside the web app: the demo mode's KSeF simulator and the background sender.

Only the launcher starts threads (house-style rule 1). ``start_background`` is used by ``ksef-local run``,
by ``ksef-local send --wait`` and by the end-to-end tests, so all of them run the same wiring.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ksef_local import disk
from ksef_local.accounting.worker import Exporter
from ksef_local.core.settings import DEMO_MODE
from ksef_local.credentials import ensure_demo_credentials, ensure_demo_purchases
from ksef_local.desktop.lock import try_lock
from ksef_local.errors import UserError
from ksef_local.sending import Sender
from ksef_local.services import Services
from ksef_local.simulator import SimulatorOptions, build_app, serve_in_thread

log = logging.getLogger(__name__)

SIMULATOR_STATE = "symulator-ksef.sqlite3"
SIMULATOR_PORT = "symulator-ksef.port"  # the demo simulator's port, kept so printed QR codes keep answering
SENDER_LOCK = "sender.lock"


@dataclass
class Background:
    """Handles to stop what start_background started, in the right order."""

    state: object
    sending: bool = False  # whether this process runs the sender (it holds the data folder's lock)
    stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self.stops):
            stop()
        self.stops.clear()


def remembered_simulator_port(home: Path) -> int | None:
    """The port the demo simulator of this data folder listened on first, when it has run here before."""
    try:
        port = int((home / SIMULATOR_PORT).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return port if 1024 <= port <= 65535 else None


def _remember_simulator_port(home: Path, port: int) -> None:
    path = home / SIMULATOR_PORT
    partial = path.with_suffix(".tmp")
    partial.unlink(missing_ok=True)
    disk.write_private(partial, f"{port}\n".encode("ascii"))   # private like everything in the data folder
    partial.replace(path)


def _listening_socket(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:port, or OSError when the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # a restart finds the port in TIME_WAIT; on Windows the option would share a taken port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _serve_simulator(state: Services, app) -> tuple[str, Callable[[], None]]:
    """Serve the demo simulator on this data folder's own port, so the QR codes of earlier printouts keep answering.

    KOD I and KOD II of a demo invoice link to the simulator's address (docs/simulator.md); on a new port at
    each start every printout made before would point nowhere. The first start takes a free port and keeps it
    in the data folder; when it is taken by then, this run falls back to another and the log says so.
    """
    remembered = remembered_simulator_port(state.home)
    if remembered is not None:
        try:
            return serve_in_thread(app, sock=_listening_socket(remembered))
        except OSError as exc:
            log.warning("the demo KSeF simulator's port %s is taken (%s): this run uses another one, and the QR "
                        "codes printed before answer again once %s is free", remembered, exc, remembered)
    url, stop = serve_in_thread(app, port=0)
    if remembered is None:
        _remember_simulator_port(state.home, int(url.rsplit(":", 1)[1]))
    return url, stop


def start_simulator(state: Services, processing_ms: int = 1000, limits: str = "prod") -> Callable[[], None]:
    """Start the in-app KSeF simulator of the demo mode; it keeps its state and its port beside our database."""
    options = SimulatorOptions(port=0, processing_ms=processing_ms, limits=limits,
                               state_file=str(state.home / SIMULATOR_STATE))
    url, stop = _serve_simulator(state, build_app(options))
    state.simulator_url = url
    settings = state.settings()
    if settings.environment == DEMO_MODE:
        try:
            ensure_demo_credentials(state.db(), state.secrets, settings, url)
        except UserError as exc:  # made again when the sender needs it; until then the banner says why
            log.warning("demo credentials: %s", exc.message)
        ensure_demo_purchases(state.db(), settings, url)   # the inbox shows how it works; the sync fetches them
    return stop


def start_background(app, *, simulator: bool | str = True, sender: bool = True, processing_ms: int = 1000,
                     limits: str = "prod", exporter: bool = False, **sender_kwargs) -> Background:
    """Start the demo simulator and the sender for an app built by create_app.

    simulator="if-sending" starts the simulator only when this process gets to run the sender (the
    command line needs it only then); the app always starts it, so "Testuj połączenie" works in demo mode.
    exporter: the worker of the accountant's month packages, for the app that serves the screens (a command
    line process must not take the screens' requests and leave them unfinished when it exits).
    """
    state = app.extensions["ksef_local"]
    background = Background(state)
    if exporter:
        packages = Exporter(state)
        state.exporter = packages
        packages.start()

        def stop_exporter() -> None:
            packages.stop()
            state.exporter = None

        background.stops.append(stop_exporter)
    lock = try_lock(state.home / SENDER_LOCK) if sender else None
    if sender and lock is None:
        log.info("another process is sending to KSeF from this data folder; not starting a second sender")
    if simulator is True or (simulator == "if-sending" and lock is not None):
        background.stops.append(start_simulator(state, processing_ms=processing_ms, limits=limits))
    if lock is not None:
        background.stops.append(lock.release)
        worker = Sender(state.databases, state.make_client, make_latarnia=state.make_latarnia,
                        batch_threshold=state.settings().batch_threshold, services=state,
                        **{"purchases": True, **sender_kwargs})
        state.sender = worker
        worker.start()

        def stop_sender() -> None:
            worker.stop()
            state.sender = None

        background.stops.append(stop_sender)
        background.sending = True
    return background
