"""`ksef-local run`: the app in a window, a browser or headless, one instance per data folder."""
from __future__ import annotations

import secrets
import sys
from pathlib import Path

from waitress import create_server

from ksef_local import config, disk
from ksef_local.app import create_app, database_problem, on_repaired
from ksef_local.desktop import instance, launcher, notifications
from ksef_local.desktop import window as desktop
from ksef_local.web.security import new_entry_url


def run(home: Path, headless: bool, port: int, browser: bool = False) -> int:
    mode, why = desktop.choose_mode(browser=browser, headless=headless)
    # A folder the program cannot write to has no room for the instance lock: serve only the page that
    # says so (create_app finds the same problem), without claiming the folder.
    unwritable = disk.write_problem(home, config.database_path(home))
    held = None if unwritable else instance.claim(home)
    if held is None and not unwritable:  # another launch serves this folder: show it, not a second sender
        running = instance.find_running(home)
        if running is None:
            print("ksef-local już działa dla tego folderu danych, ale nie odpowiada. Zamknij go albo poczekaj "
                  "chwilę i spróbuj ponownie.", file=sys.stderr, flush=True)
            return 1
        url = instance.entry_url_of(running)
        if url is None:
            print("ksef-local już działa dla tego folderu danych, ale nie udało się otworzyć jego okna. Zamknij "
                  "go i uruchom ponownie.", file=sys.stderr, flush=True)
            return 1
        desktop.open_running(url, mode)
        return 0
    backgrounds: list[launcher.Background] = []

    def start(full) -> launcher.Background:
        """The sender and the month packages' worker; new purchase invoices notify the way this mode can."""
        full.extensions["ksef_local"].notifier = notifications.notifier_for(mode)
        return launcher.start_background(full, exporter=True)

    try:
        launch_secret = secrets.token_urlsafe(32)
        app = create_app(home, launch_secret=launch_secret)
        damaged = database_problem(app)
        if damaged:  # the app then serves only a page that explains it (and repairs, then starts the rest)
            print(damaged, file=sys.stderr, flush=True)
            on_repaired(app, lambda full: backgrounds.append(start(full)))
        server = create_server(app, host="127.0.0.1", port=port, threads=8, ident="ksef-local")
        app.config["SERVER_PORT"] = server.effective_port  # Host must name exactly this port (DNS rebinding)
        if not damaged:
            backgrounds.append(start(app))
        base_url = f"http://127.0.0.1:{server.effective_port}"
        # Every opening gets its own one-time code: the window, the browser, the fallback to a browser.
        print(f"ksef-local działa pod adresem {new_entry_url(app, base_url)}", flush=True)
        print(f"Folder danych: {home}", flush=True)
        print("Adres otwiera program jeden raz; nowy poda ponowne uruchomienie ksef-local run.", flush=True)
        if held is not None:
            held.publish(server.effective_port, launch_secret)
        if why:
            print(why, flush=True)
        desktop.serve(server, lambda: new_entry_url(app, base_url), mode)
    finally:
        for background in backgrounds:
            background.stop()  # the sender finishes its current step; nothing is left half-written
        if held is not None:
            held.release()
    return 0
