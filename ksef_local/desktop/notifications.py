"""Desktop notifications of new purchase invoices: who shows them, decided once per launch.

- In the program's window the page cannot: pywebview's Qt page refuses every permission but camera and
  microphone (webview/platforms/qt.py, onFeaturePermissionRequested), and WebKit on macOS has no Notification
  API in an app's web view. So the window asks the system, with what it has without new dependencies:
  notify-send on Linux (libnotify, the Desktop Notifications Specification, specifications.freedesktop.org
  /notification-spec), osascript's "display notification" on macOS (Apple, Mac Automation Scripting Guide,
  "Displaying Notifications"), a toast through Windows PowerShell on Windows (learn.microsoft.com, "Toast
  notifications" and ToastNotificationManager.CreateToastNotifier). When none is found, nothing is shown.
- In a browser (--browser, or the window's fallback) the page shows them itself with the browser's
  Notification API after the user allows it (static/notifications.js): that works in every browser.
- --headless: no notification, nobody is looking.

Whichever shows it, the server announces new arrivals once (store/purchases.announce), and every failure is
quiet: the counter in the top bar shows the new invoices anyway.
"""
from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import sys
from typing import Callable

from ksef_local.desktop.window import WINDOW

log = logging.getLogger(__name__)

Which = Callable[[str], "str | None"]
Notifier = Callable[[str, str], bool]
APP_NAME = "ksef-local"
TIMEOUT = 15.0   # Windows PowerShell takes a second or two to start
# Windows shows a toast only for a registered application; Windows PowerShell is one on every Windows 10 and 11
# (its AppUserModelID: the known folder id of System32, then its path).
POWERSHELL_APP_ID = r"{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\WindowsPowerShell\v1.0\powershell.exe"


def _applescript_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _powershell_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def native_command(title: str, body: str, platform: str = sys.platform,
                   which: Which = shutil.which) -> list[str] | None:
    """The command that shows a notification on this system, or None when it has none we can use."""
    if platform.startswith("linux") or "bsd" in platform:
        tool = which("notify-send")
        return [tool, f"--app-name={APP_NAME}", "--", title, body] if tool else None
    if platform == "darwin":
        tool = which("osascript")
        script = f"display notification {_applescript_string(body)} with title {_applescript_string(title)}"
        return [tool, "-e", script] if tool else None
    if platform in ("win32", "cygwin"):
        tool = which("powershell")
        if not tool:
            return None
        script = (
            "[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, "
            "ContentType = WindowsRuntime] > $null; "
            "$t = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent("
            "[Windows.UI.Notifications.ToastTemplateType]::ToastText02); "
            "$x = $t.GetElementsByTagName('text'); "
            f"$x.Item(0).AppendChild($t.CreateTextNode({_powershell_string(title)})) > $null; "
            f"$x.Item(1).AppendChild($t.CreateTextNode({_powershell_string(body)})) > $null; "
            "[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier("
            f"{_powershell_string(POWERSHELL_APP_ID)}).Show([Windows.UI.Notifications.ToastNotification]::new($t))")
        # -EncodedCommand takes UTF-16LE in base64: no quoting of the text on the command line at all.
        encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
        return [tool, "-NoProfile", "-NonInteractive", "-WindowStyle", "Hidden", "-EncodedCommand", encoded]
    return None


def notifier_for(mode: str, platform: str = sys.platform, which: Which = shutil.which,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Notifier | None:
    """How this launch shows a notification: the system's tool in the window, None (the page) otherwise."""
    if mode != WINDOW or native_command("t", "b", platform, which) is None:
        return None

    def notify(title: str, body: str) -> bool:
        command = native_command(title, body, platform, which)
        if command is None:
            return False
        try:
            done = run(command, capture_output=True, timeout=TIMEOUT, check=False,
                       creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("desktop notification not shown: %s", exc)
            return False
        if done.returncode != 0:
            log.info("desktop notification not shown: %s exited with %s", command[0], done.returncode)
        return done.returncode == 0

    return notify
