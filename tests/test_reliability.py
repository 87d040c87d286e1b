"""Reliability (issue 5): faults on purpose, each test well under a minute.

Observe across a server restart, 1,000 cancelled observers, safe retries, a commit that is
never repeated, hostile responses, cancellation closing connections, close() failing pending
calls, interpreter exit with a live observe, os.fork(), and the token never leaking.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import TOKEN, collect, make_client, socket_count
from genesisdb import Client, _native
from genesisdb import errors as E
from scripted import ScriptedServer, recording_handler, stored_event

EV = {"source": "io.genesisdb.test", "subject": "/rel", "type": "io.genesisdb.test.tick", "data": {}}


def tick(i, subject="/rel"):
    return dict(EV, subject=subject, data={"i": i})


async def wait_for(predicate, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()


# ---- observe survives a server restart ------------------------------------------------------

async def test_observe_across_server_restart_exactly_once(tmp_path):
    from genesisdb.testing import local_server

    with local_server(token=TOKEN, data_dir=str(tmp_path), heartbeat=0.2) as srv:
        writer = Client(srv.client_config(), retries=0)
        observer = Client(srv.client_config(), observe_idle_timeout=1.0, retry_backoff=0.05,
                          retry_max_backoff=0.2)
        await writer.commit_events([tick(-1, "/seed")])
        seed = (await writer.stream_events("/seed"))[0].id

        received = []
        reconnects = []

        async def observe():
            async for e in observer.observe_events("/rel", {"lower_bound": seed},
                                                   on_reconnect=reconnects.append):
                received.append(e)

        task = asyncio.create_task(observe())
        committed = 0

        async def commit_some(n):
            # A fresh writer each phase: a pooled connection to the stopped server may be
            # dead, and a commit sent on it fails ambiguously (it is never repeated).
            nonlocal committed
            async with Client(srv.client_config(), retries=0) as w:
                for _ in range(n):
                    await w.commit_events([tick(committed)])
                    committed += 1
                    await asyncio.sleep(0.01)

        try:
            await commit_some(10)
            assert await wait_for(lambda: len(received) >= 5)
            srv.stop()
            await asyncio.sleep(0.5)
            srv.restart()
            await commit_some(10)
            srv.stop()
            srv.restart()
            await commit_some(10)
            assert await wait_for(lambda: len(received) >= 30, timeout=30), (len(received), reconnects)
            await asyncio.sleep(0.3)  # nothing extra arrives
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        async with Client(srv.client_config()) as reader:
            truth = await reader.stream_events("/rel")
        assert [e.data["i"] for e in truth] == list(range(30))
        assert [e.id for e in received] == [e.id for e in truth]  # every event exactly once, in order
        assert reconnects, "the observer never reconnected"
        await writer.aclose()
        await observer.aclose()


async def test_observe_during_concurrent_commits_and_restart(tmp_path):
    """Commits race the restart from another task; whatever the server kept, the observer got once."""
    from genesisdb.testing import local_server

    with local_server(token=TOKEN, data_dir=str(tmp_path), heartbeat=0.2) as srv:
        writer = Client(srv.client_config(), retries=0)
        observer = Client(srv.client_config(), observe_idle_timeout=1.0, retry_backoff=0.05,
                          retry_max_backoff=0.2)
        await writer.commit_events([tick(-1, "/seed")])
        seed = (await writer.stream_events("/seed"))[0].id
        received = []

        async def observe():
            async for e in observer.observe_events("/rel", {"lower_bound": seed}):
                received.append(e)

        stop_committing = asyncio.Event()

        async def committer():
            i = 0
            while not stop_committing.is_set():
                try:
                    await writer.commit_events([tick(i)])
                except (E.TransportError, E.TimeoutError):
                    pass  # server down: the commit may or may not have been kept
                i += 1
                await asyncio.sleep(0.005)

        obs = asyncio.create_task(observe())
        com = asyncio.create_task(committer())
        try:
            await asyncio.sleep(0.3)
            srv.stop()
            await asyncio.sleep(0.3)
            srv.restart()
            await asyncio.sleep(0.3)
            stop_committing.set()
            await com
            async with Client(srv.client_config()) as reader:
                truth = await reader.stream_events("/rel")
            assert await wait_for(lambda: len(received) >= len(truth), timeout=30)
            await asyncio.sleep(0.3)
        finally:
            stop_committing.set()
            for t in (obs, com):
                t.cancel()
            await asyncio.gather(obs, com, return_exceptions=True)
        assert len(truth) > 10
        assert [e.id for e in received] == [e.id for e in truth]
        await writer.aclose()
        await observer.aclose()


# ---- no leaks ---------------------------------------------------------------------------------

async def settle_sockets(baseline, slack=4, timeout=15.0):
    gc.collect()
    await wait_for(lambda: socket_count() <= baseline + slack, timeout=timeout, interval=0.05)
    return socket_count()


def alive_tasks() -> int:
    """Tasks alive on the extension's tokio runtime (client and in-process server)."""
    return _native.runtime_stats()["alive_tasks"]


async def test_thousand_observers_cancelled_return_sockets_and_tasks(server, client):
    # warm up: runtime, pool, server listener
    it = client.observe_events("/leak")
    t = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.2)
    t.cancel()
    await asyncio.gather(t, return_exceptions=True)
    await it.aclose()
    await asyncio.sleep(0.3)
    await wait_for(lambda: server.open_observers() == 0)
    baseline = socket_count()
    baseline_tasks = alive_tasks()
    assert server.open_observers() == 0

    async def observe_forever():
        async for _ in client.observe_events("/leak"):
            pass

    peak = peak_tasks = peak_observers = 0
    for _ in range(10):
        tasks = [asyncio.create_task(observe_forever()) for _ in range(100)]
        # let them connect (client and in-process server side: ~200 sockets)
        await wait_for(
            lambda: socket_count() >= baseline + 150 and server.open_observers() >= 100,
            timeout=10,
        )
        peak = max(peak, socket_count())
        peak_tasks = max(peak_tasks, alive_tasks())
        peak_observers = max(peak_observers, server.open_observers())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert peak > baseline + 50, "the observers never connected"
    assert peak_tasks > baseline_tasks + 50, "no tokio task was ever spawned for the observers"
    assert peak_observers > 50, "the server never saw the observers"
    after = await settle_sockets(baseline)
    assert after <= baseline + 4, f"sockets: baseline {baseline}, after {after}, peak {peak}"
    # the server notices each gone client at its next heartbeat write (every 0.2 s)
    await wait_for(lambda: server.open_observers() == 0, timeout=15, interval=0.05)
    assert server.open_observers() == 0, f"server observers still open, peak {peak_observers}"
    await wait_for(lambda: alive_tasks() <= baseline_tasks, timeout=15, interval=0.05)
    tasks_after = alive_tasks()
    assert tasks_after <= baseline_tasks, (
        f"tokio tasks: baseline {baseline_tasks}, after {tasks_after}, peak {peak_tasks}"
    )
    # the client still works
    await client.commit_events([tick(1, "/leak")])
    assert len(await client.stream_events("/leak")) == 1


async def test_observers_broken_out_of_return_sockets(server, client):
    await client.commit_events([tick(0, "/brk")])
    first = (await client.stream_events("/brk"))[0].id
    baseline = socket_count()
    for _ in range(200):
        it = client.observe_events("/brk", {"lower_bound": first, "include_lower_bound_event": True})
        async for e in it:
            assert e.id == first
            break
        await it.aclose()
    after = await settle_sockets(baseline)
    assert after <= baseline + 4


async def test_iterators_abandoned_without_aclose_return_sockets(server, client):
    await client.commit_events([tick(i, "/ab") for i in range(20)])
    baseline = socket_count()
    baseline_tasks = alive_tasks()
    for _ in range(100):
        async for e in client.iter_events("/ab"):
            break  # the generator is dropped here, never closed explicitly
        it = client.observe_events("/ab")
        t = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        del it, t
    await asyncio.sleep(0.5)
    after = await settle_sockets(baseline)
    assert after <= baseline + 4
    await wait_for(lambda: server.open_observers() == 0 and alive_tasks() <= baseline_tasks,
                   timeout=15, interval=0.05)
    assert server.open_observers() == 0
    assert alive_tasks() <= baseline_tasks, f"tokio tasks: baseline {baseline_tasks}, after {alive_tasks()}"


# ---- retries ------------------------------------------------------------------------------

def dropping_server(n_drop: int, after_read: bool):
    """Drops the first ``n_drop`` connections (before or after reading the request), then serves."""
    state = {"accepted": 0}

    def on_connect(conn):
        state["accepted"] += 1
        if not after_read and state["accepted"] <= n_drop:
            return False
        return True

    def handler(conn, req):
        if after_read and len(conn.server.requests) <= n_drop:
            return False  # read the request, close without answering
        if req.path.endswith("/stream"):
            return conn.respond(200, json.dumps(stored_event(1)) + "\n", content_type="application/x-ndjson")
        if req.path.endswith("/q"):
            return conn.respond(200, '{"n":1}\n', content_type="application/x-ndjson")
        return recording_handler(conn, req)

    return ScriptedServer(handler, on_connect=on_connect)


@pytest.mark.parametrize("after_read", [False, True])
@pytest.mark.parametrize("method", ["stream", "iter", "query", "ping", "audit"])
async def test_safe_calls_retried_after_dropped_connections(after_read, method):
    with dropping_server(2, after_read) as srv:
        c = make_client(srv.url, retries=3, retry_backoff=0.01)
        if method == "stream":
            got = await c.stream_events("/test")
            assert got[0].id == stored_event(1)["id"]
        elif method == "iter":
            got = [e async for e in c.iter_events("/test")]
            assert len(got) == 1
        elif method == "query":
            assert await c.query_events("STREAM e FROM events MAP e.data") == [{"n": 1}]
        elif method == "ping":
            assert await c.ping() == "pong"
        else:
            assert (await c.audit()).startswith("Audit passed")
        assert srv.connections == 3
        await c.aclose()


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_safe_calls_retried_on_gateway_errors(status):
    def handler(conn, req):
        if len(conn.server.requests) <= 2:
            return conn.respond(status, "busy", content_type="text/plain")
        return conn.respond(200, json.dumps(stored_event(1)) + "\n", content_type="application/x-ndjson")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retries=3, retry_backoff=0.01)
        assert len(await c.stream_events("/test")) == 1
        assert len(srv.requests) == 3
        await c.aclose()


async def test_retries_bounded():
    def handler(conn, req):
        return conn.respond(503, "busy", content_type="text/plain")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retries=2, retry_backoff=0.01)
        with pytest.raises(E.ServerError) as info:
            await c.stream_events("/test")
        assert info.value.status == 503
        assert len(srv.requests) == 3  # one attempt + two retries
        await c.aclose()


async def test_retries_off():
    with dropping_server(1, after_read=False) as srv:
        c = make_client(srv.url, retries=0)
        with pytest.raises(E.TransportError):
            await c.stream_events("/test")
        assert srv.connections == 1
        await c.aclose()


async def test_4xx_and_500_not_retried():
    def handler(conn, req):
        status = 400 if req.path.endswith("/stream") else 500
        return conn.respond(status, "no", content_type="text/plain")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retries=3, retry_backoff=0.01)
        with pytest.raises(E.BadRequestError):
            await c.stream_events("/test")
        with pytest.raises(E.ServerError):
            await c.ping()
        assert len(srv.requests) == 2
        await c.aclose()


# ---- at-most-once commit and erase ------------------------------------------------------------

@pytest.mark.parametrize("call", ["commit", "erase"])
async def test_unsafe_call_not_repeated_when_response_lost(call):
    def handler(conn, req):
        return False  # the server read the request (and may have written), the answer is lost

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retries=5, retry_backoff=0.01)
        with pytest.raises(E.TransportError) as info:
            if call == "commit":
                await c.commit_events([EV])
            else:
                await c.erase_data("/rel")
        assert not isinstance(info.value, E.ConnectError)  # it did reach the server
        await asyncio.sleep(0.5)
        assert len(srv.requests) == 1
        await c.aclose()


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_commit_not_repeated_on_gateway_error(status):
    def handler(conn, req):
        return conn.respond(status, "busy", content_type="text/plain")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retries=5, retry_backoff=0.01)
        with pytest.raises(E.ServerError):
            await c.commit_events([EV])
        await asyncio.sleep(0.3)
        assert len(srv.requests) == 1
        await c.aclose()


async def test_commit_not_repeated_when_connection_closed_after_accept():
    # The first connection is closed before the request could be read: the request may be
    # written into a dead socket but never reached the server's application. Only a failure
    # to connect may be retried for commit; a closed-after-accept connection counts as
    # "may have reached", so the commit is NOT repeated and fails with a transport error.
    with dropping_server(1, after_read=False) as srv:
        c = make_client(srv.url, retries=3, retry_backoff=0.01)
        with pytest.raises(E.TransportError):
            await c.commit_events([EV])
        await asyncio.sleep(0.3)
        assert len(srv.requests) == 0
        assert srv.connections == 1
        await c.aclose()


async def test_commit_on_local_server_then_restart_is_not_duplicated(tmp_path):
    from genesisdb.testing import local_server

    with local_server(token=TOKEN, data_dir=str(tmp_path)) as srv:
        c = Client(srv.client_config(), retries=3, retry_backoff=0.01)
        for i in range(5):
            await c.commit_events([tick(i)])
        srv.stop()
        # ConnectError, or a TransportError when a pooled connection to the stopped server
        # was still taken: either way the commit is not repeated
        with pytest.raises(E.TransportError):
            await c.commit_events([tick(99)])
        srv.restart()
        assert [e.data["i"] for e in await c.stream_events("/rel")] == list(range(5))
        await c.aclose()


# ---- hostile responses -----------------------------------------------------------------------

async def test_never_ending_line_is_bounded():
    cap = 200 * 1024 * 1024
    chunk = b"a" * 65536

    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(b'{"id":"')
        sent = 0
        try:
            while sent < cap:
                conn.chunk(chunk)
                sent += len(chunk)
        except Exception:
            return False
        conn.end_chunked()
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, max_line_bytes=1024 * 1024)
        with pytest.raises(E.ProtocolError) as info:
            await asyncio.wait_for(c.stream_events("/test"), 30)
        assert info.value.line == 1
        assert srv.bytes_sent < cap / 2, "the client kept reading a never-ending line"
        await c.aclose()


async def test_never_ending_line_default_limit():
    # without configuration the line limit still applies (32 MiB by default)
    cap = 400 * 1024 * 1024
    chunk = b"b" * 65536

    def handler(conn, req):
        conn.start_chunked(200)
        sent = 0
        try:
            while sent < cap:
                conn.chunk(chunk)
                sent += len(chunk)
        except Exception:
            return False
        conn.end_chunked()
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        with pytest.raises(E.ProtocolError):
            await asyncio.wait_for(c.stream_events("/test"), 45)
        assert srv.bytes_sent < cap / 2
        await c.aclose()


@pytest.mark.parametrize("mode", ["content_length", "chunked"])
async def test_body_cut_mid_line(mode):
    line = json.dumps(stored_event(1)).encode() + b"\n" + json.dumps(stored_event(2)).encode()[:40]

    def handler(conn, req):
        if mode == "content_length":
            conn.head(200, [("Content-Type", "application/x-ndjson"), ("Content-Length", str(len(line) + 500))])
            conn.send(line)
        else:
            conn.start_chunked(200)
            conn.chunk(line)
        return False  # close without finishing the body

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retries=0)
        with pytest.raises((E.TransportError, E.ProtocolError)):
            await asyncio.wait_for(c.stream_events("/test"), 20)
        await c.aclose()


async def test_wrong_content_type_garbage():
    def handler(conn, req):
        return conn.respond(200, "<html><body>Welcome to nginx!</body></html>\n", content_type="text/html")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        with pytest.raises(E.ProtocolError) as info:
            await c.stream_events("/test")
        assert info.value.line == 1
        with pytest.raises(E.ProtocolError):
            await c.query_events("STREAM e FROM events MAP e.id")
        await c.aclose()


async def test_wrong_content_type_valid_ndjson_tolerated():
    def handler(conn, req):
        return conn.respond(200, json.dumps(stored_event(1)) + "\n", content_type="text/plain")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        assert len(await c.stream_events("/test")) == 1
        await c.aclose()


async def test_200_with_binary_garbage():
    def handler(conn, req):
        return conn.respond(200, bytes(range(256)) * 4, content_type="application/x-ndjson")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        with pytest.raises(E.ProtocolError):
            await c.stream_events("/test")
        await c.aclose()


async def test_garbage_instead_of_http():
    def handler(conn, req):
        conn.send(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retries=0)
        with pytest.raises((E.TransportError, E.ProtocolError)):
            await asyncio.wait_for(c.ping(), 20)
        await c.aclose()


def silent_server():
    """Accepts, reads the request, never answers; records when the client hangs up."""

    def handler(conn, req):
        conn.wait_peer_close(timeout=60)
        return False

    return ScriptedServer(handler)


@pytest.mark.parametrize("method", ["ping", "stream", "commit", "query"])
async def test_server_that_never_answers_times_out(method):
    with silent_server() as srv:
        c = make_client(srv.url, timeout=0.5, retries=0)
        call = {
            "ping": lambda: c.ping(),
            "stream": lambda: c.stream_events("/test"),
            "commit": lambda: c.commit_events([EV]),
            "query": lambda: c.query_events("STREAM e FROM events MAP e.id"),
        }[method]
        with pytest.raises(E.TimeoutError) as info:
            await asyncio.wait_for(call(), 20)
        assert isinstance(info.value, TimeoutError)
        # the connection is closed after the timeout
        assert await asyncio.to_thread(srv.wait_for, lambda: srv.closed_by_peer >= 1, 10)
        await c.aclose()


async def test_observe_idle_timeout():
    def handler(conn, req):
        conn.start_chunked(200)  # headers, then silence: not even heartbeats
        conn.wait_peer_close(timeout=60)
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, observe_idle_timeout=0.5)
        with pytest.raises(E.TimeoutError):
            await asyncio.wait_for(collect(c.observe_events("/test", reconnect=False), 1), 20)
        assert await asyncio.to_thread(srv.wait_for, lambda: srv.closed_by_peer >= 1, 10)
        await c.aclose()


async def test_heartbeats_keep_observe_alive():
    def handler(conn, req):
        conn.start_chunked(200)
        try:
            for _ in range(8):
                conn.chunk(b'{"payload":""}\n')
                time.sleep(0.2)
            conn.chunk(json.dumps(stored_event(1)) + "\n")
        except Exception:
            return False
        conn.wait_peer_close(timeout=30)
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, observe_idle_timeout=0.7)
        got = await collect(c.observe_events("/test", reconnect=False), 1)
        assert got[0].id == stored_event(1)["id"]
        assert srv.connections == 1
        await c.aclose()


async def test_observe_reconnects_after_idle_timeout():
    bodies = []

    def handler(conn, req):
        bodies.append(req.json())
        conn.start_chunked(200)
        if len(bodies) == 1:
            conn.chunk(json.dumps(stored_event(1)) + "\n")
            conn.wait_peer_close(timeout=60)  # then silence: the client must give up on it
            return False
        conn.chunk(json.dumps(stored_event(2)) + "\n")
        conn.wait_peer_close(timeout=60)
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, observe_idle_timeout=0.5, retry_backoff=0.01)
        got = await collect(c.observe_events("/test"), 2)
        assert [e.id for e in got] == [stored_event(1)["id"], stored_event(2)["id"]]
        assert bodies[1] == {"subject": "/test", "options": {"lowerBound": stored_event(1)["id"],
                                                             "includeLowerBoundEvent": False}}
        await c.aclose()


# ---- cancellation and close ---------------------------------------------------------------

@pytest.mark.parametrize("method", ["ping", "stream", "commit", "observe", "iter"])
async def test_cancelling_a_task_closes_its_connection(method):
    with silent_server() as srv:
        c = make_client(srv.url, retries=0)

        async def call():
            if method == "ping":
                await c.ping()
            elif method == "stream":
                await c.stream_events("/test")
            elif method == "commit":
                await c.commit_events([EV])
            elif method == "observe":
                async for _ in c.observe_events("/test"):
                    pass
            else:
                async for _ in c.iter_events("/test"):
                    pass

        task = asyncio.create_task(call())
        assert await asyncio.to_thread(srv.wait_for, lambda: len(srv.requests) == 1, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the server sees the connection closed promptly
        assert await asyncio.to_thread(srv.wait_for, lambda: srv.closed_by_peer >= 1, 10)
        await c.aclose()


@pytest.mark.parametrize("method", ["stream", "commit", "observe"])
async def test_close_fails_pending_calls(method):
    with silent_server() as srv:
        c = make_client(srv.url, retries=0)

        async def call():
            if method == "stream":
                await c.stream_events("/test")
            elif method == "commit":
                await c.commit_events([EV])
            else:
                async for _ in c.observe_events("/test"):
                    pass

        task = asyncio.create_task(call())
        assert await asyncio.to_thread(srv.wait_for, lambda: len(srv.requests) == 1, 10)
        c.close()
        with pytest.raises(E.ClientClosedError):
            await asyncio.wait_for(task, 10)
        assert await asyncio.to_thread(srv.wait_for, lambda: srv.closed_by_peer >= 1, 10)
        with pytest.raises(E.ClientClosedError):
            await c.ping()


async def test_aclose_fails_pending_observe_with_local_server(server):
    c = Client(server.client_config())
    received = []

    async def observe():
        async for e in c.observe_events("/x"):
            received.append(e)

    task = asyncio.create_task(observe())
    await asyncio.sleep(0.3)
    await c.aclose()
    with pytest.raises(E.ClientClosedError):
        await asyncio.wait_for(task, 10)


# ---- process lifecycle ----------------------------------------------------------------------

EXIT_SCRIPTS = {
    "asyncio_run_returns": """
        import asyncio
        from genesisdb import Client
        from genesisdb.testing import local_server

        async def main():
            with local_server(token="t") as srv:
                c = Client(srv.client_config())
                async def observe():
                    async for e in c.observe_events("/x"):
                        pass
                asyncio.create_task(observe())
                await asyncio.sleep(0.5)
                print("observing", flush=True)
                # return with the observe still live and the client never closed

        asyncio.run(main())
    """,
    "loop_abandoned": """
        import asyncio
        from genesisdb import Client
        from genesisdb.testing import local_server

        srv = local_server(token="t").__enter__()
        c = Client(srv.client_config())
        it = c.observe_events("/x")
        loop = asyncio.new_event_loop()
        fut = loop.create_task(it.__anext__())
        loop.run_until_complete(asyncio.sleep(0.5))
        print("observing", flush=True)
        # exit with a pending observe, an open loop, a live client and a live server
    """,
    "sys_exit_inside_loop": """
        import asyncio, sys
        from genesisdb import Client
        from genesisdb.testing import local_server

        async def main():
            srv = local_server(token="t").__enter__()
            c = Client(srv.client_config())
            async def observe():
                async for e in c.observe_events("/x"):
                    pass
            t = asyncio.create_task(observe())
            await asyncio.sleep(0.5)
            print("observing", flush=True)
            sys.exit(0)

        asyncio.run(main())
    """,
}


@pytest.mark.parametrize("name", sorted(EXIT_SCRIPTS))
def test_interpreter_exit_with_live_observe_does_not_hang(name):
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(EXIT_SCRIPTS[name])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"interpreter hung at exit: {out!r} {err[-2000:]!r}")
    assert b"observing" in out, err[-2000:]
    assert proc.returncode == 0, err[-2000:]
    assert b"panicked" not in err and b"Fatal Python error" not in err, err[-2000:]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
async def test_fork_child_makes_and_uses_its_own_client(server, client):
    await client.commit_events([tick(0, "/fork")])
    assert len(await client.stream_events("/fork")) == 1
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(r)
            asyncio.events._set_running_loop(None)  # Python < 3.12 keeps the parent's running loop

            async def child():
                c = Client(api_url=server.url, auth_token=TOKEN)
                await c.commit_events([tick(1, "/fork")])
                got = await c.stream_events("/fork")
                await c.aclose()
                return [e.data["i"] for e in got]

            result = asyncio.run(child())
            os.write(w, json.dumps(result).encode())
            code = 0
        except BaseException as exc:  # report to the parent
            try:
                os.write(w, repr(exc).encode()[:4000])
            except BaseException:
                pass
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        await asyncio.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        pytest.fail("the forked child hung")
    msg = os.read(r, 65536).decode(errors="replace")
    os.close(r)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, msg
    assert json.loads(msg) == [0, 1]
    # the parent's client still works
    assert len(await client.stream_events("/fork")) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
async def test_inherited_client_fails_clearly_in_child(server, client):
    assert await client.ping() == "pong"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = b"no error"
        try:
            os.close(r)
            asyncio.events._set_running_loop(None)

            async def use():
                await asyncio.wait_for(client.ping(), 10)

            asyncio.run(use())
            out = b"ok"  # working is acceptable too
        except E.GenesisDBError as exc:
            out = b"error:" + type(exc).__name__.encode()
        except BaseException as exc:
            out = b"other:" + repr(exc).encode()[:2000]
        finally:
            os.write(w, out)
            os._exit(0)
    os.close(w)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        await asyncio.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        pytest.fail("using an inherited client in a forked child hung")
    msg = os.read(r, 65536)
    os.close(r)
    assert msg == b"ok" or msg.startswith(b"error:"), msg


# ---- the token never leaks ---------------------------------------------------------------------

async def test_token_never_in_repr_errors_or_logs(server, caplog):
    secret = server.token
    marker = "DATA-MARKER-5b1e"
    caplog.set_level(logging.DEBUG)
    logging.getLogger("genesisdb").setLevel(logging.DEBUG)
    texts = []

    c = Client(server.client_config(), retries=2, retry_backoff=0.01)
    texts += [repr(c), str(c)]
    await c.commit_events([dict(EV, data={"secret": marker})])
    await c.stream_events("/rel")

    async def expect_error(coro):
        try:
            await coro
        except Exception as exc:  # collect every text the exception shows
            texts.extend([str(exc), repr(exc), str(exc.args), str(getattr(exc, "body", ""))])
            if exc.__cause__ is not None:
                texts.append(repr(exc.__cause__))
        else:
            raise AssertionError("expected an error")

    await expect_error(c.erase_data("/nobody"))
    await expect_error(c.commit_events([EV], [{"type": "isSubjectExisting", "payload": {"subject": "/none"}}]))
    await expect_error(c.stream_events("/", {"lower_bound": "nope"}))
    bad = Client(api_url=server.url, auth_token=secret + "x")
    texts.append(repr(bad))
    await expect_error(bad.stream_events("/"))
    await bad.aclose()

    # retries and a reconnecting observe produce log records
    with dropping_server(2, after_read=True) as srv:
        r = make_client(srv.url, token=secret, retries=3, retry_backoff=0.01)
        await r.stream_events("/test")
        await r.aclose()
    refused = make_client("http://127.0.0.1:9", token=secret, retries=1, retry_backoff=0.01)
    await expect_error(refused.ping())
    await refused.aclose()

    # failed configurations, and the local server's own reprs
    for kw in ({"api_url": "not a url"}, {"auth_token": secret + "\n"}, {"auth_token": secret + "\x01"}):
        try:
            Client(**{"api_url": server.url, "auth_token": secret, **kw})
        except Exception as exc:
            texts.extend([str(exc), repr(exc)])
        else:
            raise AssertionError(f"expected a configuration error for {sorted(kw)}")
    texts += [repr(server), str(server), repr(server._native)]

    await c.aclose()
    await expect_error(c.ping())

    for t in texts:
        assert secret not in t, t
    records = [rec for rec in caplog.records if rec.name.startswith("genesisdb")]
    for rec in caplog.records:
        msg = rec.getMessage()
        assert secret not in msg, msg
        assert secret not in str(rec.args)
        if rec.levelno >= logging.INFO and rec.name.startswith("genesisdb"):
            assert marker not in msg, msg
    assert records, "no log record from the genesisdb logger (retries and errors should be logged)"


# ---- observe reconnect details -----------------------------------------------------------------

async def test_observe_reconnect_before_any_event_keeps_original_options():
    bodies = []

    def handler(conn, req):
        bodies.append(req.json())
        conn.start_chunked(200)
        if len(bodies) == 1:
            return False  # dropped before any event
        conn.chunk(json.dumps(stored_event(5)) + "\n")
        conn.wait_peer_close(timeout=60)
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retry_backoff=0.01)
        opts = {"lower_bound": "L", "include_lower_bound_event": True, "upper_bound": "U"}
        got = await collect(c.observe_events("/test", opts), 1)
        assert got[0].id == stored_event(5)["id"]
        assert bodies[1] == bodies[0] == {
            "subject": "/test",
            "options": {"lowerBound": "L", "includeLowerBoundEvent": True, "upperBound": "U"},
        }
        await c.aclose()


async def test_observe_reconnect_keeps_other_options():
    bodies = []

    def handler(conn, req):
        bodies.append(req.json())
        conn.start_chunked(200)
        conn.chunk(json.dumps(stored_event(len(bodies))) + "\n")
        if len(bodies) == 1:
            return False
        conn.wait_peer_close(timeout=60)
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retry_backoff=0.01)
        got = await collect(c.observe_events("/test", {"latest_by_event_type": "T", "upper_bound": "U"}), 2)
        assert [e.id for e in got] == [stored_event(1)["id"], stored_event(2)["id"]]
        assert bodies[1]["options"] == {"lowerBound": stored_event(1)["id"], "includeLowerBoundEvent": False,
                                        "upperBound": "U", "latestByEventType": "T"}
        await c.aclose()


async def test_observe_reconnect_survives_503_then_resumes():
    def handler(conn, req):
        n = len(conn.server.requests)
        if n == 1:
            conn.start_chunked(200)
            conn.chunk(json.dumps(stored_event(1)) + "\n")
            return False
        if n in (2, 3):
            return conn.respond(503, "restarting", content_type="text/plain")
        conn.start_chunked(200)
        conn.chunk(json.dumps(stored_event(2)) + "\n")
        conn.wait_peer_close(timeout=60)
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retry_backoff=0.01)
        infos = []
        got = await collect(c.observe_events("/test", on_reconnect=infos.append), 2)
        assert [e.id for e in got] == [stored_event(1)["id"], stored_event(2)["id"]]
        assert len(srv.requests) == 4
        assert infos and all(i.last_event_id == stored_event(1)["id"] for i in infos)
        assert all(isinstance(i.reason, str) and i.attempt >= 1 for i in infos)
        await c.aclose()


async def test_observe_reconnect_stops_on_auth_error():
    def handler(conn, req):
        if len(conn.server.requests) == 1:
            conn.start_chunked(200)
            conn.chunk(json.dumps(stored_event(1)) + "\n")
            return False
        return conn.respond(401, '{"error":"unauthorized","message":"bad token"}')

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retry_backoff=0.01)
        got = []
        with pytest.raises(E.AuthenticationError):
            async def run():
                async for e in c.observe_events("/test"):
                    got.append(e)
            await asyncio.wait_for(run(), 20)
        assert len(got) == 1
        assert len(srv.requests) == 2  # no endless reconnect loop on a 401
        await c.aclose()


async def test_cancel_stream_mid_body_closes_connection():
    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(json.dumps(stored_event(1)) + "\n")
        conn.chunk(json.dumps(stored_event(2))[:20])
        conn.wait_peer_close(timeout=60)
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, timeout=60)
        task = asyncio.create_task(c.stream_events("/test"))
        assert await asyncio.to_thread(srv.wait_for, lambda: srv.bytes_sent > 0, 10)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(srv.wait_for, lambda: srv.closed_by_peer >= 1, 10)
        await c.aclose()


async def test_timeout_mid_body():
    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(json.dumps(stored_event(1)) + "\n")
        conn.wait_peer_close(timeout=60)  # the rest never comes
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, timeout=0.5, retries=0)
        with pytest.raises(E.TimeoutError):
            await asyncio.wait_for(c.stream_events("/test"), 20)
        assert await asyncio.to_thread(srv.wait_for, lambda: srv.closed_by_peer >= 1, 10)
        await c.aclose()


async def test_clients_dropped_without_close_return_sockets(server):
    baseline = socket_count()
    for i in range(50):
        c = Client(server.client_config())
        await c.commit_events([tick(i, "/drop")])
        await c.stream_events("/drop")
        it = c.observe_events("/drop")
        t = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0.01)
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        del c, it, t
    gc.collect()
    after = await settle_sockets(baseline)
    assert after <= baseline + 4, f"sockets: baseline {baseline}, after {after}"


async def test_slow_observer_loses_nothing(server, client):
    await client.commit_events([tick(-1, "/slow")])
    seed = (await client.stream_events("/slow"))[0].id
    it = client.observe_events("/slow", {"lower_bound": seed})
    await client.commit_events([tick(0, "/slow")])
    first = await asyncio.wait_for(it.__anext__(), 20)
    assert first.data["i"] == 0
    # the observer holds still while 3,000 events are committed; commits are not blocked
    for batch in range(6):
        await asyncio.wait_for(
            client.commit_events([tick(1 + batch * 500 + i, "/slow") for i in range(500)]), 30)
    got = await collect(it, 3000, timeout=60)
    assert [e.data["i"] for e in got] == list(range(1, 3001))
    await it.aclose()


@pytest.fixture
def unreachable_port():
    """A listener whose accept queue is full: a new connection attempt gets no answer."""
    import socket as _socket

    listener = _socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = _socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except (BlockingIOError, OSError):
            pass
        fillers.append(s)
    time.sleep(0.2)
    yield port
    for s in fillers:
        s.close()
    listener.close()


@pytest.mark.parametrize("method", ["ping", "commit"])
async def test_connect_timeout(unreachable_port, method):
    c = make_client(f"http://127.0.0.1:{unreachable_port}", connect_timeout=0.3, retries=0)
    with pytest.raises(E.TimeoutError) as info:
        if method == "ping":
            await asyncio.wait_for(c.ping(), 20)
        else:
            await asyncio.wait_for(c.commit_events([EV]), 20)
    assert isinstance(info.value, TimeoutError)
    assert "connect" in str(info.value)
    await c.aclose()


async def test_close_stops_a_reconnecting_observer():
    def on_connect(conn):
        return conn.server.connections == 1  # every reconnection attempt is dropped at once

    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(json.dumps(stored_event(1)) + "\n")
        return False

    with ScriptedServer(handler, on_connect=on_connect) as srv:
        c = make_client(srv.url, retry_backoff=0.1, retry_max_backoff=0.2)
        got = []

        async def observe():
            async for e in c.observe_events("/test"):
                got.append(e)

        task = asyncio.create_task(observe())
        assert await asyncio.to_thread(srv.wait_for, lambda: srv.connections >= 3, 20)
        c.close()
        with pytest.raises(E.ClientClosedError):
            await asyncio.wait_for(task, 10)
        attempts = srv.connections
        await asyncio.sleep(1.0)
        assert srv.connections == attempts, "the observer kept reconnecting after close()"
        assert len(got) == 1


async def test_retries_bounded_by_total_time():
    def handler(conn, req):
        return conn.respond(503, "busy", content_type="text/plain")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retries=1000, retry_backoff=0.05, retry_max_backoff=0.1, retry_max_elapsed=0.5)
        with pytest.raises(E.ServerError):
            await asyncio.wait_for(c.stream_events("/test"), 30)
        assert 2 <= len(srv.requests) < 50
        await c.aclose()


async def test_log_records_for_retries_and_reconnects(caplog):
    caplog.set_level(logging.DEBUG)
    with dropping_server(1, after_read=True) as srv:
        c = make_client(srv.url, retry_backoff=0.01)
        await c.stream_events("/test")
        await c.aclose()

    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(json.dumps(stored_event(len(conn.server.requests))) + "\n")
        if len(conn.server.requests) == 1:
            return False
        conn.wait_peer_close(timeout=30)
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retry_backoff=0.01)
        it = c.observe_events("/test")
        await collect(it, 2)
        await it.aclose()
        await c.aclose()
    msgs = [r.getMessage().lower() for r in caplog.records
            if r.name.startswith("genesisdb") and r.levelno >= logging.INFO]
    assert any("retry" in m or "retrying" in m for m in msgs), msgs
    assert any("reconnect" in m for m in msgs), msgs


async def test_observer_ends_with_the_error_when_its_bound_is_gone():
    # An in-memory server restarts empty: the resume bound is unknown (400). The observer must
    # end with that error instead of reconnecting forever.
    from genesisdb.testing import local_server

    with local_server(token=TOKEN, heartbeat=0.2) as srv:
        c = Client(srv.client_config(), retry_backoff=0.01, observe_idle_timeout=1.0)
        await c.commit_events([tick(0)])
        first = (await c.stream_events("/rel"))[0].id
        got = []

        async def observe():
            async for e in c.observe_events("/rel", {"lower_bound": first, "include_lower_bound_event": True}):
                got.append(e)

        task = asyncio.create_task(observe())
        assert await wait_for(lambda: len(got) == 1)
        srv.restart()
        with pytest.raises(E.BadRequestError):
            await asyncio.wait_for(task, 20)
        assert [e.id for e in got] == [first]
        await c.aclose()
