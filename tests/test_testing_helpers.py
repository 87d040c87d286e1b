"""genesisdb.testing.local_server and the pytest plugin's fixtures."""

from __future__ import annotations

import socket

import pytest

from genesisdb import Client
from genesisdb import errors as E
from genesisdb.testing import local_server

pytest_plugins = ["pytester"]

EV = {"source": "io.genesisdb.test", "subject": "/h", "type": "io.genesisdb.test.x", "data": {"v": 1}}


def test_sync_context_manager_and_config():
    with local_server(token="abc") as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        assert srv.token == "abc"
        cfg = srv.client_config()
        assert cfg["api_url"] == srv.url and cfg["auth_token"] == "abc"
        assert cfg.get("api_version", "v1") == "v1"
        port = int(srv.url.rsplit(":", 1)[1])
        # it really listens
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    # stopped on exit: the port refuses connections
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


async def test_async_context_manager():
    async with local_server() as srv:
        assert srv.token  # a random token when none is given
        async with Client(srv.client_config()) as c:
            await c.commit_events([EV])
            assert len(await c.stream_events("/h")) == 1


def test_random_tokens_differ():
    with local_server() as a, local_server() as b:
        assert a.token != b.token
        assert a.url != b.url


async def test_fresh_store_per_server():
    for _ in range(2):
        with local_server() as srv:
            async with Client(srv.client_config()) as c:
                assert await c.stream_events("/") == []
                await c.commit_events([EV])


async def test_stop_and_restart_keep_port_and_data_dir(tmp_path):
    with local_server(data_dir=str(tmp_path)) as srv:
        url = srv.url
        async with Client(srv.client_config()) as c:
            await c.commit_events([EV, EV])
            before = await c.stream_events("/")
        srv.stop()
        async with Client(srv.client_config(), retries=0) as fresh:
            with pytest.raises(E.ConnectError):
                await fresh.ping()
        srv.restart()
        assert srv.url == url
        c = Client(srv.client_config())
        after = await c.stream_events("/")
        assert after == before
        await c.commit_events([EV])
        assert len(await c.stream_events("/")) == 3
        assert (await c.audit()).startswith("Audit passed")
        await c.aclose()
    # a new server on the same data dir sees the same events
    with local_server(data_dir=str(tmp_path)) as srv2:
        async with Client(srv2.client_config()) as c2:
            got = await c2.stream_events("/")
            assert [e.id for e in got[:2]] == [e.id for e in before]
            assert len(got) == 3


def test_fixed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with local_server(port=port) as srv:
        assert srv.url == f"http://127.0.0.1:{port}"


def test_port_in_use_is_an_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        with pytest.raises(Exception) as info:
            with local_server(port=port):
                pass
        assert str(port) in str(info.value)
    finally:
        s.close()


def test_plugin_fixtures(pytester, request):
    pytester.makepyfile(
        """
        async def test_uses_fixtures(genesisdb_server, genesisdb_client):
            assert genesisdb_server.url.startswith("http://127.0.0.1:")
            await genesisdb_client.commit_events(
                [{"source": "s", "subject": "/p", "type": "t", "data": {"k": 1}}])
            events = await genesisdb_client.stream_events("/p")
            assert [e.data for e in events] == [{"k": 1}]
        """
    )
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    args = []
    if not request.config.pluginmanager.hasplugin("genesisdb"):
        args = ["-p", "genesisdb.pytest_plugin"]  # not installed as a distribution: load it by name
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)



async def test_start_and_stop_from_a_runtime_thread_raise_instead_of_panicking():
    # Rust log records reach Python `logging` on the extension's runtime threads; a handler
    # there that starts or stops a LocalServer must get an exception, never a Rust panic.
    import logging

    from conftest import make_client
    from scripted import ScriptedServer

    def unavailable(conn, req):
        return conn.respond(503, '{"error":"unavailable"}')

    fresh = local_server()
    running = local_server().start()
    seen = []

    class Handler(logging.Handler):
        def emit(self, record):
            for action in (fresh.start, running.stop):
                try:
                    action()
                    seen.append("ok")
                except BaseException as exc:  # a PanicException is a BaseException
                    seen.append(exc)

    handler = Handler()
    logger = logging.getLogger("genesisdb")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        with ScriptedServer(unavailable) as srv:
            client = make_client(srv.url, retries=1, retry_backoff=0.01)
            with pytest.raises(E.ServerError):
                await client.ping()
            await client.aclose()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    assert seen, "no log record reached the handler"
    for outcome in seen:
        assert isinstance(outcome, RuntimeError), repr(outcome)
        assert "runtime thread" in str(outcome)
    # both servers are still usable from a Python thread
    assert not fresh.running and running.running
    fresh.start()
    async with fresh.client() as c, running.client() as d:
        assert await c.ping() == "pong" and await d.ping() == "pong"
    fresh.stop()
    running.stop()
    assert not running.running


@pytest.mark.parametrize("kw", [{"port": -1}, {"port": 65536}, {"port": "80"}, {"heartbeat": 0}, {"heartbeat": float("nan")}])
def test_bad_server_settings_are_value_errors(kw):
    with pytest.raises(ValueError):
        local_server(**kw)
