"""Cost of one asyncio <-> tokio crossing: future_into_py vs a loop-thread completion queue.

    cd benches/bridge-experiment && pip install . && python bench.py
"""

import asyncio
import resource
import time

import bridge_experiment as bridge


class Bridge:
    """The Python half of the queue bridge (a product would do this part in Rust too)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict = {}
        self.next = 0
        loop.add_reader(bridge.fd(), self.drain)

    def drain(self) -> None:
        pop = self.pending.pop
        for i, v in bridge.take():
            fut = pop(i)
            if not fut.cancelled():
                fut.set_result(v)

    def noop(self) -> asyncio.Future:
        fut = self.loop.create_future()
        i = self.next
        self.next += 1
        self.pending[i] = fut
        bridge.spawn_noop(i)
        return fut


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main() -> None:
    b = Bridge(asyncio.get_running_loop())
    await bridge.noop_fip()
    await b.noop()
    n = 5000
    for _ in range(2):
        for name, fn in [("future_into_py", bridge.noop_fip), ("queue bridge", b.noop)]:
            c0, t0 = cpu(), time.perf_counter()
            for _ in range(n):
                await fn()
            t1, c1 = time.perf_counter(), cpu()

            async def worker() -> None:
                for _ in range(n // 64):
                    await fn()

            c2, t2 = cpu(), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(64)))
            t3, c3 = time.perf_counter(), cpu()
            m = (n // 64) * 64
            print(f"{name:15} sequential {(t1 - t0) / n * 1e6:6.1f} µs wall "
                  f"{(c1 - c0) / n * 1e6:6.1f} µs CPU | 64 tasks {(t3 - t2) / m * 1e6:6.1f} µs wall "
                  f"{(c3 - c2) / m * 1e6:6.1f} µs CPU, per await")


asyncio.run(main())
