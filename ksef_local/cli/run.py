"""`ksef-local run`: the app in a window, a browser or headless, one instance per data folder."""
from __future__ import annotations

import secrets
import sys
from pathlib import Path

from waitress import create_server

from ksef_local.app import create_app, database_problem
from ksef_local.desktop import instance, launcher
from ksef_local.desktop import window as desktop
from ksef_local.web.security import new_entry_url


def run(home: Path, headless: bool, port: int, browser: bool = False) -> int:
    mode, why = desktop.choose_mode(browser=browser, headless=headless)
    held = instance.claim(home)
    if held is None:  # another launch serves this data folder: show it rather than start a second sender
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
    background = None
    try:
        launch_secret = secrets.token_urlsafe(32)
        app = create_app(home, launch_secret=launch_secret)
        damaged = database_problem(app)
        if damaged:  # the app then serves only a page that explains it and lists the backups
            print(damaged, file=sys.stderr, flush=True)
        server = create_server(app, host="127.0.0.1", port=port, threads=8, ident="ksef-local")
        app.config["SERVER_PORT"] = server.effective_port  # Host must name exactly this port (DNS rebinding)
        background = None if damaged else launcher.start_background(app)
        base_url = f"http://127.0.0.1:{server.effective_port}"
        # Every opening gets its own one-time code: the window, the browser, the fallback to a browser.
        print(f"ksef-local działa pod adresem {new_entry_url(app, base_url)}", flush=True)
        print(f"Folder danych: {home}", flush=True)
        print("Adres otwiera program jeden raz; nowy poda ponowne uruchomienie ksef-local run.", flush=True)
        held.publish(server.effective_port, launch_secret)
        if why:
            print(why, flush=True)
        desktop.serve(server, lambda: new_entry_url(app, base_url), mode)
    finally:
        if background is not None:
            background.stop()  # the sender finishes its current step; nothing is left half-written
        held.release()
    return 0
