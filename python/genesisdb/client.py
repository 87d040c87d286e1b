"""``genesisdb.Client``: the asyncio client of the Genesis DB v1 API, on a Rust core."""

from __future__ import annotations

import asyncio
import inspect
import os
from types import TracebackType
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Type,
    Union,
)

from . import _native
from ._native import Event
from ._types import EventInput, PreconditionLike, StreamOptions
from .errors import ConfigurationError, InvalidInputError, InvalidInputTypeError

__all__ = ["Client", "ReconnectInfo"]

_CONFIG_KEYS = (
    "api_url",
    "api_version",
    "auth_token",
    "timeout",
    "connect_timeout",
    "observe_idle_timeout",
    "retries",
    "retry_backoff",
    "retry_max_backoff",
    "retry_max_elapsed",
    "ca_file",
    "user_agent",
    "max_line_bytes",
)

#: Settings that must be strings (anything else is an InvalidInputTypeError naming the key).
_STR_KEYS = ("api_url", "api_version", "auth_token", "user_agent")

#: Items handed over per await by the async iterators (one Rust->Python crossing each).
DEFAULT_BATCH_SIZE = 1024


class ReconnectInfo(NamedTuple):
    """What ``observe_events(on_reconnect=...)`` is told before each reconnection attempt."""

    attempt: int
    """1-based attempt number within the current outage."""
    last_event_id: Optional[str]
    """Id of the last delivered event: the exclusive lower bound of the new request."""
    reason: str
    """Why the connection was replaced (e.g. the transport error or the idle timeout)."""


ReconnectCallback = Callable[[ReconnectInfo], Union[None, Awaitable[None]]]


class Client:
    """An asyncio client of the Genesis DB v1 HTTP API.

    Configuration, as in the official SDK: ``Client()`` reads ``GENESISDB_API_URL``,
    ``GENESISDB_API_VERSION`` (default ``v1``) and ``GENESISDB_AUTH_TOKEN``;
    ``Client({'api_url': ..., 'api_version': ..., 'auth_token': ...})`` and keyword arguments
    override them (keywords win over the dict). Extra settings (dict keys or keywords):

    * ``timeout`` (s, default 30): whole request, non-streaming calls;
    * ``connect_timeout`` (s, default 10);
    * ``observe_idle_timeout`` (s, default 30): observe silence (heartbeats count) before the
      connection is considered dropped;
    * ``retries`` (default 2): retries of safe calls on connection failures and 502/503/504;
      ``0`` turns retrying off; ``retry_backoff`` (0.1 s), ``retry_max_backoff`` (2 s),
      ``retry_max_elapsed`` (10 s);
    * ``ca_file``: extra PEM root certificate(s) for ``https://``;
    * ``user_agent`` (default ``genesisdb-sdk``); ``max_line_bytes`` (default 32 MiB).

    One pooled connection set per client; use ``async with Client() as client:`` or call
    :meth:`close` / :meth:`aclose`. A missing URL or token raises :class:`ConfigurationError`.
    """

    def __init__(
        self,
        config: Optional[Mapping[str, Any]] = None,
        *,
        api_url: Optional[str] = None,
        api_version: Optional[str] = None,
        auth_token: Optional[str] = None,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        observe_idle_timeout: Optional[float] = None,
        retries: Optional[int] = None,
        retry_backoff: Optional[float] = None,
        retry_max_backoff: Optional[float] = None,
        retry_max_elapsed: Optional[float] = None,
        ca_file: Optional[Union[str, "os.PathLike[str]"]] = None,
        user_agent: Optional[str] = None,
        max_line_bytes: Optional[int] = None,
    ) -> None:
        """Creates the client; see the class docstring for every setting."""
        settings: Dict[str, Any] = {}
        if config is not None:
            if not isinstance(config, Mapping):
                raise InvalidInputTypeError(
                    f"config must be a dict, got {type(config).__name__}"
                )
            for key in config:
                if key not in _CONFIG_KEYS:
                    raise ConfigurationError(
                        f"unknown config key {key!r} (allowed: {', '.join(_CONFIG_KEYS)})"
                    )
            settings.update(config)
        explicit = {
            "api_url": api_url,
            "api_version": api_version,
            "auth_token": auth_token,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "observe_idle_timeout": observe_idle_timeout,
            "retries": retries,
            "retry_backoff": retry_backoff,
            "retry_max_backoff": retry_max_backoff,
            "retry_max_elapsed": retry_max_elapsed,
            "ca_file": ca_file,
            "user_agent": user_agent,
            "max_line_bytes": max_line_bytes,
        }
        settings.update({k: v for k, v in explicit.items() if v is not None})
        for key in _STR_KEYS:
            value = settings.get(key)
            if value is not None and not isinstance(value, str):
                # the value itself is never shown: it may be the token
                raise InvalidInputTypeError(f"{key} must be a str, got {type(value).__name__}")
        if settings.get("ca_file") is not None:
            settings["ca_file"] = os.fspath(settings["ca_file"])
        self._core = _native.CoreClient(**settings)

    # ---- properties -------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The API base URL."""
        return self._core.api_url

    @property
    def api_version(self) -> str:
        """The API version path segment (``v1``)."""
        return self._core.api_version

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._core.closed

    def __repr__(self) -> str:
        state = " closed" if self._core.closed else ""
        return (
            f"<genesisdb.Client api_url={self._core.api_url!r} "
            f"api_version={self._core.api_version!r}{state}>"
        )

    # ---- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Closes the client: pending calls and open streams fail with ``ClientClosedError``,
        new calls too. Idempotent."""
        self._core.close()

    async def aclose(self) -> None:
        """Async form of :meth:`close`."""
        self._core.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._core.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._core.close()

    # ---- one-shot calls ---------------------------------------------------------------

    async def ping(self) -> str:
        """``GET status/ping``; returns the server's text (``pong``)."""
        result: str = await self._core.ping()
        return result

    async def audit(self) -> str:
        """``GET status/audit``; returns the server's audit report text."""
        result: str = await self._core.audit()
        return result

    async def stream_events(
        self, subject: str, options: Optional[StreamOptions] = None
    ) -> List[Event]:
        """All events of ``subject`` and its descendants, oldest first.

        ``options``: ``lower_bound``, ``include_lower_bound_event``, ``upper_bound``,
        ``include_upper_bound_event`` (bounds are event ids, exclusive by default),
        ``latest_by_event_type`` (only the newest event of that type per subject).
        Unknown keys raise ``InvalidInputError``.
        """
        result: List[Event] = await self._core.stream_events(subject, options)
        return result

    async def commit_events(
        self,
        events: Sequence[EventInput],
        preconditions: Optional[Sequence[PreconditionLike]] = None,
    ) -> None:
        """Commits ``events`` atomically (all or nothing).

        Each event is a dict with ``source``, ``subject``, ``type``, ``data`` (any
        JSON-serialisable value) and optionally ``options`` (``store_data_as_reference``).
        ``preconditions`` are ``{'type': ..., 'payload': ...}`` dicts or
        :class:`~genesisdb.Precondition` objects. Everything is validated before anything is
        sent. A commit is never retried once the request may have reached the server.
        """
        await self._core.commit_events(events, preconditions)

    async def erase_data(self, subject: str) -> None:
        """Erases the payloads of the events stored with ``store_data_as_reference`` under
        ``subject`` (GDPR); the events remain with emptied data."""
        await self._core.erase_data(subject)

    async def query_events(self, query: str) -> List[Any]:
        """Runs a GDBQL query; returns its rows (dicts for ``MAP { ... }``)."""
        if not isinstance(query, str):
            raise InvalidInputTypeError(f"query must be a str, got {type(query).__name__}")
        result: List[Any] = await self._core.query(query)
        return result

    async def q(self, query: str) -> List[Any]:
        """Alias of :meth:`query_events` (the official SDK's older name)."""
        return await self.query_events(query)

    # ---- streams ----------------------------------------------------------------------

    def iter_events(
        self,
        subject: str,
        options: Optional[StreamOptions] = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[Event]:
        """Like :meth:`stream_events`, as an async iterator holding at most about
        ``batch_size`` events in memory. Breaking out (or ``aclose()``) closes the connection."""
        return _drain(lambda: self._core.iter_events(subject, options), batch_size)

    def iter_query(
        self, query: str, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[Any]:
        """Like :meth:`query_events`, as an async iterator of rows (bounded memory)."""

        def open_rows() -> Awaitable[_native.RowIter]:
            if not isinstance(query, str):
                raise InvalidInputTypeError(f"query must be a str, got {type(query).__name__}")
            return self._core.iter_query(query)

        return _drain(open_rows, batch_size)

    def observe_events(
        self,
        subject: str,
        options: Optional[StreamOptions] = None,
        *,
        reconnect: bool = True,
        max_reconnects: Optional[int] = None,
        on_reconnect: Optional[ReconnectCallback] = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> AsyncIterator[Event]:
        """Live events of ``subject`` (and descendants), as an async iterator.

        Without ``lower_bound`` only events committed after the request arrive; with it, the
        stored events from the bound are replayed first. Heartbeats are dropped. On a dropped
        connection or observe idle timeout it reconnects (``reconnect=True``) with the last
        delivered event id as exclusive lower bound, so no event is lost or repeated;
        ``max_reconnects`` bounds consecutive failed attempts (``None`` = unlimited);
        ``on_reconnect(ReconnectInfo)`` (sync, or async: then run as a task) is called on the
        event loop before every reconnection attempt (the core also logs each one).
        Breaking out (or ``aclose()``) closes the connection.
        """

        def open_observer() -> Awaitable[_native.ObserveIter]:
            notify: Optional[Callable[[int, Optional[str], str], None]] = None
            if on_reconnect is not None:
                notify = _reconnect_notifier(asyncio.get_running_loop(), on_reconnect)
            return self._core.observe_events(subject, options, reconnect, max_reconnects, notify)

        return _drain(open_observer, batch_size)


_NativeIter = Union[_native.EventIter, _native.RowIter, _native.ObserveIter]


async def _drain(
    open_iter: Callable[[], Awaitable[_NativeIter]], batch_size: int
) -> AsyncIterator[Any]:
    """The items of a native iterator, opened on the first ``__anext__`` (so nothing is sent
    before the caller iterates), fetched ``batch_size`` per crossing; closed on exit."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise InvalidInputTypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    it = await open_iter()
    try:
        while True:
            batch = await it.next_batch(batch_size)
            if batch is None:
                return
            for item in batch:
                yield item
    finally:
        it.close()


def _reconnect_notifier(
    loop: asyncio.AbstractEventLoop, callback: ReconnectCallback
) -> Callable[[int, Optional[str], str], None]:
    """Wraps ``callback`` so that the core can report reconnects from any thread: the
    callback runs on ``loop`` (an async callback becomes a task)."""

    # the loop keeps only weak references to tasks: hold them until they are done
    pending: "set[asyncio.Future[None]]" = set()

    def run(info: ReconnectInfo) -> None:
        result = callback(info)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            pending.add(task)
            task.add_done_callback(pending.discard)

    def notify(attempt: int, last_event_id: Optional[str], reason: str) -> None:
        try:
            loop.call_soon_threadsafe(run, ReconnectInfo(attempt, last_event_id, reason))
        except RuntimeError:  # the loop is closed: nobody to tell
            pass

    return notify
