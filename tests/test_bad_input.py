"""Bad input fails before anything is sent, naming what is wrong (issue 4).

Each case runs against a recording server; after the error the server must have received
nothing at all (not even a connection for the call that failed).
"""

from __future__ import annotations

import math

import pytest

from conftest import make_client
from genesisdb.errors import GenesisDBError, InvalidInputError


def ev(**over):
    base = {
        "source": "io.genesisdb.test",
        "subject": "/test",
        "type": "io.genesisdb.test.created",
        "data": {"value": 1},
    }
    for k, v in over.items():
        if v is DROP:
            base.pop(k)
        else:
            base[k] = v
    return base


DROP = object()


class Custom:
    pass


async def assert_rejected(recorder, coro_fn, *needles, exc=(TypeError, ValueError)):
    client = make_client(recorder.url)
    try:
        with pytest.raises(exc) as info:
            await coro_fn(client)
    finally:
        await client.aclose()
    msg = str(info.value)
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    assert recorder.requests == [], "something was sent"
    assert recorder.connections == 0, "a connection was opened"
    return info.value


# ---- events ------------------------------------------------------------------------

@pytest.mark.parametrize("events", [{"source": "x"}, "events", None, 42, ev()])
async def test_events_not_a_list(recorder, events):
    await assert_rejected(recorder, lambda c: c.commit_events(events))


async def test_events_empty_list(recorder):
    await assert_rejected(recorder, lambda c: c.commit_events([]))


@pytest.mark.parametrize("item", ["a string", 42, None, ["list"]])
async def test_event_not_a_dict(recorder, item):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(), item]), "1")


@pytest.mark.parametrize("key", ["source", "subject", "type", "data"])
async def test_event_missing_key(recorder, key):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(), ev(), ev(**{key: DROP})]), "2", key)


@pytest.mark.parametrize("key", ["source", "subject", "type"])
@pytest.mark.parametrize("value", [123, None, b"bytes", ["x"], {"a": 1}])
async def test_event_non_string_field(recorder, key, value):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(**{key: value})]), "0", key)


@pytest.mark.parametrize("key", ["source", "type"])
async def test_event_empty_string_field(recorder, key):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(), ev(**{key: ""})]), "1", key)


@pytest.mark.parametrize("subject", ["customer", "", "customer/1", " /x"])
async def test_event_subject_without_slash(recorder, subject):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(), ev(subject=subject)]), "1", "subject")


@pytest.mark.parametrize(
    "value, what",
    [
        ({1, 2}, "set"),
        (frozenset([1]), "frozenset"),
        (b"raw", "bytes"),
        (bytearray(b"raw"), "bytearray"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-float("inf"), "inf"),
        (Custom(), "Custom"),
        (object(), "object"),
        (1 + 2j, "complex"),
        (math, "module"),
    ],
)
async def test_data_not_json_serialisable(recorder, value, what):
    data = {"name": "ok", "tags": value}
    exc = await assert_rejected(recorder, lambda c: c.commit_events([ev(), ev(data=data)]), "1", "tags")
    assert what.lower() in str(exc).lower()


async def test_data_error_names_nested_path(recorder):
    data = {"outer": {"list": [1, 2, {"deep": {1, 2}}]}}
    await assert_rejected(recorder, lambda c: c.commit_events([ev(data=data)]), "0", "outer", "deep")


async def test_data_top_level_not_serialisable(recorder):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(data={1, 2})]), "0", "data")


async def test_data_non_string_key(recorder):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(data={1: "one"})]), "0")


async def test_data_nan_nested_in_list(recorder):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(data={"xs": [1.0, float("nan")]})]), "0", "xs")


async def test_data_dict_mutated_while_encoded_is_an_error_not_a_panic(recorder):
    # An int subclass's __index__ is Python code run while the data dict is walked; growing
    # the dict there must end in an InvalidInputError (pyo3's own dict iterator panics).
    data = {}

    class Growing(int):
        def __index__(self):
            data[f"k{len(data)}"] = 1
            return 10**30

    data["big"] = Growing(10**30)
    data["after"] = 1
    await assert_rejected(
        recorder, lambda c: c.commit_events([ev(data=data)]), "0", "changed size", exc=InvalidInputError
    )


async def test_last_event_bad_means_nothing_sent(recorder):
    events = [ev() for _ in range(50)] + [ev(data={"bad": {1}})]
    await assert_rejected(recorder, lambda c: c.commit_events(events), "50", "bad")


async def test_data_too_deep(recorder):
    # a self-referencing structure must not crash or hang the encoder
    data = {}
    data["self"] = data
    await assert_rejected(recorder, lambda c: c.commit_events([ev(data=data)]), "0",
                          exc=(TypeError, ValueError, RecursionError))


async def test_data_very_deep_nesting(recorder):
    # 100k nested lists: an error, never a crash of the interpreter (stack overflow in Rust)
    data = []
    for _ in range(100_000):
        data = [data]
    await assert_rejected(recorder, lambda c: c.commit_events([ev(data=data)]), "0",
                          exc=(TypeError, ValueError, RecursionError))


# ---- event options -------------------------------------------------------------------

async def test_event_unknown_option_key(recorder):
    await assert_rejected(
        recorder,
        lambda c: c.commit_events([ev(options={"store_data_as_reference": True, "compress": True})]),
        "compress",
        exc=ValueError,
    )


async def test_event_camel_case_option_is_unknown(recorder):
    await assert_rejected(
        recorder, lambda c: c.commit_events([ev(options={"storeDataAsReference": True})]),
        "storeDataAsReference", exc=ValueError,
    )


@pytest.mark.parametrize("options", ["yes", ["store_data_as_reference"], 1])
async def test_event_options_not_a_dict(recorder, options):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(options=options)]), "options")


async def test_event_option_wrong_type(recorder):
    await assert_rejected(recorder, lambda c: c.commit_events([ev(options={"store_data_as_reference": "yes"})]),
                          "store_data_as_reference")


# ---- preconditions -------------------------------------------------------------------

@pytest.mark.parametrize("pre", [{"type": "isSubjectNew"}, "isSubjectNew", 5])
async def test_preconditions_not_a_list(recorder, pre):
    await assert_rejected(recorder, lambda c: c.commit_events([ev()], pre))


@pytest.mark.parametrize(
    "item",
    [
        {"payload": {"subject": "/a"}},  # no type
        {"type": "isSubjectNew"},  # no payload
        {"type": 5, "payload": {}},  # type not a string
        "isSubjectNew",
        {"type": "isSubjectNew", "payload": {"subject": {1, 2}}},  # payload not JSON
    ],
)
async def test_precondition_malformed(recorder, item):
    await assert_rejected(recorder, lambda c: c.commit_events([ev()], [{"type": "isSubjectNew", "payload": {"subject": "/a"}}, item]))


# ---- stream / observe options ------------------------------------------------------------

@pytest.mark.parametrize("key", ["lowerBound", "recursive", "lower_bounds", "limit"])
async def test_stream_unknown_option_key(recorder, key):
    await assert_rejected(recorder, lambda c: c.stream_events("/test", {key: "x"}), key, exc=ValueError)


async def test_iter_events_unknown_option_key(recorder):
    async def run(c):
        async for _ in c.iter_events("/test", {"bogus": 1}):
            pass

    await assert_rejected(recorder, run, "bogus", exc=ValueError)


async def test_observe_unknown_option_key(recorder):
    async def run(c):
        async for _ in c.observe_events("/test", {"bogus": 1}):
            pass

    await assert_rejected(recorder, run, "bogus", exc=ValueError)


@pytest.mark.parametrize(
    "options, key",
    [
        ({"lower_bound": 123}, "lower_bound"),
        ({"include_lower_bound_event": "yes"}, "include_lower_bound_event"),
        ({"upper_bound": ["x"]}, "upper_bound"),
        ({"latest_by_event_type": 1}, "latest_by_event_type"),
    ],
)
async def test_stream_option_wrong_type(recorder, options, key):
    await assert_rejected(recorder, lambda c: c.stream_events("/test", options), key)


@pytest.mark.parametrize("options", ["lower_bound", ["x"], 3])
async def test_stream_options_not_a_dict(recorder, options):
    await assert_rejected(recorder, lambda c: c.stream_events("/test", options))


# ---- subjects ------------------------------------------------------------------------------

@pytest.mark.parametrize("subject", ["customer", "", "x/y"])
async def test_stream_subject_without_slash(recorder, subject):
    await assert_rejected(recorder, lambda c: c.stream_events(subject), "subject")


@pytest.mark.parametrize("subject", ["customer", ""])
async def test_erase_subject_without_slash(recorder, subject):
    await assert_rejected(recorder, lambda c: c.erase_data(subject), "subject")


async def test_observe_subject_without_slash(recorder):
    async def run(c):
        async for _ in c.observe_events("customer"):
            pass

    await assert_rejected(recorder, run, "subject")


async def test_iter_events_subject_without_slash(recorder):
    async def run(c):
        async for _ in c.iter_events("customer"):
            pass

    await assert_rejected(recorder, run, "subject")


@pytest.mark.parametrize("subject", [None, 5, b"/x"])
async def test_subject_not_a_string(recorder, subject):
    await assert_rejected(recorder, lambda c: c.stream_events(subject), exc=TypeError)


@pytest.mark.parametrize("query", [None, 5, b"STREAM e FROM events"])
async def test_query_not_a_string(recorder, query):
    await assert_rejected(recorder, lambda c: c.query_events(query), exc=TypeError)


# ---- the error classes ---------------------------------------------------------------------

async def test_value_errors_are_genesisdb_errors(recorder):
    exc = await assert_rejected(recorder, lambda c: c.commit_events([ev(subject="nope")]), exc=ValueError)
    assert isinstance(exc, InvalidInputError)
    assert isinstance(exc, GenesisDBError)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, "8", True])
@pytest.mark.parametrize("method", ["iter_events", "iter_query", "observe_events"])
async def test_bad_batch_size(recorder, method, batch_size):
    async def iterate(c):
        arg = "STREAM e FROM events" if method == "iter_query" else "/test"
        async for _ in getattr(c, method)(arg, batch_size=batch_size):
            pass

    await assert_rejected(recorder, iterate, "batch_size")
