"""Our SDK (`genesisdb.Client`, Rust core) as the benchmark sees it.

Used exactly as a user would: one `Client`, `stream_events`, `iter_events`,
`commit_events`, `observe_events`, `q`; events are `genesisdb.Event` objects read by
attribute (their `data` is decoded on first access).
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from genesisdb import Client


class Adapter:
    name = "ours"
    has_iter = True

    def __init__(self, url: str, token: str) -> None:
        self.client = Client(api_url=url, auth_token=token)

    async def close(self) -> None:
        close = getattr(self.client, "aclose", None)
        if close is not None:
            await close()
        else:
            self.client.close()

    async def stream_list(self, subject: str) -> list:
        return await self.client.stream_events(subject)

    @staticmethod
    def touch_all(events: list) -> dict:
        n = seq = added = 0
        for e in events:
            e.id, e.source, e.subject, e.time, e.specversion
            e.datacontenttype, e.predecessorhash, e.hash
            if e.type.endswith("added"):
                added += 1
            seq += e.data["seq"]
            n += 1
        return {"count": n, "seq_sum": seq, "added": added}

    @staticmethod
    def touch_ts(events: list) -> dict:
        n = added = 0
        for e in events:
            e.subject
            if e.type.endswith("added"):
                added += 1
            n += 1
        return {"count": n, "added": added}

    async def iter_touch(self, subject: str) -> dict:
        n = added = 0
        async for e in self.client.iter_events(subject):
            e.subject
            if e.type.endswith("added"):
                added += 1
            n += 1
        return {"count": n, "added": added}

    async def commit(self, events: list) -> None:
        await self.client.commit_events(events)

    def observe(self, subject: str) -> AsyncIterator:
        return self.client.observe_events(subject)

    @staticmethod
    def seq_of(event: Any) -> int:
        return event.data["seq"]

    async def query(self, query: str) -> list:
        return await self.client.q(query)
