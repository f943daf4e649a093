"""`handoff-fsm serve [--data DIR] [--host H] [--port P]`: run the core as an HTTP/JSON service.

Theory of operation: builds the Starlette app of `handoff_fsm.service.app` on the data directory
and runs it under uvicorn, started from Python (no second command to learn). uvicorn handles
SIGTERM and SIGINT: it stops accepting connections and lets the requests in flight finish; this
module wakes the long polls first so that they do not hold the shutdown up; then the app's
lifespan finishes every submitted step, snapshots and closes each center. The service package and
its libraries are imported only here, when `serve` runs, so the rest of the command line stays
fast and works without the `service` extra; without it, `serve` says which extra to install.

Rules: what can be checked before uvicorn starts is, each as one line on standard error and exit
status 2 (no traceback): a data directory another `serve` holds, a center file that is not a
usable store, an address that cannot be listened on (this module binds the socket itself).
With `--store postgresql://...` there is no directory to claim (any number of processes share
the database): a database that cannot be used is that one line instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from handoff_fsm.errors import ErrorCode, HandoffError

if TYPE_CHECKING:
    from starlette.applications import Starlette

HELP = "run the HTTP/JSON service (needs the extra: pip install 'handoff-fsm[service]')"
MISSING_EXTRA = "install handoff-fsm[service] (pip install 'handoff-fsm[service]') to use serve"
MISSING_POSTGRES = (
    "install handoff-fsm[postgresql] (pip install 'handoff-fsm[postgresql]') to use --store"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        default=Path("handoff-data"),
        help="where the centers' SQLite files live (default: ./handoff-data)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keep every center in PostgreSQL (postgresql://...) instead of --data; any number "
        "of serve processes may share it (needs the extra handoff-fsm[postgresql])",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401 - only to say which extra is missing

        from handoff_fsm.service.app import build_app
    except ImportError:
        print(f"handoff-fsm serve: {MISSING_EXTRA}", file=sys.stderr)
        return 2
    if args.store is not None:
        return _serve_postgres(args)
    from handoff_fsm.service.store_center import claim_data_dir

    claimed = claim_data_dir(args.data)  # a StoreError becomes cli.main's one stderr line
    try:
        return _serve(build_app(args.data), _listen(args.host, args.port))
    finally:
        os.close(claimed)


def _serve_postgres(args: argparse.Namespace) -> int:
    """`--store postgresql://...`: no data directory to claim; many processes may share it."""
    from handoff_fsm.service.app import build_app

    if not args.store.startswith(("postgresql://", "postgres://")):
        print("handoff-fsm serve: --store takes a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        from handoff_fsm.service.pg_center import check_database
    except ImportError:
        print(f"handoff-fsm serve: {MISSING_POSTGRES}", file=sys.stderr)
        return 2
    check_database(args.store)  # a StoreError becomes cli.main's one stderr line
    return _serve(build_app(args.data, args.store), _listen(args.host, args.port))


def _serve(app: Starlette, listener: socket.socket) -> int:
    import uvicorn

    service = app.state.service

    class Server(uvicorn.Server):
        """uvicorn's server, waking the long polls as soon as a stop signal comes."""

        loop: asyncio.AbstractEventLoop | None = None

        async def serve(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
            self.loop = asyncio.get_running_loop()
            await super().serve(sockets)  # type: ignore[arg-type]

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            if self.loop is not None:
                self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(service.stop_polls()))

    def stopped(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # uvicorn raises the signal again once it has shut down

    signal.signal(signal.SIGTERM, stopped)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    server = Server(config)
    server.run(sockets=[listener])
    return 0 if server.started else 1


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ListenError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return listener


class ListenError(HandoffError):
    """The address to listen on cannot be used (in use, not this machine's, not allowed)."""

    code = ErrorCode.CANNOT_LISTEN
