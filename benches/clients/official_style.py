"""The official Genesis DB 1.x Python SDK's approach, rewritten for the benchmarks.

This mirrors how `genesisdb-io-client-python` 1.x talks to the server, so the benchmark
measures that approach and not a straw man:

* a new `httpx.AsyncClient()` for every call (so no connection reuse, httpx defaults);
* request bodies through httpx's `json=` (stdlib `json.dumps`);
* stream/q: the whole body as text, `strip().split('\\n')`, `json.loads` per line;
* every event wrapped in a `cloudevents.http.CloudEvent` built from the whole JSON object
  (so `data` lives in the attribute map: `event['data']`);
* observe: `client.stream(...)`, `aiter_bytes()`, a str buffer split on '\\n', the
  `data: ` prefix stripped, heartbeats (`{"payload": ""}`) dropped.

It keeps the official error behaviour that matters here (raise on non-2xx) and drops
the `print` calls.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Optional

import httpx
from cloudevents.http import CloudEvent

_OPTION_NAMES = {
    "lower_bound": "lowerBound",
    "include_lower_bound_event": "includeLowerBoundEvent",
    "latest_by_event_type": "latestByEventType",
}


class OfficialStyleClient:
    def __init__(self, api_url: str, auth_token: str, api_version: str = "v1") -> None:
        self.api_url = api_url
        self.api_version = api_version
        self.auth_token = auth_token

    def _url(self, route: str) -> str:
        return f"{self.api_url}/api/{self.api_version}/{route}"

    def _headers(self, ndjson: bool = False, content_type: str = "application/json") -> dict:
        headers = {
            "Authorization": f"Bearer {self.auth_token}",
            "Content-Type": content_type,
            "User-Agent": "genesisdb-sdk",
        }
        if ndjson:
            headers["Accept"] = "application/x-ndjson"
        return headers

    @staticmethod
    def _body(subject: str, options: Optional[dict]) -> dict:
        body: dict = {"subject": subject}
        if options:
            body["options"] = {
                wire: options[name] for name, wire in _OPTION_NAMES.items() if name in options
            }
        return body

    async def stream_events(self, subject: str, options: Optional[dict] = None) -> list:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                self._url("stream"), json=self._body(subject, options), headers=self._headers(True)
            )
            response.raise_for_status()
            text = response.text
            if not text or text.strip() == "":
                return []
            events = []
            for line in text.strip().split("\n"):
                line = line.strip()
                if not line:
                    continue
                try:
                    events.append(CloudEvent(json.loads(line)))
                except json.JSONDecodeError:
                    continue  # the official SDK prints and skips
            return events

    async def commit_events(self, events: list, preconditions: Optional[list] = None) -> None:
        wire_events = []
        for event in events:
            item = {
                "source": event["source"],
                "subject": event["subject"],
                "type": event["type"],
                "data": event["data"],
            }
            if "options" in event:
                opts = {}
                if "store_data_as_reference" in event["options"]:
                    opts["storeDataAsReference"] = event["options"]["store_data_as_reference"]
                item["options"] = opts
            wire_events.append(item)
        body: dict = {"events": wire_events}
        if preconditions:
            body["preconditions"] = preconditions
        async with httpx.AsyncClient() as client:
            response = await client.post(self._url("commit"), json=body, headers=self._headers())
            response.raise_for_status()

    async def q(self, query: str) -> list:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                self._url("q"), json={"query": query}, headers=self._headers(True)
            )
            response.raise_for_status()
            text = response.text
            if not text or text.strip() == "":
                return []
            rows: list[Any] = []
            for line in text.strip().split("\n"):
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            return rows

    async def query_events(self, query: str) -> list:
        return await self.q(query)

    async def observe_events(
        self, subject: str, options: Optional[dict] = None
    ) -> AsyncIterator[CloudEvent]:
        async with httpx.AsyncClient() as client:
            async with client.stream(
                "POST", self._url("observe"), json=self._body(subject, options),
                headers=self._headers(True),
            ) as response:
                response.raise_for_status()
                buffer = ""
                async for chunk in response.aiter_bytes():
                    buffer += chunk.decode("utf-8")
                    while "\n" in buffer:
                        line, buffer = buffer.split("\n", 1)
                        line = line.strip()
                        if not line:
                            continue
                        try:
                            text = line[6:] if line.startswith("data: ") else line
                            obj = json.loads(text)
                            if obj.get("payload") == "" and len(obj) == 1:
                                continue
                            yield CloudEvent(obj)
                        except json.JSONDecodeError:
                            continue


class Adapter:
    """The benchmark's view of a client (see worker.py)."""

    name = "official"
    has_iter = False  # the 1.x SDK has no iterator over stored events: W3 streams into a list

    def __init__(self, url: str, token: str) -> None:
        self.client = OfficialStyleClient(url, token)

    async def close(self) -> None:
        pass

    async def stream_list(self, subject: str) -> list:
        return await self.client.stream_events(subject)

    @staticmethod
    def touch_all(events: list) -> dict:
        n = seq = added = 0
        for e in events:
            e["id"], e["source"], e["subject"], e["time"], e["specversion"]
            e["datacontenttype"], e["predecessorhash"], e["hash"]
            if e["type"].endswith("added"):
                added += 1
            seq += e["data"]["seq"]
            n += 1
        return {"count": n, "seq_sum": seq, "added": added}

    @staticmethod
    def touch_ts(events: list) -> dict:
        n = added = 0
        for e in events:
            e["subject"]
            if e["type"].endswith("added"):
                added += 1
            n += 1
        return {"count": n, "added": added}

    async def iter_touch(self, subject: str) -> dict:
        events = await self.client.stream_events(subject)
        out = self.touch_ts(events)
        del events
        return out

    async def commit(self, events: list) -> None:
        await self.client.commit_events(events)

    def observe(self, subject: str) -> AsyncIterator:
        return self.client.observe_events(subject)

    @staticmethod
    def seq_of(event: Any) -> int:
        return event["data"]["seq"]

    async def query(self, query: str) -> list:
        return await self.client.q(query)
