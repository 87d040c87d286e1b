"""Runs one workload for one Python client in this (fresh) process and prints JSON.

Usage (run.py drives it; the token comes from GENESISDB_AUTH_TOKEN, never argv):
    python benches/worker.py '{"client": "ours", "workload": "w1", "url": ..., ...}'

Output: one JSON line {"runs": [...], "error": null}; each run holds the measured
`seconds` plus workload-specific figures and a `checksum` that run.py compares with
what the loaded data must give.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import PeakRss, make_event, now, percentile  # noqa: E402

ADAPTERS = {
    "ours": "clients.ours",
    "official": "clients.official_style",
    "best_python": "clients.best_python",
}


def load_adapter(name: str):
    return importlib.import_module(ADAPTERS[name]).Adapter


# ------------------------------------------------------------------ reads


async def w_stream(ad, spec: dict, touch: str) -> dict:
    gc.collect()
    t0 = now()
    events = await ad.stream_list(spec["subject"])
    checksum = (ad.touch_all if touch == "all" else ad.touch_ts)(events)
    seconds = now() - t0
    del events
    gc.collect()
    return {"seconds": seconds, "checksum": checksum}


async def w_iter(ad, spec: dict) -> dict:
    gc.collect()
    with PeakRss() as mem:
        t0 = now()
        checksum = await ad.iter_touch(spec["subject"])
        seconds = now() - t0
    gc.collect()
    return {"seconds": seconds, "rss_growth": mem.growth, "checksum": checksum,
            "mode": "iter" if ad.has_iter else "list"}


async def w_query(ad, spec: dict) -> dict:
    gc.collect()
    t0 = now()
    rows = await ad.query(spec["query"])
    n = seq = 0
    for r in rows:
        r["id"], r["subject"], r["type"], r["email"], r["amount"]
        seq += r["seq"]
        n += 1
    seconds = now() - t0
    del rows
    gc.collect()
    return {"seconds": seconds, "checksum": {"count": n, "seq_sum": seq}}


# ------------------------------------------------------------------ commits


def commit_batches(spec: dict, rep: int, size: int, per_commit: int) -> list:
    root = f"{spec['subject']}/{rep}"
    return [
        [make_event(root, i * per_commit + j) for j in range(per_commit)] for i in range(size)
    ]


async def w_commit_seq(ad, spec: dict, rep: int) -> dict:
    batches = commit_batches(spec, rep, spec["size"], spec.get("batch", 1))
    gc.collect()
    t0 = now()
    for b in batches:
        await ad.commit(b)
    seconds = now() - t0
    return {"seconds": seconds, "commits": len(batches),
            "events": sum(len(b) for b in batches)}


async def w_commit_conc(ad, spec: dict, rep: int) -> dict:
    batches = commit_batches(spec, rep, spec["size"], 1)
    tasks = spec.get("concurrency", 64)
    gc.collect()

    async def worker(k: int) -> None:
        for b in batches[k::tasks]:
            await ad.commit(b)

    t0 = now()
    await asyncio.gather(*(worker(k) for k in range(tasks)))
    seconds = now() - t0
    return {"seconds": seconds, "commits": len(batches), "events": len(batches)}


# ------------------------------------------------------------------ observe


async def w_observe(ad, spec: dict, rep: int) -> dict:
    """Commit one event at a time; per event, the time from the commit's response until
    every observer has it in Python. Negative = delivered before the response came back."""
    observers = spec.get("observers", 1)
    n = spec["size"]
    root = f"{spec['subject']}/{rep}"
    subject = f"{root}/x"
    loop = asyncio.get_running_loop()
    arrived: dict[int, list] = {}
    waiting: dict[int, asyncio.Future] = {}
    ready = [False] * observers

    def event(seq: int) -> dict:
        ev = make_event(root, seq)
        ev["subject"] = subject
        return ev

    async def observe(k: int) -> None:
        async for ev in ad.observe(subject):
            t = now()
            seq = ad.seq_of(ev)
            ready[k] = True
            got = arrived.setdefault(seq, [])
            got.append(t)
            fut = waiting.get(seq)
            if fut is not None and len(got) >= observers and not fut.done():
                fut.set_result(None)

    tasks = [asyncio.create_task(observe(k)) for k in range(observers)]
    try:
        # An observer sees only what is committed after its request arrived: commit
        # warm-up events (negative seq) until every observer has received one.
        warm = 0
        while not all(ready):
            warm -= 1
            if warm < -300:
                raise RuntimeError("observers never received a warm-up event")
            await ad.commit([event(warm)])
            await asyncio.sleep(0.05)
        latencies = []
        from_send = []
        for seq in range(n):
            fut = loop.create_future()
            waiting[seq] = fut
            t_send = now()
            await ad.commit([event(seq)])
            t_resp = now()
            if len(arrived.get(seq, ())) < observers:
                await asyncio.wait_for(fut, 30)
            last = max(arrived[seq])
            latencies.append((last - t_resp) * 1e6)
            from_send.append((last - t_send) * 1e6)
            del waiting[seq], arrived[seq]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    clamped = [max(x, 0.0) for x in latencies]
    return {
        "seconds": sum(clamped) / 1e6,
        "p50_us": percentile(clamped, 50),
        "p99_us": percentile(clamped, 99),
        "send_p50_us": percentile(from_send, 50),
        "send_p99_us": percentile(from_send, 99),
        "early": sum(1 for x in latencies if x < 0),
        "events": n,
        "observers": observers,
    }


# ------------------------------------------------------------------ orjson over downloaded bytes


def download(spec: dict, route: str, body: dict) -> bytes:
    import httpx

    headers = {"Authorization": f"Bearer {os.environ['GENESISDB_AUTH_TOKEN']}",
               "Accept": "application/x-ndjson"}
    with httpx.Client(timeout=None) as c:
        r = c.post(f"{spec['url']}/api/v1/{route}", json=body, headers=headers)
        r.raise_for_status()
        return r.content


def orjson_decode(spec: dict) -> dict:
    """The cost of creating the Python objects alone: orjson over bytes already in memory
    (one `orjson.loads` per line, into a list, GC on), then the same touching."""
    import orjson

    from clients.best_python import Adapter as Dicts

    loads = orjson.loads
    w = spec["workload"]
    if w == "w6":
        body = download(spec, "q", {"query": spec["query"]})
    else:
        body = download(spec, "stream", {"subject": spec["subject"]})
    runs = []
    for _ in range(spec.get("reps", 3)):
        gc.collect()
        if w == "w3":
            with PeakRss() as mem:
                t0 = now()
                n = added = 0
                for line in body.splitlines():
                    e = loads(line)
                    e["subject"]
                    if e["type"].endswith("added"):
                        added += 1
                    n += 1
                seconds = now() - t0
            runs.append({"seconds": seconds, "rss_growth": mem.growth,
                         "checksum": {"count": n, "added": added}, "mode": "lines"})
            continue
        t0 = now()
        items = [loads(line) for line in body.splitlines()]
        if w == "w1":
            checksum = Dicts.touch_all(items)
        elif w == "w2":
            checksum = Dicts.touch_ts(items)
        else:
            n = seq = 0
            for r in items:
                r["id"], r["subject"], r["type"], r["email"], r["amount"]
                seq += r["seq"]
                n += 1
            checksum = {"count": n, "seq_sum": seq}
        seconds = now() - t0
        del items
        runs.append({"seconds": seconds, "checksum": checksum})
    return {"runs": runs, "error": None}


# ------------------------------------------------------------------ main


async def main(spec: dict) -> dict:
    Adapter = load_adapter(spec["client"])
    ad = Adapter(spec["url"], os.environ["GENESISDB_AUTH_TOKEN"])
    w = spec["workload"]
    runs = []
    try:
        # Warm-up: connection pool, lazy imports, first-call paths.
        await ad.stream_list(spec.get("warm_subject", "/bench/warm"))
        for rep in range(spec.get("reps", 3)):
            if w == "w1":
                r = await w_stream(ad, spec, "all")
            elif w == "w2":
                r = await w_stream(ad, spec, "ts")
            elif w == "w3":
                r = await w_iter(ad, spec)
            elif w == "w6":
                r = await w_query(ad, spec)
            elif w in ("w4_seq", "w4_batch"):
                r = await w_commit_seq(ad, spec, rep)
            elif w == "w4_conc":
                r = await w_commit_conc(ad, spec, rep)
            elif w in ("w5_one", "w5_many"):
                r = await w_observe(ad, spec, rep)
            else:
                raise ValueError(f"unknown workload {w}")
            runs.append(r)
    finally:
        await ad.close()
    return {"runs": runs, "error": None}


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    try:
        if spec["client"] == "orjson":
            out = orjson_decode(spec)
        else:
            out = asyncio.run(main(spec))
    except Exception as exc:  # noqa: BLE001 - reported to run.py, which decides
        out = {"runs": [], "error": f"{type(exc).__name__}: {exc}",
               "trace": traceback.format_exc(limit=5)}
    print(json.dumps(out))
