"""Exception hierarchy of the genesisdb package.

Every exception raised by the client derives from :class:`GenesisDBError`. The classes also
derive from the matching built-in exception where one exists, so ``except ValueError``,
``except ConnectionError`` and ``except TimeoutError`` keep working:

* :class:`ConfigurationError` (``ValueError``): missing or invalid configuration.
* :class:`InvalidInputError` (``ValueError``) and :class:`InvalidInputTypeError`
  (``ValueError`` and ``TypeError``): bad arguments, detected before anything is sent.
* :class:`HTTPError`: the server answered with a non-2xx status; one subclass per status.
* :class:`TransportError` (``ConnectionError``) and :class:`ConnectError`: the network failed.
* :class:`TimeoutError` (built-in ``TimeoutError``): a connect, request or observe-idle timeout.
* :class:`ProtocolError`: a response that cannot be read (carries the line number).
* :class:`ClientClosedError`: the client was closed (or belongs to another process).

No message, attribute or ``repr`` of these exceptions ever contains the auth token.
"""

from __future__ import annotations

import builtins
from typing import Any, Optional

__all__ = [
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
]


class GenesisDBError(Exception):
    """Base class of every exception raised by the genesisdb package."""


class ConfigurationError(GenesisDBError, ValueError):
    """The client configuration is missing or invalid.

    A missing API URL or auth token gives the official SDK's message, e.g.
    ``Missing required environment variables: GENESISDB_API_URL, GENESISDB_AUTH_TOKEN``.
    """


class InvalidInputError(GenesisDBError, ValueError):
    """An argument is invalid; raised before anything is sent to the server."""


class InvalidInputTypeError(InvalidInputError, TypeError):
    """An argument has the wrong type (also a ``TypeError``); nothing was sent."""


class HTTPError(GenesisDBError):
    """The server answered with a non-2xx status.

    Attributes:
        status: the HTTP status code.
        reason: the HTTP reason phrase.
        body: the response body as text (possibly truncated by the server).
        route: the API route that was called, e.g. ``commit``.
    """

    status: int
    reason: str
    body: str
    route: str

    def __init__(
        self,
        message: str,
        status: int = 0,
        reason: str = "",
        body: str = "",
        route: str = "",
    ) -> None:
        """The message, the HTTP status, reason and (truncated) body, and the route."""
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body
        self.route = route

    def __reduce__(self) -> Any:
        return (
            self.__class__,
            (str(self), self.status, self.reason, self.body, self.route),
            self.__dict__,
        )


class BadRequestError(HTTPError):
    """HTTP 400: the server rejected the request (validation, bad query, unknown bound id)."""


class AuthenticationError(HTTPError):
    """HTTP 401: the auth token is missing or wrong."""


class NotFoundError(HTTPError):
    """HTTP 404: unknown route, or erase of a subject without events."""


class MethodNotAllowedError(HTTPError):
    """HTTP 405: wrong HTTP method for the route."""


class PreconditionFailedError(HTTPError):
    """HTTP 412: a commit precondition failed; nothing was written.

    Attributes:
        precondition_type: the failing precondition's type (e.g. ``isSubjectNew``) when the
            server said so, else ``None``.
        precondition_message: the server's message about the failure, else ``None``.
        index: the index of the failing precondition in the list, else ``None``.
    """

    precondition_type: Optional[str]
    precondition_message: Optional[str]
    index: Optional[int]

    def __init__(
        self,
        message: str,
        status: int = 412,
        reason: str = "",
        body: str = "",
        route: str = "",
        precondition_type: Optional[str] = None,
        precondition_message: Optional[str] = None,
        index: Optional[int] = None,
    ) -> None:
        """As :class:`HTTPError`, plus the failed precondition's type, message and index."""
        super().__init__(message, status, reason, body, route)
        self.precondition_type = precondition_type
        self.precondition_message = precondition_message
        self.index = index

    def __reduce__(self) -> Any:
        return (
            self.__class__,
            (
                str(self),
                self.status,
                self.reason,
                self.body,
                self.route,
                self.precondition_type,
                self.precondition_message,
                self.index,
            ),
            self.__dict__,
        )


class PayloadTooLargeError(HTTPError):
    """HTTP 413: the request body (or one event) is over the server's limit."""


class ServerError(HTTPError):
    """HTTP 5xx: the server failed."""


class TransportError(GenesisDBError, ConnectionError):
    """The connection failed or broke (the request may have reached the server).

    Attributes:
        route: the API route that was called.
    """

    route: str

    def __init__(self, message: str, route: str = "") -> None:
        """The message and the route of the request that failed."""
        super().__init__(message)
        self.route = route

    def __reduce__(self) -> Any:
        return (self.__class__, (str(self), self.route), self.__dict__)


class ConnectError(TransportError):
    """The client could not connect: the request never reached the server."""


class TimeoutError(GenesisDBError, builtins.TimeoutError):  # noqa: A001
    """A timeout expired.

    Attributes:
        route: the API route that was called.
        kind: ``"connect"``, ``"request"`` (whole non-streaming request) or ``"observe_idle"``
            (no byte, heartbeats included, for the observe idle limit).
    """

    route: str
    kind: str

    def __init__(self, message: str, route: str = "", kind: str = "") -> None:
        """The message, the route, and which timeout expired (``kind``)."""
        super().__init__(message)
        self.route = route
        self.kind = kind

    def __reduce__(self) -> Any:
        return (self.__class__, (str(self), self.route, self.kind), self.__dict__)


class ProtocolError(GenesisDBError):
    """A response could not be read (e.g. a line that is not JSON).

    Attributes:
        route: the API route that was called.
        line: the 1-based line number of the offending NDJSON line (0 when not line-related).
    """

    route: str
    line: int

    def __init__(self, message: str, route: str = "", line: int = 0) -> None:
        """The message, the route, and the 1-based line of the response (0 if none)."""
        super().__init__(message)
        self.route = route
        self.line = line

    def __reduce__(self) -> Any:
        return (self.__class__, (str(self), self.route, self.line), self.__dict__)


class ClientClosedError(GenesisDBError):
    """The client was closed, or was created in another process (before ``os.fork()``)."""
