"""``python -m genesisdb serve``: started as documented, used over HTTP, stopped by a signal."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request

import pytest

PREFIX = "Genesis DB local server listening on "


def _start(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "genesisdb", "serve", "--port", "0", "--token", "cli-Tok-2",
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith(PREFIX + "http://127.0.0.1:"), (line, proc.stderr.read())
    return proc, line[len(PREFIX):]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_cleanly_on_a_signal_sent_right_after_the_banner(tmp_path, sig):
    # The signal races the code right after the banner: it must still stop the server
    # through its clean path (exit 0, "stopped", no traceback), SIGTERM like Ctrl-C.
    for _ in range(3):
        proc, url = _start(tmp_path)
        try:
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        assert out.strip().endswith("stopped"), out


def test_serve_answers_ping_then_stops_on_sigterm(tmp_path):
    proc, url = _start(tmp_path)
    try:
        with urllib.request.urlopen(url + "/api/v1/status/ping", timeout=10) as r:
            assert r.read() == b"pong"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out


@pytest.mark.parametrize(
    "args, named",
    [
        (["serve", "--token", "t", "--port", "70000"], "port"),
        (["serve", "--token", "t", "--port", "0", "--heartbeat", "0"], "heartbeat"),
        (["serve", "--token", "t", "--port", "0", "--heartbeat", "nan"], "heartbeat"),
        (["serve", "--port", "0"], "token"),
        (["demo", "--port", "-1"], "port"),
    ],
)
def test_bad_arguments_are_usage_errors_without_traceback(args, named, monkeypatch):
    monkeypatch.delenv("GENESISDB_AUTH_TOKEN", raising=False)
    proc = subprocess.run(
        [sys.executable, "-m", "genesisdb", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and named in proc.stderr, proc.stderr
