"""How the client reads NDJSON bodies it did not expect in that exact form.

decisions.md "NDJSON reading": one JSON value per line; CRLF and LF both end a line; blank
lines are skipped; a final line without newline still counts; a ``data: `` prefix is
stripped; a heartbeat ``{"payload":""}`` (only that key) is dropped; a line that is not JSON
raises a ProtocolError naming the line number.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from conftest import collect, make_client
from genesisdb.errors import GenesisDBError, ProtocolError
from scripted import ScriptedServer, ndjson, stored_event

E = [stored_event(i) for i in range(3)]
L = [json.dumps(e, separators=(",", ":")).encode() for e in E]


def serve_body(body: bytes, chunk_size: int = 0, content_type="application/x-ndjson"):
    """A server answering every request with ``body`` (chunked in pieces of ``chunk_size``)."""

    def handler(conn, req):
        if chunk_size:
            pieces = [body[i:i + chunk_size] for i in range(0, len(body), chunk_size)]
            return conn.respond_chunks(pieces, content_type=content_type)
        return conn.respond(200, body, content_type=content_type)

    return ScriptedServer(handler)


async def stream_with(body: bytes, chunk_size: int = 0):
    with serve_body(body, chunk_size) as srv:
        client = make_client(srv.url)
        try:
            return await client.stream_events("/test")
        finally:
            await client.aclose()


def ids(events):
    return [e.id for e in events]


BODIES = {
    "lf": b"\n".join(L) + b"\n",
    "crlf": b"\r\n".join(L) + b"\r\n",
    "blank_lines": b"\n\n" + L[0] + b"\n\n\r\n" + L[1] + b"\n   \n" + L[2] + b"\n\n",
    "data_prefix": b"".join(b"data: " + line + b"\n" for line in L),
    "heartbeats": b'{"payload":""}\n' + L[0] + b'\n{"payload":""}\n{"payload":""}\n' + L[1] + b"\n" + L[2]
    + b'\n{"payload":""}\n',
    "prefixed_heartbeats": b'data: {"payload":""}\n' + b"\n".join(b"data: " + x for x in L) + b"\n",
    "no_final_newline": b"\n".join(L),
    "crlf_no_final_newline": b"\r\n".join(L),
    "mixed": L[0] + b"\r\n\r\ndata: " + L[1] + b'\n{"payload":""}\r\n' + L[2],
    "spaced_json": b"\n".join(json.dumps(e, indent=None).encode() for e in E) + b"\n",
}


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("chunk_size", [0, 1, 7])
async def test_tolerated_bodies(name, chunk_size):
    events = await stream_with(BODIES[name], chunk_size)
    assert ids(events) == [e["id"] for e in E]
    assert [e.data for e in events] == [e["data"] for e in E]


@pytest.mark.parametrize("body", [b"", b"\n", b"\r\n\r\n", b"  \n\t\n", b'{"payload":""}\n'])
async def test_empty_results(body):
    assert await stream_with(body) == []


async def test_two_keys_with_empty_payload_is_not_a_heartbeat():
    # Only an object whose ONLY key is "payload" with value "" is a heartbeat.
    body = b'{"payload":"","id":"x"}\n' + L[0] + b"\n"
    events = await stream_with(body)
    assert len(events) == 2
    assert events[0].id == "x"


async def test_multibyte_utf8_split_across_chunks():
    ev = stored_event(1, data={"name": "Grüße \u2603 \U0001F600"})
    events = await stream_with(ndjson([ev]), chunk_size=1)
    assert events[0].data == {"name": "Grüße \u2603 \U0001F600"}


@pytest.mark.parametrize(
    "body, line",
    [
        (L[0] + b"\nnot json\n" + L[1] + b"\n", 2),
        (b"garbage", 1),
        (L[0] + b"\n" + L[1] + b"\n" + L[2] + b"\n{\"id\": \n", 4),
        (L[0] + b"\r\n" + L[1] + b"\r\n<html>", 3),
    ],
)
async def test_garbage_line_is_a_protocol_error_with_line_number(body, line):
    with pytest.raises(ProtocolError) as info:
        await stream_with(body)
    assert info.value.line == line
    assert str(line) in str(info.value)
    assert isinstance(info.value, GenesisDBError)


async def test_garbage_line_in_iter_events_after_good_events():
    body = L[0] + b"\n" + L[1] + b"\nnope\n"
    with serve_body(body) as srv:
        client = make_client(srv.url)
        got = []
        with pytest.raises(ProtocolError) as info:
            async for e in client.iter_events("/test"):
                got.append(e.id)
        assert info.value.line == 3
        # whatever was yielded before the error is a prefix of the good events, in order
        assert got == [E[0]["id"], E[1]["id"]][: len(got)]
        await client.aclose()


@pytest.mark.parametrize("name", ["lf", "crlf", "blank_lines", "data_prefix", "heartbeats", "no_final_newline"])
async def test_query_rows_tolerated(name):
    rows = [{"n": 1}, 2, "three", None, [4], {"nested": {"a": [1, 2]}}]
    lines = [json.dumps(r).encode() for r in rows]
    variants = {
        "lf": b"\n".join(lines) + b"\n",
        "crlf": b"\r\n".join(lines) + b"\r\n",
        "blank_lines": b"\n" + b"\n\n".join(lines) + b"\n\n",
        "data_prefix": b"".join(b"data: " + x + b"\n" for x in lines),
        "heartbeats": b'{"payload":""}\n' + b"\n".join(lines) + b"\n",
        "no_final_newline": b"\n".join(lines),
    }
    with serve_body(variants[name], chunk_size=5) as srv:
        client = make_client(srv.url)
        assert await client.query_events("STREAM e FROM events MAP e.data") == rows
        assert [r async for r in client.iter_query("STREAM e FROM events MAP e.data")] == rows
        await client.aclose()


async def test_query_garbage_line():
    with serve_body(b'{"a":1}\n{"a":\n') as srv:
        client = make_client(srv.url)
        with pytest.raises(ProtocolError) as info:
            await client.q("STREAM e FROM events MAP e.data")
        assert info.value.line == 2
        await client.aclose()


async def test_observe_tolerates_prefixes_heartbeats_and_crlf():
    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(b'{"payload":""}\r\n')
        conn.chunk(b"data: " + L[0] + b"\r\n\r\n")
        conn.chunk(L[1][:10])
        conn.chunk(L[1][10:] + b'\n{"payload":""}\n')
        conn.chunk(b"data: " + L[2] + b"\n")
        conn.wait_peer_close(timeout=30)
        return False

    with ScriptedServer(handler) as srv:
        client = make_client(srv.url)
        got = await collect(client.observe_events("/test", reconnect=False), 3)
        assert ids(got) == [e["id"] for e in E]
        await client.aclose()


async def test_observe_garbage_line_is_a_protocol_error():
    def handler(conn, req):
        conn.start_chunked(200)
        conn.chunk(L[0] + b"\n")
        conn.chunk(b"{{{\n")
        conn.wait_peer_close(timeout=30)
        return False

    with ScriptedServer(handler) as srv:
        client = make_client(srv.url)
        got = []
        with pytest.raises(ProtocolError) as info:
            async def run():
                async for e in client.observe_events("/test", reconnect=False):
                    got.append(e)

            await asyncio.wait_for(run(), 20)
        assert info.value.line == 2
        assert ids(got) == [E[0]["id"]]
        await client.aclose()


@pytest.mark.parametrize("line", [b"[1,2]", b"42", b'"text"', b"null", b"true"])
async def test_stream_line_that_is_not_an_object_is_a_protocol_error(line):
    with pytest.raises(ProtocolError) as info:
        await stream_with(L[0] + b"\n" + line + b"\n")
    assert info.value.line == 2


def random_body(rng, events):
    """The events as NDJSON with random (valid) framing noise between and around them."""
    out = []
    for e in events:
        for _ in range(rng.randrange(3)):
            out.append(rng.choice([b"\n", b"\r\n", b"   \n", b'{"payload":""}\n', b'data: {"payload":""}\r\n']))
        line = json.dumps(e, separators=rng.choice([(",", ":"), (", ", ": ")])).encode()
        if rng.random() < 0.3:
            line = b"data: " + line
        out.append(line + rng.choice([b"\n", b"\r\n"]))
    body = b"".join(out)
    if rng.random() < 0.3:
        body = body.rstrip(b"\r\n")  # last line without newline
    return body


def random_chunks(rng, body):
    cuts = sorted(rng.sample(range(1, max(2, len(body))), k=min(len(body) - 1, rng.randrange(1, 40))))
    pieces, last = [], 0
    for c in cuts:
        pieces.append(body[last:c])
        last = c
    pieces.append(body[last:])
    return [p for p in pieces if p]


async def test_random_framing_and_chunking():
    import random

    rng = random.Random(20261126)
    cases = []
    for _ in range(25):
        events = [stored_event(i, data={"i": i, "s": "\u00e9\u2603" * rng.randrange(5)}) for i in range(rng.randrange(0, 12))]
        body = random_body(rng, events)
        cases.append((events, random_chunks(rng, body) if body else []))
    state = {"i": 0}

    def handler(conn, req):
        _, chunks = cases[state["i"]]
        state["i"] += 1
        return conn.respond_chunks(chunks)

    with ScriptedServer(handler) as srv:
        client = make_client(srv.url)
        for events, chunks in cases:
            got = await client.stream_events("/test")
            assert [e.to_dict() for e in got] == events, chunks
        await client.aclose()
