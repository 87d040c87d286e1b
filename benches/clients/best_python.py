"""The best pure-Python Genesis DB client we could write, for comparison.

One pooled `aiohttp.ClientSession` for the client's whole life (keep-alive, no per-call
setup), `orjson` for both directions, bodies sent as pre-encoded bytes, and NDJSON parsed
with as few Python-level steps per line as we found:

* stream / q: the whole body is read, then one `orjson.loads` per line in a list
  comprehension (a tolerant loop only if a line is unusual);
* iter: chunks of 1 MiB split on b'\\n', one `orjson.loads` per line, memory bounded;
* observe: `iter_any()` so each line is handled as soon as its bytes arrive.

Events are plain dicts, as orjson builds them.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import aiohttp
import orjson

_loads = orjson.loads
_dumps = orjson.dumps


def _is_heartbeat(obj: Any) -> bool:
    return type(obj) is dict and len(obj) == 1 and obj.get("payload") == ""


def decode_ndjson(body: bytes) -> list:
    """All values of an NDJSON body (blank lines, CRLF and heartbeats tolerated)."""
    try:
        # One orjson call per line in a comprehension: as fast as joining the lines into one
        # JSON array and decoding that once (measured), and it never copies the body.
        return [_loads(line) for line in body.splitlines() if line]
    except orjson.JSONDecodeError:
        out = []
        for line in body.splitlines():
            line = line.strip()
            if line.startswith(b"data: "):
                line = line[6:]
            if line:
                obj = _loads(line)
                if not _is_heartbeat(obj):
                    out.append(obj)
        return out


class BestPythonClient:
    def __init__(self, api_url: str, auth_token: str, api_version: str = "v1") -> None:
        self.base = f"{api_url.rstrip('/')}/api/{api_version}/"
        auth = f"Bearer {auth_token}"
        self.json_headers = {
            "Authorization": auth,
            "Content-Type": "application/json",
            "User-Agent": "genesisdb-sdk",
        }
        self.ndjson_headers = dict(self.json_headers, Accept="application/x-ndjson")
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=None),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )

    async def close(self) -> None:
        await self.session.close()

    async def _post_read(self, route: str, body: dict, headers: dict) -> bytes:
        async with self.session.post(self.base + route, data=_dumps(body), headers=headers) as r:
            payload = await r.read()
            if r.status >= 300:
                raise RuntimeError(f"{route}: HTTP {r.status}: {payload[:200]!r}")
            return payload

    async def stream_events(self, subject: str, options: dict | None = None) -> list:
        body: dict = {"subject": subject}
        if options:
            body["options"] = options
        return decode_ndjson(await self._post_read("stream", body, self.ndjson_headers))

    async def iter_events(
        self, subject: str, options: dict | None = None, chunk: int = 1 << 20
    ) -> AsyncIterator[list]:
        """Yields lists of events (one list per received chunk): bounded memory."""
        body: dict = {"subject": subject}
        if options:
            body["options"] = options
        async with self.session.post(
            self.base + "stream", data=_dumps(body), headers=self.ndjson_headers
        ) as r:
            if r.status >= 300:
                raise RuntimeError(f"stream: HTTP {r.status}")
            rest = b""
            async for data in r.content.iter_chunked(chunk):
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                yield [_loads(line) for line in lines if line]
            if rest.strip():
                yield [_loads(rest)]

    async def commit_events(self, events: list, preconditions: list | None = None) -> None:
        body: dict = {"events": events}
        if preconditions:
            body["preconditions"] = preconditions
        await self._post_read("commit", body, self.json_headers)

    async def q(self, query: str) -> list:
        return decode_ndjson(await self._post_read("q", {"query": query}, self.ndjson_headers))

    async def observe_events(self, subject: str, options: dict | None = None) -> AsyncIterator[dict]:
        body: dict = {"subject": subject}
        if options:
            body["options"] = options
        async with self.session.post(
            self.base + "observe", data=_dumps(body), headers=self.ndjson_headers
        ) as r:
            if r.status >= 300:
                raise RuntimeError(f"observe: HTTP {r.status}")
            rest = b""
            async for data in r.content.iter_any():
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line.startswith(b"data: "):
                        line = line[6:]
                    line = line.strip()
                    if not line:
                        continue
                    obj = _loads(line)
                    if _is_heartbeat(obj):
                        continue
                    yield obj


class Adapter:
    """The benchmark's view of a client (see worker.py)."""

    name = "best_python"
    has_iter = True

    def __init__(self, url: str, token: str) -> None:
        self.client = BestPythonClient(url, token)

    async def close(self) -> None:
        await self.client.close()

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
        n = added = 0
        async for batch in self.client.iter_events(subject):
            for e in batch:
                e["subject"]
                if e["type"].endswith("added"):
                    added += 1
                n += 1
        return {"count": n, "added": added}

    async def commit(self, events: list) -> None:
        await self.client.commit_events(events)

    def observe(self, subject: str) -> AsyncIterator:
        return self.client.observe_events(subject)

    @staticmethod
    def seq_of(event: Any) -> int:
        return event["data"]["seq"]

    async def query(self, query: str) -> list:
        return await self.client.q(query)
