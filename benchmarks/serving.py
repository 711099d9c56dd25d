"""Serving speed: bare ONNX Runtime against the live server, side by side in interleaved rounds.

    python -m benchmarks.serving --data-dir ../shared/datasets/mnist --json benchmarks/results/serving.json

Starts `moda serve` with its default settings on a home of its own, trains (or reuses, by name) a
MODA MobileNet and a LeNet5 on MNIST through the HTTP API, composes 2-, 3- and 10-class
compositions of each, and measures, every round measuring ORT and the server one after the other:

- bare ORT (the server's session options) per composition and for the full model: batch-1 p50
  latency and batch-64 images/s, the MAC ratio and the speed-up over the full model;
- the server: /v1 JSON and V2 binary batch-1 p50 overhead over bare ORT, batch-64 throughput ratio;
- 16 concurrent batch-1 clients for 10 s (images/s, p50/p99, errors, server CPU per request, ratio
  to ORT's single-thread batch-1 rate) and 200 concurrent clients for 30 s (errors, 429s, server RSS);
- every served probability against bare ORT's.

Figures are medians over rounds; the JSON keeps every round.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import orjson
from tqdm import tqdm

from benchmarks.http_load import Connection, http_request, load
from benchmarks.output import write_json
from service.moda.data import load_dataset
from service.serving.predictions import softmax
from service.serving.sessions import INPUT_NAME, OUTPUT_NAME, PROVIDERS, session_options

HOST = "127.0.0.1"
SUBSETS = {"2-class": (0, 1), "3-class": (0, 3, 8), "10-class": tuple(range(10))}
JSON_HEADERS = {"Content-Type": "application/json"}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def timed(run: Callable[[], object], seconds: float, at_least: int = 20) -> list[float]:
    """Wall seconds of each call of `run`, repeated for about `seconds` (one warm-up call first)."""
    run()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < at_least or time.perf_counter() < deadline:
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


# -- the server ---------------------------------------------------------------------------------


class Server:
    """`python -m service serve` as a user starts it; its process tree is measured through /proc."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.url = f"http://{HOST}:{port}"
        env = {**os.environ, "MODA_HOME": str(home)}
        self.log = open(home / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--host", HOST, "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.3)
        raise RuntimeError(f"the server did not start; see {home / 'server.log'}")

    def pids(self) -> list[int]:
        """The supervisor and every process below it."""
        tree, frontier = [], [self.process.pid]
        while frontier:
            pid = frontier.pop()
            tree.append(pid)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            frontier += [int(c) for c in children]
        return tree

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the whole tree so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0)
        return total / 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def ensure_model(client: httpx.Client, arch: str, epochs: int, dataset: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The model `bench-<arch>` of an earlier run on this home, or a new one trained through the API."""
    name = f"bench-{arch}"
    found = client.get("/v1/models", params={"name": name}).json()["items"]
    if found:
        if found[0]["input_spec"] != spec:
            raise SystemExit(f"{name} on this --home was trained on other data than {dataset}: use another --home")
        return found[0]
    params = {"dataset": dataset, "arch": arch, "epochs": epochs, "name": name, "seed": 0}
    job = client.post("/v1/jobs", json={"kind": "train", "params": params}).json()
    bar = tqdm(total=epochs, desc=f"train {arch} (MODA, {dataset})", unit="epoch", file=sys.stderr)
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(1)
        job = client.get(f"/v1/jobs/{job['id']}").json()
        bar.n = int(job["progress"].get("epoch", bar.n))
        bar.refresh()
    bar.close()
    if job["status"] != "succeeded":
        raise RuntimeError(f"training {arch} {job['status']}: {job['error']}")
    return client.get(f"/v1/models/{job['result']['model_id']}").json()


def compose(client: httpx.Client, model: dict[str, Any], classes: tuple[int, ...]) -> dict[str, Any]:
    modules = client.get(f"/v1/models/{model['id']}/modules", params={"limit": 1000}).json()["items"]
    chosen = [m["id"] for m in modules if m["class_index"] in classes]
    response = client.post("/v1/compositions", json={"modules": chosen})
    response.raise_for_status()
    return response.json()


def ort_session(onnx: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(onnx, session_options(), providers=PROVIDERS)


# -- one model's measurements ---------------------------------------------------------------------


@dataclass
class Target:
    """A composition (or the full model) served by both bare ORT and the server."""

    name: str
    session: ort.InferenceSession
    path: str | None  # the server's /v1 predict path; None for the full model
    v2_path: str | None
    macs: int
    served_macs: int


def v1_body(batch: np.ndarray) -> bytes:
    return orjson.dumps({"inputs": batch.reshape(len(batch), -1)}, option=orjson.OPT_SERIALIZE_NUMPY)


def v1_request(path: str, batch: np.ndarray) -> bytes:
    return http_request("POST", path, v1_body(batch), JSON_HEADERS)


def v2_binary_body(batch: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """A V2 request with the input and the `probabilities` output as binary tensors, as tritonclient sends."""
    raw = np.ascontiguousarray(batch, dtype="<f4").tobytes()
    tensor = {
        "name": "input",
        "shape": list(batch.shape),
        "datatype": "FP32",
        "parameters": {"binary_data_size": len(raw)},
    }
    wanted = {"name": "probabilities", "parameters": {"binary_data": True}}
    header = orjson.dumps({"inputs": [tensor], "outputs": [wanted]})
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    return header + raw, headers


def v2_binary_request(path: str, batch: np.ndarray) -> bytes:
    body, headers = v2_binary_body(batch)
    return http_request("POST", path, body, headers)


def after_idle(run: Callable[[], object], seconds: float, pause_s: float = 0.001) -> list[float]:
    """Wall seconds of `run` called after a pause each time, as a server between one client's requests
    sees it: caches and the core cool down in between."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 20 or time.perf_counter() < deadline:
        time.sleep(pause_s)
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def ort_round(target: Target, one: np.ndarray, batch: np.ndarray, seconds: float) -> dict[str, float]:
    run = target.session.run
    b1 = timed(lambda: run([OUTPUT_NAME], {INPUT_NAME: one}), seconds)
    b1_idle = after_idle(lambda: run([OUTPUT_NAME], {INPUT_NAME: one}), seconds / 2)
    b16 = timed(lambda: run([OUTPUT_NAME], {INPUT_NAME: batch[:16]}), seconds / 2)
    b64 = timed(lambda: run([OUTPUT_NAME], {INPUT_NAME: batch}), seconds)
    return {
        "b1_p50_ms": 1e3 * statistics.median(b1),
        "b1_after_idle_p50_ms": 1e3 * statistics.median(b1_idle),
        "b1_img_s": len(b1) / sum(b1),
        "b16_img_s": 16 * len(b16) / sum(b16),
        "b64_img_s": 64 * len(b64) / sum(b64),
    }


def server_round(conn: Connection, target: Target, one: np.ndarray, batch: np.ndarray, seconds: float) -> dict:
    assert target.path is not None and target.v2_path is not None
    requests = {
        "v1_json_b1": v1_request(target.path, one),
        "v2_binary_b1": v2_binary_request(target.v2_path, one),
        "v1_json_b64": v1_request(target.path, batch),
        "v2_binary_b64": v2_binary_request(target.v2_path, batch),
    }
    out = {}
    for key, request in requests.items():

        def send(request: bytes = request, key: str = key) -> None:
            status, body = conn.send(request)
            if status != 200:
                raise RuntimeError(f"{key}: HTTP {status}: {body[:300]!r}")

        times = timed(send, seconds if key.endswith("b1") else seconds / 2)
        if key.endswith("b1"):
            out[f"{key}_p50_ms"] = 1e3 * statistics.median(times)
        else:
            out[f"{key}_img_s"] = 64 * len(times) / sum(times)
    return out


def exactness(client: httpx.Client, target: Target, batch: np.ndarray) -> float:
    """Largest |server probability − bare ORT softmax| over `batch`, /v1 JSON and V2 binary alike."""
    assert target.path is not None and target.v2_path is not None
    (logits,) = target.session.run([OUTPUT_NAME], {INPUT_NAME: batch})
    expected = softmax(logits.astype(np.float64))  # (N, K)
    v1 = client.post(target.path, content=v1_body(batch), headers=JSON_HEADERS)
    v1.raise_for_status()
    from_v1 = np.array([list(p["probabilities"].values()) for p in v1.json()["predictions"]])
    body, headers = v2_binary_body(batch)
    v2 = client.post(target.v2_path, content=body, headers=headers)
    v2.raise_for_status()
    from_v2 = np.frombuffer(v2.content[int(v2.headers["Inference-Header-Content-Length"]) :], dtype="<f4")
    return float(max(np.abs(from_v1 - expected).max(), np.abs(from_v2.reshape(expected.shape) - expected).max()))


def concurrency_round(server: Server, target: Target, one: np.ndarray, clients: int, seconds: float) -> dict:
    assert target.path is not None
    cpu = server.cpu_seconds()
    result = load(HOST, server.port, v1_request(target.path, one), clients, seconds)
    cpu = server.cpu_seconds() - cpu
    done = len(result.latencies)
    return {
        "img_s": done / result.seconds,
        "p50_ms": 1e3 * percentile(result.latencies, 50),
        "p99_ms": 1e3 * percentile(result.latencies, 99),
        "errors": result.errors + sum(n for s, n in result.statuses.items() if s != 200),
        "server_cpu_ms_per_request": 1e3 * cpu / max(done, 1),
    }


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def measure_model(
    server: Server, client: httpx.Client, model: dict[str, Any], x: np.ndarray, args: argparse.Namespace
) -> dict[str, Any]:
    full = Target(
        "full",
        ort_session(client.get(f"/v1/models/{model['id']}/onnx").content),
        None,
        None,
        model["metrics"]["macs"],
        model["metrics"]["macs"],
    )
    targets = [full]
    for subset, classes in SUBSETS.items():
        c = compose(client, model, classes)
        onnx = client.get(f"/v1/compositions/{c['id']}/onnx").content
        path, v2 = f"/v1/compositions/{c['id']}/predict", f"/v2/models/{c['id']}/infer"
        targets.append(Target(subset, ort_session(onnx), path, v2, c["macs"], c["metrics"]["served_macs"]))
    one, batch = x[:1], x[:64]
    conn = Connection(HOST, server.port)
    rounds: dict[str, list[dict[str, float]]] = {t.name: [] for t in targets}
    bar = tqdm(total=args.rounds, desc=f"{model['arch']}: ORT vs server", unit="round", file=sys.stderr)
    for _ in range(args.rounds):
        for target in targets:
            row = ort_round(target, one, batch, args.seconds)
            if target.path is not None:
                row |= server_round(conn, target, one, batch, args.seconds)
            rounds[target.name].append(row)
        bar.update(1)
    bar.close()

    result: dict[str, Any] = {"model_id": model["id"], "arch": model["arch"], "compositions": {}}
    full_rounds = rounds["full"]
    result["full"] = median_of(full_rounds)
    for target in targets[1:]:
        per_round = []
        for mine, whole in zip(rounds[target.name], full_rounds, strict=True):
            per_round.append(
                mine
                | {
                    "speedup_b64": mine["b64_img_s"] / whole["b64_img_s"],
                    "v1_json_b1_overhead_ms": mine["v1_json_b1_p50_ms"] - mine["b1_p50_ms"],
                    "v2_binary_b1_overhead_ms": mine["v2_binary_b1_p50_ms"] - mine["b1_p50_ms"],
                    "v1_json_b1_overhead_after_idle_ms": mine["v1_json_b1_p50_ms"] - mine["b1_after_idle_p50_ms"],
                    "v1_json_b64_ratio": mine["v1_json_b64_img_s"] / mine["b64_img_s"],
                    "v2_binary_b64_ratio": mine["v2_binary_b64_img_s"] / mine["b64_img_s"],
                    "ort_b16_over_b1": mine["b16_img_s"] / mine["b1_img_s"],
                }
            )
        medians = median_of(per_round)
        mac_bound = model["metrics"]["macs"] / target.macs
        summary: dict[str, object] = medians | {
            "mac_ratio": target.macs / model["metrics"]["macs"],
            "served_mac_ratio": target.served_macs / model["metrics"]["macs"],
            "mac_bound_speedup": mac_bound,
            "speedup_of_mac_bound": medians["speedup_b64"] / mac_bound,
            "max_abs_prob_diff": exactness(client, target, x[:64]),
            "rounds": per_round,
        }
        result["compositions"][target.name] = summary

    three = targets[2]
    concurrent = []
    for _ in range(args.rounds):
        ort_rate = ort_round(three, one, batch, args.seconds)["b1_img_s"]
        row = concurrency_round(server, three, one, 16, args.concurrency_s)
        concurrent.append(row | {"ort_b1_img_s": ort_rate, "ratio_to_ort_b1": row["img_s"] / ort_rate})
    result["concurrent_16"] = median_of(concurrent) | {"rounds": concurrent}
    conn.close()
    return result


def flood(server: Server, path: str, one: np.ndarray, seconds: float) -> dict[str, Any]:
    """200 concurrent clients; a 429 is answered by waiting its Retry-After, as clients should."""
    rss_before = server.rss_mb()
    result = load(HOST, server.port, v1_request(path, one), 200, seconds)
    time.sleep(1)
    return {
        "requests_ok": result.statuses.get(200, 0),
        "status_429": result.statuses.get(429, 0),
        "errors": result.errors + sum(n for s, n in result.statuses.items() if s not in (200, 429)),
        "rss_before_mb": rss_before,
        "rss_after_mb": server.rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "digits"])
    parser.add_argument("--data-dir", help="directory holding MNIST's IDX files (for --dataset mnist)")
    parser.add_argument("--home", default="benchmarks/out/serving-home", help="server home; models are reused")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mobilenet-epochs", type=int, default=5)
    parser.add_argument("--lenet-epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement per round")
    parser.add_argument("--concurrency-s", type=float, default=10.0)
    parser.add_argument("--flood-s", type=float, default=30.0)
    parser.add_argument("--json", default="-")
    args = parser.parse_args(argv)

    if args.dataset == "mnist" and args.data_dir is None:
        parser.error("--dataset mnist needs --data-dir")
    home = Path(args.home).resolve()
    (home / "datasets").mkdir(parents=True, exist_ok=True)
    link = home / "datasets" / args.dataset
    if args.data_dir is not None and not link.exists():
        link.symlink_to(Path(args.data_dir).resolve(), target_is_directory=True)
    data = load_dataset(args.dataset, args.data_dir)
    x = data.x_test.numpy().astype(np.float32)  # (N, C, H, W) raw pixels
    spec = orjson.loads(orjson.dumps(data.input_spec.to_dict()))  # as the API spells it: lists, not tuples

    server = Server(home, args.port)
    try:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            models = {
                "mobilenet": ensure_model(client, "mobilenet", args.mobilenet_epochs, args.dataset, spec),
                "lenet5": ensure_model(client, "lenet5", args.lenet_epochs, args.dataset, spec),
            }
            result: dict[str, Any] = {"dataset": args.dataset, "cpu_count": os.cpu_count(), "rounds": args.rounds}
            for arch, model in models.items():
                result[arch] = measure_model(server, client, model, x, args)
            mobilenet3 = compose(client, models["mobilenet"], SUBSETS["3-class"])
            result["flood_200"] = flood(server, f"/v1/compositions/{mobilenet3['id']}/predict", x[:1], args.flood_s)
    finally:
        server.stop()
    write_json(result, args.json)
    print_summary(result)


def print_summary(result: dict[str, Any]) -> None:
    print(
        f"{'model':<10}{'subset':<10}{'MAC':>6}{'speedup':>9}{'of bound':>9}{'v1 +ms':>8}{'(idle)':>8}"
        f"{'v2 +ms':>8}{'v1 b64':>8}{'v2 b64':>8}",
        file=sys.stderr,
    )
    for arch in ("mobilenet", "lenet5"):
        for subset, c in result[arch]["compositions"].items():
            print(
                f"{arch:<10}{subset:<10}{c['mac_ratio']:>6.2f}{c['speedup_b64']:>9.2f}{c['speedup_of_mac_bound']:>9.2f}"
                f"{c['v1_json_b1_overhead_ms']:>8.2f}{c['v1_json_b1_overhead_after_idle_ms']:>8.2f}"
                f"{c['v2_binary_b1_overhead_ms']:>8.2f}"
                f"{c['v1_json_b64_ratio']:>8.2f}{c['v2_binary_b64_ratio']:>8.2f}",
                file=sys.stderr,
            )
        c16 = result[arch]["concurrent_16"]
        print(
            f"{arch}: 16 clients {c16['img_s']:.0f} img/s = {c16['ratio_to_ort_b1']:.2f}x ORT b1, "
            f"p99 {c16['p99_ms']:.1f} ms, {c16['server_cpu_ms_per_request']:.2f} ms CPU/request",
            file=sys.stderr,
        )
    print(f"flood: {result['flood_200']}", file=sys.stderr)


if __name__ == "__main__":
    main()
