"""Typed shapes of the arguments of :class:`genesisdb.Client` and the ``Precondition`` helper."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Union

from typing import TypedDict

__all__ = [
    "JSON",
    "StreamOptions",
    "EventOptions",
    "EventInput",
    "PreconditionInput",
    "ClientConfig",
    "Precondition",
]

#: Any JSON-serialisable value (dict with str keys, list/tuple, str, int, float, bool, None).
JSON = Any


class StreamOptions(TypedDict, total=False):
    """Options of ``stream_events``, ``iter_events`` and ``observe_events`` (all optional)."""

    lower_bound: Optional[str]
    include_lower_bound_event: Optional[bool]
    upper_bound: Optional[str]
    include_upper_bound_event: Optional[bool]
    latest_by_event_type: Optional[str]


class EventOptions(TypedDict, total=False):
    """Per-event options of ``commit_events``."""

    store_data_as_reference: Optional[bool]


class _EventRequired(TypedDict):
    source: str
    subject: str
    type: str
    data: JSON


class EventInput(_EventRequired, total=False):
    """One event to commit: ``source``, ``subject``, ``type``, ``data`` and optional ``options``."""

    options: Optional[EventOptions]


class PreconditionInput(TypedDict):
    """One commit precondition: ``{'type': ..., 'payload': {...}}``."""

    type: str
    payload: JSON


class ClientConfig(TypedDict, total=False):
    """The configuration dict accepted by ``Client({...})`` (official SDK keys plus extras)."""

    api_url: str
    api_version: str
    auth_token: str
    timeout: float
    connect_timeout: float
    observe_idle_timeout: float
    retries: int
    retry_backoff: float
    retry_max_backoff: float
    retry_max_elapsed: float
    ca_file: str
    user_agent: str
    max_line_bytes: int


class Precondition(Dict[str, Any]):
    """A commit precondition; a ``dict`` of the wire shape ``{'type': ..., 'payload': ...}``.

    ``Precondition('isSubjectNew', {'subject': '/user/1'})`` is the generic form (for types a
    future server may add); the helpers build the known ones::

        Precondition.is_subject_new('/user/1')
        Precondition.is_subject_existing('/user/1')
        Precondition.is_query_result_true("STREAM e FROM events ... MAP COUNT() == 0")
    """

    def __init__(self, type: str, payload: Mapping[str, Any]) -> None:  # noqa: A002
        """Builds ``{'type': type, 'payload': dict(payload)}``."""
        if not isinstance(type, str) or not type:
            raise TypeError("Precondition type must be a non-empty str")
        super().__init__(type=type, payload=dict(payload))

    @property
    def type(self) -> str:
        """The precondition type, e.g. ``isSubjectNew``."""
        return str(self["type"])

    @property
    def payload(self) -> Dict[str, Any]:
        """The precondition payload."""
        payload: Dict[str, Any] = self["payload"]
        return payload

    @classmethod
    def is_subject_new(cls, subject: str) -> "Precondition":
        """Passes when ``subject`` has no events (exact subject, not descendants)."""
        return cls("isSubjectNew", {"subject": subject})

    @classmethod
    def is_subject_existing(cls, subject: str) -> "Precondition":
        """Passes when ``subject`` has at least one event (exact subject)."""
        return cls("isSubjectExisting", {"subject": subject})

    @classmethod
    def is_query_result_true(cls, query: str) -> "Precondition":
        """Passes when every row of the GDBQL ``query`` is truthy (an empty result passes)."""
        return cls("isQueryResultTrue", {"query": query})

    def __repr__(self) -> str:
        return f"Precondition({self.get('type')!r}, {self.get('payload')!r})"

    def __reduce__(self) -> Any:
        return (self.__class__, (self["type"], self["payload"]))


PreconditionLike = Union[PreconditionInput, Precondition, Mapping[str, Any]]
EventList = List[EventInput]
