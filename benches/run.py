#!/usr/bin/env python3
"""Genesis DB client benchmarks: W1-W6 for every client, one command, one table.

    python benches/run.py            # full sizes (see --help), medians over --reps runs
    python benches/run.py --quick    # small sizes, seconds; what CI runs (asserts no time)
    python benches/run.py --json out.json --workloads w1,w2 --clients ours,best_python

Clients (columns):
  ours         genesisdb.Client (Rust core), as a user calls it
  official     the official 1.x SDK's approach (benches/clients/official_style.py)
  best_python  one pooled aiohttp session + orjson (benches/clients/best_python.py)
  rust         the limit: a pure-Rust program on crates/core (benches/rust-client)
  orjson       the limit for decoding: orjson over the already-downloaded bytes

The server is the release `genesisdb-server` binary (or `python -m genesisdb serve`), run as
a separate process, in memory, started fresh and loaded before each group of workloads.
Every (client, workload) runs in its own fresh Python process (or the Rust binary), does an
untimed warm-up call, then --reps timed runs; the table shows medians and, in brackets,
the ratio other/ours of the time per item (above 1 = ours is faster).

A benchmark asserts no time. The run fails (exit 1) only when a client returns wrong data
(a checksum of the streamed events that does not match what was loaded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from common import expected_checksum, make_event, w6_query  # noqa: E402

CLIENTS = ["ours", "official", "best_python", "rust", "orjson"]
READ_ONLY = {"w1", "w2", "w3", "w6"}
WORKLOADS = ["w1", "w2", "w6", "w3", "w4_seq", "w4_conc", "w4_batch", "w5_one", "w5_many"]
LABELS = {
    "w1": "W1 stream into a list, every field",
    "w2": "W2 stream into a list, type+subject",
    "w3": "W3 iterate, type+subject",
    "w4_seq": "W4 single-event commits, sequential",
    "w4_conc": "W4 single-event commits, 64 tasks",
    "w4_batch": "W4 commits of 1,000 events",
    "w5_one": "W5 observe, 1 observer",
    "w5_many": "W5 observe, 100 observers",
    "w6": "W6 GDBQL query, MAP rows",
}

FULL = dict(w1=100_000, w3=1_000_000, w4_seq=10_000, w4_conc=10_000, w4_batches=100,
            w4_batch_size=1_000, w5=2_000, w5_many=200, w5_observers=100, w6=100_000,
            reps=3, official_commits=0.05)
QUICK = dict(w1=2_000, w3=5_000, w4_seq=100, w4_conc=200, w4_batches=4, w4_batch_size=100,
             w5=30, w5_many=10, w5_observers=10, w6=2_000, reps=2, official_commits=0.5)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ binaries


def cargo_build(package: str, release: bool) -> Optional[str]:
    """Builds a workspace binary; returns its path or None (reported, never fatal)."""
    cargo = shutil.which("cargo")
    if cargo is None:
        log(f"  cargo not found: cannot build {package}")
        return None
    cmd = [cargo, "build", "-q", "-p", package] + (["--release"] if release else [])
    log(f"  building {package} ({'release' if release else 'debug'}) ...")
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        log(f"  build of {package} failed:\n{r.stderr[-2000:]}")
        return None
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    path = os.path.join(target, "release" if release else "debug", package)
    return path if os.path.exists(path) else None


def python_serve_available() -> bool:
    r = subprocess.run([sys.executable, "-m", "genesisdb", "serve", "--help"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


class Server:
    """The local server as a separate process, in memory, on a free port."""

    def __init__(self, cmd: list, token: str) -> None:
        self.cmd = cmd
        self.token = token
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""

    def __enter__(self) -> "Server":
        env = dict(os.environ, GENESISDB_AUTH_TOKEN=self.token)
        env.pop("GENESISDB_DATA_DIR", None)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, text=True)
        found: list = []

        def reader() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                m = re.search(r"listening on (http://\S+)", line)
                if m and not found:
                    found.append(m.group(1).rstrip("/"))

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.time() + 60
        while not found:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"server exited ({self.proc.returncode}): {err[-1000:]}")
            if time.time() > deadline:
                raise RuntimeError("server did not report its address within 60 s")
            time.sleep(0.02)
        self.url = found[0]
        threading.Thread(target=lambda: self.proc.stderr.read(), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                m = re.search(r"VmRSS:\s+(\d+)", f.read())
            return int(m.group(1)) / 1024 if m else 0.0
        except (OSError, AttributeError):
            return 0.0


def server_command(args: argparse.Namespace, token: str) -> list:
    if args.server_cmd:
        return args.server_cmd.split() + ["--port", "0"]
    binary = args.server_bin
    if binary is None and not args.no_build:
        binary = cargo_build("genesisdb-server", release=not args.quick)
    if binary is None:
        rel = os.path.join(ROOT, "target", "release", "genesisdb-server")
        if os.path.exists(rel):
            binary = rel
    if binary is not None:
        return [binary, "--host", "127.0.0.1", "--port", "0"]
    if python_serve_available():
        return [sys.executable, "-m", "genesisdb", "serve", "--host", "127.0.0.1", "--port", "0",
                "--token", token]
    raise SystemExit("no server: build genesisdb-server or install the genesisdb package")


# ------------------------------------------------------------------ loading


async def load(url: str, token: str, root: str, n: int, per_commit: int = 1000) -> float:
    """Commits events 0..n-1 under `root` (untimed for the benchmark)."""
    import aiohttp
    import orjson

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    t0 = time.perf_counter()
    sem = asyncio.Semaphore(4)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as s:

        async def one(start: int) -> None:
            body = orjson.dumps(
                {"events": [make_event(root, i) for i in range(start, min(n, start + per_commit))]}
            )
            async with sem:
                async with s.post(f"{url}/api/v1/commit", data=body, headers=headers) as r:
                    text = await r.text()
                    if r.status != 200:
                        raise RuntimeError(f"load: HTTP {r.status}: {text[:200]}")

        # Commit in order, a few at a time (the order inside the store does not matter).
        starts = list(range(0, n, per_commit))
        for k in range(0, len(starts), 32):
            await asyncio.gather(*(one(st) for st in starts[k:k + 32]))
    return time.perf_counter() - t0


# ------------------------------------------------------------------ running clients


def run_client(client: str, spec: dict, server: Server, rust_bin: Optional[str],
               timeout: float) -> dict:
    env = dict(os.environ, GENESISDB_AUTH_TOKEN=server.token)
    if client == "rust":
        if rust_bin is None:
            return {"runs": [], "error": "skipped: rust client not built"}
        cmd = [rust_bin, "--url", server.url, "--workload", spec["workload"],
               "--subject", spec["subject"], "--size", str(spec.get("size", 0)),
               "--batch", str(spec.get("batch", 1)), "--reps", str(spec["reps"]),
               "--concurrency", str(spec.get("concurrency", 64)),
               "--observers", str(spec.get("observers", 1)), "--query", spec.get("query", "")]
    else:
        cmd = [sys.executable, os.path.join(HERE, "worker.py"),
               json.dumps(dict(spec, client=client, url=server.url))]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"runs": [], "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"runs": [], "error": f"exit {r.returncode}: {r.stderr.strip()[-800:]}"}
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        return {"runs": [], "error": f"unreadable output: {exc}"}


def client_available(client: str) -> Optional[str]:
    """None if usable, else why not."""
    mods = {"ours": "genesisdb", "official": "cloudevents.http", "best_python": "aiohttp",
            "orjson": "orjson"}
    if client == "rust":
        return None
    code = f"import {mods[client]}" + ("; from genesisdb import Client" if client == "ours" else "")
    if client in ("official", "orjson"):
        code += "; import httpx"
    r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    return None if r.returncode == 0 else r.stderr.strip().splitlines()[-1]


# ------------------------------------------------------------------ figures


def per_item(workload: str, run: dict) -> float:
    """Seconds per item of the workload's headline figure."""
    s = run["seconds"]
    if workload in ("w4_seq", "w4_conc", "w4_batch"):
        return s / max(1, run["commits"])
    if workload in ("w5_one", "w5_many"):
        return run.get("send_p50_us", run["p50_us"]) / 1e6
    return s / max(1, run["checksum"]["count"])


def summarize(workload: str, result: dict) -> Optional[dict]:
    runs = result.get("runs") or []
    if not runs:
        return None
    out: dict[str, Any] = {"reps": len(runs)}
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["per_item_s"] = statistics.median(per_item(workload, r) for r in runs)
    if workload == "w3":
        out["rss_growth_mb"] = max(r["rss_growth"] for r in runs) / 2**20
        out["mode"] = runs[0].get("mode", "")
    if workload in ("w5_one", "w5_many"):
        out["p50_us"] = statistics.median(r["p50_us"] for r in runs)
        out["p99_us"] = statistics.median(r["p99_us"] for r in runs)
        out["early"] = sum(r["early"] for r in runs)
        out["send_p50_us"] = statistics.median(r.get("send_p50_us", 0.0) for r in runs)
        out["send_p99_us"] = statistics.median(r.get("send_p99_us", 0.0) for r in runs)
    if workload in ("w4_seq", "w4_conc", "w4_batch"):
        out["commits_per_s"] = 1.0 / out["per_item_s"] if out["per_item_s"] else 0.0
        out["commits"] = runs[0]["commits"]
    return out


def check(workload: str, result: dict, n: int) -> Optional[str]:
    want = expected_checksum(n)
    for r in result.get("runs") or []:
        got = r.get("checksum")
        if got is None:
            continue
        for k, v in got.items():
            if k in want and want[k] != v:
                return f"{k}={v}, expected {want[k]}"
    return None


def fmt_time(seconds: float) -> str:
    us = seconds * 1e6
    if us < 10:
        return f"{us:.2f} µs"
    if us < 1000:
        return f"{us:.1f} µs"
    if us < 1e6:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1e6:.2f} s"


def cell(workload: str, s: Optional[dict], ours: Optional[dict]) -> str:
    if s is None:
        return "–"
    if workload in ("w5_one", "w5_many"):
        text = (f"{fmt_time(s['p50_us'] / 1e6)} / {fmt_time(s['p99_us'] / 1e6)}; "
                f"from send {fmt_time(s['send_p50_us'] / 1e6)} / "
                f"{fmt_time(s['send_p99_us'] / 1e6)}")
        if ours is not None and ours is not s and ours["send_p50_us"] > 0:
            text += f" ({s['send_p50_us'] / ours['send_p50_us']:.2f}×)"
        return text
    text = fmt_time(s["per_item_s"])
    if workload == "w3":
        text += f", +{s['rss_growth_mb']:.0f} MB"
    if ours is not None and ours is not s and ours["per_item_s"] > 0:
        text += f" ({s['per_item_s'] / ours['per_item_s']:.2f}×)"
    return text


UNITS = {
    "w1": "per event", "w2": "per event", "w3": "per event, peak RSS growth", "w6": "per row",
    "w4_seq": "per commit", "w4_conc": "per commit (wall / commits)",
    "w4_batch": "per 1,000-event commit",
    "w5_one": "p50 / p99 after the commit response; from send",
    "w5_many": "same, until all observers have it",
}


def ratio(summ: dict, w: str, other: str) -> Optional[float]:
    a, b = summ.get(w, {}).get("ours"), summ.get(w, {}).get(other)
    if not a or not b or not a["per_item_s"]:
        return None
    return b["per_item_s"] / a["per_item_s"]


def targets(summ: dict) -> list:
    """(workload, target text, value text, met?) for each target of issue 6."""
    out = []

    def r(w: str, other: str, goal: float, text: str) -> None:
        v = ratio(summ, w, other)
        out.append((w, text, "n/a" if v is None else f"{v:.2f}×", None if v is None else v >= goal))

    r("w1", "official", 5.0, "≥ 5× official-style")
    r("w1", "best_python", 1.5, "≥ 1.5× best pure-Python")
    r("w1", "orjson", 1.0, "no slower than orjson over the bytes")
    r("w2", "best_python", 3.0, "≥ 3× best pure-Python")
    o3 = summ.get("w3", {}).get("ours")
    out.append(("w3", "RSS growth ≤ 50 MB", "n/a" if not o3 else f"{o3['rss_growth_mb']:.0f} MB",
                None if not o3 else o3["rss_growth_mb"] <= 50))
    r("w4_conc", "rust", 0.8, "concurrent ≥ 80% of pure-Rust throughput")
    r("w4_conc", "best_python", 3.0, "concurrent ≥ 3× best pure-Python")
    r("w4_seq", "rust", 1 / 1.2, "sequential latency within 1.2× pure-Rust")
    o5 = summ.get("w5_one", {}).get("ours")
    out.append(("w5_one", "p99 ≤ 5 ms", "n/a" if not o5 else fmt_time(o5["p99_us"] / 1e6),
                None if not o5 else o5["p99_us"] <= 5000))
    m5 = summ.get("w5_many", {}).get("ours")
    label = "all observers served ≤ 2× one (p50 from send)"
    if o5 and m5 and o5["send_p50_us"] > 0:
        v = m5["send_p50_us"] / o5["send_p50_us"]
        out.append(("w5_many", label, f"{v:.2f}×", v <= 2.0))
    else:
        out.append(("w5_many", label, "n/a", None))
    r("w6", "best_python", 1.5, "≥ 1.5× best pure-Python")
    return out


def render(summ: dict, clients: list, workloads: list, observers: int = 100) -> str:
    LABELS["w5_many"] = f"W5 observe, {observers} observers"
    head = ["workload", "figure"] + clients
    rows = [head, ["---"] * len(head)]
    for w in workloads:
        if w not in summ:
            continue
        ours = summ[w].get("ours")
        rows.append([LABELS[w], UNITS[w]] + [cell(w, summ[w].get(c), ours) for c in clients])
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    lines.append("| workload | target | value | met |")
    lines.append("| --- | --- | --- | --- |")
    for w, text, val, met in targets(summ):
        if w in summ:
            lines.append(f"| {w} | {text} | {val} | "
                         f"{'n/a' if met is None else ('yes' if met else '**no**')} |")
    return "\n".join(lines)


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else ""
    except OSError:
        pass
    vers = {}
    for mod in ("orjson", "httpx", "aiohttp", "cloudevents"):
        try:
            from importlib.metadata import version

            vers[mod] = version(mod)
        except Exception:  # noqa: BLE001
            vers[mod] = "absent"
    rustc = subprocess.run(["rustc", "--version"], stdout=subprocess.PIPE, text=True,
                           stderr=subprocess.DEVNULL).stdout.strip() if shutil.which("rustc") else ""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"MemTotal:\s+(\d+)", f.read())
            mem = f"{int(m.group(1)) / 2**20:.0f} GiB" if m else ""
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "os": platform.platform(),
            "python": platform.python_version(), "rustc": rustc, "commit": commit,
            "load_before": os.getloadavg(), **vers}


# ------------------------------------------------------------------ main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (CI)")
    p.add_argument("--json", metavar="FILE", help="write all runs and medians here")
    p.add_argument("--clients", default=",".join(CLIENTS))
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--reps", type=int)
    for k in FULL:
        if k != "reps":
            p.add_argument("--" + k.replace("_", "-"), type=float if k == "official_commits"
                           else int, dest=k, help=f"default {FULL[k]} (quick {QUICK[k]})")
    p.add_argument("--server-bin", help="genesisdb-server binary (default: cargo build)")
    p.add_argument("--server-cmd", help="server command line (without --port)")
    p.add_argument("--rust-bin", help="genesisdb-bench-rust binary (default: cargo build)")
    p.add_argument("--no-build", action="store_true", help="never run cargo build")
    p.add_argument("--timeout", type=float, default=1800, help="per client and workload, s")
    args = p.parse_args()

    sizes = dict(QUICK if args.quick else FULL)
    for k in sizes:
        v = getattr(args, k, None)
        if v is not None:
            sizes[k] = v
    if args.reps:
        sizes["reps"] = args.reps
    clients = [c for c in args.clients.split(",") if c]
    workloads = [w for w in WORKLOADS if w in args.workloads.split(",")]
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        p.error(f"unknown clients {sorted(unknown)}")

    log(f"benchmarks ({'quick' if args.quick else 'full'}): {sizes}")
    token = secrets.token_hex(16)
    cmd = server_command(args, token)
    rust_bin = args.rust_bin
    if "rust" in clients and rust_bin is None and not args.no_build:
        rust_bin = cargo_build("genesisdb-bench-rust", release=not args.quick)
    if rust_bin is None:
        rel = os.path.join(ROOT, "target", "release" if not args.quick else "debug",
                           "genesisdb-bench-rust")
        rust_bin = rel if os.path.exists(rel) else None
    skipped = {}
    for c in clients:
        why = client_available(c)
        if c == "rust" and rust_bin is None:
            why = "not built"
        if why:
            skipped[c] = why
            log(f"  client {c} skipped: {why}")
    active = [c for c in clients if c not in skipped]

    info = machine()
    results: dict = {}
    summ: dict = {}
    failures: list = []
    reps = sizes["reps"]

    def do(w: str, spec: dict, shared: Optional[Server], n_check: int) -> None:
        results[w], summ[w] = {}, {}
        for c in active:
            if c == "orjson" and w not in READ_ONLY:
                continue
            if shared is None:
                # Writes: a fresh server per client, so no client commits into a store
                # that the clients before it have grown.
                with Server(cmd, token) as fresh:
                    asyncio.run(load(fresh.url, token, "/bench/warm", 10))
                    one(w, c, spec, fresh, n_check)
            else:
                one(w, c, spec, shared, n_check)

    def one(w: str, c: str, spec: dict, server: Server, n_check: int) -> None:
        cspec = dict(spec)
        if c == "official" and w in ("w4_seq", "w4_conc"):
            cspec["size"] = max(64, int(spec["size"] * sizes["official_commits"]))
        if c == "official" and w == "w5_one":
            cspec["size"] = min(spec["size"], max(200, int(spec["size"] * sizes["official_commits"])))
        if c == "official" and w == "w3" and not args.quick:
            cspec["reps"] = 1  # a list of 1M CloudEvents: ~1 min and several GB per run
        t0 = time.perf_counter()
        res = run_client(c, cspec, server, rust_bin, args.timeout)
        results[w][c] = res
        bad = check(w, res, n_check) if w in READ_ONLY else None
        if res.get("error"):
            log(f"  {w:8} {c:12} ERROR {res['error']}")
            if res.get("trace"):
                log(res["trace"])
            if c == "ours" or not str(res["error"]).startswith("skipped"):
                failures.append(f"{w}/{c}: {res['error']}")
            return
        if bad:
            log(f"  {w:8} {c:12} WRONG DATA {bad}")
            failures.append(f"{w}/{c}: wrong data: {bad}")
            return
        summ[w][c] = summarize(w, res)
        log(f"  {w:8} {c:12} {cell(w, summ[w][c], None):28} "
            f"({time.perf_counter() - t0:.1f} s incl. process start)")

    groups = [
        ("read", [w for w in ("w1", "w2", "w6") if w in workloads]),
        ("iter", [w for w in ("w3",) if w in workloads]),
        ("write", [w for w in ("w4_seq", "w4_conc", "w4_batch", "w5_one", "w5_many")
                   if w in workloads]),
    ]
    for group, ws in groups:
        if not ws:
            continue
        if group == "write":
            for w in ws:
                spec: dict = {"workload": w, "subject": f"/bench/{w}", "reps": reps}
                if w == "w4_seq":
                    spec["size"] = sizes["w4_seq"]
                elif w == "w4_conc":
                    spec.update(size=sizes["w4_conc"], concurrency=64)
                elif w == "w4_batch":
                    spec.update(size=sizes["w4_batches"], batch=sizes["w4_batch_size"])
                elif w == "w5_one":
                    spec.update(size=sizes["w5"], observers=1)
                else:
                    spec.update(size=sizes["w5_many"], observers=sizes["w5_observers"])
                log(f"{w}: a fresh server per client")
                do(w, spec, None, 0)
            continue
        with Server(cmd, token) as server:
            log(f"server {server.url} ({' '.join(os.path.basename(x) for x in cmd[:3])}) for {ws}")
            asyncio.run(load(server.url, token, "/bench/warm", 10))
            if group == "read":
                n = max(sizes["w1"], sizes["w6"])
                secs = asyncio.run(load(server.url, token, "/bench/read", n))
                log(f"  loaded {n} events in {secs:.1f} s; server RSS {server.rss_mb():.0f} MB")
                for w in ws:
                    spec = {"workload": w, "subject": "/bench/read", "reps": reps}
                    if w == "w6":
                        spec["query"] = w6_query("/bench/read")
                    do(w, spec, server, n)
            else:
                n = sizes["w3"]
                secs = asyncio.run(load(server.url, token, "/bench/iter", n))
                log(f"  loaded {n} events in {secs:.1f} s; server RSS {server.rss_mb():.0f} MB")
                do("w3", {"workload": "w3", "subject": "/bench/iter", "reps": reps}, server, n)

    table = render(summ, [c for c in clients if c not in skipped], workloads,
                   sizes["w5_observers"])
    print()
    print(f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; {info['os']}; "
          f"Python {info['python']}; {info['rustc']}; commit {info['commit']}")
    print(f"Sizes: {sizes}")
    if skipped:
        print("Skipped: " + "; ".join(f"{c} ({why})" for c, why in skipped.items()))
    print()
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "sizes": sizes, "skipped": skipped, "summary": summ,
                       "targets": targets(summ), "results": results}, f, indent=1)
    if failures:
        print("\nFailures:\n  " + "\n  ".join(failures))
        wrong = [f for f in failures if "wrong data" in f or f.split(":")[0].endswith("/ours")]
        return 1 if wrong else 0
    return 0


if __name__ == "__main__":
    import signal

    # A terminated run still stops its server (the `with Server(...)` blocks unwind).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
