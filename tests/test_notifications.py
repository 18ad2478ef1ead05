"""Who shows the notification of new purchase invoices (desktop/notifications.py): the system's own tool in the
window, found with which(); nobody else's but the page's in a browser; nothing headless; and never a failure."""
from __future__ import annotations

import base64
import subprocess

import pytest

from ksef_local.desktop import notifications
from ksef_local.desktop.window import BROWSER, HEADLESS, WINDOW


def finds(*tools: str):
    return lambda name: f"/usr/bin/{name}" if name in tools else None


@pytest.mark.parametrize("platform, tools, first", [
    ("linux", ("notify-send",), "/usr/bin/notify-send"),
    ("darwin", ("osascript",), "/usr/bin/osascript"),
    ("win32", ("powershell",), "/usr/bin/powershell"),
    ("linux", (), None),
    ("darwin", (), None),
    ("win32", (), None),
    ("sunos5", ("notify-send",), None),
])
def test_the_system_tool_is_used_where_it_exists(platform, tools, first):
    command = notifications.native_command("Faktury zakupowe", "2 nowe", platform, finds(*tools))
    assert (command[0] if command else None) == first


def test_texts_reach_each_tool_intact_and_unquoted():
    title, body = 'Faktury "zakupowe"', "Żółć 'x' \\ 2"
    linux = notifications.native_command(title, body, "linux", finds("notify-send"))
    assert linux == ["/usr/bin/notify-send", "--app-name=ksef-local", "--", title, body]
    mac = notifications.native_command(title, body, "darwin", finds("osascript"))
    assert mac[2] == ('display notification "Żółć \'x\' \\\\ 2" with title "Faktury \\"zakupowe\\""')
    windows = notifications.native_command(title, body, "win32", finds("powershell"))
    script = base64.b64decode(windows[-1]).decode("utf-16-le")
    assert windows[-2] == "-EncodedCommand" and "CreateTextNode('Żółć ''x'' \\ 2')" in script
    assert "CreateTextNode('Faktury \"zakupowe\"')" in script and notifications.POWERSHELL_APP_ID in script


@pytest.mark.parametrize("mode", [BROWSER, HEADLESS])
def test_outside_the_window_the_page_decides(mode):
    assert notifications.notifier_for(mode, "linux", finds("notify-send")) is None


def test_in_the_window_without_a_tool_nothing_is_shown_and_nothing_fails():
    assert notifications.notifier_for(WINDOW, "linux", finds()) is None


def test_the_window_runs_the_tool_and_failures_stay_quiet():
    ran = []

    def run(command, **options):
        ran.append((command, options["timeout"]))
        return subprocess.CompletedProcess(command, 0)

    notify = notifications.notifier_for(WINDOW, "linux", finds("notify-send"), run=run)
    assert notify("Faktury zakupowe", "1 nowa faktura zakupowa z KSeF") is True
    assert ran == [(["/usr/bin/notify-send", "--app-name=ksef-local", "--", "Faktury zakupowe",
                     "1 nowa faktura zakupowa z KSeF"], notifications.TIMEOUT)]

    def broken(command, **options):
        raise FileNotFoundError(2, "gone since the start")

    def hanging(command, **options):
        raise subprocess.TimeoutExpired(command, options["timeout"])

    def refusing(command, **options):
        return subprocess.CompletedProcess(command, 1)

    for run_it in (broken, hanging, refusing):
        assert notifications.notifier_for(WINDOW, "linux", finds("notify-send"), run=run_it)("t", "b") is False
