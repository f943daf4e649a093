"""A real `handoff-fsm serve` in a subprocess on 127.0.0.1, for the service tests.

Starts `python -m handoff_fsm.adapters.cli serve` on a free port, waits (bounded) for `/healthz`,
and always stops it (SIGKILL if it does not stop by itself) so no test leaves a server behind.
Tests that need it skip with a reason when the `service` extra is not installed, unless CI is set.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handoff_fsm.adapters.scenario import parse_scenario
from handoff_fsm.config import Config

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0

CONFIG: dict[str, Any] = {
    "settings": {"fallback_limit": 3},
    "participants": {
        "bot-a": {"kind": "bot", "capacity": 100000},
        "rep-1": {"kind": "human", "capacity": 2},
    },
    "queues": {
        "support": {"participants": ["bot-a", "rep-1"]},
        "humans": {"participants": ["rep-1"], "offer_timeout": 1},
    },
}


def center_config() -> Config:
    """`CONFIG` as the Python API takes it."""
    return parse_scenario({**CONFIG, "steps": []}, "config").config


def need_service() -> None:
    """Skip (or, under CI, fail) when the `service` extra is missing."""
    for module in ("starlette", "uvicorn", "prometheus_client", "httpx"):
        try:
            __import__(module)
        except ImportError:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"{module} is not installed (pip install 'handoff-fsm[service,dev]')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One `serve` process on a data directory; `start` again after a stop to restart it."""

    def __init__(self, data: Path, store: str | None = None) -> None:
        self.data = data
        self.store = store  # a postgresql:// URL: `serve --store` instead of the data directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import httpx

        command = [sys.executable, "-m", "handoff_fsm.adapters.cli", "serve"]
        command += ["--data", str(self.data), "--port", str(self.port)]
        command += ["--store", self.store] if self.store else []
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"serve exited with {self.process.returncode}: {stderr}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"serve did not answer /healthz within {START_TIMEOUT} s")

    def kill(self) -> None:
        """`kill -9`: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, and the exit status (SIGKILL and an error if it does not stop in time)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"serve did not stop within {timeout} s of SIGTERM") from None
        self.process = None
        return status


def running(data: Path) -> Iterator[Server]:
    """A started server, killed at teardown whatever happened."""
    need_service()
    server = Server(data)
    server.start()
    try:
        yield server
    finally:
        server.kill()
