"""The scripted test server itself shuts down cleanly: no thread touches a closed socket."""

from __future__ import annotations

import socket
import threading

from scripted import ScriptedServer, recording_handler

OBSERVE = b"POST /api/v1/observe HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
PING = b"GET /api/v1/status/ping HTTP/1.1\r\nHost: t\r\n\r\n"


def test_close_while_threads_are_blocked_leaves_no_thread_error():
    escaped = []
    previous = threading.excepthook
    threading.excepthook = lambda args: escaped.append(args.exc_value)
    try:
        for i in range(30):
            srv = ScriptedServer(recording_handler)
            with srv:
                busy = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                idle = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
                busy.sendall(OBSERVE if i % 2 else PING)
                assert srv.wait_for(lambda: len(srv.requests) == 1 and srv.connections == 2)
            # every serving thread ended, and the client sees the connections end
            assert all(not t.is_alive() for t in srv.threads)
            for s in (busy, idle):
                while s.recv(65536):
                    pass
                s.close()
            assert srv.errors == [], srv.errors
    finally:
        threading.excepthook = previous
    assert escaped == []


def test_close_without_start():
    ScriptedServer(recording_handler).close()
