"""/v1/compositions: composing modules idempotently, accuracy of the composed classifier, the
downloaded ONNX against a plain ONNX Runtime session, selections no classifier can be made of, and
compositions of several models calibrated by jobs: one per calibration data, one job at a time."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from tests.api.conftest import Trained
from tests.api.helpers import CLASSES, DIGITS_HALF, assert_error, digits, softmax, succeeded, wait_job


def predict(client: httpx.Client, composition_id: str, x: np.ndarray) -> list[dict[str, Any]]:
    response = client.post(f"/v1/compositions/{composition_id}/predict", json={"inputs": x.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["composition_id"] == composition_id
    return body["predictions"]


def test_composition_of_three_modules_describes_a_smaller_classifier(
    composition: dict[str, Any], trained: Trained
) -> None:
    assert [c["label"] for c in composition["classes"]] == [str(c) for c in CLASSES]
    assert [c["class_index"] for c in composition["classes"]] == list(CLASSES)
    assert [c["index"] for c in composition["classes"]] == [0, 1, 2]
    assert {c["model_id"] for c in composition["classes"]} == {trained.model["id"]}
    assert sorted(composition["module_ids"]) == sorted(trained.module_ids())
    assert composition["strategy"] == "prune"
    assert composition["input_spec"] == trained.model["input_spec"]
    assert 0 < composition["size_ratio"] < 1 and composition["params"] < trained.model["metrics"]["params"]
    assert 0 < composition["macs"] < trained.model["metrics"]["macs"]
    # Served padded to the CPU kernels' block (MODA_CHANNEL_ALIGN, 16): never less than what it keeps.
    metrics = composition["metrics"]
    assert metrics["channel_align"] == 16
    assert composition["params"] <= metrics["served_params"] <= trained.model["metrics"]["params"]
    assert composition["macs"] <= metrics["served_macs"] <= trained.model["metrics"]["macs"]


def test_composing_again_in_any_order_returns_the_same_composition(
    client: httpx.Client, composition: dict[str, Any], trained: Trained
) -> None:
    again = client.post("/v1/compositions", json={"modules": trained.module_ids()[::-1]})
    assert again.status_code == 200  # it existed: 200, not 201
    assert again.json() == composition
    assert client.get(f"/v1/compositions/{composition['id']}").json() == composition
    listed = client.get("/v1/compositions", params={"limit": 1000}).json()
    assert [c["id"] for c in listed["items"]].count(composition["id"]) == 1


def test_a_new_composition_is_created_with_201(client: httpx.Client, trained: Trained) -> None:
    modules = trained.module_ids((2, 5))
    created = client.post("/v1/compositions", json={"modules": modules})
    assert created.status_code == 201, created.text
    assert [c["label"] for c in created.json()["classes"]] == ["2", "5"]
    assert client.post("/v1/compositions", json={"modules": modules}).status_code == 200


def test_compositions_page_without_gaps_or_repeats(
    client: httpx.Client, composition: dict[str, Any], trained: Trained
) -> None:
    client.post("/v1/compositions", json={"modules": trained.module_ids((1, 7))})
    everything = client.get("/v1/compositions", params={"limit": 1000}).json()
    total = everything["total"]
    assert total >= 2 and len(everything["items"]) == total
    paged = []
    for offset in range(total):
        page = client.get("/v1/compositions", params={"offset": offset, "limit": 1}).json()
        assert page["total"] == total and len(page["items"]) == 1
        paged += page["items"]
    assert paged == everything["items"]
    created = [c["created_at"] for c in paged]
    assert created == sorted(created)  # oldest first


def test_composed_classifier_predicts_its_digits_with_at_least_90_percent(
    client: httpx.Client, composition: dict[str, Any]
) -> None:
    x, y = digits().of_classes(CLASSES)
    predictions = predict(client, composition["id"], x)
    assert len(predictions) == len(x)
    for p in predictions:
        assert set(p["probabilities"]) == {str(c) for c in CLASSES}
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)
        assert p["class_index"] == int(p["label"])
    accuracy = 100.0 * np.mean([p["class_index"] == t for p, t in zip(predictions, y, strict=True)])
    assert accuracy >= 90.0
    # The server measured the composition on the same test images when it built it.
    assert composition["accuracy"] == pytest.approx(accuracy, abs=100.0 / len(x) + 1e-9)


def test_downloaded_onnx_gives_the_same_probabilities_in_plain_onnxruntime(
    client: httpx.Client, composition: dict[str, Any]
) -> None:
    response = client.get(f"/v1/compositions/{composition['id']}/onnx")
    assert response.status_code == 200 and response.headers["content-type"] == "application/onnx"
    assert hashlib.sha256(response.content).hexdigest() == composition["onnx_sha256"]
    assert response.headers["etag"] == f'"{composition["onnx_sha256"]}"'
    assert composition["id"] in response.headers["content-disposition"]

    x, _ = digits().of_classes(CLASSES)
    session = ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": x.astype(np.float32)})
    assert logits.shape == (len(x), len(CLASSES))
    local = softmax(logits.astype(np.float64))
    served = np.array([[p["probabilities"][str(c)] for c in CLASSES] for p in predict(client, composition["id"], x)])
    np.testing.assert_allclose(served, local, atol=1e-6)

    cached = client.get(
        f"/v1/compositions/{composition['id']}/onnx", headers={"If-None-Match": response.headers["etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""


def test_selections_no_classifier_can_be_made_of_are_refused(
    client: httpx.Client, trained: Trained, tiny: Trained
) -> None:
    before = client.get("/v1/compositions").json()["total"]

    def post(body: dict[str, Any]) -> httpx.Response:
        return client.post("/v1/compositions", json=body)

    assert_error(post({"modules": []}), 422, "INVALID_ARGUMENT", "modules")
    assert_error(post({}), 422, "INVALID_ARGUMENT", "modules")
    assert_error(post({"modules": "abc"}), 422, "INVALID_ARGUMENT", "modules")
    assert_error(post({"modules": trained.module_ids(), "extra": 1}), 422, "INVALID_ARGUMENT", "extra")
    assert_error(post({"modules": ["no-such-module", trained.modules[0]["id"]]}), 404, "NOT_FOUND", "no-such-module")
    assert_error(post({"modules": trained.module_ids(), "dataset": "imagenet"}), 422, "INVALID_ARGUMENT", "dataset")
    assert_error(post({"modules": trained.module_ids(), "data_dir": "mnist"}), 422, "INVALID_ARGUMENT", "data_dir")
    # Calibration data for a composition that calibrates nothing would be silently ignored.
    assert_error(post({"modules": trained.module_ids(), "dataset": "digits"}), 400, "INVALID_ARGUMENT", "one model")
    twice = [trained.modules[0]["id"]] * 2
    assert_error(post({"modules": twice}), 400, "INVALID_ARGUMENT", "twice")
    # Modules of models whose inputs differ (8x8 on 0..16 against 4x4 on 0..255) cannot share an input.
    mixed = [trained.modules[0]["id"], tiny.modules[0]["id"]]
    assert_error(post({"modules": mixed}), 400, "INCOMPATIBLE_MODULES", "1×8×8", "1×4×4")
    invalid_json = client.post(
        "/v1/compositions", content=b'{"modules": [', headers={"content-type": "application/json"}
    )
    assert_error(invalid_json, 422, "INVALID_ARGUMENT", "JSON")
    assert client.get("/v1/compositions").json()["total"] == before


def test_unknown_composition_is_404_everywhere(client: httpx.Client) -> None:
    assert_error(client.get("/v1/compositions/nope"), 404, "NOT_FOUND", "nope")
    assert_error(client.get("/v1/compositions/nope/onnx"), 404, "NOT_FOUND", "nope")
    response = client.post("/v1/compositions/nope/predict", json={"inputs": [[0.0] * 64]})
    assert_error(response, 404, "NOT_FOUND", "nope")


def test_modules_of_two_models_compose_side_by_side_with_calibration_none(
    client: httpx.Client, trained: Trained, uploaded: Trained
) -> None:
    ours, theirs = trained.modules[0], uploaded.modules[1]
    selection = {"modules": [ours["id"], theirs["id"]], "calibration": "none"}
    with_data = client.post("/v1/compositions", json={**selection, "dataset": "digits"})
    assert_error(with_data, 400, "INVALID_ARGUMENT", "calibration 'none' fits nothing")
    response = client.post("/v1/compositions", json=selection)
    assert response.status_code == 201, response.text
    composition = response.json()
    # Outputs are ordered by source model id, then class: independent of the request's order.
    sources = sorted([(trained.model["id"], "0", ours), (uploaded.model["id"], "1", theirs)], key=lambda s: s[0])
    assert [(c["model_id"], c["label"]) for c in composition["classes"]] == [(m, label) for m, label, _ in sources]
    # Raw logits side by side: each output is its module's own logit, as its downloaded ONNX computes it.
    x, _ = digits().of_classes((0, 1))
    x = x.astype(np.float32)
    modules = [module for _, _, module in sources]
    expected = np.hstack([_onnx_logits(client, f"/v1/modules/{m['id']}/onnx", x) for m in modules])
    np.testing.assert_allclose(
        _onnx_logits(client, f"/v1/compositions/{composition['id']}/onnx", x), expected, atol=1e-4
    )
    served = client.post(f"/v1/compositions/{composition['id']}/predict", json={"inputs": x.tolist()})
    assert served.status_code == 200, served.text
    labels = [label for _, label, _ in sources]
    probabilities = [[p["probabilities"][label] for label in labels] for p in served.json()["predictions"]]
    np.testing.assert_allclose(probabilities, softmax(expected.astype(np.float64)), atol=1e-5)


def _onnx_logits(client: httpx.Client, url: str, x: np.ndarray) -> np.ndarray:
    response = client.get(url)
    assert response.status_code == 200, response.text
    session = ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": x})
    return logits


@pytest.fixture(scope="module")
def cross_model(trained: Trained, uploaded: Trained) -> list[str]:
    """Modules of two models: composed by a `calibrate` job."""
    return [trained.modules[2]["id"], uploaded.modules[4]["id"]]


@pytest.fixture(scope="module")
def calibrated(client: httpx.Client, cross_model: list[str]) -> dict[str, Any]:
    """`cross_model` calibrated on the first model's own data (digits), left implicit."""
    response = client.post("/v1/compositions", json={"modules": cross_model})
    assert response.status_code == 202, response.text
    job = succeeded(client, response.json()["id"])
    return client.get(f"/v1/compositions/{job['result']['composition_id']}").json()


def test_naming_the_first_models_own_data_finds_the_same_calibrated_composition(
    client: httpx.Client, cross_model: list[str], calibrated: dict[str, Any]
) -> None:
    # digits is bundled: whatever data_dir is given, it reads the same data.
    for data in ({"dataset": "digits"}, {"dataset": "digits", "data_dir": "elsewhere"}):
        again = client.post("/v1/compositions", json={"modules": cross_model[::-1], **data})
        assert again.status_code == 200, again.text
        assert again.json() == calibrated


def test_calibrating_on_other_data_makes_another_composition(
    client: httpx.Client, cross_model: list[str], calibrated: dict[str, Any]
) -> None:
    response = client.post("/v1/compositions", json={"modules": cross_model, "dataset": "npz", "data_dir": DIGITS_HALF})
    assert response.status_code == 202, response.text  # not the composition calibrated on digits
    made = succeeded(client, response.json()["id"])["result"]["composition_id"]
    assert made != calibrated["id"]

    # The same directory spelled another way is the same data, so the same composition.
    respelled = {"modules": cross_model[::-1], "dataset": "npz", "data_dir": f"./{DIGITS_HALF}/"}
    again = client.post("/v1/compositions", json=respelled)
    assert again.status_code == 200, again.text
    other = again.json()
    assert other["id"] == made and other["strategy"] == "calibrated"
    assert other["metrics"]["calibration_train_loss"] != calibrated["metrics"]["calibration_train_loss"]
    assert client.get(f"/v1/compositions/{calibrated['id']}").json() == calibrated


def queued_calibrations(client: httpx.Client, module_ids: list[str]) -> list[str]:
    """Ids of the queued `calibrate` jobs of these modules (in any order)."""
    page = client.get("/v1/jobs", params={"kind": "calibrate", "status": "queued", "limit": 1000}).json()
    return [job["id"] for job in page["items"] if set(job["params"]["module_ids"]) == set(module_ids)]


def test_a_calibration_asked_for_while_its_job_is_queued_answers_that_job(
    client: httpx.Client, trained: Trained, uploaded: Trained
) -> None:
    selection = [trained.modules[5]["id"], uploaded.modules[6]["id"]]
    # The one worker takes the oldest queued job first: behind this one, calibrate jobs stay queued.
    busy = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1000}})
    assert busy.status_code == 202, busy.text
    submitted: list[str] = []
    try:
        first = client.post("/v1/compositions", json={"modules": selection})
        assert first.status_code == 202, first.text
        submitted.append(first.json()["id"])
        # The same composition asked for again: the modules in another order, the data named.
        again = client.post("/v1/compositions", json={"modules": selection[::-1], "dataset": "digits"})
        assert again.status_code == 202, again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["location"] == first.headers["location"] == f"/v1/jobs/{first.json()['id']}"
        assert queued_calibrations(client, selection) == [first.json()["id"]]

        other_data = client.post(
            "/v1/compositions", json={"modules": selection, "dataset": "npz", "data_dir": DIGITS_HALF}
        )
        assert other_data.status_code == 202, other_data.text
        assert other_data.json()["id"] != first.json()["id"]
        submitted.append(other_data.json()["id"])

        # A cancelled job will make nothing: asking again submits a new one.
        cancelled = client.post(f"/v1/jobs/{first.json()['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        after = client.post("/v1/compositions", json={"modules": selection})
        assert after.status_code == 202, after.text
        assert after.json()["id"] not in submitted
        submitted.append(after.json()["id"])
    finally:
        for job_id in [*submitted, busy.json()["id"]]:
            client.post(f"/v1/jobs/{job_id}/cancel")  # 409 for a job already cancelled: nothing to do
        wait_job(client, busy.json()["id"])
