"""Shared pieces of the benchmark harness: the event shape, timers and memory probes.

Nothing here asserts a duration: benchmarks measure, they do not test.
"""

from __future__ import annotations

import os
import re
import time

SOURCE = "io.genesisdb.bench"
TYPE_ADDED = "io.genesisdb.bench.customer-added"
TYPE_UPDATED = "io.genesisdb.bench.customer-updated"
FIELDS = (
    "id",
    "source",
    "subject",
    "type",
    "time",
    "specversion",
    "datacontenttype",
    "predecessorhash",
    "hash",
)


def make_event(root: str, i: int) -> dict:
    """The i-th benchmark event under `root`: about 300 bytes as committed
    (source + subject + type + data), about 520 bytes as stored and streamed."""
    return {
        "source": SOURCE,
        "subject": f"{root}/{i % 1000:04d}",
        "type": TYPE_ADDED if i % 2 == 0 else TYPE_UPDATED,
        "data": {
            "seq": i,
            "firstName": "Bruce",
            "lastName": f"Wayne-{i:07d}",
            "email": f"bruce.wayne.{i:07d}@enterprise.wayne",
            "amount": (i % 100000) / 4,
            "active": i % 3 == 0,
            "tags": ["vip", "gotham"],
            "address": {"street": "1007 Mountain Drive", "city": "Gotham", "zip": "53540"},
        },
    }


def expected_checksum(n: int) -> dict:
    """What a workload over events 0..n-1 must report (to catch a client that drops events)."""
    return {"count": n, "seq_sum": n * (n - 1) // 2, "added": (n + 1) // 2}


def w6_query(root: str) -> str:
    return (
        f"STREAM e FROM events WHERE e.subject UNDER '{root}' "
        "MAP { id: e.id, subject: e.subject, type: e.type, seq: e.data.seq, "
        "email: e.data.email, amount: e.data.amount }"
    )


# ---------------------------------------------------------------- memory probes


def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as f:
            m = re.search(rf"^{field}:\s+(\d+)\s+kB", f.read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


class PeakRss:
    """Peak resident-set growth of this process over a block, in bytes.

    Linux: resets the high-water mark through /proc/self/clear_refs and reads VmHWM.
    Elsewhere it falls back to psutil's RSS at the end (a lower bound)."""

    def __enter__(self) -> "PeakRss":
        self.linux = False
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.linux = True
        except OSError:
            pass
        self.start = self.rss()
        self.growth = 0
        return self

    @staticmethod
    def rss() -> int:
        kb = _status_kb("VmRSS")
        if kb:
            return kb * 1024
        try:
            import psutil

            return psutil.Process(os.getpid()).memory_info().rss
        except Exception:  # noqa: BLE001 - best effort on odd platforms
            return 0

    def __exit__(self, *exc: object) -> None:
        peak = _status_kb("VmHWM") * 1024 if self.linux else self.rss()
        self.growth = max(0, peak - self.start)


def now() -> float:
    return time.perf_counter()


def percentile(values: list, q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]
