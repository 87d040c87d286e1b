"""pytest plugin (entry point ``pytest11``): fixtures ``genesisdb_server`` and
``genesisdb_client``, each a fresh in-memory local server / client per test."""

from __future__ import annotations

from typing import Iterator

import pytest

from .client import Client
from .testing import LocalServer, local_server


@pytest.fixture
def genesisdb_server() -> Iterator[LocalServer]:
    """A running in-process local server (in memory, random token, free port)."""
    with local_server() as server:
        yield server


@pytest.fixture
def genesisdb_client(genesisdb_server: LocalServer) -> Iterator[Client]:
    """A :class:`~genesisdb.Client` configured for ``genesisdb_server``; closed afterwards."""
    client = Client(genesisdb_server.client_config())
    try:
        yield client
    finally:
        client.close()
