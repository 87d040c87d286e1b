"""Smoke tests of the Python face against the embedded local server (no mocks)."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import subprocess
import sys

import pytest

import genesisdb
from genesisdb import Client, Event, Precondition, errors
from genesisdb.testing import local_server

SMOKE_TOKEN = "smoke-Tok3n-3b5a"


def ev(subject: str, type_: str = "io.genesisdb.test.happened", data=None, **extra):
    e = {
        "source": "io.genesisdb.test",
        "subject": subject,
        "type": type_,
        "data": {"n": 1} if data is None else data,
    }
    e.update(extra)
    return e


@pytest.fixture
def srv():
    with local_server(token=SMOKE_TOKEN, heartbeat=0.2) as s:
        yield s


async def test_commit_stream_roundtrip(srv):
    async with Client(srv.client_config()) as client:
        assert await client.ping() == "pong"
        data = {"z": 1, "a": {"y": [1, 2.5, None, True], "b": "ü\"\n"}, "big": 2**70}
        await client.commit_events([ev("/smoke/1", data=data), ev("/smoke/2")])
        events = await client.stream_events("/smoke")
        assert [e.subject for e in events] == ["/smoke/1", "/smoke/2"]
        first = events[0]
        assert first.data == data
        assert list(first.data) == ["z", "a", "big"]  # key order kept
        assert list(first.data["a"]) == ["y", "b"]
        assert first["type"] == "io.genesisdb.test.happened"
        assert first.get("nope") is None and "id" in first
        assert first.specversion == "1.0" and first.datacontenttype == "application/json"
        assert len(first.hash or "") == 64
        assert events[1].predecessorhash == first.hash
        assert first.data is first.data  # decoded once, cached
        assert pickle.loads(pickle.dumps(first)) == first
        assert first != events[1]
        assert repr(first).startswith("Event(id='")
        assert (await client.stream_events("/smok")) == []
        assert "Audit passed" in await client.audit()


async def test_stream_options_and_iter(srv):
    async with Client(srv.client_config()) as client:
        await client.commit_events([ev("/it", data={"i": i}) for i in range(50)])
        all_events = await client.stream_events("/it")
        assert [e.data["i"] for e in all_events] == list(range(50))
        lower = all_events[10].id
        upper = all_events[20].id
        between = await client.stream_events(
            "/it", {"lower_bound": lower, "upper_bound": upper, "include_lower_bound_event": True}
        )
        assert [e.data["i"] for e in between] == list(range(10, 20))
        seen = [e.data["i"] async for e in client.iter_events("/it", batch_size=7)]
        assert seen == list(range(50))
        latest = await client.stream_events(
            "/", {"latest_by_event_type": "io.genesisdb.test.happened"}
        )
        assert [e.data["i"] for e in latest] == [49]


async def test_preconditions_and_errors(srv):
    async with Client(srv.client_config()) as client:
        await client.commit_events([ev("/user/1")], [Precondition.is_subject_new("/user/1")])
        with pytest.raises(errors.PreconditionFailedError) as info:
            await client.commit_events(
                [ev("/user/1")], [{"type": "isSubjectNew", "payload": {"subject": "/user/1"}}]
            )
        err = info.value
        assert err.status == 412 and err.route.endswith("commit")
        assert err.precondition_type == "isSubjectNew"
        assert isinstance(err, errors.HTTPError) and isinstance(err, genesisdb.GenesisDBError)
        assert len(await client.stream_events("/user/1")) == 1
        await client.commit_events([ev("/user/1")], [Precondition.is_subject_existing("/user/1")])
        assert pickle.loads(pickle.dumps(err)).precondition_type == "isSubjectNew"

    bad = Client(api_url=srv.url, auth_token="wrong-token")
    with pytest.raises(errors.AuthenticationError) as auth:
        await bad.stream_events("/")
    assert auth.value.status == 401
    assert "wrong-token" not in str(auth.value) and "wrong-token" not in repr(bad)
    bad.close()


async def test_bad_input_is_rejected_before_sending(srv):
    async with Client(srv.client_config()) as client:
        cases = [
            ("not a list", TypeError, "events must be a list"),
            ([], ValueError, "must not be empty"),
            ([{"source": "s", "subject": "/a", "type": "t"}], ValueError, "event 0: missing 'data'"),
            ([ev("/a"), ev("/a", data={"tags": {1, 2}})], TypeError, "event 1: data['tags']: set"),
            ([ev("/a", data={"x": [1, float("nan")]})], ValueError, "event 0: data['x'][1]"),
            ([ev("/a", data=b"raw")], TypeError, "bytes is not JSON-serialisable"),
            ([ev("/a", data=object())], TypeError, "object is not JSON-serialisable"),
            ([ev("a")], ValueError, "subject"),
            ([ev("/a", source=5)], TypeError, "'source' must be a str"),
            ([ev("/a", options={"store_data_as_ref": True})], ValueError, "store_data_as_ref"),
        ]
        for events, exc, text in cases:
            with pytest.raises(exc) as info:
                await client.commit_events(events)
            assert isinstance(info.value, errors.InvalidInputError), events
            assert text in str(info.value), (text, str(info.value))
        with pytest.raises(errors.InvalidInputError, match="lower_bnd"):
            await client.stream_events("/", {"lower_bnd": "x"})
        with pytest.raises(TypeError):
            await client.stream_events(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="precondition 0"):
            await client.commit_events([ev("/a")], [{"type": "isSubjectNew"}])
        assert await client.stream_events("/") == []


def test_configuration(monkeypatch):
    for name in ("GENESISDB_API_URL", "GENESISDB_API_VERSION", "GENESISDB_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(errors.ConfigurationError) as info:
        Client()
    assert str(info.value) == (
        "Missing required environment variables: GENESISDB_API_URL, GENESISDB_AUTH_TOKEN"
    )
    assert isinstance(info.value, ValueError)
    monkeypatch.setenv("GENESISDB_API_URL", "http://127.0.0.1:1/")
    monkeypatch.setenv("GENESISDB_AUTH_TOKEN", "env-secret-123")
    c = Client()
    assert c.api_url == "http://127.0.0.1:1" and c.api_version == "v1"
    assert "env-secret-123" not in repr(c)
    c2 = Client({"api_url": "http://h:1", "api_version": "v1", "auth_token": "t"}, timeout=5)
    assert c2.api_url == "http://h:1"
    with pytest.raises(ValueError, match="bogus"):
        Client({"api_url": "http://h:1", "auth_token": "t", "bogus": 1})
    with pytest.raises(errors.ConfigurationError):
        Client(api_url="http://h:1", auth_token="t", timeout=-1)


async def test_connect_error_and_closed_client():
    client = Client(api_url="http://127.0.0.1:9", auth_token="t", retries=0, connect_timeout=2)
    with pytest.raises(errors.ConnectError) as info:
        await client.ping()
    assert isinstance(info.value, ConnectionError)
    client.close()
    assert client.closed
    with pytest.raises(errors.ClientClosedError):
        await client.ping()


async def test_observe_live_and_close(srv):
    async with Client(srv.client_config()) as client:
        got = []

        async def watch():
            async for e in client.observe_events("/obs"):
                got.append(e.data["i"])
                if len(got) == 3:
                    break

        task = asyncio.ensure_future(watch())
        await asyncio.sleep(0.3)
        for i in range(3):
            await client.commit_events([ev("/obs/x", data={"i": i})])
        await asyncio.wait_for(task, 10)
        assert got == [0, 1, 2]

        # With a lower bound: replay, then live.
        first = (await client.stream_events("/obs"))[0]
        agen = client.observe_events(
            "/obs", {"lower_bound": first.id, "include_lower_bound_event": True}
        )
        replay = [await agen.__anext__() for _ in range(3)]
        assert [e.data["i"] for e in replay] == [0, 1, 2]
        await agen.aclose()

        # Cancelling a pending observe ends it promptly; closing the client ends streams.
        agen2 = client.observe_events("/never")
        pending = asyncio.ensure_future(agen2.__anext__())
        await asyncio.sleep(0.3)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending


async def test_observe_reconnects_after_restart(tmp_path):
    with local_server(token=SMOKE_TOKEN, data_dir=tmp_path, heartbeat=0.2) as s:
        infos = []
        called = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def on_reconnect(info):  # an async callback runs as a task on this loop
            assert asyncio.get_running_loop() is loop
            infos.append(info)
            called.set()

        client = Client(s.client_config(), observe_idle_timeout=2, retry_backoff=0.05)
        agen = client.observe_events("/r", on_reconnect=on_reconnect)
        first = asyncio.ensure_future(agen.__anext__())
        await asyncio.sleep(0.3)
        await client.commit_events([ev("/r", data={"i": 0})])
        e0 = await asyncio.wait_for(first, 10)
        nxt = asyncio.ensure_future(agen.__anext__())
        s.stop()
        # Told while the server is still down, not only once events flow again.
        await asyncio.wait_for(called.wait(), 15)
        assert not nxt.done()
        assert infos[0].last_event_id == e0.id and infos[0].attempt >= 1 and infos[0].reason
        s.start()
        await client.commit_events([ev("/r", data={"i": 1})])
        e1 = await asyncio.wait_for(nxt, 15)
        assert (e0.data["i"], e1.data["i"]) == (0, 1)
        await agen.aclose()
        client.close()


async def test_query(srv):
    async with Client(srv.client_config()) as client:
        await client.commit_events([ev("/q/1", data={"name": "a"}), ev("/q/2", data={"name": "b"})])
        q = "STREAM e FROM events WHERE e.subject UNDER '/q' MAP { name: e.data.name }"
        try:
            rows = await client.query_events(q)
        except errors.BadRequestError as e:  # GDBQL engine not landed in this build
            pytest.skip(f"GDBQL not available: {e}")
        assert rows == [{"name": "a"}, {"name": "b"}]
        assert await client.q(q) == rows
        assert [r async for r in client.iter_query(q)] == rows


def test_event_from_dict_and_mapping():
    e = Event({"id": "1", "type": "t", "subject": "/s", "data": {"a": 1}, "traceparent": "x"})
    assert e.traceparent == "x" and e["traceparent"] == "x"
    assert e.keys() == ["subject", "type", "id", "data", "traceparent"]
    assert e.to_dict() == {"subject": "/s", "type": "t", "id": "1", "data": {"a": 1},
                           "traceparent": "x"}
    assert e == Event(e.to_dict())
    with pytest.raises(KeyError):
        e["source"]
    with pytest.raises(TypeError):
        hash(e)


def test_precondition_shapes():
    assert Precondition.is_subject_new("/a") == {"type": "isSubjectNew", "payload": {"subject": "/a"}}
    assert Precondition.is_subject_existing("/a")["type"] == "isSubjectExisting"
    assert Precondition.is_query_result_true("Q") == {
        "type": "isQueryResultTrue", "payload": {"query": "Q"}}
    assert Precondition("custom", {"k": 1}) == {"type": "custom", "payload": {"k": 1}}


async def test_logging_never_shows_token(srv, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client(api_url=srv.url, auth_token="log-Secret-77", retries=1, retry_backoff=0.01)
    with pytest.raises(errors.AuthenticationError):
        await client.ping() and await client.stream_events("/")
    client.close()
    for record in caplog.records:
        assert "log-Secret-77" not in record.getMessage()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_makes_its_own_client(srv, tmp_path):
    async def use(client: Client) -> int:
        await client.commit_events([ev("/fork")])
        return len(await client.stream_events("/fork"))

    parent = Client(srv.client_config())
    assert asyncio.run(use(parent)) == 1
    out = tmp_path / "child.txt"
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            try:
                asyncio.run(parent.ping())
                msg = "parent client worked?!"
            except errors.ClientClosedError:
                child = Client(srv.client_config())
                msg = f"ok {asyncio.run(use(child))}"
                code = 0
            out.write_text(msg)
        except BaseException as e:  # noqa: BLE001
            out.write_text(f"error {e!r}")
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert out.read_text() == "ok 2"
    assert os.WEXITSTATUS(status) == 0
    assert asyncio.run(use(parent)) == 3
    parent.close()


def test_cli_serve_and_demo(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "genesisdb", "demo"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Genesis DB local server listening on http://127.0.0.1:" in proc.stdout
    assert "observed" in proc.stdout and "Audit passed" in proc.stdout


EXIT_SCRIPT = """
import asyncio, logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
from genesisdb import Client, errors
from genesisdb.testing import local_server

async def main(url, token):
    failing = Client(api_url="http://127.0.0.1:9", auth_token="t", retries=2, retry_backoff=0.001)
    try:
        await failing.ping()
    except errors.ConnectError:
        pass
    client = Client(api_url=url, auth_token=token)
    agen = client.observe_events("/exit")
    pending = asyncio.ensure_future(agen.__anext__())
    await client.commit_events([{"source": "s", "subject": "/x", "type": "t", "data": {}}])
    await asyncio.sleep(0.05)
    print("done", flush=True)

server = local_server(heartbeat=0.05).start()
asyncio.run(main(server.url, server.token))
"""


def test_interpreter_exit_is_clean_with_rust_threads_busy():
    # Rust threads that attach to the interpreter while it finalizes abort CPython; the atexit
    # hook keeps them out. Repeated because the race is timing-dependent.
    for _ in range(5):
        proc = subprocess.run(
            [sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
        assert proc.stdout.strip() == "done"


async def test_pytest_plugin_fixtures(genesisdb_server, genesisdb_client):
    assert genesisdb_server.running and genesisdb_server.url.startswith("http://127.0.0.1:")
    assert genesisdb_client.api_url == genesisdb_server.url
    await genesisdb_client.commit_events([ev("/plugin")])
    assert len(await genesisdb_client.stream_events("/plugin")) == 1


def test_cli_serve_stops_on_ctrl_c(tmp_path):
    import selectors
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "genesisdb", "serve", "--port", "0", "--token", "cli-Tok-1",
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout=30), "serve printed nothing"
        line = proc.stdout.readline().strip()
        prefix = "Genesis DB local server listening on "
        assert line.startswith(prefix + "http://127.0.0.1:"), line
        url = line[len(prefix):]

        async def use() -> int:
            async with Client(api_url=url, auth_token="cli-Tok-1") as c:
                await c.commit_events([ev("/cli")])
                return len(await c.stream_events("/cli"))

        assert asyncio.run(use()) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path).iterdir()  # the data dir was used
