"""What the client puts on the wire, captured by a recording server.

The bodies and headers must equal those of the official clients (protocol.md §16.1 and
§16.4, decisions.md "The client"): routes under /api/v1, Bearer auth on every request,
JSON content type on POSTs, NDJSON Accept on stream/observe/q, User-Agent genesisdb-sdk,
no ``options`` key without options, no ``preconditions`` key without preconditions,
camelCase option names, JSON object keys in the caller's order.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from conftest import TOKEN, make_client
from genesisdb import Client, Precondition

EVENT = {
    "source": "io.genesisdb.test",
    "subject": "/test",
    "type": "io.genesisdb.test.created",
    "data": {"value": "x"},
}


def only(recorder):
    assert len(recorder.requests) == 1, recorder.requests
    return recorder.requests[0]


def body_keys(req):
    return list(req.json().keys())


def assert_common_headers(req, token=TOKEN):
    h = req.headers
    assert h["authorization"] == f"Bearer {token}"
    assert h["user-agent"] == "genesisdb-sdk"


def assert_post_json(req, route):
    assert req.method == "POST"
    assert req.path == f"/api/v1/{route}"
    assert req.headers["content-type"].split(";")[0].strip() == "application/json"
    assert_common_headers(req)


async def test_stream_without_options(recorder):
    client = make_client(recorder.url)
    assert await client.stream_events("/test") == []
    req = only(recorder)
    assert_post_json(req, "stream")
    assert req.headers["accept"] == "application/x-ndjson"
    assert req.json() == {"subject": "/test"}
    assert body_keys(req) == ["subject"]  # no "options" key
    await client.aclose()


async def test_stream_with_options_camel_case(recorder):
    client = make_client(recorder.url)
    await client.stream_events(
        "/test",
        {"lower_bound": "123", "include_lower_bound_event": True, "latest_by_event_type": "test.type"},
    )
    req = only(recorder)
    assert req.json() == {
        "subject": "/test",
        "options": {"lowerBound": "123", "includeLowerBoundEvent": True, "latestByEventType": "test.type"},
    }
    await client.aclose()


async def test_stream_with_upper_bounds(recorder):
    client = make_client(recorder.url)
    await client.stream_events(
        "/",
        {
            "lower_bound": "a",
            "include_lower_bound_event": False,
            "upper_bound": "b",
            "include_upper_bound_event": True,
        },
    )
    assert only(recorder).json() == {
        "subject": "/",
        "options": {
            "lowerBound": "a",
            "includeLowerBoundEvent": False,
            "upperBound": "b",
            "includeUpperBoundEvent": True,
        },
    }
    await client.aclose()


async def test_stream_with_empty_options_sends_no_options_key(recorder):
    client = make_client(recorder.url)
    await client.stream_events("/test", {})
    await client.stream_events("/test", None)
    assert [r.json() for r in recorder.requests] == [{"subject": "/test"}, {"subject": "/test"}]
    await client.aclose()


async def test_iter_events_request(recorder):
    client = make_client(recorder.url)
    got = [e async for e in client.iter_events("/test", {"lower_bound": "x"})]
    assert got == []
    req = only(recorder)
    assert_post_json(req, "stream")
    assert req.headers["accept"] == "application/x-ndjson"
    assert req.json() == {"subject": "/test", "options": {"lowerBound": "x"}}
    await client.aclose()


async def test_commit_exact_body(recorder):
    client = make_client(recorder.url)
    await client.commit_events([EVENT])
    req = only(recorder)
    assert_post_json(req, "commit")
    assert req.json() == {"events": [EVENT]}
    assert body_keys(req) == ["events"]  # no "preconditions" key
    assert list(req.json()["events"][0].keys()) == ["source", "subject", "type", "data"]
    await client.aclose()


async def test_commit_empty_preconditions_sends_no_key(recorder):
    client = make_client(recorder.url)
    await client.commit_events([EVENT], [])
    await client.commit_events([EVENT], None)
    assert [body_keys(r) for r in recorder.requests] == [["events"], ["events"]]
    await client.aclose()


async def test_commit_event_options(recorder):
    client = make_client(recorder.url)
    ev = dict(EVENT, options={"store_data_as_reference": True})
    await client.commit_events([ev, EVENT])
    body = only(recorder).json()
    assert body["events"][0] == dict(EVENT, options={"storeDataAsReference": True})
    assert body["events"][1] == EVENT  # per-event options only when given
    assert "options" not in body["events"][1]
    await client.aclose()


async def test_commit_preconditions_order_kept(recorder):
    client = make_client(recorder.url)
    pre = [
        {"type": "isSubjectExisting", "payload": {"subject": "/a"}},
        {"type": "isQueryResultTrue", "payload": {"query": "STREAM e FROM events MAP COUNT() == 0"}},
        {"type": "isSubjectNew", "payload": {"subject": "/b"}},
        {"type": "someFutureType", "payload": {"anything": [1, {"deep": None}]}},
    ]
    await client.commit_events([EVENT], pre)
    body = only(recorder).json()
    assert body == {"events": [EVENT], "preconditions": pre}
    await client.aclose()


async def test_precondition_helpers_same_wire_shape(recorder):
    client = make_client(recorder.url)
    helpers = [
        Precondition.is_subject_new("/user/456"),
        Precondition.is_subject_existing("/user/456"),
        Precondition.is_query_result_true("STREAM e FROM events MAP COUNT() == 0"),
        Precondition("custom", {"x": 1}),
    ]
    dicts = [
        {"type": "isSubjectNew", "payload": {"subject": "/user/456"}},
        {"type": "isSubjectExisting", "payload": {"subject": "/user/456"}},
        {"type": "isQueryResultTrue", "payload": {"query": "STREAM e FROM events MAP COUNT() == 0"}},
        {"type": "custom", "payload": {"x": 1}},
    ]
    await client.commit_events([EVENT], helpers)
    await client.commit_events([EVENT], dicts)
    a, b = recorder.requests
    assert a.json()["preconditions"] == dicts
    assert a.json() == b.json()
    await client.aclose()


async def test_commit_data_encoding(recorder):
    client = make_client(recorder.url)
    data = {
        "zeta": 1,
        "alpha": 2,
        "mid": {"b": [1, 2.5, "s"], "a": None},
        "big": 2**70,
        "neg": -(2**65),
        "price": 2990000.00,
        "flag": True,
        "off": False,
        "tuple": (1, 2),
        "unicode": "Grüße \u2603 \U0001F600 \"quoted\" \\ \n\t\x01",
        "empty": {},
        "list": [],
    }
    await client.commit_events([dict(EVENT, data=data)])
    req = only(recorder)
    sent = req.json()["events"][0]["data"]
    # keys in the caller's order, nested too
    assert list(sent.keys()) == list(data.keys())
    assert list(sent["mid"].keys()) == ["b", "a"]
    assert sent["big"] == 2**70 and isinstance(sent["big"], int)
    assert sent["neg"] == -(2**65)
    assert sent["price"] == 2990000.0
    assert sent["flag"] is True and sent["off"] is False
    assert sent["tuple"] == [1, 2]
    assert sent["unicode"] == data["unicode"]
    assert sent["empty"] == {} and sent["list"] == []
    # big integers are written as JSON integers, not floats or strings
    assert b"1180591620717411303424" in req.body
    await client.aclose()


async def test_commit_non_object_data(recorder):
    client = make_client(recorder.url)
    await client.commit_events([dict(EVENT, data=[1, "two"]), dict(EVENT, data="text"), dict(EVENT, data=None)])
    sent = only(recorder).json()["events"]
    assert [e["data"] for e in sent] == [[1, "two"], "text", None]
    await client.aclose()


async def test_commit_unknown_event_keys_not_forwarded(recorder):
    # The official SDK forwards only source/subject/type/data (+ options).
    client = make_client(recorder.url)
    try:
        await client.commit_events([dict(EVENT, id="x", time="t", extra={"a": 1})])
    except ValueError as exc:  # rejected before sending, naming the key
        assert "extra" in str(exc) or "id" in str(exc)
        assert recorder.requests == []
    else:  # or forwarded as the four official keys only
        assert only(recorder).json()["events"][0] == EVENT
    await client.aclose()


async def test_erase_body(recorder):
    client = make_client(recorder.url)
    await client.erase_data("/test/subject")
    req = only(recorder)
    assert_post_json(req, "erase")
    assert req.json() == {"subject": "/test/subject"}
    await client.aclose()


@pytest.mark.parametrize("method", ["q", "query_events"])
async def test_query_body(recorder, method):
    client = make_client(recorder.url)
    query = "STREAM e FROM events WHERE e.type == 'x' MAP { id: e.id }"
    assert await getattr(client, method)(query) == []
    req = only(recorder)
    assert_post_json(req, "q")
    assert req.headers["accept"] == "application/x-ndjson"
    assert req.json() == {"query": query}
    await client.aclose()


async def test_iter_query_body(recorder):
    client = make_client(recorder.url)
    rows = [r async for r in client.iter_query("FROM e IN events PROJECT INTO e.data")]
    assert rows == []
    req = only(recorder)
    assert_post_json(req, "q")
    assert req.json() == {"query": "FROM e IN events PROJECT INTO e.data"}
    await client.aclose()


async def test_ping_and_audit_requests(recorder):
    client = make_client(recorder.url)
    assert await client.ping() == "pong"
    assert (await client.audit()).startswith("Audit passed")
    ping, audit = recorder.requests
    assert (ping.method, ping.path) == ("GET", "/api/v1/status/ping")
    assert (audit.method, audit.path) == ("GET", "/api/v1/status/audit")
    for r in (ping, audit):
        assert_common_headers(r)  # Authorization on every request, ping included
        assert r.body == b""
    await client.aclose()


async def test_observe_request(recorder):
    client = make_client(recorder.url)
    it = client.observe_events("/customer", {"lower_bound": "abc", "include_lower_bound_event": True,
                                             "upper_bound": "def"})
    task = asyncio.ensure_future(it.__anext__())
    assert await asyncio.to_thread(recorder.wait_for, lambda: len(recorder.requests) == 1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    req = only(recorder)
    assert_post_json(req, "observe")
    assert req.headers["accept"] == "application/x-ndjson"
    assert req.json() == {
        "subject": "/customer",
        "options": {"lowerBound": "abc", "includeLowerBoundEvent": True, "upperBound": "def"},
    }
    await client.aclose()


async def test_observe_without_options(recorder):
    client = make_client(recorder.url)
    it = client.observe_events("/customer")
    task = asyncio.ensure_future(it.__anext__())
    assert await asyncio.to_thread(recorder.wait_for, lambda: len(recorder.requests) == 1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert only(recorder).json() == {"subject": "/customer"}
    await client.aclose()


@pytest.mark.parametrize("suffix", ["/", "//"])
async def test_trailing_slash_trimmed(recorder, suffix):
    client = make_client(recorder.url + suffix)
    await client.ping()
    await client.stream_events("/x")
    assert [r.path for r in recorder.requests] == ["/api/v1/status/ping", "/api/v1/stream"]
    await client.aclose()


async def test_api_version_from_config(recorder):
    client = Client({"api_url": recorder.url, "api_version": "v7", "auth_token": TOKEN})
    await client.ping()
    assert only(recorder).path == "/api/v7/status/ping"
    await client.aclose()


async def test_api_version_defaults_to_v1(recorder):
    client = Client({"api_url": recorder.url, "auth_token": TOKEN})
    await client.ping()
    assert only(recorder).path == "/api/v1/status/ping"
    await client.aclose()


async def test_config_from_environment(recorder, monkeypatch):
    monkeypatch.setenv("GENESISDB_API_URL", recorder.url)
    monkeypatch.setenv("GENESISDB_API_VERSION", "v1")
    monkeypatch.setenv("GENESISDB_AUTH_TOKEN", "env-token")
    client = Client()
    await client.ping()
    assert only(recorder).headers["authorization"] == "Bearer env-token"
    await client.aclose()


async def test_explicit_config_wins_over_environment(recorder, monkeypatch):
    monkeypatch.setenv("GENESISDB_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GENESISDB_AUTH_TOKEN", "env-token")
    client = Client({"api_url": recorder.url, "auth_token": "dict-token"})
    await client.ping()
    client2 = Client(api_url=recorder.url)  # token from the environment
    await client2.ping()
    a, b = recorder.requests
    assert a.headers["authorization"] == "Bearer dict-token"
    assert b.headers["authorization"] == "Bearer env-token"
    await client.aclose()
    await client2.aclose()


async def test_custom_user_agent(recorder):
    client = make_client(recorder.url, user_agent="my-app/1.0")
    await client.ping()
    await client.stream_events("/x")
    assert [r.headers["user-agent"] for r in recorder.requests] == ["my-app/1.0", "my-app/1.0"]
    await client.aclose()


async def test_one_client_reuses_connections(recorder):
    # one pooled HTTP client per Client: sequential calls share a keep-alive connection
    # (a connection goes back to the pool asynchronously, so a call right after another may
    # still open a second one; the pause makes reuse the normal case)
    client = make_client(recorder.url)
    for _ in range(10):
        await client.ping()
        await asyncio.sleep(0.05)
    assert len(recorder.requests) == 10
    assert recorder.connections <= 3
    await client.aclose()


async def test_bodies_are_compact_json(recorder):
    client = make_client(recorder.url)
    await client.stream_events("/test", {"lower_bound": "1"})
    await client.commit_events([EVENT])
    # byte-exact official shapes (serde_json / JSON.stringify output)
    assert recorder.requests[0].body == b'{"subject":"/test","options":{"lowerBound":"1"}}'
    assert recorder.requests[1].body == json.dumps({"events": [EVENT]}, separators=(",", ":")).encode()
    await client.aclose()


async def test_api_version_from_environment(recorder, monkeypatch):
    monkeypatch.setenv("GENESISDB_API_URL", recorder.url)
    monkeypatch.setenv("GENESISDB_API_VERSION", "v2")
    monkeypatch.setenv("GENESISDB_AUTH_TOKEN", "env-token")
    client = Client()
    await client.ping()
    assert only(recorder).path == "/api/v2/status/ping"
    await client.aclose()


async def test_keywords_win_over_dict(recorder):
    client = Client({"api_url": "http://127.0.0.1:9", "auth_token": "dict-token", "api_version": "v3"},
                    api_url=recorder.url, auth_token="kw-token")
    await client.ping()
    req = only(recorder)
    assert req.headers["authorization"] == "Bearer kw-token"
    assert req.path == "/api/v3/status/ping"
    await client.aclose()


async def test_settings_in_the_config_dict(recorder):
    client = Client({"api_url": recorder.url, "auth_token": TOKEN, "user_agent": "dict-agent/2",
                     "timeout": 5, "retries": 0})
    await client.ping()
    assert only(recorder).headers["user-agent"] == "dict-agent/2"
    await client.aclose()


async def test_async_on_reconnect_callback():
    import json as _json

    from scripted import ScriptedServer, stored_event

    seen = []

    async def on_reconnect(info):
        await asyncio.sleep(0)
        seen.append(info)

    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(_json.dumps(stored_event(len(conn.server.requests))) + "\n")
        if len(conn.server.requests) == 1:
            return False
        conn.wait_peer_close(timeout=30)
        return False

    with ScriptedServer(handler) as srv:
        client = make_client(srv.url, retry_backoff=0.01)
        got = []
        async for e in client.observe_events("/x", on_reconnect=on_reconnect):
            got.append(e)
            if len(got) == 2:
                break
        await asyncio.sleep(0.1)
        assert len(seen) == 1
        assert seen[0].last_event_id == stored_event(1)["id"]
        await client.aclose()


async def test_none_valued_options_are_omitted(recorder):
    # as the official SDK: an option given as None is not sent
    client = make_client(recorder.url)
    await client.stream_events("/x", {"lower_bound": None, "include_lower_bound_event": None,
                                      "latest_by_event_type": "t"})
    await client.stream_events("/x", {"lower_bound": None})
    assert [r.json() for r in recorder.requests] == [
        {"subject": "/x", "options": {"latestByEventType": "t"}},
        {"subject": "/x"},
    ]
    await client.aclose()
