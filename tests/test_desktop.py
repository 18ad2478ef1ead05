"""The window/browser/headless choice, the fallbacks, and waitress stopping when the window closes."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from waitress import create_server, wasyncore

from ksef_local.app import create_app
from ksef_local.desktop import window as desktop
from ksef_local.forms import parties as party_forms
from ksef_local.store import parties

from .conftest import COMPANY_FORM
from .factories import issued


@pytest.mark.parametrize("browser, headless, environ, platform, mode, says_why", [
    (False, False, {"DISPLAY": ":0"}, "linux", desktop.WINDOW, False),
    (False, False, {"WAYLAND_DISPLAY": "wayland-0"}, "linux", desktop.WINDOW, False),
    (False, False, {}, "linux", desktop.BROWSER, True),
    (False, False, {"DISPLAY": ""}, "linux", desktop.BROWSER, True),
    (False, False, {}, "win32", desktop.WINDOW, False),
    (False, False, {}, "darwin", desktop.WINDOW, False),
    (True, False, {"DISPLAY": ":0"}, "linux", desktop.BROWSER, False),
    (False, True, {"DISPLAY": ":0"}, "linux", desktop.HEADLESS, False),
    (False, True, {}, "linux", desktop.HEADLESS, False),
])
def test_choose_mode(browser, headless, environ, platform, mode, says_why):
    chosen, why = desktop.choose_mode(browser, headless, environ, platform, missing_libraries=lambda: [])
    assert chosen == mode
    assert bool(why) == says_why
    if why:
        assert "przeglądarkę" in why


def test_missing_qt_libraries_open_the_browser_and_name_the_packages():
    """Qt would abort the process (SIGABRT) without its xcb libraries: look first, then say what to install."""
    chosen, why = desktop.choose_mode(environ={"DISPLAY": ":0"}, platform="linux",
                                      missing_libraries=lambda: ["libxcb-cursor0", "libxcb-icccm4"])
    assert chosen == desktop.BROWSER
    assert "przeglądarkę" in why and "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in why
    # On Wayland Qt uses another platform plugin: the xcb libraries are not asked for.
    assert desktop.choose_mode(environ={"WAYLAND_DISPLAY": "w-0"}, platform="linux",
                               missing_libraries=lambda: ["libxcb-cursor0"])[0] == desktop.WINDOW


def test_missing_qt_libraries_are_found_by_loading_them():
    loaded = []

    def load(name):
        loaded.append(name)
        if name == "libxcb-cursor.so.0":
            raise OSError("cannot open shared object file")

    assert desktop.missing_qt_libraries(load) == ["libxcb-cursor0"]
    assert set(loaded) == set(desktop.QT_X11_LIBRARIES.values())


def test_gui_is_qt_on_linux_only():
    assert desktop.gui_for("linux") == "qt"
    assert desktop.gui_for("win32") is None and desktop.gui_for("darwin") is None


@pytest.mark.parametrize("euid, before, after", [
    (0, {}, "--no-sandbox"),
    (0, {"QTWEBENGINE_CHROMIUM_FLAGS": "--disable-gpu"}, "--disable-gpu --no-sandbox"),
    (0, {"QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox"}, "--no-sandbox"),
    (1000, {}, None),
])
def test_prepare_qt_disables_the_sandbox_only_as_root(euid, before, after):
    environ = dict(before)
    desktop.prepare_qt(environ, euid=euid)
    assert environ.get("QTWEBENGINE_CHROMIUM_FLAGS") == after


class FakeWebview:
    """pywebview's two calls, recorded; start() may raise like a machine without a GUI backend."""

    class errors:
        class WebViewException(Exception):
            pass

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple] = []

    def create_window(self, title, url, **kwargs):
        self.calls.append(("create_window", title, url))

    def start(self, gui=None):
        self.calls.append(("start", gui))
        if self.fail:
            raise self.errors.WebViewException(self.fail)


def test_show_window_titles_the_window_and_uses_qt_on_linux(monkeypatch):
    monkeypatch.delenv("QTWEBENGINE_CHROMIUM_FLAGS", raising=False)
    webview = FakeWebview()
    assert desktop.show_window("http://127.0.0.1:1/?wejscie=x", load=lambda: webview, platform="linux") is None
    assert webview.calls == [("create_window", "ksef-local", "http://127.0.0.1:1/?wejscie=x"), ("start", "qt")]


def test_show_window_reports_a_missing_backend():
    webview = FakeWebview(fail="You must have either QT or GTK")
    why = desktop.show_window("http://x/", load=lambda: webview, platform="win32")
    assert "Nie można otworzyć okna" in why and "QT or GTK" in why and "przeglądarkę" in why


def test_show_window_reports_a_missing_pywebview():
    def missing():
        raise ModuleNotFoundError("No module named 'webview'", name="webview")

    why = desktop.show_window("http://x/", load=missing, platform="linux")
    assert "webview" in why and "przeglądarkę" in why


def static_url(server) -> str:
    return f"http://127.0.0.1:{server.effective_port}/app.css"


def tiny_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.URLError:
        return True
    return False


def test_closing_the_window_stops_the_server():
    server = create_server(tiny_app, host="127.0.0.1", port=0, threads=2)
    seen = []

    def window(url):  # the window is open while this runs; returning means the user closed it
        with urllib.request.urlopen(static_url(server), timeout=5) as response:
            seen.append(response.read())
        return None

    said = []
    desktop.serve(server, lambda: "http://entry/", desktop.WINDOW, show=window, opener=pytest.fail, say=said.append)
    assert seen == [b"ok"]
    assert "Okno zamknięte – kończę pracę." in said
    assert refused(static_url(server))


def test_a_window_that_cannot_open_falls_back_to_the_browser():
    server = create_server(tiny_app, host="127.0.0.1", port=0, threads=2)
    opened = []

    def browser(url):  # the user works in the browser, then the server loop ends (as on Ctrl+C)
        with urllib.request.urlopen(static_url(server), timeout=5) as response:
            opened.append((url, response.status))
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))

    said, codes = [], iter(("http://entry/?wejscie=1", "http://entry/?wejscie=2"))
    desktop.serve(server, lambda: next(codes), desktop.WINDOW, show=lambda url: "Nie można otworzyć okna (x).",
                  opener=browser, say=said.append)
    assert opened == [("http://entry/?wejscie=2", 200)]   # the browser gets a code of its own
    assert said[1] == "Nie można otworzyć okna (x)."
    assert said[-1] == "Zatrzymano."


def test_a_second_launch_opens_the_running_page_or_prints_it():
    opened, said = [], []
    desktop.open_running("http://127.0.0.1:5/?wejscie=s", desktop.WINDOW, opener=opened.append, say=said.append)
    assert opened == ["http://127.0.0.1:5/?wejscie=s"]
    assert said[0] == "ksef-local już działa dla tego folderu danych – otwieram jego okno w przeglądarce."
    opened, said = [], []
    desktop.open_running("http://127.0.0.1:5/?wejscie=s", desktop.HEADLESS, opener=opened.append, say=said.append)
    assert opened == [] and said[-1] == "ksef-local działa pod adresem http://127.0.0.1:5/?wejscie=s"


def test_has_display_needs_x_or_wayland_on_linux_only():
    assert not desktop.has_display({}, "linux")
    assert desktop.has_display({"DISPLAY": ":1"}, "linux")
    assert desktop.has_display({}, "win32")




# --- the real window under Xvfb ---------------------------------------------------------------------------


def need_tool(name: str) -> str:
    """The path of a system tool; skip visibly without it, but fail on CI (make test installs it there)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install xvfb imagemagick xdotool): the window test needs it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def xvfb():
    """A private X display, :NN, for the duration of a test."""
    xvfb_path = need_tool("Xvfb")
    number = next(n for n in range(91, 200) if not os.path.exists(f"/tmp/.X11-unix/X{n}")
                  and not os.path.exists(f"/tmp/.X{n}-lock"))
    server = subprocess.Popen([xvfb_path, f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{number}"):
        assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def colours_in(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])


@pytest.mark.slow
def test_the_window_shows_the_invoice_list(tmp_path, xvfb):
    xdotool, importer = need_tool("xdotool"), need_tool("import")
    home = tmp_path / "dane"
    app = create_app(home)
    db = app.extensions["ksef_local"].db()
    parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
    for _ in range(3):
        issued(db)
    env = {**os.environ, "DISPLAY": xvfb, "KSEF_LOCAL_SECRET_BACKEND": "file"}
    env.pop("WAYLAND_DISPLAY", None)
    window = subprocess.Popen([sys.executable, "-m", "ksef_local", "--data-dir", str(home), "run"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              start_new_session=True)
    shot = tmp_path / "okno.png"
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([xdotool, "search", "--name", "^ksef-local$"], env=env,
                             capture_output=True).returncode != 0:
            assert window.poll() is None, window.stdout.read()
            assert time.monotonic() < deadline, "no window titled ksef-local appeared"
            time.sleep(0.2)
        # The page is drawn a moment after the window maps: wait until the screen holds a rendered page.
        while True:
            subprocess.run([importer, "-window", "root", str(shot)], env=env, check=True)
            if colours_in(shot) > 200:
                break
            assert time.monotonic() < deadline, "the window stayed blank"
            time.sleep(0.5)
        time.sleep(1.5)  # let the list's fonts and status cells settle before the picture that is kept
        subprocess.run([importer, "-window", "root", str(shot)], env=env, check=True)
        assert window.poll() is None
    finally:
        os.killpg(window.pid, signal.SIGTERM)
        try:
            output, _ = window.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(window.pid, signal.SIGKILL)
            output, _ = window.communicate()
    assert "Otwieram okno programu." in output, output
    assert "przeglądarkę" not in output, output  # the window opened; there was no fallback
    assert colours_in(shot) > 200
    if os.environ.get("KSEF_LOCAL_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["KSEF_LOCAL_SCREENSHOT"])
