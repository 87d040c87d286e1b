"""The package is typed: ``mypy --strict`` accepts typical user code, and the stubs of the
native module match the runtime (``mypy.stubtest``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mypy")

EXAMPLE = textwrap.dedent(
    '''
    from __future__ import annotations

    import asyncio
    from typing import Any, List, Optional

    from genesisdb import (
        Client, Event, Precondition, PreconditionFailedError, ReconnectInfo, errors,
    )
    from genesisdb.testing import LocalServer, local_server


    async def main(server: LocalServer) -> None:
        async with Client(server.client_config(), timeout=5.0, retries=1) as client:
            pong: str = await client.ping()
            await client.commit_events(
                [{"source": "io.genesisdb.app", "subject": "/c/1",
                  "type": "io.genesisdb.app.customer-added", "data": {"name": "Bruce"},
                  "options": {"store_data_as_reference": True}}],
                [Precondition.is_subject_new("/c/1"),
                 {"type": "isSubjectExisting", "payload": {"subject": "/c"}}],
            )
            events: List[Event] = await client.stream_events(
                "/c", {"lower_bound": None, "include_lower_bound_event": True})
            first: Event = events[0]
            event_id: Optional[str] = first.id
            data: Any = first.data
            kind: Any = first["type"]
            as_dict: dict[str, Any] = first.to_dict()
            rows: List[Any] = await client.query_events("STREAM e FROM events MAP e.id")
            async for e in client.iter_events("/c", batch_size=10):
                print(e.subject)
            async for row in client.iter_query("STREAM e FROM events MAP e.id"):
                print(row)

            def on_reconnect(info: ReconnectInfo) -> None:
                print(info.attempt, info.last_event_id, info.reason)

            async for e in client.observe_events(
                "/c", {"lower_bound": event_id}, reconnect=True, max_reconnects=3,
                on_reconnect=on_reconnect,
            ):
                break
            try:
                await client.erase_data("/c/1")
            except PreconditionFailedError as err:
                print(err.status, err.precondition_type, err.body, err.route)
            except errors.TimeoutError as err:
                print(err.kind)
            print(pong, data, kind, as_dict, rows, await client.audit())


    def run() -> None:
        with local_server(heartbeat=0.5) as server:
            asyncio.run(main(server))
    '''
)


def _run(args: list[str], cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_mypy_strict_accepts_example(tmp_path):
    path = tmp_path / "example.py"
    path.write_text(EXAMPLE)
    proc = _run(["mypy", "--strict", "--no-incremental", str(path)], str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_rejects_wrong_use(tmp_path):
    path = tmp_path / "wrong.py"
    path.write_text(
        "from genesisdb import Client\n"
        "async def f(c: Client) -> None:\n"
        "    n: int = await c.ping()\n"
    )
    proc = _run(["mypy", "--strict", "--no-incremental", str(path)], str(tmp_path))
    assert proc.returncode != 0 and "incompatible" in proc.stdout.lower(), proc.stdout


def test_stubs_match_runtime(tmp_path):
    proc = _run(["mypy.stubtest", "genesisdb"], str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_itself_passes_mypy_strict(tmp_path):
    # the package's own code type-checks against the native stubs (a stub that drifts from
    # how the Python layer calls the extension fails here)
    proc = _run(["mypy", "--strict", "--no-incremental", "-p", "genesisdb"], str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
