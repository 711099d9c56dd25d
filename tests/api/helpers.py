"""Helpers shared by the end-to-end HTTP tests: waiting for jobs, reading errors, SSE, digits data."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
from PIL import Image

from tests.live_server import LiveServer, wait_for

API_KEY = "test-key-7f3a"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
TERMINAL = {"succeeded", "failed", "cancelled"}
# The three classes the shared composition is made of: 3 and 8 look alike, 0 does not.
CLASSES = (0, 3, 8)
# npz data below MODA_DATASETS_DIR that write_digits_npz writes: digits' classes, other images.
DIGITS_HALF = "digits-half"
_STATUS_LINE = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (5\d\d)')


# Every server the API tests start, so that each test can be checked for 5xx answers.
SERVERS: list[LiveServer] = []


def start_server(home: Path, env: dict[str, str] | None = None) -> LiveServer:
    """A LiveServer on `home`, started, and watched for 5xx answers by tests/api/conftest.py."""
    server = LiveServer(home, env)
    SERVERS.append(server)
    return server.start()


def get_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_job(client: httpx.Client, job_id: str, timeout: float = 180.0) -> dict[str, Any]:
    """Poll a job until it reaches a terminal status; return it."""
    return wait_for(
        lambda: (job := get_job(client, job_id))["status"] in TERMINAL and job,
        timeout=timeout,
        interval=0.25,
        what=f"job {job_id} to finish",
    )


def succeeded(client: httpx.Client, job_id: str, timeout: float = 180.0) -> dict[str, Any]:
    job = wait_job(client, job_id, timeout)
    assert job["status"] == "succeeded", f"job {job_id} ended {job['status']}: {job['error']}"
    return job


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> str:
    """A /v1 error: this status, `{"error": {"code": code, "message": ...}}`, the message naming
    every fragment (case-insensitive). Returns the message."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message, body
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    return message


def assert_v2_error(response: httpx.Response, status: int, *fragments: str) -> str:
    """A /v2 error: the Open Inference Protocol's `{"error": "<message>"}`."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    for fragment in fragments:
        assert fragment.lower() in body["error"].lower(), f"{fragment!r} not in {body['error']!r}"
    return body["error"]


def raw_json(client: httpx.Client, url: str, text: str, **kwargs: Any) -> httpx.Response:
    """POST a JSON text as is (httpx's json= refuses NaN and Infinity, which clients do send)."""
    return client.post(url, content=text.encode(), headers={"content-type": "application/json"}, **kwargs)


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a text/event-stream response, as they arrive."""
    event, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif line == "" and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


def server_errors(server: LiveServer, since: int = 0) -> list[str]:
    """Requests the server answered with a 5xx, from its log. 503 is left aside: the server says it
    on purpose (not ready, the registry unavailable), never for a crash."""
    if not server.log.exists():
        return []
    text = server.log.read_bytes()[since:].decode(errors="replace")
    return [m.group(0) for m in _STATUS_LINE.finditer(text) if m.group(3) != "503"]


def log_size(server: LiveServer) -> int:
    return server.log.stat().st_size if server.log.exists() else 0


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Digits:
    """sklearn's digits test split as the server splits it: raw pixels 0..16, (N, 1, 8, 8)."""

    x_test: np.ndarray
    y_test: np.ndarray
    input_spec: Any

    def of_classes(self, classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        keep = np.isin(self.y_test, classes)
        return self.x_test[keep], self.y_test[keep]


@cache
def digits() -> Digits:
    from service.moda.data.digits import load_digits

    data = load_digits()
    return Digits(data.x_test.numpy(), data.y_test.numpy(), data.input_spec)


def state_dict_bytes(num_classes: int = 10, seed: int = 0, arch: str = "mlp") -> bytes:
    """A freshly initialised `arch` for digits, saved as a plain state dict with torch.save."""
    buffer = io.BytesIO()
    torch.save(_net(num_classes, seed, arch).state_dict(), buffer)
    return buffer.getvalue()


def safetensors_bytes(num_classes: int = 10, seed: int = 0) -> bytes:
    from safetensors.torch import save

    state = _net(num_classes, seed, "mlp").state_dict()
    return save({k: v.contiguous() for k, v in state.items()})


def _net(num_classes: int, seed: int, arch: str) -> torch.nn.Module:
    from service.moda.nets import ArchConfig, build_model

    torch.manual_seed(seed)
    return build_model(ArchConfig(arch, digits().input_spec, num_classes))


def png(pixels: np.ndarray, scale: int = 1) -> bytes:
    """An 8-bit grayscale PNG of a (H, W) image on 0..255, each pixel repeated `scale` times."""
    image = np.kron(pixels.astype(np.uint8), np.ones((scale, scale), dtype=np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def to_8bit(x: np.ndarray) -> np.ndarray:
    """Digits pixels 0..16 -> 0..255 integers (what a PNG holds)."""
    return np.rint(x * 255.0 / 16.0).astype(np.uint8)


def write_tiny_npz(directory: Path) -> None:
    """A 1x4x4, 0..255 dataset of 3 classes (labels x, y, z): an input unlike digits' 1x8x8, 0..16."""
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 3
        x = rng.integers(0, 60, size=(n, 4, 4))
        for c in range(3):  # each class lights up its own row
            x[y == c, c, :] += 180
        return x.astype(np.uint8), y.astype(np.int64)

    x_train, y_train = split(90)
    x_test, y_test = split(30)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(
        directory / "data.npz",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        labels=np.array(["x", "y", "z"]),
    )


def write_digits_npz(directory: Path) -> None:
    """Every other training image of digits, and its test split, as npz data under another name: data
    with digits' classes and input that is not the `digits` dataset, to calibrate digits models on."""
    from service.moda.data.digits import load_digits

    data = load_digits()
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(
        directory / "data.npz",
        x_train=data.x_train.numpy()[::2],
        y_train=data.y_train.numpy()[::2],
        x_test=data.x_test.numpy(),
        y_test=data.y_test.numpy(),
        labels=np.array(data.labels),
    )
