"""Command line: ``python -m genesisdb serve ...`` and ``python -m genesisdb demo``."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from typing import List, Optional

from ._types import EventInput, PreconditionInput, StreamOptions
from .client import Client
from .errors import PreconditionFailedError
from .testing import LocalServer


def _serve(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("GENESISDB_AUTH_TOKEN")
    if not token:
        print("error: --token (or GENESISDB_AUTH_TOKEN) is required", file=sys.stderr)
        return 2
    try:
        server = LocalServer(
            token=token,
            data_dir=args.data_dir,
            port=args.port,
            heartbeat=args.heartbeat,
            host=args.host,
        )
    except ValueError as e:  # a bad --port, --heartbeat or --host: a usage error, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        server.start()
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    # SIGTERM (kill, docker stop, systemd) stops as cleanly as Ctrl-C.
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        # The banner is inside the try: a Ctrl-C right after it still stops cleanly.
        print(f"Genesis DB local server listening on {server.url}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        print("stopped", flush=True)
    return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


async def _demo_walkthrough(server: LocalServer) -> None:
    run = uuid.uuid4().hex[:8]
    customer = f"/customer/{run}"
    user = f"/user/{run}"
    async with Client(server.client_config()) as client:
        print(f"ping -> {await client.ping()!r}")

        print(f"\n1. commit two customers to {customer}")
        await client.commit_events(
            [
                {
                    "source": "io.genesisdb.app",
                    "subject": customer,
                    "type": "io.genesisdb.app.customer-added",
                    "data": {"firstName": "Bruce", "lastName": "Wayne"},
                },
                {
                    "source": "io.genesisdb.app",
                    "subject": customer,
                    "type": "io.genesisdb.app.customer-updated",
                    "data": {"firstName": "Bruce", "lastName": "Wayne", "city": "Gotham"},
                },
            ]
        )

        print(f"\n2. stream {customer}")
        events = await client.stream_events(customer)
        for e in events:
            print(f"   {e!r} data={e.data}")

        print("\n3. query with GDBQL")
        try:
            rows = await client.query_events(
                "STREAM e FROM events WHERE e.type == 'io.genesisdb.app.customer-added' "
                "MAP { subject: e.subject, firstName: e.data.firstName }"
            )
            print(f"   rows: {rows}")
        except Exception as e:  # the GDBQL engine may be unavailable in a partial build
            print(f"   query failed: {e}")

        print("\n4. observe while committing")
        received: List[str] = []
        # Observe from the last streamed event (exclusive): nothing committed after it is missed.
        since: StreamOptions = {"lower_bound": events[-1].id}

        async def observe() -> None:
            async for ev in client.observe_events(customer, since):
                received.append(ev.type or "")
                print(f"   observed {ev!r}")
                if len(received) == 2:
                    break

        task = asyncio.ensure_future(observe())
        for n in range(2):
            await client.commit_events(
                [
                    {
                        "source": "io.genesisdb.app",
                        "subject": customer,
                        "type": f"io.genesisdb.app.order-{n}",
                        "data": {"n": n},
                    }
                ]
            )
        await asyncio.wait_for(task, 10)

        print(f"\n5. isSubjectNew precondition and GDPR erase on {user}")
        user_event: EventInput = {
            "source": "io.genesisdb.app",
            "subject": user,
            "type": "io.genesisdb.app.user-created",
            "data": {"firstName": "John", "email": "john.doe@example.com"},
            "options": {"store_data_as_reference": True},
        }
        precondition: List[PreconditionInput] = [
            {"type": "isSubjectNew", "payload": {"subject": user}}
        ]
        await client.commit_events([user_event], precondition)
        try:
            await client.commit_events([user_event], precondition)
        except PreconditionFailedError as e:
            print(f"   second commit refused: HTTP {e.status} ({e.precondition_type})")
        await client.erase_data(user)
        erased = await client.stream_events(user)
        print(f"   after erase: data={erased[0].data}")

        print("\n6. audit")
        print(f"   {await client.audit()}")


def _demo(args: argparse.Namespace) -> int:
    try:
        server = LocalServer(port=args.port)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with server:
        print(f"Genesis DB local server listening on {server.url}")
        asyncio.run(_demo_walkthrough(server))
    print("\ndemo finished; the local server is stopped")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m genesisdb``."""
    parser = argparse.ArgumentParser(
        prog="python -m genesisdb", description="Genesis DB Python SDK tools"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the local Genesis DB v1 server in the foreground")
    serve.add_argument("--port", type=int, default=8080, help="port (0 = any free port)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--token", default=None, help="auth token (or GENESISDB_AUTH_TOKEN)")
    serve.add_argument("--data-dir", default=None, help="keep events in this directory")
    serve.add_argument(
        "--heartbeat", type=float, default=1.0, help="observe heartbeat interval in seconds"
    )
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="start the embedded server and walk through the API")
    demo.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    demo.set_defaults(func=_demo)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
