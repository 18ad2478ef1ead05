"""What runs beside the web app: the demo mode's KSeF simulator and the background sender.

Only the launcher starts threads (house-style rule 1). ``start_background`` is used by ``ksef-local run``,
by ``ksef-local send --wait`` and by the end-to-end tests, so all of them run the same wiring.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from ksef_local.core.settings import DEMO_MODE
from ksef_local.credentials import ensure_demo_credentials, ensure_demo_purchases
from ksef_local.desktop.lock import try_lock
from ksef_local.errors import UserError
from ksef_local.sending import Sender
from ksef_local.services import Services
from ksef_local.simulator import SimulatorOptions, build_app, serve_in_thread

log = logging.getLogger(__name__)

SIMULATOR_STATE = "symulator-ksef.sqlite3"
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


def start_simulator(state: Services, processing_ms: int = 1000, limits: str = "prod") -> Callable[[], None]:
    """Start the in-app KSeF simulator of the demo mode; it keeps its state beside our database."""
    options = SimulatorOptions(port=0, processing_ms=processing_ms, limits=limits,
                               state_file=str(state.home / SIMULATOR_STATE))
    url, stop = serve_in_thread(build_app(options))
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
                     limits: str = "prod", **sender_kwargs) -> Background:
    """Start the demo simulator and the sender for an app built by create_app.

    simulator="if-sending" starts the simulator only when this process gets to run the sender (the
    command line needs it only then); the app always starts it, so "Testuj połączenie" works in demo mode.
    """
    state = app.extensions["ksef_local"]
    background = Background(state)
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
