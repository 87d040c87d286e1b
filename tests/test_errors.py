"""Every error class, from a real response of the local server (or a scripted one for 5xx).

Each HTTP error carries ``.status``, ``.body`` (the response text), ``.route`` and
``.reason``; configuration errors keep the official SDK's message; the auth token never
appears in any message or repr.
"""

from __future__ import annotations

import json
import pickle
import socket

import pytest

import genesisdb
from conftest import TOKEN, make_client
from genesisdb import Client, Precondition
from genesisdb import errors as E
from scripted import ScriptedServer

EV = {"source": "io.genesisdb.test", "subject": "/err/1", "type": "io.genesisdb.test.created", "data": {"a": 1}}


def no_token(exc: BaseException, token: str = TOKEN) -> None:
    for text in (str(exc), repr(exc), getattr(exc, "body", "") or "", str(exc.args)):
        assert token not in text


# ---- the hierarchy ----------------------------------------------------------------------

def test_hierarchy():
    assert issubclass(E.ConfigurationError, E.GenesisDBError)
    assert issubclass(E.ConfigurationError, ValueError)
    assert issubclass(E.InvalidInputError, ValueError)
    assert issubclass(E.InvalidInputError, E.GenesisDBError)
    for cls in (E.BadRequestError, E.AuthenticationError, E.NotFoundError, E.MethodNotAllowedError,
                E.PreconditionFailedError, E.PayloadTooLargeError, E.ServerError):
        assert issubclass(cls, E.HTTPError)
        assert issubclass(cls, E.GenesisDBError)
    assert issubclass(E.TransportError, ConnectionError)
    assert issubclass(E.ConnectError, E.TransportError)
    assert issubclass(E.TimeoutError, TimeoutError)
    assert issubclass(E.TimeoutError, E.GenesisDBError)
    assert issubclass(E.ProtocolError, E.GenesisDBError)
    assert issubclass(E.ClientClosedError, E.GenesisDBError)


def test_exported_from_package():
    for name in ("GenesisDBError", "ConfigurationError", "HTTPError", "PreconditionFailedError",
                 "ProtocolError", "TimeoutError", "TransportError", "ClientClosedError"):
        assert getattr(genesisdb, name) is getattr(E, name)


# ---- HTTP errors from the local server --------------------------------------------------------

async def test_400_unknown_bound_id(client):
    await client.commit_events([EV])
    with pytest.raises(E.BadRequestError) as info:
        await client.stream_events("/", {"lower_bound": "00000000-0000-4000-8000-000000000000"})
    exc = info.value
    assert exc.status == 400
    assert "stream" in exc.route
    body = json.loads(exc.body)
    assert set(body) >= {"error", "message"}
    assert "400" in str(exc)
    no_token(exc)


async def test_400_unknown_precondition_type(client):
    with pytest.raises(E.BadRequestError) as info:
        await client.commit_events([EV], [Precondition("isSubjectAwesome", {"subject": "/err/1"})])
    assert info.value.status == 400
    assert "commit" in info.value.route
    assert await client.stream_events("/err") == []  # nothing written


async def test_400_event_over_64_kib(client):
    big = dict(EV, data={"blob": "x" * (70 * 1024)})
    with pytest.raises(E.BadRequestError) as info:
        await client.commit_events([EV, big])
    assert info.value.status == 400
    assert "1" in info.value.body  # the server names the event index
    assert await client.stream_events("/err") == []


async def test_400_bad_query(client):
    with pytest.raises(E.BadRequestError) as info:
        await client.query_events("STREAM e FROM WHERE")
    assert info.value.status == 400
    assert info.value.route.rstrip("/").endswith("q")


async def test_401_wrong_token(server):
    bad = make_client(server.url, token="wrong-token")
    for call in (lambda: bad.stream_events("/"), lambda: bad.commit_events([EV]), lambda: bad.audit(),
                 lambda: bad.erase_data("/err/1"), lambda: bad.query_events("STREAM e FROM events MAP e.id")):
        with pytest.raises(E.AuthenticationError) as info:
            await call()
        assert info.value.status == 401
        no_token(info.value, "wrong-token")
        no_token(info.value)
    # ping needs no auth
    assert await bad.ping() == "pong"
    await bad.aclose()


async def test_404_erase_unknown_subject(client):
    with pytest.raises(E.NotFoundError) as info:
        await client.erase_data("/nobody/here")
    assert info.value.status == 404
    assert "erase" in info.value.route
    no_token(info.value)


async def test_404_unknown_api_version(server):
    c = Client({"api_url": server.url, "api_version": "v99", "auth_token": TOKEN})
    with pytest.raises(E.NotFoundError) as info:
        await c.stream_events("/")
    assert info.value.status == 404
    await c.aclose()


async def test_412_precondition_type_message_index(client):
    await client.commit_events([EV], [Precondition.is_subject_new("/err/1")])
    with pytest.raises(E.PreconditionFailedError) as info:
        await client.commit_events(
            [EV],
            [Precondition.is_subject_existing("/err/1"), Precondition.is_subject_new("/err/1")],
        )
    exc = info.value
    assert exc.status == 412
    assert exc.precondition_type == "isSubjectNew"
    assert exc.index == 1
    assert isinstance(exc.precondition_message, str) and exc.precondition_message
    assert "commit" in exc.route
    assert json.loads(exc.body)["type"] == "isSubjectNew"
    no_token(exc)
    assert len(await client.stream_events("/err/1")) == 1


async def test_412_is_subject_existing(client):
    with pytest.raises(E.PreconditionFailedError) as info:
        await client.commit_events([EV], [{"type": "isSubjectExisting", "payload": {"subject": "/err/1"}}])
    assert info.value.precondition_type == "isSubjectExisting"
    assert info.value.index == 0


async def test_413_body_over_16_mib(client):
    # 300 events of ~60 KiB each: every event is valid, the body is ~18 MiB
    blob = "y" * (60 * 1024)
    events = [dict(EV, data={"blob": blob, "i": i}) for i in range(300)]
    with pytest.raises(E.PayloadTooLargeError) as info:
        await client.commit_events(events)
    assert info.value.status == 413
    assert await client.stream_events("/err") == []
    # the client stays usable
    assert await client.ping() == "pong"


async def test_http_error_pickles(client):
    with pytest.raises(E.NotFoundError) as info:
        await client.erase_data("/nobody")
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is E.NotFoundError
    assert (again.status, again.body, again.route) == (info.value.status, info.value.body, info.value.route)


# ---- 5xx and 405 from a scripted server ---------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_server_error(status):
    def handler(conn, req):
        return conn.respond(status, "upstream trouble", content_type="text/plain")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        with pytest.raises(E.ServerError) as info:
            await c.ping()
        assert info.value.status == status
        assert info.value.body == "upstream trouble"
        assert "ping" in info.value.route
        no_token(info.value)
        await c.aclose()


async def test_405_method_not_allowed():
    def handler(conn, req):
        return conn.respond(405, '{"error":"method_not_allowed","message":"use POST"}')

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        with pytest.raises(E.MethodNotAllowedError) as info:
            await c.stream_events("/")
        assert info.value.status == 405
        await c.aclose()


async def test_412_with_plain_text_body():
    def handler(conn, req):
        return conn.respond(412, "precondition failed", content_type="text/plain")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        with pytest.raises(E.PreconditionFailedError) as info:
            await c.commit_events([EV])
        assert info.value.body == "precondition failed"
        assert info.value.precondition_type is None
        await c.aclose()


async def test_other_4xx_is_an_http_error():
    def handler(conn, req):
        return conn.respond(418, "teapot", content_type="text/plain")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        with pytest.raises(E.HTTPError) as info:
            await c.audit()
        assert info.value.status == 418
        await c.aclose()


# ---- transport -------------------------------------------------------------------------------

def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_connect_error_refused():
    c = make_client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(E.ConnectError) as info:
        await c.stream_events("/")
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, E.TransportError)
    no_token(info.value)
    with pytest.raises(E.ConnectError):
        await c.commit_events([EV])
    await c.aclose()


# ---- configuration ------------------------------------------------------------------------------

def test_missing_everything_official_message():
    with pytest.raises(E.ConfigurationError) as info:
        Client()
    assert str(info.value) == "Missing required environment variables: GENESISDB_API_URL, GENESISDB_AUTH_TOKEN"
    assert isinstance(info.value, ValueError)


def test_missing_url_official_message(monkeypatch):
    monkeypatch.setenv("GENESISDB_AUTH_TOKEN", TOKEN)
    with pytest.raises(ValueError) as info:
        Client()
    assert str(info.value) == "Missing required environment variables: GENESISDB_API_URL"
    no_token(info.value)


def test_missing_token_official_message():
    with pytest.raises(E.ConfigurationError) as info:
        Client({"api_url": "http://127.0.0.1:8080"})
    assert str(info.value) == "Missing required environment variables: GENESISDB_AUTH_TOKEN"


def test_incomplete_dict_and_missing_env():
    with pytest.raises(E.ConfigurationError) as info:
        Client({"api_version": "v1", "auth_token": TOKEN})
    assert str(info.value) == "Missing required environment variables: GENESISDB_API_URL"
    no_token(info.value)


def test_empty_values_count_as_missing(monkeypatch):
    monkeypatch.setenv("GENESISDB_API_URL", "")
    with pytest.raises(E.ConfigurationError) as info:
        Client(auth_token="")
    assert str(info.value) == "Missing required environment variables: GENESISDB_API_URL, GENESISDB_AUTH_TOKEN"


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1:8080"])
def test_invalid_url_is_a_configuration_error(url):
    with pytest.raises(E.ConfigurationError) as info:
        Client(api_url=url, auth_token=TOKEN)
    no_token(info.value)


def test_unknown_keyword():
    with pytest.raises(TypeError):
        Client(api_url="http://127.0.0.1:1", auth_token=TOKEN, bogus=1)
