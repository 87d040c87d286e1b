"""The JSON encoder of commit data (`genesisdb._native.dumps` uses the same one): exact
bytes, big ints, escapes, subclasses and error messages with their key paths."""

from __future__ import annotations

import enum
import json

import pytest

from genesisdb import _native
from genesisdb.errors import InvalidInputError, InvalidInputTypeError


class Color(enum.IntEnum):
    RED = 3
    HUGE = 2**70


class MyStr(str):
    pass


class MyFloat(float):
    pass


class MyDict(dict):
    pass


class MyList(list):
    pass


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-1, "-1"),
        (2**63 - 1, "9223372036854775807"),
        (2**63, "9223372036854775808"),
        (2**64 - 1, "18446744073709551615"),
        (2**64, "18446744073709551616"),
        (-(2**63) - 1, "-9223372036854775809"),
        (10**40, "1" + "0" * 40),
        (Color.RED, "3"),
        (Color.HUGE, str(2**70)),
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (0.1, "0.1"),
        (1e20, "1e+20"),
        (1e-7, "1e-7"),
        (5e-324, "5e-324"),
        (MyFloat(2.5), "2.5"),
        ("", '""'),
        ("é日本😀", '"é日本😀"'),
        ('a"b\\c/', '"a\\"b\\\\c/"'),
        ("\x00\x01\x1f\x7f", '"\\u0000\\u0001\\u001f\x7f"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        (MyStr("sub"), '"sub"'),
        ((1, "x", ()), '[1,"x",[]]'),
        (MyList([1, MyDict(a=[])]), '[1,{"a":[]}]'),
        ({"z": 1, "a": 2, "m": {}}, '{"z":1,"a":2,"m":{}}'),
        ({MyStr("k"): MyStr("v"), "ℕ": "∑"}, '{"k":"v","ℕ":"∑"}'),
    ],
)
def test_exact_output(value, text):
    assert _native.dumps(value) == text


def test_strings_escape_like_the_stdlib():
    every = "".join(chr(c) for c in range(0x100)) + "\u2028\u2029\ufeff\U0010ffff"
    value = {every: [every, {"k": every}]}
    assert _native.dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "value, exc, message",
    [
        ({"a": [1, {"b": float("nan")}]}, InvalidInputError, "value['a'][1]['b']: NaN is not"),
        ([float("-inf")], InvalidInputError, "value[0]: an infinite float is not"),
        ({"a": "x\ud800"}, InvalidInputError, "value['a']: str is not valid Unicode"),
        ({"a": {"k\udfff": 1}}, InvalidInputError, "value['a']: str is not valid Unicode"),
        ({"x": {"y\n'": {1}}}, InvalidInputTypeError, "value['x']['y\\n\\'']: set is not JSON"),
        ({"a": {1: 2}}, InvalidInputTypeError, "value['a']: dict keys must be str, got int key 1"),
        ([b"x"], InvalidInputTypeError, "value[0]: bytes is not JSON-serialisable"),
    ],
)
def test_errors_name_the_path(value, exc, message):
    with pytest.raises(exc) as info:
        _native.dumps(value)
    assert str(info.value).startswith(message)


def test_cycles_and_deep_nesting_are_errors():
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(InvalidInputError, match="nested deeper than 256 levels"):
        _native.dumps(cycle)
    deep: list = []
    for _ in range(250):
        deep = [deep]
    assert _native.dumps(deep) == "[" * 251 + "]" * 251


async def test_commit_errors_name_the_event_and_path(server):
    async with server.client() as client:
        good = {"source": "s", "subject": "/enc", "type": "t", "data": {"n": 1}}
        bad = dict(good, data={"tags": ["a", {"v": float("inf")}]})
        with pytest.raises(InvalidInputError) as info:
            await client.commit_events([good, bad])
        assert str(info.value).startswith("event 1: data['tags'][1]['v']: an infinite float")
        odd = {MyStr("source"): "s", "subject": "/enc", "type": "t", "data": {"big": Color.HUGE}}
        await client.commit_events([good, odd])
        with pytest.raises(InvalidInputError, match="event 0: unknown event key 'extra'"):
            await client.commit_events([dict(good, extra=1)])
        events = await client.stream_events("/enc")
        assert [e.data for e in events] == [{"n": 1}, {"big": 2**70}]
