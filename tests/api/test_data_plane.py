"""The data plane under pressure: 429 past MODA_MAX_INFLIGHT, and a server that keeps answering
while huge bodies and large images are decoded. Second servers share the suite's registry."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.helpers import AUTH, assert_error, digits, png, start_server, to_8bit
from tests.live_server import LiveServer


def rss_mb(server: LiveServer) -> float:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024


@pytest.fixture(scope="module")
def crowded(hub: LiveServer, composition: dict[str, Any]) -> Iterator[LiveServer]:
    """A second server on the suite's registry that admits one inference at a time."""
    env = {"MODA_API_KEY": AUTH["Authorization"].split()[1], "MODA_WORKERS": "0", "MODA_MAX_INFLIGHT": "1"}
    with start_server(hub.home, env) as server:
        yield server


@pytest.fixture(scope="module")
def roomy(hub: LiveServer, composition: dict[str, Any]) -> Iterator[LiveServer]:
    """A second server on the suite's registry with the default body and batch limits, which gives
    up on a request body after 2 s of silence (1 s starves a 150 MB upload on a busy machine)."""
    with start_server(hub.home, {"MODA_WORKERS": "0", "MODA_BODY_TIMEOUT_S": "2"}) as server:
        yield server


def test_inferences_past_the_limit_get_429_with_retry_after(crowded: LiveServer, composition: dict[str, Any]) -> None:
    x, _ = digits().of_classes((0, 3, 8))
    batch = {"inputs": np.resize(x, (400, 1, 8, 8)).tolist()}  # a few ms of decoding each
    url = f"/v1/compositions/{composition['id']}/predict"
    barrier = threading.Barrier(16)

    def ask(_: int) -> httpx.Response:
        with crowded.client() as client:
            barrier.wait()
            return client.post(url, json=batch)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(16)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {200, 429}, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert_error(refused, 429, "OVERLOADED", "MODA_MAX_INFLIGHT")
    with crowded.client() as client:  # every slot was given back
        assert client.post(url, json={"inputs": x[:2].tolist()}).status_code == 200
        v2 = client.post(
            f"/v2/models/{composition['id']}/infer",
            json={"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": x[0].ravel().tolist()}]},
        )
        assert v2.status_code == 200


def read_response(sock: socket.socket) -> str:
    """One whole HTTP response (head and Content-Length body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return (head + b"\r\n\r\n" + body).decode()


def _responsive_while(work: Any, server: LiveServer, composition: dict[str, Any]) -> tuple[Any, float]:
    """Run `work()` in a thread; meanwhile /healthz and a one-sample prediction must keep answering.
    Returns what `work` returned and the slowest of those answers, in seconds."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    x, _ = digits().of_classes((0,))
    slowest = 0.0
    with server.client(timeout=10) as client:
        thread.start()
        while thread.is_alive() or not result:
            for url, body in (("/healthz", None), (f"/v1/compositions/{composition['id']}/predict", x[:1].tolist())):
                started = time.perf_counter()
                answer = client.get(url) if body is None else client.post(url, json={"inputs": body})
                slowest = max(slowest, time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
            time.sleep(0.05)
    thread.join()
    return result[0], slowest


def test_a_150_mb_body_is_refused_without_stalling_anyone(roomy: LiveServer, composition: dict[str, Any]) -> None:
    huge = b'{"inputs": [[' + b"0," * (75 * 1024 * 1024) + b"0]]}"  # 150 MB of zeros
    before = rss_mb(roomy)

    def send() -> httpx.Response:
        with roomy.client(timeout=120) as client:
            url = f"/v1/compositions/{composition['id']}/predict"
            return client.post(url, content=huge, headers={"content-type": "application/json"})

    answer, slowest = _responsive_while(send, roomy, composition)
    assert_error(answer, 400, "INVALID_ARGUMENT", "more than", "values")
    assert slowest < 2.0, f"a request waited {slowest:.1f} s behind the huge body"
    assert rss_mb(roomy) < before + 400  # the body itself, never the 75 million Python numbers


def test_large_images_decode_without_stalling_anyone(roomy: LiveServer, composition: dict[str, Any]) -> None:
    x, _ = digits().of_classes((3,))
    big = png(to_8bit(x[0, 0]), scale=512)  # 4096 x 4096 pixels, a few KB of PNG
    files = [("files", (f"big-{i}.png", big, "image/png")) for i in range(24)]

    def send() -> httpx.Response:
        with roomy.client(timeout=120) as client:
            return client.post(f"/v1/compositions/{composition['id']}/predict", files=files)

    answer, slowest = _responsive_while(send, roomy, composition)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 24
    assert slowest < 2.0, f"a request waited {slowest:.1f} s behind the image decoding"


@pytest.mark.parametrize("path", ["/v1/compositions/{id}/predict", "/v2/models/{id}/infer", "/v1/jobs"])
def test_a_body_that_stalls_midway_gets_408_and_frees_its_slot(
    roomy: LiveServer, composition: dict[str, Any], path: str
) -> None:
    head = (
        f"POST {path.format(id=composition['id'])} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", roomy.port), timeout=10) as sock:
        started = time.perf_counter()
        sock.sendall(head + b'{"inputs": [[0, 0, ')  # ... and nothing more
        answer = read_response(sock)
        waited = time.perf_counter() - started
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "REQUEST_TIMEOUT" in answer or "stalled" in answer
    assert 1.9 < waited < 8.0
    with roomy.client() as client:  # the slot the stalled request held is free again
        assert client.get("/healthz").status_code == 200


def test_data_plane_routes_answer_only_post_and_are_measured(
    client: httpx.Client, anonymous: httpx.Client, composition: dict[str, Any]
) -> None:
    url = f"/v1/compositions/{composition['id']}/predict"
    wrong = client.get(url)
    assert_error(wrong, 405, "INVALID_ARGUMENT")
    assert wrong.headers["allow"] == "POST"
    assert client.post(url, json={"inputs": digits().x_test[:1].tolist()}).status_code == 200
    metrics = anonymous.get("/metrics").text
    assert 'route="/v1/compositions/{composition_id}/predict",status="200"' in metrics
    assert "moda_inferences_in_flight" in metrics


def counter(anonymous: httpx.Client, name: str) -> float:
    found = re.search(rf"^{name}(?:_total)? (\S+)$", anonymous.get("/metrics").text, re.MULTILINE)
    assert found, f"{name} is not in /metrics"
    return float(found.group(1))


def test_concurrent_requests_each_get_their_own_answer_however_they_are_merged(
    client: httpx.Client, anonymous: httpx.Client, composition: dict[str, Any]
) -> None:
    url = f"/v1/compositions/{composition['id']}/predict"
    x = digits().x_test[:24]
    bodies = [{"inputs": x[i : i + 1 + i % 3].tolist()} for i in range(0, 24, 3)]  # 1 to 3 samples each
    expected = [client.post(url, json=body).json()["predictions"] for body in bodies]  # one at a time
    runs, answered = counter(anonymous, "moda_batches_run"), counter(anonymous, "moda_batched_requests")

    def predict(body: dict[str, Any]) -> list[dict[str, Any]]:
        response = client.post(url, json=body)
        assert response.status_code == 200, response.text
        return response.json()["predictions"]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            for got, want in zip(pool.map(predict, bodies), expected, strict=True):
                assert [p["label"] for p in got] == [p["label"] for p in want]
                for g, w in zip(got, want, strict=True):
                    assert g["probabilities"] == pytest.approx(w["probabilities"], abs=1e-5)
    runs_now, answered_now = counter(anonymous, "moda_batches_run"), counter(anonymous, "moda_batched_requests")
    assert answered_now - answered >= runs_now - runs > 0  # a merged run answers several requests at once


def test_small_requests_run_on_the_event_loop_once_known_quick_and_answer_the_same(
    client: httpx.Client, anonymous: httpx.Client, composition: dict[str, Any]
) -> None:
    x = digits().x_test[:2]
    v1 = (f"/v1/compositions/{composition['id']}/predict", {"inputs": x.tolist()})
    tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
    v2 = (f"/v2/models/{composition['id']}/infer", {"inputs": [tensor]})
    for url, body in (v1, v2):
        before = counter(anonymous, "moda_inferences_inline")
        answers = [client.post(url, json=body) for _ in range(3)]
        assert [a.status_code for a in answers] == [200] * 3, answers[0].text
        assert answers[0].json() == answers[1].json() == answers[2].json()
        assert counter(anonymous, "moda_inferences_inline") - before >= 2, (
            f"{url}: the first call, at most, takes a thread"
        )
