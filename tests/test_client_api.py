"""The Python API of issue 4 against the local server: every method, keyword and config form,
the Event type, iter_events/iter_query, stream options and bounds."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle

import pytest

import genesisdb
from conftest import TOKEN, collect, make_client
from genesisdb import Client, Event, Precondition
from genesisdb import errors as E
from scripted import ScriptedServer, stored_event


_DEFAULT = object()


def ev(subject="/item/1", type_="io.genesisdb.test.created", data=_DEFAULT, **kw):
    out = {"source": "io.genesisdb.test", "subject": subject, "type": type_,
           "data": {"n": 1} if data is _DEFAULT else data}
    out.update(kw)
    return out


# ---- construction and lifecycle ---------------------------------------------------------------

async def test_client_forms(server, monkeypatch):
    c1 = Client(server.client_config())
    c2 = Client({"api_url": server.url, "api_version": "v1", "auth_token": server.token})
    c3 = Client(api_url=server.url, auth_token=server.token)
    c4 = Client(api_url=server.url, api_version="v1", auth_token=server.token,
                timeout=5, connect_timeout=2.5, observe_idle_timeout=10, retries=2,
                user_agent="tests/1.0")
    monkeypatch.setenv("GENESISDB_API_URL", server.url)
    monkeypatch.setenv("GENESISDB_AUTH_TOKEN", server.token)
    c5 = Client()
    for c in (c1, c2, c3, c4, c5):
        assert await c.ping() == "pong"
        await c.aclose()


async def test_async_with_closes(server):
    async with Client(server.client_config()) as c:
        assert isinstance(c, Client)
        await c.commit_events([ev()])
    with pytest.raises(E.ClientClosedError):
        await c.stream_events("/")


async def test_close_and_aclose_are_idempotent(server):
    c = Client(server.client_config())
    assert await c.ping() == "pong"
    c.close()
    c.close()
    await c.aclose()
    with pytest.raises(E.ClientClosedError):
        await c.ping()
    with pytest.raises(E.ClientClosedError):
        await c.commit_events([ev()])


def test_repr_shows_url_not_token(server):
    c = Client(server.client_config())
    r = repr(c)
    assert server.url in r
    assert "v1" in r
    assert server.token not in r
    assert server.token not in str(c)
    c.close()


@pytest.mark.parametrize("kw", [{"timeout": -1}, {"connect_timeout": 0}, {"timeout": float("nan")},
                                {"observe_idle_timeout": -5}])
def test_bad_timeouts_rejected(kw):
    with pytest.raises(ValueError):
        Client(api_url="http://127.0.0.1:1", auth_token=TOKEN, **kw)


@pytest.mark.parametrize(
    "kw, exc",
    [
        ({"retries": -1}, E.ConfigurationError),
        ({"retries": 2**40}, E.ConfigurationError),
        ({"max_line_bytes": -5}, E.ConfigurationError),
        ({"max_line_bytes": 2**70}, E.ConfigurationError),
        ({"retries": "3"}, E.InvalidInputTypeError),
        ({"retries": True}, E.InvalidInputTypeError),
        ({"max_line_bytes": 1.5}, E.InvalidInputTypeError),
    ],
)
def test_bad_whole_number_settings_named_in_the_error(kw, exc):
    with pytest.raises(exc) as info:
        Client(api_url="http://127.0.0.1:1", auth_token=TOKEN, **kw)
    assert next(iter(kw)) in str(info.value)


@pytest.mark.parametrize("key", ["api_url", "api_version", "auth_token", "user_agent"])
@pytest.mark.parametrize("value", [987654321, b"tok-bytes-1f", ["tok-list-2e"]])
@pytest.mark.parametrize("form", ["keyword", "dict"])
def test_non_string_settings_named_without_their_value(key, value, form):
    settings = {"api_url": "http://127.0.0.1:1", "auth_token": TOKEN, key: value}
    with pytest.raises(genesisdb.InvalidInputTypeError) as info:
        Client(**settings) if form == "keyword" else Client(settings)
    assert isinstance(info.value, TypeError)
    assert key in str(info.value) and type(value).__name__ in str(info.value)
    # the value is never echoed: it may be the token
    for shown in ("987654321", "tok-bytes-1f", "tok-list-2e", TOKEN):
        assert shown not in str(info.value)


def test_version_attribute():
    assert isinstance(genesisdb.__version__, str) and genesisdb.__version__


# ---- commit / stream / options ------------------------------------------------------------------

async def test_commit_returns_none_and_stream_returns_events(client):
    assert await client.commit_events([ev(data={"a": 1}), ev(data={"a": 2})]) is None
    events = await client.stream_events("/item/1")
    assert [e.data for e in events] == [{"a": 1}, {"a": 2}]
    assert all(isinstance(e, Event) for e in events)
    assert isinstance(events, list)


async def test_unknown_subject_streams_empty(client):
    assert await client.stream_events("/nothing/here") == []


async def test_recursive_subjects(client):
    await client.commit_events([ev("/customer"), ev("/customer/1"), ev("/customer/1/address"),
                                ev("/customers"), ev("/cust")])
    assert [e.subject for e in await client.stream_events("/customer")] == [
        "/customer", "/customer/1", "/customer/1/address"]
    assert [e.subject for e in await client.stream_events("/cust")] == ["/cust"]
    assert len(await client.stream_events("/")) == 5


async def bounds_fixture(client):
    for i in range(3):
        await client.commit_events([ev("/b", data={"i": i})])
    return [e.id for e in await client.stream_events("/b")]


async def test_bounds(client):
    e0, e1, e2 = await bounds_fixture(client)

    async def ids(**opts):
        return [e.id for e in await client.stream_events("/b", opts)]

    assert await ids(lower_bound=e0) == [e1, e2]
    assert await ids(lower_bound=e0, include_lower_bound_event=False) == [e1, e2]
    assert await ids(lower_bound=e1, include_lower_bound_event=True) == [e1, e2]
    assert await ids(upper_bound=e2) == [e0, e1]
    assert await ids(upper_bound=e2, include_upper_bound_event=True) == [e0, e1, e2]
    assert await ids(lower_bound=e0, upper_bound=e2) == [e1]
    assert await ids(lower_bound=e0, include_lower_bound_event=True, upper_bound=e2,
                     include_upper_bound_event=True) == [e0, e1, e2]


async def test_bound_of_another_subject(client):
    await client.commit_events([ev("/a"), ev("/b"), ev("/a"), ev("/b")])
    all_ = await client.stream_events("/")
    got = await client.stream_events("/b", {"lower_bound": all_[0].id})
    assert [e.id for e in got] == [all_[1].id, all_[3].id]


async def test_latest_by_event_type(client):
    await client.commit_events([ev("/p/1", "t.a", {"v": 1}), ev("/p/2", "t.a", {"v": 2}),
                                ev("/p/1", "t.a", {"v": 3}), ev("/p/1", "t.b", {"v": 4})])
    got = await client.stream_events("/p", {"latest_by_event_type": "t.a"})
    # per subject the newest event of that type, in global order
    assert [(e.subject, e.data["v"]) for e in got] == [("/p/2", 2), ("/p/1", 3)]


async def test_data_round_trip(client):
    data = {"z": 1, "a": [1, 2.5, None, True, "s", {"deep": {"x": []}}], "big": 2**70,
            "unicode": "Grüße \u2603 \U0001F600", "float": 2990000.00, "neg": -1e-300}
    await client.commit_events([ev(data=data), ev(data=[1, 2]), ev(data="text"), ev(data=None),
                                ev(data=12), ev(data=False)])
    events = await client.stream_events("/item/1")
    assert events[0].data == data
    assert list(events[0].data) == list(data)  # key order kept
    assert events[0].data["big"] == 2**70
    assert [e.data for e in events[1:]] == [[1, 2], "text", None, 12, False]


async def test_store_data_as_reference_and_erase(client):
    await client.commit_events([
        ev("/u/1", data={"name": "x", "nested": {"a": "b", "n": 5}, "list": [1, 2]},
           options={"store_data_as_reference": True}),
        ev("/u/1", data={"plain": "kept"}),
        ev("/u/1/child", data={"c": "d"}, options={"store_data_as_reference": True}),
        ev("/u/2", data={"other": "kept"}, options={"store_data_as_reference": True}),
    ])
    assert await client.erase_data("/u/1") is None
    got = await client.stream_events("/u")
    assert [e.data for e in got] == [
        {"name": "", "nested": {"a": "", "n": ""}, "list": []},
        {"plain": "kept"},
        {"c": ""},
        {"other": "kept"},
    ]
    assert (await client.audit()).startswith("Audit passed")


async def test_commit_with_precondition_helpers(client):
    await client.commit_events([ev("/h/1")], [Precondition.is_subject_new("/h/1")])
    await client.commit_events([ev("/h/1")], [Precondition.is_subject_existing("/h/1")])
    await client.commit_events([ev("/h/2")], [Precondition("isSubjectNew", {"subject": "/h/2"})])
    with pytest.raises(E.PreconditionFailedError):
        await client.commit_events([ev("/h/3")], [Precondition.is_subject_existing("/h/3")])
    assert len(await client.stream_events("/h")) == 3


async def test_precondition_query_helper(client):
    q = "STREAM e FROM events WHERE e.subject == '/h/9' MAP COUNT() == 0"
    await client.commit_events([ev("/h/9")], [Precondition.is_query_result_true(q)])
    with pytest.raises(E.PreconditionFailedError):
        await client.commit_events([ev("/h/9")], [Precondition.is_query_result_true(q)])


def test_precondition_shapes():
    def as_dict(p):
        if isinstance(p, dict):
            return p
        return {"type": p.type, "payload": p.payload}

    assert as_dict(Precondition.is_subject_new("/a")) == {"type": "isSubjectNew", "payload": {"subject": "/a"}}
    assert as_dict(Precondition.is_subject_existing("/a")) == {"type": "isSubjectExisting", "payload": {"subject": "/a"}}
    assert as_dict(Precondition.is_query_result_true("Q")) == {"type": "isQueryResultTrue", "payload": {"query": "Q"}}
    assert as_dict(Precondition("custom", {"k": [1]})) == {"type": "custom", "payload": {"k": [1]}}


async def test_query_and_q(client):
    await client.commit_events([ev("/q/1", data={"v": 1}), ev("/q/2", data={"v": 2})])
    q = "STREAM e FROM events WHERE e.subject UNDER '/q' ORDER BY e.time MAP { subject: e.subject, v: e.data.v }"
    rows = await client.query_events(q)
    assert rows == [{"subject": "/q/1", "v": 1}, {"subject": "/q/2", "v": 2}]
    assert await client.q(q) == rows
    assert [r async for r in client.iter_query(q)] == rows
    assert await client.query_events("STREAM e FROM events WHERE e.subject == '/none' MAP e.id") == []


async def test_ping_audit(client):
    assert await client.ping() == "pong"
    assert await client.audit() == "Audit passed. All 0 events integrity checks succeeded."
    await client.commit_events([ev(), ev()])
    assert await client.audit() == "Audit passed. All 2 events integrity checks succeeded."


async def test_concurrent_calls_on_one_client(client):
    await asyncio.gather(*(client.commit_events([ev(f"/c/{i}", data={"i": i})]) for i in range(40)))
    results = await asyncio.gather(*(client.stream_events(f"/c/{i}") for i in range(40)))
    assert [r[0].data["i"] for r in results] == list(range(40))
    assert len(await client.stream_events("/c")) == 40


# ---- iter_events / iter_query ---------------------------------------------------------------------

async def test_iter_events_equals_stream_events(client):
    await client.commit_events([ev("/it", data={"i": i}) for i in range(300)])
    streamed = await client.stream_events("/it")
    iterated = [e async for e in client.iter_events("/it")]
    assert iterated == streamed
    assert [e.data["i"] for e in iterated] == list(range(300))
    bounded = [e async for e in client.iter_events("/it", {"lower_bound": streamed[9].id,
                                                          "upper_bound": streamed[20].id})]
    assert bounded == streamed[10:20]


async def test_iter_events_break_early(client):
    await client.commit_events([ev("/it", data={"i": i}) for i in range(50)])
    it = client.iter_events("/it")
    got = []
    async for e in it:
        got.append(e.data["i"])
        if len(got) == 5:
            break
    await it.aclose()
    assert got == [0, 1, 2, 3, 4]
    assert await client.ping() == "pong"


def big_stream_server(n_events: int, payload: int):
    """A server streaming ``n_events`` stored events of ``payload`` bytes each, for any request."""
    blob = "x" * payload

    def handler(conn, req):
        conn.start_chunked(200)
        try:
            buf = []
            size = 0
            for i in range(n_events):
                if req.path.endswith("/q"):
                    line = json.dumps({"i": i, "blob": blob})
                else:
                    line = json.dumps(stored_event(i, data={"i": i, "blob": blob}))
                buf.append(line + "\n")
                size += len(line) + 1
                if size >= 65536:
                    conn.chunk("".join(buf))
                    buf, size = [], 0
            conn.chunk("".join(buf))
            conn.end_chunked()
        except Exception:
            return False
        return True

    return ScriptedServer(handler)


@pytest.mark.parametrize("kind", ["events", "query"])
async def test_iter_bounded_memory(kind):
    # 60,000 events of ~700 bytes = ~40 MiB of body. While the consumer holds still after the
    # first item, the client must stop reading the socket (a bounded number of events held),
    # so the server cannot have written the whole body.
    n, size = 60_000, 300
    line = len(json.dumps(stored_event(0, data={"i": 0, "blob": "x" * size}))) + 1
    total = n * line
    with big_stream_server(n, size) as srv:
        c = make_client(srv.url)
        it = c.iter_events("/big") if kind == "events" else c.iter_query("STREAM e FROM events MAP e.data")
        first = await it.__anext__()
        await asyncio.sleep(1.0)
        stalled_at = srv.bytes_sent
        assert stalled_at < total / 2, f"server wrote {stalled_at} of ~{total} bytes: the client buffers everything"
        count = 1
        last = first
        async for item in it:
            count += 1
            last = item
        assert count == n
        if kind == "events":
            assert last.data["i"] == n - 1
        else:
            assert last["i"] == n - 1
        await c.aclose()


# ---- observe ---------------------------------------------------------------------------------

async def test_observe_replay_then_live(client):
    await client.commit_events([ev("/o", data={"i": 0}), ev("/o", data={"i": 1})])
    first = (await client.stream_events("/o"))[0]
    it = client.observe_events("/o", {"lower_bound": first.id, "include_lower_bound_event": True})
    got = await collect(it, 2)
    assert [e.data["i"] for e in got] == [0, 1]
    await client.commit_events([ev("/o", data={"i": 2}), ev("/other", data={"i": -1}), ev("/o/x", data={"i": 3})])
    got = await collect(it, 2)
    assert [e.data["i"] for e in got] == [2, 3]
    await it.aclose()


async def test_observe_upper_bound_ends(client):
    await client.commit_events([ev("/o", data={"i": i}) for i in range(4)])
    ids = [e.id for e in await client.stream_events("/o")]

    async def run():
        return [e.data["i"] async for e in client.observe_events(
            "/o", {"lower_bound": ids[0], "upper_bound": ids[2], "include_upper_bound_event": True})]

    assert await asyncio.wait_for(run(), 20) == [1, 2]


async def test_observe_on_reconnect_callback_and_max_reconnects():
    calls = []
    connections = []

    def handler(conn, req):
        connections.append(req.json())
        conn.start_chunked(200)
        if len(connections) == 1:
            conn.chunk(json.dumps(stored_event(1)) + "\n")
        return False  # drop the connection without ending the body

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url, retry_backoff=0.01)
        it = c.observe_events("/test", reconnect=True, max_reconnects=2, on_reconnect=calls.append)
        got = []
        with pytest.raises(E.GenesisDBError):
            async def run():
                async for e in it:
                    got.append(e)
            await asyncio.wait_for(run(), 20)
        assert [e.id for e in got] == [stored_event(1)["id"]]
        assert len(connections) == 3  # the first one and two reconnects
        # each reconnect resumes after the last delivered event, exclusively
        for body in connections[1:]:
            assert body["options"]["lowerBound"] == stored_event(1)["id"]
            assert body["options"].get("includeLowerBoundEvent", False) is False
        assert len(calls) == 2
        await c.aclose()


async def test_observe_reconnect_false_ends_with_error():
    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(json.dumps(stored_event(1)) + "\n")
        return False

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        got = []
        with pytest.raises((E.TransportError, E.ProtocolError)):
            async def run():
                async for e in c.observe_events("/test", reconnect=False):
                    got.append(e)
            await asyncio.wait_for(run(), 20)
        assert len(got) == 1
        assert srv.connections == 1
        await c.aclose()


# ---- Event ---------------------------------------------------------------------------------------

WIRE = stored_event(7, subject="/e/7", type_="io.genesisdb.test.seen", data={"b": 1, "a": [1, {"x": None}]},
                    myext="custom-value", another={"k": 1})


async def events_from_wire(*values):
    def handler(conn, req):
        return conn.respond(200, "".join(json.dumps(v) + "\n" for v in values), content_type="application/x-ndjson")

    with ScriptedServer(handler) as srv:
        c = make_client(srv.url)
        try:
            return await c.stream_events("/")
        finally:
            await c.aclose()


async def test_event_attributes_and_mapping():
    (e,) = await events_from_wire(WIRE)
    for k in ("id", "source", "subject", "type", "time", "specversion", "datacontenttype", "predecessorhash", "hash"):
        assert getattr(e, k) == WIRE[k]
        assert e[k] == WIRE[k]
    assert e.data == WIRE["data"]
    assert e["data"] == WIRE["data"]
    assert e.get("type") == WIRE["type"]
    assert e.get("missing") is None
    assert e.get("missing", "dflt") == "dflt"
    assert "type" in e and "myext" in e and "missing" not in e
    # unknown attributes the server sends are kept
    assert e["myext"] == "custom-value"
    assert e["another"] == {"k": 1}
    assert e.myext == "custom-value"
    with pytest.raises(KeyError):
        e["missing"]
    with pytest.raises(AttributeError):
        e.missing
    # keys in wire order
    assert list(e.keys()) == list(WIRE.keys())


async def test_event_to_dict():
    (e,) = await events_from_wire(WIRE)
    d = e.to_dict()
    assert d == WIRE
    assert list(d) == list(WIRE)
    assert list(d["data"]) == ["b", "a"]
    d["type"] = "changed"  # a new dict: the event is not changed
    d["extra"] = 1
    assert e.type == WIRE["type"] and "extra" not in e
    assert e.to_dict() == WIRE


async def test_event_is_immutable():
    (e,) = await events_from_wire(WIRE)
    with pytest.raises(AttributeError):
        e.type = "other"
    with pytest.raises((AttributeError, TypeError)):
        e.data = {}
    with pytest.raises(TypeError):
        e["type"] = "other"


async def test_event_data_is_cached():
    (e,) = await events_from_wire(WIRE)
    assert e.data is e.data


async def test_event_equality():
    a1, b1 = await events_from_wire(WIRE, stored_event(8))
    a2, b2 = await events_from_wire(WIRE, stored_event(8))
    assert a1 == a2 and b1 == b2
    assert a1 != b1
    assert not (a1 != a2)
    assert a1 != WIRE  # an Event is not a dict
    # equal JSON with different spacing is equal
    (a3,) = await events_from_wire(dict(WIRE))
    assert a3 == a1
    (c,) = await events_from_wire(dict(WIRE, data={"b": 2, "a": [1, {"x": None}]}))
    assert c != a1


async def test_event_not_hashable_or_consistent():
    (e,) = await events_from_wire(WIRE)
    try:
        h = hash(e)
    except TypeError:
        return  # unhashable is fine for an equality-by-value type
    (e2,) = await events_from_wire(WIRE)
    assert h == hash(e2)


async def test_event_repr_is_short():
    blob = "z" * 10000
    (e,) = await events_from_wire(stored_event(3, subject="/r/3", type_="t.r", data={"blob": blob}))
    r = repr(e)
    assert e.id in r and "t.r" in r and "/r/3" in r
    assert blob[:50] not in r
    assert len(r) < 300


async def test_event_pickle_and_copy():
    (e,) = await events_from_wire(WIRE)
    again = pickle.loads(pickle.dumps(e))
    assert again == e
    assert again.to_dict() == WIRE
    assert again["myext"] == "custom-value"
    assert copy.copy(e) == e
    assert copy.deepcopy(e) == e


def test_event_from_dict():
    e = Event(WIRE)
    assert e.id == WIRE["id"]
    assert e.data == WIRE["data"]
    assert e["myext"] == "custom-value"
    assert e.to_dict() == WIRE
    assert pickle.loads(pickle.dumps(e)) == e


async def test_event_missing_fields_are_none():
    (e,) = await events_from_wire({"id": "only-id", "type": "t"})
    assert e.id == "only-id"
    assert e.source is None and e.subject is None and e.time is None and e.hash is None
    assert "source" not in e
    assert e.to_dict() == {"id": "only-id", "type": "t"}


async def test_events_from_local_server_compare_equal(client):
    await client.commit_events([ev("/eq", data={"i": 1})])
    a = await client.stream_events("/eq")
    b = await client.stream_events("/eq")
    assert a == b
    assert pickle.loads(pickle.dumps(a)) == a


# ---- more data shapes and volumes ------------------------------------------------------------

async def test_data_that_looks_like_a_heartbeat_is_an_event(client):
    # only a whole line {"payload":""} is a heartbeat; an event's data may be anything
    await client.commit_events([ev("/hb", data={"payload": ""}), ev("/hb", data={"payload": "", "x": 1})])
    got = await client.stream_events("/hb")
    assert [e.data for e in got] == [{"payload": ""}, {"payload": "", "x": 1}]
    # (A query row that is exactly {"payload": ""} IS dropped: decisions.md makes the heartbeat
    # rule part of all NDJSON reading, q included, so such a row cannot be told apart.)
    rows = await client.query_events("STREAM e FROM events WHERE e.subject == '/hb' ORDER BY e.time MAP e.data")
    assert rows == [{"payload": "", "x": 1}]


async def test_unicode_subjects_and_types(client):
    subject = "/kunde/m\u00fcller/\u2603"
    await client.commit_events([ev(subject, "io.genesisdb.\u00e4nderung", {"k": "v"})])
    got = await client.stream_events("/kunde")
    assert [(e.subject, e.type) for e in got] == [(subject, "io.genesisdb.\u00e4nderung")]
    await client.erase_data(subject)


async def test_largest_valid_event_round_trips(client):
    blob = "\u00e9" * (30 * 1024)  # 60 KiB of UTF-8 in one event, under the 64 KiB limit
    await client.commit_events([ev("/big", data={"blob": blob})])
    (e,) = await client.stream_events("/big")
    assert e.data["blob"] == blob


async def test_many_events_in_order(client):
    for batch in range(4):
        await client.commit_events([ev(f"/many/{i % 7}", data={"i": batch * 500 + i}) for i in range(500)])
    events = await client.stream_events("/many")
    assert [e.data["i"] for e in events] == list(range(2000))
    assert len({e.id for e in events}) == 2000
    # the hash chain links every event to the one before
    for a, b in zip(events, events[1:]):
        assert b.predecessorhash == a.hash
    n = 0
    async for e in client.iter_events("/many"):
        assert e.data["i"] == n
        n += 1
    assert n == 2000


async def test_scalar_query_rows(client):
    await client.commit_events([ev("/cnt/1"), ev("/cnt/2")])
    assert await client.query_events("STREAM e FROM events WHERE e.subject UNDER '/cnt' MAP COUNT()") == [2]
    assert await client.query_events("STREAM e FROM events WHERE e.subject UNDER '/cnt' MAP COUNT() == 2") == [True]


# ---- observe: replay, seam, errors ------------------------------------------------------------

async def test_observe_replays_many_then_goes_live(client):
    for batch in range(3):
        await client.commit_events([ev("/rp", data={"i": batch * 1000 + i}) for i in range(1000)])
    first = (await client.stream_events("/rp"))[0]
    it = client.observe_events("/rp", {"lower_bound": first.id, "include_lower_bound_event": True})
    got = await collect(it, 3000, timeout=60)
    assert [e.data["i"] for e in got] == list(range(3000))
    await client.commit_events([ev("/rp", data={"i": 3000 + i}) for i in range(10)])
    got = await collect(it, 10)
    assert [e.data["i"] for e in got] == list(range(3000, 3010))
    await it.aclose()


async def test_observe_seam_with_commits_racing_the_replay(client):
    await client.commit_events([ev("/seam", data={"i": -1})])
    seed = (await client.stream_events("/seam"))[0].id
    await client.commit_events([ev("/seam", data={"i": i}) for i in range(500)])
    done = asyncio.Event()

    async def committer():
        i = 500
        while not done.is_set() and i < 800:
            await client.commit_events([ev("/seam", data={"i": i})])
            i += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(committer())
    it = client.observe_events("/seam", {"lower_bound": seed})
    try:
        got = await collect(it, 700, timeout=60)
    finally:
        done.set()
        await task
    assert [e.data["i"] for e in got] == list(range(700))  # no gap, no duplicate
    await it.aclose()


async def test_observe_bad_lower_bound_fails_at_once(client):
    it = client.observe_events("/", {"lower_bound": "no-such-event"})
    with pytest.raises(E.BadRequestError) as info:
        await asyncio.wait_for(it.__anext__(), 20)
    assert info.value.status == 400
    assert "observe" in info.value.route


async def test_observe_wrong_token_fails_at_once(server):
    c = make_client(server.url, token="wrong")
    with pytest.raises(E.AuthenticationError):
        await asyncio.wait_for(collect(c.observe_events("/"), 1), 20)
    await c.aclose()


# ---- event loops -------------------------------------------------------------------------------

def test_one_client_across_event_loops(server):
    c = Client(server.client_config())  # created outside any loop

    async def use(i):
        await c.commit_events([ev("/loops", data={"i": i})])
        return len(await c.stream_events("/loops"))

    assert asyncio.run(use(0)) == 1
    assert asyncio.run(use(1)) == 2
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(use(2)) == 3
    finally:
        loop.close()
    c.close()


def test_clients_in_threads(server):
    import threading

    results = []

    def worker(i):
        async def run():
            async with Client(server.client_config()) as c:
                await c.commit_events([ev(f"/threads/{i}", data={"i": i})])
                return len(await c.stream_events(f"/threads/{i}"))

        results.append(asyncio.run(run()))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [1] * 8


def _unix_sockets() -> int:
    """Unix-domain sockets open in this process (the HTTP pool's TCP sockets not counted)."""
    import os

    with open("/proc/net/unix") as f:
        unix = {line.split()[6] for line in f.readlines()[1:] if len(line.split()) > 6}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in unix:
            count += 1
    return count


@pytest.mark.skipif(not __import__("os").path.exists("/proc/net/unix"), reason="needs /proc")
def test_event_loops_in_turn_do_not_accumulate_wakeup_sockets(server):
    # each loop gets one wake-up socket pair; a closed loop's pair is released
    c = Client(server.client_config())

    async def use():
        results = await asyncio.gather(*(c.ping() for _ in range(20)))
        return results.count("pong")

    assert asyncio.run(use()) == 20
    baseline = _unix_sockets()
    for _ in range(30):
        assert asyncio.run(use()) == 20
    after = _unix_sockets()
    assert after <= baseline + 4, (baseline, after)
    c.close()


def test_loop_closed_with_pending_observes_releases_them(server):
    # a loop closed without cancelling its calls: once another loop starts (and the abandoned
    # iterators are collected) the tokio tasks and the server's observers are released
    import gc
    import time

    from genesisdb import _native

    c = Client(server.client_config())

    def alive() -> int:
        return _native.runtime_stats()["alive_tasks"]

    assert asyncio.run(c.ping()) == "pong"
    baseline = alive()
    loop = asyncio.new_event_loop()

    async def start():
        its = [c.observe_events("/closed-loop") for _ in range(10)]
        tasks = [asyncio.ensure_future(it.__anext__()) for it in its]
        while server.open_observers() < 10:
            await asyncio.sleep(0.02)
        return its, tasks

    its, tasks = loop.run_until_complete(asyncio.wait_for(start(), 20))
    loop.close()  # the observes are still pending
    assert asyncio.run(c.ping()) == "pong"  # a new loop
    for t in tasks:
        t._log_destroy_pending = False  # no "Task was destroyed but it is pending!" noise
    del its, tasks, t
    gc.collect()
    deadline = time.monotonic() + 15
    while (alive() > baseline or server.open_observers() > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.open_observers() == 0
    assert alive() <= baseline
    c.close()


def test_loop_without_add_reader_still_works(server):
    # e.g. a proactor-style loop: the generic bridge takes over
    class NoReaderLoop(asyncio.SelectorEventLoop):
        def add_reader(self, fd, callback, *args):
            raise NotImplementedError

    c = Client(server.client_config())

    async def use():
        await c.commit_events([ev("/noreader", data={"i": 1})])
        got = await c.stream_events("/noreader")
        it = c.iter_events("/noreader")
        items = [e async for e in it]
        return len(got), len(items)

    loop = NoReaderLoop()
    try:
        assert loop.run_until_complete(use()) == (1, 1)
    finally:
        loop.close()
    assert asyncio.run(use()) == (2, 2)  # a normal loop afterwards
    c.close()
