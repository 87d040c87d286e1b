"""Type stubs of the native extension ``genesisdb._native`` (Rust, pyo3)."""

from typing import Any, Awaitable, Callable, Iterator, List, Optional, Tuple, Union, final
import os

__version__: str
__all__ = [
    "CoreClient",
    "Event",
    "EventIter",
    "RowIter",
    "ObserveIter",
    "LocalServer",
    "dumps",
    "loads",
    "runtime_stats",
    "_interpreter_exiting",
    "__version__",
]

def dumps(obj: Any) -> str:
    """Encodes a Python object to compact JSON text with the same rules as commit data."""

def _interpreter_exiting() -> None:
    """atexit hook: stops Rust threads from entering the exiting interpreter."""

def loads(text: str) -> Any:
    """Decodes JSON text to Python objects (key order kept, big ints exact)."""

def runtime_stats() -> dict[str, int]:
    """Diagnostics of the extension's tokio runtime (built on first use):
    ``{"alive_tasks": int, "workers": int}``. ``alive_tasks`` counts the tasks not yet
    finished, the in-process ``LocalServer``'s included; it returns to its baseline once
    streams are closed or cancelled.
    """

@final
class Event:
    """A stored Genesis DB event (immutable).

    Attributes: ``id source subject type time data specversion datacontenttype
    predecessorhash hash``. Also a read-only mapping: ``event['type']``, ``event.get('x')``,
    ``'data' in event``, ``event.keys()``; unknown attributes sent by the server are kept
    (``event['extension']`` or ``event.extension``). ``to_dict()`` returns a plain dict.
    """

    __hash__: None  # type: ignore[assignment]
    def __new__(cls, mapping: Optional[dict[str, Any]] = None, **kwargs: Any) -> "Event": ...
    @property
    def id(self) -> Optional[str]:
        """The event id (a UUID string)."""
    @property
    def source(self) -> Optional[str]:
        """The event source, e.g. ``io.genesisdb.app``."""
    @property
    def subject(self) -> Optional[str]:
        """The subject, e.g. ``/customer/42``."""
    @property
    def type(self) -> Optional[str]:
        """The event type, e.g. ``io.genesisdb.app.customer-added``."""
    @property
    def time(self) -> Optional[str]:
        """The server time of the commit (RFC 3339, UTC, nanoseconds)."""
    @property
    def specversion(self) -> Optional[str]:
        """The CloudEvents spec version (``"1.0"``)."""
    @property
    def datacontenttype(self) -> Optional[str]:
        """The content type of ``data`` (``"application/json"``)."""
    @property
    def predecessorhash(self) -> Optional[str]:
        """The hash of the previous event in the global chain."""
    @property
    def hash(self) -> Optional[str]:
        """The hash of this event."""
    @property
    def data(self) -> Any:
        """The event payload, decoded on first access and cached (None when absent)."""
    @property
    def data_json(self) -> Optional[str]:
        """The raw JSON text of ``data`` (None when absent), without decoding it."""
    def __getitem__(self, key: str, /) -> Any: ...
    def get(self, key: str, default: Any = None) -> Any:
        """``event.get(key, default=None)``: the attribute's value, or ``default``."""
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> List[str]:
        """The attribute names present on this event, in wire order (unknown ones last)."""
    def values(self) -> List[Any]:
        """The attribute values, in the order of ``keys()``."""
    def items(self) -> List[Tuple[str, Any]]:
        """``(key, value)`` pairs, in the order of ``keys()``."""
    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` of every attribute present (``data`` decoded)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> Tuple[Any, ...]: ...

@final
class EventIter:
    """Batches of events of one stream request (see ``Client.iter_events``)."""

    def next_batch(self, max: int = 1024) -> Awaitable[Optional[List[Event]]]:
        """Awaitable: a list of up to ``max`` ready items (waits for at least one), or
        None when the stream has ended (or was closed).
        """
    def close(self) -> None:
        """Ends the stream now and closes its connection (idempotent)."""
    @property
    def closed(self) -> bool:
        """True once the stream ended or was closed."""

@final
class RowIter:
    """Batches of rows of one query (see ``Client.iter_query``)."""

    def next_batch(self, max: int = 1024) -> Awaitable[Optional[List[Any]]]:
        """Awaitable: a list of up to ``max`` ready items (waits for at least one), or
        None when the stream has ended (or was closed).
        """
    def close(self) -> None:
        """Ends the stream now and closes its connection (idempotent)."""
    @property
    def closed(self) -> bool:
        """True once the stream ended or was closed."""

@final
class ObserveIter:
    """Batches of observed events (see ``Client.observe_events``)."""

    def next_batch(self, max: int = 1024) -> Awaitable[Optional[List[Event]]]:
        """Awaitable: a list of up to ``max`` ready items (waits for at least one), or
        None when the stream has ended (or was closed).
        """
    def close(self) -> None:
        """Ends the stream now and closes its connection (idempotent)."""
    @property
    def closed(self) -> bool:
        """True once the stream ended or was closed."""

@final
class CoreClient:
    """The native Genesis DB client (use ``genesisdb.Client``)."""

    def __new__(
        cls,
        api_url: Optional[str] = None,
        api_version: Optional[str] = None,
        auth_token: Optional[str] = None,
        *,
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
    ) -> "CoreClient": ...
    @property
    def api_url(self) -> str:
        """The API base URL (never includes the token)."""
    @property
    def api_version(self) -> str:
        """The API version path segment, e.g. ``v1``."""
    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
    def settings(self) -> List[Tuple[str, str]]:
        """The effective settings (timeouts in seconds); never the token."""
    def close(self) -> None:
        """Closes the client: in-flight calls and streams fail with ``ClientClosedError``."""
    def ping(self) -> Awaitable[str]:
        """Awaitable: ``GET status/ping`` -> str."""
    def audit(self) -> Awaitable[str]:
        """Awaitable: ``GET status/audit`` -> str."""
    def stream_events(self, subject: Any, options: Any = None) -> Awaitable[List[Event]]:
        """Awaitable: every event of ``subject`` (recursive) as a list of ``Event``."""
    def iter_events(self, subject: Any, options: Any = None) -> Awaitable[EventIter]:
        """Awaitable: an ``EventIter`` over the events of ``subject``."""
    def commit_events(self, events: Any, preconditions: Any = None) -> Awaitable[None]:
        """Awaitable: commits ``events`` atomically (validated before anything is sent)."""
    def erase_data(self, subject: Any) -> Awaitable[None]:
        """Awaitable: erases the by-reference payloads of ``subject`` (recursive)."""
    def query(self, query: str) -> Awaitable[List[Any]]:
        """Awaitable: the rows of a GDBQL query as a list."""
    def iter_query(self, query: str) -> Awaitable[RowIter]:
        """Awaitable: a ``RowIter`` over the rows of a GDBQL query."""
    def observe_events(
        self,
        subject: Any,
        options: Any = None,
        reconnect: bool = True,
        max_reconnects: Optional[int] = None,
        notify: Optional[Callable[[int, Optional[str], str], None]] = None,
    ) -> Awaitable[ObserveIter]:
        """Awaitable: an ``ObserveIter`` for a live observe of ``subject``.

        ``notify(attempt, last_event_id, reason)`` is called (from a helper thread, with the
        interpreter attached) before every reconnection attempt.
        """

@final
class LocalServer:
    """An in-process local server (use ``genesisdb.testing.local_server``)."""

    def __new__(
        cls,
        token: str,
        host: Optional[str] = None,
        port: int = 0,
        data_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
        heartbeat: float = 1.0,
    ) -> "LocalServer": ...
    def start(self) -> str:
        """Starts serving (on the last port once it was started). Returns the URL."""
    def stop(self) -> None:
        """Stops serving and drops every open connection (idempotent)."""
    def open_observers(self) -> int:
        """Observe responses currently open on the server (a diagnostic; 0 when stopped). It drops
        back once a client closed its connection and the server's next write failed.
        """
    @property
    def running(self) -> bool:
        """True while serving."""
    @property
    def port(self) -> int:
        """The port (the chosen one once started)."""
    @property
    def host(self) -> str:
        """The host it listens on."""
    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
