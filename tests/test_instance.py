"""One running app per data folder: the instance file and lock, and two real launches on one folder."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

from ksef_local.desktop import instance, launcher
from ksef_local.desktop.lock import try_lock


def test_claim_publish_and_release(tmp_path):
    held = instance.claim(tmp_path)
    assert held is not None
    assert instance.claim(tmp_path) is None  # a second claim on the same folder is refused
    held.publish(4321, "sekret")
    info = tmp_path / instance.INFO_FILE
    assert stat.S_IMODE(info.stat().st_mode) == 0o600  # the launch secret is for this user only
    assert instance.read_running(tmp_path) == instance.Running(port=4321, secret="sekret", pid=os.getpid())
    held.release()
    assert not info.exists()
    again = instance.claim(tmp_path)
    assert again is not None
    again.release()


def test_a_stale_file_does_not_block_a_start(tmp_path):
    (tmp_path / instance.INFO_FILE).write_text('{"port": 1, "secret": "stary", "pid": 999999}')
    held = instance.claim(tmp_path)  # nobody holds the lock: the process that wrote the file is gone
    assert held is not None
    held.publish(5555, "nowy")
    assert instance.read_running(tmp_path).secret == "nowy"
    held.release()


def test_unreadable_files_mean_no_running_instance(tmp_path):
    assert instance.read_running(tmp_path) is None
    (tmp_path / instance.INFO_FILE).write_text("{nie json")
    assert instance.read_running(tmp_path) is None
    (tmp_path / instance.INFO_FILE).write_text('{"port": "x"}')
    assert instance.read_running(tmp_path) is None


def test_find_running_gives_up_when_nothing_answers(tmp_path):
    (tmp_path / instance.INFO_FILE).write_text('{"port": 1, "secret": "s", "pid": 1}')
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    assert instance.find_running(tmp_path, wait=1, clock=lambda: now[0], sleep=sleep) is None
    assert now[0] >= 1


def launch(home, *extra):
    return subprocess.Popen([sys.executable, "-m", "ksef_local", "--data-dir", str(home), "run", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "KSEF_LOCAL_SECRET_BACKEND": "file"})


def wait_for_file(path, seconds=30):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


def test_a_second_launch_shows_the_running_instance(tmp_path):
    home = tmp_path / "dane"
    first = launch(home, "--headless")
    try:
        url = first.stdout.readline().split()[-1]
        wait_for_file(home / instance.INFO_FILE)
        started = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "ksef_local", "--data-dir", str(home), "run", "--headless"],
                                capture_output=True, text=True, timeout=30,
                                env={**os.environ, "KSEF_LOCAL_SECRET_BACKEND": "file"})
        assert second.returncode == 0, second.stderr
        assert time.monotonic() - started < 10
        assert "już działa dla tego folderu danych" in second.stdout
        again = second.stdout.splitlines()[-1]
        assert again.startswith(f"ksef-local działa pod adresem {url.split('?')[0]}?wejscie=")
        assert again.split()[-1] != url   # a fresh one-time code from the running instance
        assert try_lock(home / launcher.SENDER_LOCK) is None  # only the first launch runs the sender
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=20)
    assert first.returncode == 0 and "Zatrzymano." in out
    assert not (home / instance.INFO_FILE).exists()  # removed on exit
    sender_lock = try_lock(home / launcher.SENDER_LOCK)
    assert sender_lock is not None  # and the sender stopped
    sender_lock.release()


def test_a_killed_instance_does_not_block_the_next_start(tmp_path):
    home = tmp_path / "dane"
    first = launch(home, "--headless")
    first.stdout.readline()
    wait_for_file(home / instance.INFO_FILE)
    first.kill()  # kill -9: the file stays behind, the OS frees the lock
    first.communicate(timeout=10)
    assert (home / instance.INFO_FILE).exists()
    second = launch(home, "--headless")
    try:
        line = second.stdout.readline()
        assert line.startswith("ksef-local działa pod adresem http://127.0.0.1:"), line
        deadline = time.monotonic() + 20
        while (instance.read_running(home) or instance.Running(0, "", 0)).pid != second.pid:
            assert time.monotonic() < deadline, "the new launch did not take over the instance file"
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=20)
