"""/healthz, /readyz, /metrics (Prometheus), and the OpenAPI description at /openapi.json and /docs."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.api.conftest import Trained
from tests.api.helpers import CLASSES, digits
from tests.live_server import LiveServer


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name:
            got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if got == wanted:
                return float(match.group(3))
    return None


def test_healthz_and_readyz(anonymous: httpx.Client) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "artifacts": "ok", "storage": "ok"}}


def test_readiness_fails_when_the_disk_runs_low(hub: LiveServer) -> None:
    # A second server on the suite's registry that wants more free space than any disk has.
    env = {"MODA_MIN_FREE_MB": str(10**12), "MODA_WORKERS": "0"}
    with LiveServer(hub.home, env).start(until="/healthz") as low:
        ready = httpx.get(f"{low.url}/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["storage"] == "unavailable"
        assert ready.json()["checks"]["database"] == "ok"
        assert "MODA_MIN_FREE_MB" in low.log.read_text()  # the operator reads how much is free


def test_readiness_fails_while_the_artifact_store_is_gone(anonymous: httpx.Client, hub: LiveServer) -> None:
    artifacts, away = hub.home / "artifacts", hub.home / "artifacts-away"
    artifacts.rename(away)
    try:
        ready = anonymous.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not ready" and body["checks"]["database"] == "ok"
        # Anyone may ask: the answer names the check, never the server's paths or database.
        assert body["checks"]["artifacts"] == "unavailable" and str(hub.home) not in ready.text
        assert f"artifact root {artifacts}" in hub.log.read_text()  # the operator reads why
        v2 = anonymous.get("/v2/health/ready")
        assert v2.status_code == 503 and v2.json() == {"ready": False}
        assert anonymous.get("/healthz").status_code == 200  # alive, just not ready
        assert anonymous.get("/v2/health/live").json() == {"live": True}
    finally:
        away.rename(artifacts)
    assert anonymous.get("/readyz").status_code == 200
    assert anonymous.get("/v2/health/ready").json() == {"ready": True}


def test_metrics_count_jobs_and_session_cache_use(
    anonymous: httpx.Client, trained: Trained, composition: dict[str, Any]
) -> None:
    before = anonymous.get("/metrics")
    assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
    text = before.text
    assert "# TYPE moda_jobs gauge" in text
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        assert metric(text, "moda_jobs", status=status) is not None, status
    succeeded = anonymous.get("/v1/jobs", params={"status": "succeeded", "limit": 1}).json()["total"]
    assert metric(text, "moda_jobs", status="succeeded") == succeeded >= 1
    hits = metric(text, "moda_session_cache_total", result="hit") or 0.0
    misses = metric(text, "moda_session_cache_total", result="miss") or 0.0

    x, _ = digits().of_classes(CLASSES)
    for _ in range(2):
        response = anonymous.post(f"/v1/compositions/{composition['id']}/predict", json={"inputs": x[:2].tolist()})
        assert response.status_code == 200

    after = anonymous.get("/metrics").text
    new_hits = metric(after, "moda_session_cache_total", result="hit") or 0.0
    new_misses = metric(after, "moda_session_cache_total", result="miss") or 0.0
    assert new_misses - misses <= 1  # at most one load of the composition's session
    assert (new_hits - hits) + (new_misses - misses) == 2  # one lookup per predict call
    assert new_hits - hits >= 1


def test_metrics_label_requests_by_route_template_not_by_id(anonymous: httpx.Client, trained: Trained) -> None:
    anonymous.get(f"/v1/jobs/{trained.job['id']}")
    anonymous.get("/v1/jobs/no-such-job")
    text = anonymous.get("/metrics").text
    route = "/v1/jobs/{job_id}"
    assert (metric(text, "moda_http_requests_total", method="GET", route=route, status="200") or 0) >= 1
    assert (metric(text, "moda_http_requests_total", method="GET", route=route, status="404") or 0) >= 1
    assert trained.job["id"] not in text and "no-such-job" not in text  # bounded label values
    assert "moda_http_request_seconds_bucket" in text


def test_openapi_describes_every_endpoint(anonymous: httpx.Client) -> None:
    spec = anonymous.get("/openapi.json").json()
    assert spec["info"]["title"] == "MODA Hub" and spec["openapi"].startswith("3.")
    expected = {
        "/v1/jobs": {"get", "post"},
        "/v1/jobs/{job_id}": {"get"},
        "/v1/jobs/{job_id}/cancel": {"post"},
        "/v1/jobs/{job_id}/events": {"get"},
        "/v1/models": {"get", "post"},
        "/v1/models/{model_id}": {"get"},
        "/v1/models/{model_id}/modules": {"get"},
        "/v1/modules/{module_id}": {"get"},
        "/v1/modules/{module_id}/onnx": {"get"},
        "/v1/compositions": {"get", "post"},
        "/v1/compositions/{composition_id}": {"get"},
        "/v1/compositions/{composition_id}/onnx": {"get"},
        "/v1/compositions/{composition_id}/predict": {"post"},
        "/v1/predict": {"post"},
        "/v2/health/live": {"get"},
        "/v2/health/ready": {"get"},
        "/v2/models/{name}": {"get"},
        "/v2/models/{name}/ready": {"get"},
        "/v2/models/{name}/infer": {"post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), (path, set(spec["paths"][path]))
    upload = spec["paths"]["/v1/models"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    predict = spec["paths"]["/v1/compositions/{composition_id}/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(predict)

    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "swagger" in docs.text.lower() and "/openapi.json" in docs.text


def test_every_reference_in_the_openapi_document_resolves(anonymous: httpx.Client) -> None:
    """Client generators stop at the first dangling $ref (the V2 infer body once pointed at #/$defs)."""
    spec = anonymous.get("/openapi.json").json()
    refs = set(re.findall(r'"\$ref": ?"([^"]+)"', json.dumps(spec)))
    assert refs, "the document references no schema at all"
    schemas = spec["components"]["schemas"]
    dangling = [
        ref for ref in refs if not ref.startswith("#/components/schemas/") or ref.rsplit("/", 1)[1] not in schemas
    ]
    assert dangling == []
    infer = spec["paths"]["/v2/models/{name}/infer"]["post"]
    assert infer["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InferRequestBody"
    }
    assert {"200", "400", "404", "429"} <= set(infer["responses"])
