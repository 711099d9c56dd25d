"""A real MODA Hub server in a subprocess (`python -m service serve`), for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import httpx

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`env` overrides the calling shell's variables; a None value unsets one (e.g. MODA_API_KEY)."""

    def __init__(self, home: Path, env: Mapping[str, str | None] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        merged: dict[str, str | None] = {
            **os.environ,
            "MODA_HOME": str(home),
            "MODA_HEARTBEAT_S": "0.5",
            "MODA_STALE_AFTER_S": "5",
            "MODA_POLL_S": "0.2",
            # One API process unless a test asks for more: tests that kill the server expect one.
            "MODA_API_PROCESSES": "1",
            "MODA_ACCESS_LOG": "true",  # tests/api/conftest.py reads the status of every answer there
            **(env or {}),
        }
        self.env = {name: value for name, value in merged.items() if value is not None}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = home / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0, until: str = "/readyz") -> LiveServer:
        """Start the server and wait until `until` answers 200 (/healthz for a server meant to be unready)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}{until}", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def __enter__(self) -> LiveServer:
        """`with LiveServer(home) as server:` starts it (unless started already) and stops it after."""
        return self if self.process is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 60.0, **kwargs})  # type: ignore[arg-type]

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as when a machine or container dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for(predicate: Callable[[], T], timeout: float = 120.0, interval: float = 0.2, what: str = "it") -> T:
    """Poll until `predicate()` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
