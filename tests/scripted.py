"""A tiny scripted HTTP/1.1 server for the tests (127.0.0.1 only).

It runs in its own thread with plain blocking sockets, so it keeps working whatever the
event loop of the test is doing, and it gives the tests full control over the bytes on
the wire: it records every request (method, path, headers, body), counts connections,
notices when the client closes a connection, and lets a handler answer anything at all
(garbage, a cut body, a never-ending line, no answer).

A handler is ``handler(conn, request) -> bool``; it answers through ``conn`` and returns
whether the connection may serve another request (keep-alive).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Tuple

__all__ = [
    "Request",
    "Conn",
    "ScriptedServer",
    "stored_event",
    "ndjson",
    "router",
    "wait_until",
    "recording_handler",
    "ok_empty",
]

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    413: "Payload Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Request:
    """One HTTP request as the client sent it."""

    def __init__(self, method: str, target: str, headers: List[Tuple[str, str]], body: bytes, conn_id: int):
        self.method = method
        self.path = target
        self.header_list = headers
        self.body = body
        self.conn_id = conn_id

    @property
    def headers(self) -> Dict[str, str]:
        """Headers by lower-case name (the last one wins)."""
        return {k.lower(): v for k, v in self.header_list}

    def header_values(self, name: str) -> List[str]:
        return [v for k, v in self.header_list if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Request {self.method} {self.path} {self.body[:200]!r}>"


class PeerGone(Exception):
    pass


class Conn:
    """The server side of one TCP connection."""

    def __init__(self, server: "ScriptedServer", sock: socket.socket, conn_id: int):
        self.server = server
        self.sock = sock
        self.id = conn_id
        self.buf = b""
        self.bytes_sent = 0
        self.peer_closed = False
        # wake() (any thread) and close() (the serving thread) never interleave: a shutdown
        # must not reach a descriptor number that close() just released for reuse
        self._fd_lock = threading.Lock()
        self._closed = False

    def mark_peer_closed(self) -> None:
        """Counts this connection once in ``server.closed_by_peer``."""
        with self.server.changed:
            if not self.peer_closed:
                self.peer_closed = True
                self.server.closed_by_peer += 1
            self.server.changed.notify_all()

    # ---- reading -------------------------------------------------------------
    def _recv(self, timeout: Optional[float] = None) -> bytes:
        try:
            self.sock.settimeout(timeout)
            data = self.sock.recv(65536)
        except socket.timeout:
            raise
        except OSError:
            return b""
        return data

    def _fill(self) -> bool:
        while True:
            if self.server.stopping.is_set():
                return False
            try:
                data = self._recv(0.2)
            except socket.timeout:
                continue
            if not data:
                return False
            self.buf += data
            return True

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise PeerGone()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise PeerGone()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_request(self) -> Optional[Request]:
        """The next request on this connection, or None when the peer closed it."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        hmap = {k.lower(): v for k, v in headers}
        if "chunked" in hmap.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._read_line().split(b";")[0], 16)
                if size == 0:
                    # trailers until an empty line
                    while self._read_line():
                        pass
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        else:
            body = self._read_exact(int(hmap.get("content-length", "0") or 0))
        return Request(method, target, headers, body, self.id)

    def wait_peer_close(self, timeout: float = 30.0) -> bool:
        """Block until the client closes the connection (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            try:
                data = self._recv(0.1)
            except socket.timeout:
                continue
            if not data:
                self.mark_peer_closed()
                return True
        return False

    # ---- writing -------------------------------------------------------------
    def send(self, data: bytes) -> None:
        try:
            self.sock.settimeout(None)
            self.sock.sendall(data)
        except OSError as exc:
            raise PeerGone() from exc
        self.bytes_sent += len(data)
        self.server._add_sent(len(data))

    def head(self, status: int, headers: Iterable[Tuple[str, str]] = ()) -> None:
        reason = REASONS.get(status, "Status")
        out = f"HTTP/1.1 {status} {reason}\r\n"
        for k, v in headers:
            out += f"{k}: {v}\r\n"
        self.send((out + "\r\n").encode("latin-1"))

    def respond(
        self,
        status: int = 200,
        body: bytes | str = b"",
        content_type: Optional[str] = "application/json",
        headers: Iterable[Tuple[str, str]] = (),
        close: bool = False,
    ) -> bool:
        if isinstance(body, str):
            body = body.encode("utf-8")
        hs = list(headers)
        if content_type:
            hs.append(("Content-Type", content_type))
        hs.append(("Content-Length", str(len(body))))
        if close:
            hs.append(("Connection", "close"))
        self.head(status, hs)
        self.send(body)
        return not close

    def start_chunked(self, status: int = 200, content_type: Optional[str] = "application/x-ndjson") -> None:
        hs = [("Transfer-Encoding", "chunked")]
        if content_type:
            hs.append(("Content-Type", content_type))
        self.head(status, hs)

    def chunk(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if data:
            self.send(b"%x\r\n" % len(data) + data + b"\r\n")

    def end_chunked(self) -> None:
        self.send(b"0\r\n\r\n")

    def respond_chunks(self, chunks: Iterable[bytes | str], status: int = 200,
                       content_type: Optional[str] = "application/x-ndjson", delay: float = 0.0) -> bool:
        self.start_chunked(status, content_type)
        for c in chunks:
            self.chunk(c)
            if delay:
                time.sleep(delay)
        self.end_chunked()
        return True

    def wake(self) -> None:
        """Ends the connection without releasing its descriptor (safe from any thread): a
        blocked read returns end-of-file, a blocked write fails, the peer sees the close."""
        with self._fd_lock:
            if not self._closed:
                self._shutdown()

    def _shutdown(self) -> None:
        try:
            # the plain socket method, also for TLS: never touch the SSL state of another thread
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Shuts down and closes the socket; only the thread serving this connection (or any
        thread once that one ended) may call it, so no thread uses a closed descriptor."""
        with self._fd_lock:
            if self._closed:
                return
            self._closed = True
            self._shutdown()
            try:
                self.sock.close()
            except OSError:
                pass


Handler = Callable[[Conn, Request], bool]


class ScriptedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 driven by a handler function.

    ``on_connect(conn) -> bool`` may run first for every accepted connection; returning
    False closes it at once without reading anything.
    """

    def __init__(self, handler: Handler, on_connect: Optional[Callable[[Conn], bool]] = None,
                 ssl_context=None):
        self.handler = handler
        self.on_connect = on_connect
        self.ssl_context = ssl_context
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.requests: List[Request] = []
        self.connections = 0
        self.closed_by_peer = 0
        self.bytes_sent = 0
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.threads: List[threading.Thread] = []
        self.conns: List[Conn] = []
        self.errors: List[BaseException] = []
        self.tls_failures: List[BaseException] = []
        self.accept_thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> "ScriptedServer":
        self.accept_thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _add_sent(self, n: int) -> None:
        with self.lock:
            self.bytes_sent += n

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.changed:
                self.connections += 1
                conn = Conn(self, sock, self.connections)
                self.conns.append(conn)
                t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self.threads.append(t)
                self.changed.notify_all()
            t.start()

    def _serve(self, conn: Conn) -> None:
        try:
            if self.ssl_context is not None:
                conn.sock.settimeout(10)
                try:
                    conn.sock = self.ssl_context.wrap_socket(conn.sock, server_side=True)
                except OSError as exc:  # handshake refused by the client
                    with self.changed:
                        self.tls_failures.append(exc)
                        self.changed.notify_all()
                    return
            if self.on_connect is not None and not self.on_connect(conn):
                return
            while not self.stopping.is_set():
                req = conn.read_request()
                if req is None:
                    conn.mark_peer_closed()
                    return
                with self.changed:
                    self.requests.append(req)
                    self.changed.notify_all()
                if not self.handler(conn, req):
                    return
        except PeerGone:
            conn.mark_peer_closed()
        except BaseException as exc:  # recorded so that a test can show it
            self.errors.append(exc)
        finally:
            conn.close()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.05))
            return True

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def close(self) -> None:
        """Stops serving and ends every connection.

        A descriptor is closed only once no thread can still use it: closing a socket that
        another thread is blocked on races with that thread (``Bad file descriptor``, or worse,
        a number already reused by a new socket). So: signal, wake the connections with
        ``shutdown``, wait for the threads, and only then close.
        """
        self.stopping.set()
        if self.accept_thread.ident is not None:
            self.accept_thread.join(timeout=5)  # its accept times out every 0.1 s
        if not self.accept_thread.is_alive():
            self.listener.close()  # after the join: no thread accepts on it any more
        with self.changed:
            conns = list(self.conns)
            threads = list(self.threads)
        for c in conns:
            c.wake()
        for t in threads:
            if t.ident is not None:
                t.join(timeout=5)  # each serving thread closes its own socket on the way out


# ---- helpers for handlers ---------------------------------------------------------

def stored_event(i: int, subject: str = "/test", type_: str = "io.genesisdb.test.happened", data=None, **extra) -> dict:
    """A stored event as the server sends it, fields in the server's order."""
    ev = {
        "source": "io.genesisdb.test",
        "subject": subject,
        "type": type_,
        "specversion": "1.0",
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "time": f"2025-06-02T15:40:01.{i:09d}Z",
        "datacontenttype": "application/json",
        "predecessorhash": "0" * 64,
        "data": {"n": i} if data is None else data,
        "hash": f"{i:064x}",
    }
    ev.update(extra)
    return ev


def ndjson(values: Iterable) -> bytes:
    return b"".join(json.dumps(v, separators=(",", ":")).encode("utf-8") + b"\n" for v in values)


def router(routes: Dict[Tuple[str, str], Handler], default_status: int = 404) -> Handler:
    """A handler that dispatches on (method, path); unknown routes answer 404."""

    def handle(conn: Conn, req: Request) -> bool:
        fn = routes.get((req.method, req.path))
        if fn is None:
            return conn.respond(default_status, json.dumps({"error": "not_found", "message": req.path}))
        return fn(conn, req)

    return handle


def ok_empty(conn: Conn, req: Request) -> bool:
    return conn.respond(200, b"", content_type=None)


def recording_handler(conn: Conn, req: Request) -> bool:
    """Answers every route like a quiet but valid server: empty 200s, pong, an audit line."""
    if req.path.endswith("/status/ping"):
        return conn.respond(200, "pong", content_type="text/plain")
    if req.path.endswith("/status/audit"):
        return conn.respond(200, "Audit passed. All 0 events integrity checks succeeded.", content_type="text/plain")
    if req.path.endswith("/observe"):
        conn.start_chunked(200)
        conn.wait_peer_close(timeout=30)
        return False
    if req.path.endswith(("/stream", "/q", "/query")):
        return conn.respond(200, b"", content_type="application/x-ndjson")
    return conn.respond(200, b"", content_type=None)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
