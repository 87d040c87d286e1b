"""Shared fixtures: the embedded local server, clients, and scripted servers.

Every test talks to a real server: either the local Genesis DB server started in-process by
``genesisdb.testing.local_server`` (a fresh, empty store per test) or a scripted HTTP server
(``tests/scripted.py``) that records requests or answers something hostile on purpose.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from scripted import ScriptedServer, recording_handler  # noqa: E402

#: The token of the local server in the tests; distinctive so that a leak is easy to grep.
TOKEN = "tok-Sekr3t-9f1c2e7d"

ENV_VARS = ("GENESISDB_API_URL", "GENESISDB_API_VERSION", "GENESISDB_AUTH_TOKEN")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No test sees the developer's GENESISDB_* variables unless it sets them itself."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    """A fresh in-process local server (in-memory store, heartbeat every 0.2 s)."""
    from genesisdb.testing import local_server

    with local_server(token=TOKEN, heartbeat=0.2) as srv:
        yield srv


@pytest.fixture
async def client(server):
    """A client for ``server``; closed after the test."""
    from genesisdb import Client

    c = Client(server.client_config())
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
def env(server, monkeypatch):
    """The official SDK's environment variables pointing at ``server``."""
    monkeypatch.setenv("GENESISDB_API_URL", server.url)
    monkeypatch.setenv("GENESISDB_API_VERSION", "v1")
    monkeypatch.setenv("GENESISDB_AUTH_TOKEN", TOKEN)
    return server


@pytest.fixture
def recorder():
    """A scripted server that records every request and answers like a quiet valid server."""
    with ScriptedServer(recording_handler) as srv:
        yield srv


def make_client(url: str, token: str = TOKEN, **kw):
    from genesisdb import Client

    return Client(api_url=url, auth_token=token, **kw)


async def collect(aiter, n: int, timeout: float = 20.0) -> list:
    """The first ``n`` items of an async iterator (fails the test after ``timeout``)."""

    async def run():
        out = []
        if n <= 0:
            return out
        async for item in aiter:
            out.append(item)
            if len(out) >= n:
                break
        return out

    return await asyncio.wait_for(run(), timeout)


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def socket_count() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n
