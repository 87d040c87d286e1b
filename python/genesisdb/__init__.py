"""genesisdb: the fast asyncio SDK for the Genesis DB event store, on a Rust core.

Usage::

    from genesisdb import Client

    async with Client() as client:   # GENESISDB_API_URL / _API_VERSION / _AUTH_TOKEN
        await client.commit_events([{'source': 'io.genesisdb.app', 'subject': '/customer',
                                     'type': 'io.genesisdb.app.customer-added',
                                     'data': {'firstName': 'Bruce'}}])
        events = await client.stream_events('/customer')

See :class:`Client`, :class:`Event`, :class:`Precondition`, :mod:`genesisdb.errors` and
:mod:`genesisdb.testing` (embedded local server for tests).
"""

from __future__ import annotations

import logging as _logging

from . import errors
from ._native import Event
from ._native import __version__ as __version__
from ._types import (
    ClientConfig,
    EventInput,
    EventOptions,
    Precondition,
    PreconditionInput,
    StreamOptions,
)
from .client import Client, ReconnectInfo
from .errors import (
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    GenesisDBError,
    HTTPError,
    InvalidInputError,
    InvalidInputTypeError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ProtocolError,
    ServerError,
    TimeoutError,
    TransportError,
)

# Library convention: records go to the application's handlers; none are printed by default.
_logging.getLogger("genesisdb").addHandler(_logging.NullHandler())

__all__ = [
    "Client",
    "Event",
    "Precondition",
    "ReconnectInfo",
    "ClientConfig",
    "EventInput",
    "EventOptions",
    "PreconditionInput",
    "StreamOptions",
    "errors",
    "GenesisDBError",
    "ConfigurationError",
    "InvalidInputError",
    "InvalidInputTypeError",
    "HTTPError",
    "BadRequestError",
    "AuthenticationError",
    "NotFoundError",
    "MethodNotAllowedError",
    "PreconditionFailedError",
    "PayloadTooLargeError",
    "ServerError",
    "TransportError",
    "ConnectError",
    "TimeoutError",
    "ProtocolError",
    "ClientClosedError",
    "__version__",
]
