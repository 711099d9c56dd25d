"""A lean HTTP/1.1 client for measuring a server: pre-encoded requests over keep-alive sockets.

A general client (httpx, requests) spends more CPU per request than the server it measures, on the
same cores. These send bytes prepared once and read back only the status and the body.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field


def http_request(method: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """One HTTP/1.1 request, encoded once and sent as many times as wanted."""
    lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _parse_head(head: bytes) -> tuple[int, int]:
    """(status, content length) of a response head."""
    status_line, *header_lines = head.split(b"\r\n")
    length = 0
    for line in header_lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(status_line.split(b" ", 2)[1]), length


class Connection:
    """A blocking keep-alive connection, for latency measured one request at a time. Servers close
    idle keep-alive connections (uvicorn after 5 s): a request that finds it closed opens another."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self._connect()

    def _connect(self) -> None:
        self.sock = socket.create_connection(self.address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, request: bytes) -> tuple[int, bytes]:
        try:
            return self._exchange(request)
        except (ConnectionError, BrokenPipeError):
            self.sock.close()
            self._connect()
            return self._exchange(request)

    def _exchange(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, length = _parse_head(head)
        while len(self.buffer) < length:
            self.buffer += self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful (2xx) requests
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connections refused, reset or closed mid-request
    seconds: float = 0.0


async def _client(
    host: str, port: int, request: bytes, deadline: float, result: LoadResult, honour_retry_after: bool
) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            started = time.perf_counter()
            writer.write(request)
            status, length = _parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)
            continue
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            result.latencies.append(time.perf_counter() - started)
        elif status == 429 and honour_retry_after:
            await asyncio.sleep(1.0)  # the server's Retry-After, as a well-behaved client waits
    if writer is not None:
        writer.close()


async def _run(host: str, port: int, request: bytes, clients: int, seconds: float, honour: bool) -> LoadResult:
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_client(host, port, request, deadline, result, honour) for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


def load(
    host: str, port: int, request: bytes, clients: int, seconds: float, honour_retry_after: bool = True
) -> LoadResult:
    """`clients` concurrent keep-alive clients sending `request` back to back for `seconds`."""
    try:
        import uvloop  # the benchmark client should cost the shared cores as little as it can

        return uvloop.run(_run(host, port, request, clients, seconds, honour_retry_after))
    except ImportError:
        return asyncio.run(_run(host, port, request, clients, seconds, honour_retry_after))
