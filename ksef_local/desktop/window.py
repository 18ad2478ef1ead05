"""The desktop side of `ksef-local run`: a pywebview window, else the default browser, else only the server.

Part of the launcher (house-style rule 1): waitress serves in a background thread while the window owns the
main thread, as GUI toolkits require. Closing the window stops waitress (requests in flight finish) and then
the caller stops the sender after its current step.

Qt aborts the whole process (SIGABRT, not an exception) when it cannot reach a display, so on Linux we
check DISPLAY/WAYLAND_DISPLAY ourselves before importing it; only a missing backend raises something we can
catch (webview.errors.WebViewException). Seen under Xvfb with DISPLAY unset: Qt prints "could not connect
to display" and the process dies with SIGABRT (exit status 134).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import webbrowser
from typing import Callable, Mapping, MutableMapping

WINDOW, BROWSER, HEADLESS = "window", "browser", "headless"
TITLE = "ksef-local"

Opener = Callable[[str], object]
Say = Callable[[str], None]


def _say(text: str) -> None:
    print(text, flush=True)


def has_display(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether a window can be shown: always on Windows and macOS, on Linux only with an X or Wayland display."""
    if not platform.startswith("linux"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


# What Qt's xcb platform plugin and QtWebEngine load on an X11 desktop (Debian package → library). Without
# them Qt aborts the process (SIGABRT), which no exception handler sees: so look before importing Qt.
QT_X11_LIBRARIES = {
    "libxcb-cursor0": "libxcb-cursor.so.0", "libxcb-icccm4": "libxcb-icccm.so.4",
    "libxcb-keysyms1": "libxcb-keysyms.so.1", "libxkbcommon-x11-0": "libxkbcommon-x11.so.0",
    "libxcb-image0": "libxcb-image.so.0", "libxcb-render-util0": "libxcb-render-util.so.0",
    "libxcb-shape0": "libxcb-shape.so.0", "libxcb-randr0": "libxcb-randr.so.0", "libxcb-xkb1": "libxcb-xkb.so.1",
    "libegl1": "libEGL.so.1", "libnss3": "libnss3.so", "libfontconfig1": "libfontconfig.so.1",
}


def missing_qt_libraries(load: Callable[[str], object] = ctypes.CDLL) -> list[str]:
    """The Debian packages whose libraries Qt's window needs and this system cannot load."""
    missing = []
    for package, library in QT_X11_LIBRARIES.items():
        try:
            load(library)
        except OSError:
            missing.append(package)
    return missing


def choose_mode(browser: bool = False, headless: bool = False, environ: Mapping[str, str] = os.environ,
                platform: str = sys.platform,
                missing_libraries: Callable[[], list[str]] = missing_qt_libraries) -> tuple[str, str | None]:
    """Pick window, browser or headless; the second value says in Polish why the window was not chosen."""
    if headless:
        return HEADLESS, None
    if browser:
        return BROWSER, None
    if not has_display(environ, platform):
        return BROWSER, "Brak ekranu graficznego (zmienne DISPLAY i WAYLAND_DISPLAY są puste) – otwieram przeglądarkę."
    if platform.startswith("linux") and not environ.get("WAYLAND_DISPLAY"):
        missing = missing_libraries()
        if missing:
            return BROWSER, ("Okno programu potrzebuje bibliotek systemu, których brakuje – otwieram przeglądarkę. "
                             f"Aby mieć okno, zainstaluj je: sudo apt-get install {' '.join(missing)}")
    return WINDOW, None


def gui_for(platform: str = sys.platform) -> str | None:
    """pywebview's backend: Qt (PySide6) on Linux, the platform's own (WebView2, WebKit) elsewhere."""
    return "qt" if platform.startswith("linux") else None


def prepare_qt(environ: MutableMapping[str, str] = os.environ, euid: int | None = None) -> None:
    """QtWebEngine refuses to start as root without Chromium's --no-sandbox (it exits with rc 1)."""
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else -1
    if euid != 0:
        return
    flags = environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if "--no-sandbox" not in flags.split():
        environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()


def load_webview():
    """Import pywebview (kept in a function so that a headless run never loads a GUI toolkit)."""
    import webview

    return webview


def show_window(url: str, load: Callable[[], object] = load_webview, platform: str = sys.platform) -> str | None:
    """Show the window and block until the user closes it; return why it could not be shown, or None."""
    try:
        webview = load()
    except ImportError as exc:
        return f"Nie można otworzyć okna (brak modułu {exc.name or exc}) – otwieram przeglądarkę."
    gui = gui_for(platform)
    if gui == "qt":
        prepare_qt()
    try:
        webview.create_window(TITLE, url, width=1280, height=800, min_size=(800, 500))
        webview.start(gui=gui)
    except (webview.errors.WebViewException, ImportError) as exc:
        return f"Nie można otworzyć okna ({exc}) – otwieram przeglądarkę."
    return None


def stop_server(server, thread: threading.Thread | None = None) -> None:
    """Stop waitress: no new connections, requests in flight finish, then its loop ends."""
    from waitress import wasyncore

    server.task_dispatcher.shutdown()  # waits for the requests being served
    if thread is not None and thread.is_alive():
        # The socket map belongs to the loop's thread: close everything from there, through waitress's trigger.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
    else:
        server.close()


def serve(server, entry: Callable[[], str], mode: str, *, opener: Opener = webbrowser.open,
          show: Callable[[str], str | None] = show_window, say: Say = _say) -> None:
    """Serve until the window closes (window) or until Ctrl+C / SIGTERM (browser, headless).

    entry() gives a fresh one-time entry URL for each opening (web/security.py).
    """
    if mode == WINDOW:
        thread = threading.Thread(target=server.run, name="waitress", daemon=True)
        thread.start()
        say("Otwieram okno programu. Zamknięcie okna kończy pracę.")
        reason = show(entry())
        if reason is None:
            say("Okno zamknięte – kończę pracę.")
            stop_server(server, thread)
            return
        say(reason)
        opener(entry())
        say("Zatrzymanie: Ctrl+C.")
        _wait_for_interrupt(lambda: thread.join(0.5) or thread.is_alive())
        stop_server(server, thread)
        say("Zatrzymano.")
        return
    if mode == BROWSER:
        threading.Timer(0.5, lambda: opener(entry())).start()
        say("Otwieram przeglądarkę. Zatrzymanie: Ctrl+C.")
    _wait_for_interrupt(lambda: server.run() or False)  # waitress's loop returns on Ctrl+C
    stop_server(server)
    say("Zatrzymano.")


def _wait_for_interrupt(step: Callable[[], bool]) -> None:
    """Repeat step while it returns True; Ctrl+C or SIGTERM end it so that the caller can stop cleanly."""
    previous = _terminate_as_interrupt()
    try:
        while step():
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate_as_interrupt():
    """Treat SIGTERM (service stop, logout, `kill`) like Ctrl+C, so the sender finishes its step."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def open_running(url: str, mode: str, *, opener: Opener = webbrowser.open, say: Say = _say) -> None:
    """A second launch: show the running instance's page instead of starting another server and sender."""
    if mode == HEADLESS:
        say("ksef-local już działa dla tego folderu danych.")
        say(f"ksef-local działa pod adresem {url}")
        return
    say("ksef-local już działa dla tego folderu danych – otwieram jego okno w przeglądarce.")
    say(f"Adres: {url}")
    opener(url)
