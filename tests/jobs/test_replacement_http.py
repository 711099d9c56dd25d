"""Module replacement and cross-model compositions, end to end through the HTTP API.

A weak digits model sees only 3% of the training samples of class 3; a strong model sees all.
Replacing the weak model's class 3 with the strong model's module must raise that class's
accuracy, and the result must be served like any composition (/v1 and the V2 protocol).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from modules_store import RegistryStore, open_store
from service.moda.data import load_dataset
from service.moda.nets import ArchConfig, build_model
from tests.api.helpers import DIGITS_HALF, succeeded, wait_job, write_digits_npz, write_tiny_npz
from tests.live_server import LiveServer

TARGET = 3
TINY = "tiny"  # npz data of another input (1×4×4, 0..255) and other classes


def finished(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    """The job once it has succeeded (it must)."""
    return succeeded(client, job["id"], timeout=240.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("replace-home")
    datasets = home / "datasets"
    write_digits_npz(datasets / DIGITS_HALF)
    write_tiny_npz(datasets / TINY)
    with LiveServer(home, {"MODA_DATASETS_DIR": str(datasets)}) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def queue(server: LiveServer) -> Iterator[RegistryStore]:
    """The server's registry, to queue jobs as other means than its API would (its workers poll it)."""
    store = open_store(f"sqlite:///{server.home / 'registry.db'}")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def models(client: httpx.Client) -> dict[str, str]:
    weak_params = {
        "epochs": 6,
        "alpha": 0,
        "beta": 0,
        "gamma": 0,
        "train_fraction": {str(TARGET): 0.03},
        "name": "weak",
    }
    weak = client.post("/v1/jobs", json={"kind": "train", "params": weak_params}).json()
    strong = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 8, "name": "strong"}}).json()
    return {
        "weak": finished(client, weak)["result"]["model_id"],
        "strong": finished(client, strong)["result"]["model_id"],
    }


def modules_of(client: httpx.Client, model_id: str) -> list[dict[str, Any]]:
    return client.get(f"/v1/models/{model_id}/modules").json()["items"]


def digits_test_samples(labels: list[str]) -> tuple[list[Any], np.ndarray]:
    data = load_dataset("digits")
    keep = np.isin(data.y_test.numpy(), [int(label) for label in labels])
    return data.x_test[keep].tolist(), data.y_test.numpy()[keep]


def test_replacement_repairs_the_weak_class(client: httpx.Client, models: dict[str, str]) -> None:
    donor = modules_of(client, models["strong"])[TARGET]
    params = {"model_id": models["weak"], "target_class": TARGET, "module_id": donor["id"]}
    job = client.post("/v1/jobs", json={"kind": "replace", "params": params})
    assert job.status_code == 202
    result = finished(client, job.json())["result"]

    target = result["target_class"]
    assert target["label"] == str(TARGET)
    assert target["after"] >= target["before"] + 20.0, target  # 3% of the data left class 3 weak
    assert result["other_classes"]["after"] >= result["other_classes"]["before"] - 2.0

    composition = client.get(f"/v1/compositions/{result['composition_id']}").json()
    assert composition["strategy"] == "replace"
    sources = {c["label"]: c["model_id"] for c in composition["classes"]}
    assert sources[str(TARGET)] == models["strong"]
    assert {m for label, m in sources.items() if label != str(TARGET)} == {models["weak"]}

    # The served composition predicts class 3 far better than the weak model's own composition did.
    inputs, truth = digits_test_samples([str(TARGET)])
    predictions = client.post(f"/v1/compositions/{composition['id']}/predict", json={"inputs": inputs}).json()
    served = np.mean([p["label"] == str(TARGET) for p in predictions["predictions"]]) * 100
    assert served == pytest.approx(target["after"], abs=0.01)
    assert len(truth) == len(inputs)

    v2 = client.post(
        f"/v2/models/{composition['id']}/infer",
        json={
            "inputs": [
                {
                    "name": "input",
                    "shape": [len(inputs), 1, 8, 8],
                    "datatype": "FP32",
                    "data": np.asarray(inputs, dtype=np.float32).ravel().tolist(),
                }
            ]
        },
    )
    assert v2.status_code == 200
    logits = {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in v2.json()["outputs"]}["logits"]
    position = [c["label"] for c in composition["classes"]].index(str(TARGET))
    assert np.mean(logits.argmax(1) == position) * 100 == pytest.approx(served, abs=0.01)


def test_a_replacement_calibrated_on_other_data_is_another_composition(
    client: httpx.Client, models: dict[str, str]
) -> None:
    donor = modules_of(client, models["strong"])[TARGET]
    params = {"model_id": models["weak"], "target_class": TARGET, "module_id": donor["id"]}

    def replaced(data: dict[str, str]) -> str:
        job = client.post("/v1/jobs", json={"kind": "replace", "params": params | data})
        assert job.status_code == 202, job.text
        return finished(client, job.json())["result"]["composition_id"]

    own = replaced({})  # the weak model's own data, digits
    assert replaced({"dataset": "digits"}) == own
    other = replaced({"dataset": "npz", "data_dir": DIGITS_HALF})
    assert other != own
    assert client.get(f"/v1/compositions/{other}").json()["strategy"] == "replace"


def test_replacement_refuses_a_module_of_another_class(
    client: httpx.Client, queue: RegistryStore, models: dict[str, str]
) -> None:
    wrong = modules_of(client, models["strong"])[TARGET + 1]
    params = {"model_id": models["weak"], "target_class": TARGET, "module_id": wrong["id"]}
    before = client.get("/v1/jobs").json()["total"]
    refused = client.post("/v1/jobs", json={"kind": "replace", "params": params})
    assert refused.status_code == 400 and "is of class '4'" in refused.json()["error"]["message"], refused.text
    assert client.get("/v1/jobs").json()["total"] == before  # refused at submit: nothing queued
    # Queued by other means than the API, the job checks for itself and fails with the same message.
    job = finished_or_failed(client, queued(queue, "replace", params))
    assert job["status"] == "failed"
    assert job["error"] == job_error(refused)


def test_jobs_queued_by_other_means_refuse_data_of_another_input(
    client: httpx.Client, queue: RegistryStore, models: dict[str, str]
) -> None:
    # TINY holds 1×4×4 images on 0..255: the jobs fail naming both inputs, not with a shape error.
    weak, strong = modules_of(client, models["weak"]), modules_of(client, models["strong"])
    other = {"dataset": "npz", "data_dir": TINY}
    calibrate = {"module_ids": [weak[0]["id"], strong[TARGET]["id"]], **other}
    replace = {"model_id": models["weak"], "target_class": TARGET, "module_id": strong[TARGET]["id"], **other}
    for kind, params in (("calibrate", calibrate), ("replace", replace)):
        refused = client.post("/v1/jobs", json={"kind": kind, "params": params})
        assert refused.status_code == 400, refused.text
        job = finished_or_failed(client, queued(queue, kind, params))
        assert job["status"] == "failed"
        assert job["error"] == job_error(refused)
        assert "1×4×4 pixels on a 0..255 scale" in job["error"] and "1×8×8" in job["error"], job["error"]


def job_error(refused: httpx.Response) -> str:
    """The error a failed job records for the error the API answered with."""
    error = refused.json()["error"]
    return f"{error['code']}: {error['message']}"


def queued(queue: RegistryStore, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` queued as a `kind` job straight into the registry, past the API's checks."""
    return {"id": queue.create_job(kind, params, max_attempts=1).id}


def finished_or_failed(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    return wait_job(client, job["id"], timeout=60)


def test_cross_model_composition_is_calibrated_by_a_job_and_served_over_v2(
    client: httpx.Client, models: dict[str, str]
) -> None:
    weak, strong = modules_of(client, models["weak"]), modules_of(client, models["strong"])
    selection = [weak[0]["id"], weak[1]["id"], strong[TARGET]["id"]]
    response = client.post("/v1/compositions", json={"modules": selection})
    assert response.status_code == 202  # several models: calibrated by a job
    assert response.headers["location"] == f"/v1/jobs/{response.json()['id']}"
    composition_id = finished(client, response.json())["result"]["composition_id"]

    again = client.post("/v1/compositions", json={"modules": list(reversed(selection))})
    assert again.status_code == 200 and again.json()["id"] == composition_id
    composition = again.json()
    assert composition["strategy"] == "calibrated"
    order = [(c["model_id"], c["class_index"]) for c in composition["classes"]]
    assert order == sorted(order)  # by source model, then class: independent of the request's order
    assert composition["accuracy"] >= 90.0

    metadata = client.get(f"/v2/models/{composition_id}").json()
    assert metadata["outputs"][0]["shape"] == [-1, 3]
    inputs, truth = digits_test_samples(["0", "1", str(TARGET)])
    body = {
        "inputs": [
            {
                "name": "input",
                "shape": [len(inputs), 64],
                "datatype": "FP32",
                "data": np.asarray(inputs, dtype=np.float32).ravel().tolist(),
            }
        ],
        "outputs": [{"name": "probabilities"}],
    }
    out = client.post(f"/v2/models/{composition_id}/infer", json=body).json()["outputs"][0]
    probabilities = np.asarray(out["data"]).reshape(out["shape"])
    labels = np.array([int(c["label"]) for c in composition["classes"]])
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert np.mean(labels[probabilities.argmax(1)] == truth) >= 0.9


def test_uncalibrated_cross_model_composition_on_request(client: httpx.Client, models: dict[str, str]) -> None:
    weak, strong = modules_of(client, models["weak"]), modules_of(client, models["strong"])
    response = client.post(
        "/v1/compositions", json={"modules": [weak[5]["id"], strong[6]["id"]], "calibration": "none"}
    )
    assert response.status_code == 201
    assert response.json()["strategy"] == "concat"
    assert {c["model_id"] for c in response.json()["classes"]} == {models["weak"], models["strong"]}


def test_a_model_of_some_classes_can_be_modularized_again(client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 2, "classes": [3, 7], "name": "pair"}})
    model_id = finished(client, job.json())["result"]["model_id"]
    assert client.get(f"/v1/models/{model_id}").json()["labels"] == ["3", "7"]
    again = client.post("/v1/jobs", json={"kind": "modularize", "params": {"model_id": model_id, "tau": 0.5}})
    assert again.status_code == 202
    # Asked again while it is queued or running: the same job, not five more doing the same split.
    repeats = [
        client.post("/v1/jobs", json={"kind": "modularize", "params": {"model_id": model_id, "tau": 0.5}})
        for _ in range(5)
    ]
    assert {r.json()["id"] for r in repeats if r.status_code == 202} <= {again.json()["id"]}
    assert all(r.status_code == 202 or r.json()["error"]["code"] == "ALREADY_EXISTS" for r in repeats)
    finished(client, again.json())
    jobs = client.get("/v1/jobs", params={"kind": "modularize"}).json()["items"]
    assert [j["id"] for j in jobs if j["params"]["model_id"] == model_id] == [again.json()["id"]]
    modules = client.get(f"/v1/models/{model_id}/modules", params={"tau": 0.5}).json()["items"]
    assert [(m["class_index"], m["label"]) for m in modules] == [(0, "3"), (1, "7")]


def test_modules_of_a_model_with_its_own_labels_compose(client: httpx.Client, tmp_path: Path) -> None:
    # Labels the dataset does not know: the composition is made, its accuracy stays unmeasured (not a 500).
    data = load_dataset("digits")
    torch.manual_seed(0)
    net = build_model(ArchConfig("mlp", data.input_spec, 10))
    weights = tmp_path / "net.pt"
    torch.save(net.state_dict(), weights)
    labels = ",".join(f"digit-{i}" for i in range(10))
    with weights.open("rb") as f:
        upload = client.post(
            "/v1/models", files={"file": ("net.pt", f)}, data={"arch": "mlp", "dataset": "digits", "labels": labels}
        )
    assert upload.status_code == 202, upload.text
    model_id = finished(client, upload.json())["result"]["model_id"]
    modules = modules_of(client, model_id)
    response = client.post("/v1/compositions", json={"modules": [modules[2]["id"], modules[5]["id"]]})
    assert response.status_code == 201, response.text
    assert [c["label"] for c in response.json()["classes"]] == ["digit-2", "digit-5"]
    assert response.json()["accuracy"] is None
