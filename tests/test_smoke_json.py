"""Differential tests of the extension's JSON encoder/decoder against the stdlib ``json``.

The decoder builds every ``Event.data`` and query row; the encoder writes every commit body.
"""

from __future__ import annotations

import json
import math
import random

import pytest

from genesisdb import _native, errors

ALPHABET = "abcxyz \"\\/\b\f\n\r\t\u0000\u001f\u007f é中😀\u2028"


def rand_str(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))


def rand_value(rng: random.Random, depth: int = 0):
    kind = rng.randint(0, 9 if depth < 5 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.3 else rng.randint(-1000, 1000)
    if kind == 3:
        return rng.choice([0.0, -0.0, 1.5, 1e-310, 1e300, 2990000.0, 0.1, -123.456e7,
                           rng.uniform(-1e6, 1e6)])
    if kind in (4, 5, 6):
        return rand_str(rng)
    if kind in (7, 8):
        return {rand_str(rng): rand_value(rng, depth + 1) for _ in range(rng.randint(0, 6))}
    return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 6))]


def same(a, b) -> bool:
    """Equality that also checks dict key order and int/float types."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


def test_roundtrips_match_stdlib():
    rng = random.Random(20261126)
    for _ in range(3000):
        v = rand_value(rng)
        text = json.dumps(v)
        assert same(_native.loads(text), v), text
        assert same(_native.loads(json.dumps(v, indent=2, ensure_ascii=False)), v)
        mine = _native.dumps(v)
        assert same(json.loads(mine), v), mine
        assert same(_native.loads(mine), v)


def test_tuples_encode_as_arrays_and_key_order_is_kept():
    assert _native.dumps({"z": 1, "a": (1, [2, (3,)])}) == '{"z":1,"a":[1,[2,[3]]]}'
    assert list(_native.loads('{"z":1,"a":2,"m":3}')) == ["z", "a", "m"]


@pytest.mark.parametrize(
    "text",
    ["", "{", "[1,]", '{"a":}', '{"a" 1}', "tru", "01x", "1.", "-", '"\\x"', '"abc',
     '"a\nb"', "[1] 2", "{1:2}", "NaN", "Infinity", '"\\u12"'],
)
def test_invalid_json_is_a_value_error(text):
    with pytest.raises(ValueError):
        _native.loads(text)


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(ValueError):
        _native.loads("[" * 100_000 + "]" * 100_000)
    deep: list = []
    cur = deep
    for _ in range(1000):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    with pytest.raises(errors.InvalidInputError):
        _native.dumps(deep)
    cyclic: dict = {}
    cyclic["self"] = cyclic
    with pytest.raises(errors.InvalidInputError):
        _native.dumps(cyclic)


def test_surrogate_pairs_decode():
    assert _native.loads('"\\ud83d\\ude00"') == "😀"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_floats_rejected(bad):
    with pytest.raises(ValueError, match="not JSON-compliant"):
        _native.dumps({"x": bad})


def test_key_cache_does_not_mix_keys():
    # Many distinct keys through the fixed-size key cache (collisions must not alias).
    keys = [f"k{i}" for i in range(5000)]
    doc = json.dumps({k: i for i, k in enumerate(keys)})
    assert _native.loads(doc) == {k: i for i, k in enumerate(keys)}
    assert _native.loads(doc) == _native.loads(doc)
