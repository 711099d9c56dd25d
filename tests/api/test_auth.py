"""MODA_API_KEY: every mutating endpoint needs `Authorization: Bearer <key>`; reads and inference
stay open unless MODA_AUTH=all. The shared server runs with a key (the restart test's server runs
without one)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import Trained
from tests.api.helpers import API_KEY, AUTH, CLASSES, assert_error, digits, start_server, state_dict_bytes, wait_job
from tests.live_server import LiveServer

MUTATING = [
    ("/v1/jobs", {"json": {"kind": "train", "params": {"epochs": 1}}}),
    ("/v1/jobs/{job_id}/cancel", {}),
    ("/v1/models", {"files": {"file": ("w.pt", b"weights")}, "data": {"arch": "mlp", "dataset": "digits"}}),
    ("/v1/compositions", {"json": {"modules": ["{module_id}"]}}),
    ("/v1/predict", {"json": {"modules": ["{module_id}"], "inputs": [[0.0] * 64]}}),
]
BAD_CREDENTIALS = {
    "none": {},
    "wrong key": {"Authorization": "Bearer not-the-key"},
    "basic scheme": {"Authorization": f"Basic {API_KEY}"},
    "key alone": {"Authorization": API_KEY},
    "prefix of the key": {"Authorization": f"Bearer {API_KEY[:-1]}"},
    "non-ascii key": {"Authorization": "Bearer schlüssel".encode("latin-1")},
}


def fill(path: str, kwargs: dict[str, Any], job_id: str, module_id: str) -> tuple[str, dict[str, Any]]:
    path = path.format(job_id=job_id)
    if "json" in kwargs and "modules" in kwargs["json"]:
        kwargs = {"json": {**kwargs["json"], "modules": [module_id]}}
    return path, kwargs


def counts(client: httpx.Client) -> list[int]:
    """How many jobs, models and compositions there are."""
    return [client.get(p).json()["total"] for p in ("/v1/jobs", "/v1/models", "/v1/compositions")]


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_mutating_endpoints_refuse_missing_or_wrong_keys(
    anonymous: httpx.Client, client: httpx.Client, trained: Trained, credentials: dict[str, Any]
) -> None:
    before = counts(client)
    for path, kwargs in MUTATING:
        url, request = fill(path, kwargs, trained.job["id"], trained.modules[5]["id"])
        response = anonymous.post(url, headers=credentials, **request)
        assert_error(response, 401, "UNAUTHENTICATED", "Authorization: Bearer")
        assert response.headers["www-authenticate"] == "Bearer"
    assert counts(client) == before  # nothing was created


def test_authentication_comes_before_the_body_is_read(anonymous: httpx.Client) -> None:
    """A request without the key is refused as such, whatever its body: never a 422 that tells an
    anonymous caller how to shape its request, and never an upload read to the end first."""
    garbage = {"content": b"{not json", "headers": {"content-type": "application/json"}}
    for path in ("/v1/jobs", "/v1/compositions", "/v1/predict"):
        assert_error(anonymous.post(path, **garbage), 401, "UNAUTHENTICATED")
    no_fields = anonymous.post("/v1/models", files={"other": ("x", b"x")})
    assert_error(no_fields, 401, "UNAUTHENTICATED")


def test_the_key_opens_every_mutating_endpoint(client: httpx.Client, trained: Trained) -> None:
    # Each call is well-formed and authorized; its answer is the endpoint's own, not a 401.
    queued = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1, "name": "auth-probe"}})
    assert queued.status_code == 202, queued.text
    cancelled = client.post(f"/v1/jobs/{queued.json()['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    wait_job(client, queued.json()["id"])  # leave the worker idle for the tests that follow
    upload = client.post(
        "/v1/models",
        files={"file": ("w.pt", state_dict_bytes(num_classes=7))},
        data={"arch": "mlp", "dataset": "digits"},
    )
    assert_error(upload, 400, "INVALID_WEIGHTS")  # checked, so it got past authentication
    composed = client.post("/v1/compositions", json={"modules": trained.module_ids((5,))})
    assert composed.status_code in (200, 201), composed.text
    predicted = client.post("/v1/predict", json={"modules": trained.module_ids((5,)), "inputs": [[0.0] * 64]})
    assert predicted.status_code == 200, predicted.text


def test_reads_and_inference_stay_open(anonymous: httpx.Client, trained: Trained, composition: dict[str, Any]) -> None:
    for path in (
        "/v1/jobs",
        f"/v1/jobs/{trained.job['id']}",
        "/v1/models",
        f"/v1/models/{trained.model['id']}/modules",
        f"/v1/modules/{trained.modules[0]['id']}",
        f"/v1/modules/{trained.modules[0]['id']}/onnx",
        f"/v1/compositions/{composition['id']}",
        f"/v1/compositions/{composition['id']}/onnx",
        f"/v2/models/{composition['id']}",
    ):
        assert anonymous.get(path).status_code == 200, path
    x, _ = digits().of_classes(CLASSES)
    predict = anonymous.post(f"/v1/compositions/{composition['id']}/predict", json={"inputs": x[:3].tolist()})
    assert predict.status_code == 200, predict.text
    infer = anonymous.post(
        f"/v2/models/{composition['id']}/infer",
        json={"inputs": [{"name": "input", "shape": [3, 1, 8, 8], "datatype": "FP32", "data": x[:3].ravel().tolist()}]},
    )
    assert infer.status_code == 200, infer.text


def test_with_auth_all_reads_and_inference_need_the_key_too(
    hub: LiveServer, trained: Trained, composition: dict[str, Any]
) -> None:
    """MODA_AUTH=all: every endpoint but the probes and the docs; a second server on the suite's registry."""
    x = digits().x_test[:1]
    reads = [
        "/v1/models",
        f"/v1/models/{trained.model['id']}",
        "/v1/jobs",
        "/v1/compositions",
        f"/v1/modules/{trained.modules[0]['id']}/onnx",
        f"/v2/models/{composition['id']}",
        "/metrics",
    ]
    infer = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": x.ravel().tolist()}]}
    predictions = [
        (f"/v1/compositions/{composition['id']}/predict", {"inputs": x.tolist()}),
        (f"/v2/models/{composition['id']}/infer", infer),
    ]
    env = {"MODA_API_KEY": API_KEY, "MODA_AUTH": "all", "MODA_WORKERS": "0"}
    with start_server(hub.home, env) as locked, locked.client() as anonymous, locked.client(headers=AUTH) as keyed:
        for path in reads:
            assert anonymous.get(path).status_code == 401, path
            assert keyed.get(path).status_code == 200, path
        for path, body in predictions:
            assert anonymous.post(path, json=body).status_code == 401, path
            assert keyed.post(path, json=body).status_code == 200, path
        for probe in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/openapi.json", "/docs"):
            assert anonymous.get(probe).status_code == 200, probe
