"""Test helpers: the embedded Genesis DB v1 local server, started in-process.

::

    from genesisdb import Client
    from genesisdb.testing import local_server

    with local_server() as server:              # or: async with local_server() as server
        async with Client(server.client_config()) as client:
            await client.ping()

The server listens on 127.0.0.1 on a free port (or ``port``), keeps events in memory (or in
``data_dir``, an append-only log that survives :meth:`LocalServer.restart`), and sends an
observe heartbeat every ``heartbeat`` seconds. It stops, dropping every connection, on exit.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from types import TracebackType
from typing import Any, Dict, Optional, Type, Union

from . import _native
from .client import Client

__all__ = ["LocalServer", "local_server"]

PathLike = Union[str, "os.PathLike[str]"]


class LocalServer:
    """An embedded local server; a sync and async context manager (starts on enter)."""

    def __init__(
        self,
        token: Optional[str] = None,
        data_dir: Optional[PathLike] = None,
        port: int = 0,
        heartbeat: float = 1.0,
        host: str = "127.0.0.1",
    ) -> None:
        """Prepares a server; nothing listens until :meth:`start` (or ``with``)."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int from 0 to 65535, got {port!r}")
        self.token: str = token if token else secrets.token_urlsafe(16)
        self.data_dir: Optional[str] = os.fspath(data_dir) if data_dir is not None else None
        self.heartbeat = heartbeat
        self._native = _native.LocalServer(self.token, host, port, self.data_dir, heartbeat)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (the port is fixed after the first start)."""
        return self._native.url

    @property
    def host(self) -> str:
        """The listening host."""
        return self._native.host

    @property
    def port(self) -> int:
        """The listening port (the chosen free port once started)."""
        return self._native.port

    @property
    def running(self) -> bool:
        """True while serving."""
        return self._native.running

    def client_config(self) -> Dict[str, Any]:
        """The config dict for ``Client(...)``: ``api_url``, ``api_version``, ``auth_token``."""
        return {"api_url": self.url, "api_version": "v1", "auth_token": self.token}

    def client(self, **settings: Any) -> Client:
        """A new :class:`~genesisdb.Client` for this server (extra settings as keywords)."""
        return Client(self.client_config(), **settings)

    def start(self) -> "LocalServer":
        """Starts listening (same port and data dir as before when restarted)."""
        self._native.start()
        return self

    def stop(self) -> None:
        """Stops listening and drops every open connection, like a killed process.
        Acknowledged commits are durable when a ``data_dir`` is used. Idempotent."""
        self._native.stop()

    def open_observers(self) -> int:
        """Observe responses the server has open right now (a diagnostic for leak tests; 0
        when stopped). One drops once its client is gone and the next heartbeat fails."""
        return self._native.open_observers()

    def restart(self) -> "LocalServer":
        """:meth:`stop`, then :meth:`start` on the same port and data dir (an in-memory
        server starts empty)."""
        self.stop()
        return self.start()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    async def __aenter__(self) -> "LocalServer":
        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<genesisdb.testing.LocalServer {self.url} {state}>"


def local_server(
    token: Optional[str] = None,
    data_dir: Optional[PathLike] = None,
    port: int = 0,
    heartbeat: float = 1.0,
    host: str = "127.0.0.1",
) -> LocalServer:
    """A :class:`LocalServer` to use with ``with`` or ``async with`` (random token if none)."""
    return LocalServer(token=token, data_dir=data_dir, port=port, heartbeat=heartbeat, host=host)
