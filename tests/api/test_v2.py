"""The Open Inference Protocol (KServe/Triton V2) over HTTP: health, model metadata and readiness,
inference with JSON and with the binary tensor data extension, and its `{"error": "..."}` errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.conftest import MAX_BATCH
from tests.api.helpers import CLASSES, assert_v2_error, digits, raw_json

HEADER = "Inference-Header-Content-Length"


def tensor(x: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {"name": "input", "shape": list(x.shape), "datatype": "FP32", **extra}


def v1_probabilities(client: httpx.Client, composition_id: str, x: np.ndarray) -> np.ndarray:
    response = client.post(f"/v1/compositions/{composition_id}/predict", json={"inputs": x.tolist()})
    assert response.status_code == 200, response.text
    return np.array([[p["probabilities"][str(c)] for c in CLASSES] for p in response.json()["predictions"]])


def test_server_health_and_metadata(anonymous: httpx.Client) -> None:
    assert anonymous.get("/v2/health/live").json() == {"live": True}
    ready = anonymous.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    server = anonymous.get("/v2").json()
    assert server["name"] == "moda-hub" and "binary_tensor_data" in server["extensions"]


def test_every_composition_is_a_v2_model(anonymous: httpx.Client, composition: dict[str, Any]) -> None:
    name = composition["id"]
    labels = {"labels": [c["label"] for c in composition["classes"]]}
    assert labels["labels"] == [str(c) for c in CLASSES]  # the order of the outputs' columns
    expected = {
        "name": name,
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 8, 8]}],
        "outputs": [
            {"name": "logits", "datatype": "FP32", "shape": [-1, 3], "parameters": labels},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3], "parameters": labels},
        ],
        "parameters": labels,
    }
    assert anonymous.get(f"/v2/models/{name}").json() == expected
    assert anonymous.get(f"/v2/models/{name}/versions/1").json() == expected
    ready = anonymous.get(f"/v2/models/{name}/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert anonymous.get(f"/v2/models/{name}/versions/1/ready").status_code == 200


def test_unknown_models_and_versions_are_404(anonymous: httpx.Client, composition: dict[str, Any]) -> None:
    assert_v2_error(anonymous.get("/v2/models/nope"), 404, "nope")
    assert_v2_error(anonymous.get("/v2/models/nope/ready"), 404, "nope")
    body = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}
    assert_v2_error(anonymous.post("/v2/models/nope/infer", json=body), 404, "nope")
    # A composition has one version, "1": any other is a model this server does not have.
    name = composition["id"]
    assert_v2_error(anonymous.get(f"/v2/models/{name}/versions/2"), 404, "version")
    assert_v2_error(anonymous.get(f"/v2/models/{name}/versions/2/ready"), 404, "version")
    assert_v2_error(anonymous.post(f"/v2/models/{name}/versions/2/infer", json=body), 404, "version")


def test_json_inference_matches_v1_predictions(anonymous: httpx.Client, composition: dict[str, Any]) -> None:
    x, _ = digits().of_classes(CLASSES)
    x = x[:20].astype(np.float32)
    body = {"id": "req-7", "inputs": [tensor(x, data=x.ravel().tolist())]}
    response = anonymous.post(f"/v2/models/{composition['id']}/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    result = response.json()
    assert (result["model_name"], result["model_version"], result["id"]) == (composition["id"], "1", "req-7")
    outputs = {o["name"]: o for o in result["outputs"]}
    assert set(outputs) == {"logits", "probabilities"}
    for output in outputs.values():
        assert output["datatype"] == "FP32" and output["shape"] == [20, 3]
        assert output["parameters"] == {"labels": [str(c) for c in CLASSES]}
    probabilities = np.array(outputs["probabilities"]["data"]).reshape(20, 3)
    np.testing.assert_allclose(probabilities, v1_probabilities(anonymous, composition["id"], x), atol=1e-6)

    # Flat samples (N, 64) and a versioned URL, asking for one output only.
    flat = {"inputs": [tensor(x.reshape(20, 64), data=x.ravel().tolist())], "outputs": [{"name": "logits"}]}
    response = anonymous.post(f"/v2/models/{composition['id']}/versions/1/infer", json=flat)
    assert response.status_code == 200, response.text
    (logits,) = response.json()["outputs"]
    assert logits["name"] == "logits"
    np.testing.assert_allclose(logits["data"], outputs["logits"]["data"], atol=1e-6)


def test_binary_tensor_data_in_and_out(anonymous: httpx.Client, composition: dict[str, Any]) -> None:
    x, _ = digits().of_classes(CLASSES)
    x = np.ascontiguousarray(x[:16], dtype="<f4")
    header = json.dumps(
        {
            "inputs": [tensor(x, parameters={"binary_data_size": x.nbytes})],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    ).encode()
    response = anonymous.post(
        f"/v2/models/{composition['id']}/infer",
        content=header + x.tobytes(),
        headers={HEADER: str(len(header)), "content-type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers[HEADER])
    result = json.loads(response.content[:length])
    (output,) = result["outputs"]
    assert output["name"] == "probabilities" and output["shape"] == [16, 3]
    raw = response.content[length:]
    assert len(raw) == output["parameters"]["binary_data_size"] == 16 * 3 * 4
    probabilities = np.frombuffer(raw, dtype="<f4").reshape(16, 3)
    np.testing.assert_allclose(probabilities, v1_probabilities(anonymous, composition["id"], x), atol=1e-6)


def one_input(name: str = "input", shape: tuple[int, ...] = (1, 64), datatype: str = "FP32", **extra: Any) -> dict:
    """A request whose one input is zeros unless `extra` says otherwise."""
    tensor = {"name": name, "shape": list(shape), "datatype": datatype, "data": [0.0] * 64, **extra}
    return {"inputs": [{k: v for k, v in tensor.items() if v is not None}]}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(one_input(shape=(1, 63), data=[0.0] * 63), "(63,)", id="wrong-shape"),
        pytest.param(one_input(data=[0.0] * 60), "60 elements", id="data-shorter-than-shape"),
        pytest.param(one_input(name="pixels"), "pixels", id="unknown-input"),
        pytest.param(one_input(datatype="BYTES"), "BYTES", id="unsupported-datatype"),
        pytest.param(one_input(datatype="FP64"), "datatype 'FP64', but this model expects 'FP32'", id="fp64"),
        pytest.param(one_input(datatype="UINT8"), "datatype 'UINT8', but this model expects 'FP32'", id="uint8"),
        pytest.param(
            {**one_input(), "outputs": [{"name": "logits", "parameters": {"classification": -1}}]},
            "'classification' must be a positive integer",
            id="class-count",
        ),
        pytest.param(one_input(data=[99.0] * 64), "0..16", id="out-of-range"),
        pytest.param({**one_input(), "outputs": [{"name": "scores"}]}, "scores", id="unknown-output"),
        pytest.param({"inputs": []}, "inputs", id="no-inputs"),
        pytest.param(one_input(data=None), "data", id="no-data"),
    ],
)
def test_bad_inference_requests_get_400(
    anonymous: httpx.Client, composition: dict[str, Any], body: dict[str, Any], fragment: str
) -> None:
    assert_v2_error(anonymous.post(f"/v2/models/{composition['id']}/infer", json=body), 400, fragment)


def test_malformed_inference_bodies_get_400(anonymous: httpx.Client, composition: dict[str, Any]) -> None:
    url = f"/v2/models/{composition['id']}/infer"
    nan = '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [NaN' + ", 0" * 63 + "]}]}"
    assert_v2_error(raw_json(anonymous, url, nan), 400, "NaN")
    assert_v2_error(raw_json(anonymous, url, "not json"), 400, "JSON")
    assert_v2_error(anonymous.post(url, content=b"{}", headers={HEADER: "many"}), 400, HEADER)
    assert_v2_error(anonymous.post(url, content=b"{}", headers={HEADER: "999"}), 400, "999")
    x = np.zeros((1, 64), dtype="<f4")
    header = json.dumps({"inputs": [tensor(x, parameters={"binary_data_size": 256})]}).encode()
    short = anonymous.post(url, content=header + x.tobytes()[:100], headers={HEADER: str(len(header))})
    assert_v2_error(short, 400, "bytes")


def test_classification_extension(anonymous: httpx.Client, composition: dict[str, Any]) -> None:
    x = digits().of_classes(CLASSES)[0][:12].astype(np.float32)
    body = {
        "inputs": [tensor(x, data=x.ravel().tolist())],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 2}}],
    }
    response = anonymous.post(f"/v2/models/{composition['id']}/infer", json=body)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["datatype"] == "BYTES" and output["shape"] == [12, 2]
    probabilities = v1_probabilities(anonymous, composition["id"], x)
    labels = [str(c) for c in CLASSES]
    for pair, row in zip(np.reshape(output["data"], (12, 2)), probabilities, strict=True):
        (score, index, label), second = pair[0].split(":"), pair[1].split(":")
        assert (int(index), label) == (int(row.argmax()), labels[int(row.argmax())])
        assert float(score) == pytest.approx(row.max(), abs=1e-6) and float(second[0]) <= float(score)


def test_model_config_repository_index_and_statistics(anonymous: httpx.Client, composition: dict[str, Any]) -> None:
    name = composition["id"]
    config = anonymous.get(f"/v2/models/{name}/config")
    assert config.status_code == 200, config.text
    assert config.json() == {
        "name": name,
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "max_batch_size": MAX_BATCH,
        "input": [{"name": "input", "data_type": "TYPE_FP32", "dims": [1, 8, 8]}],
        "output": [
            {"name": output, "data_type": "TYPE_FP32", "dims": [3], "label_filename": "labels.txt"}
            for output in ("logits", "probabilities")
        ],
    }
    assert anonymous.get(f"/v2/models/{name}/versions/1/config").json() == config.json()
    assert_v2_error(anonymous.get("/v2/models/nope/config"), 404, "nope")

    index = anonymous.post("/v2/repository/index")
    assert index.status_code == 200, index.text
    assert {"name": name, "version": "1", "state": "READY"} in index.json()
    assert anonymous.post("/v2/repository/index", json={"ready": True}).json() == index.json()

    def stats() -> dict[str, Any]:
        (entry,) = anonymous.get(f"/v2/models/{name}/stats").json()["model_stats"]
        return entry

    before = stats()
    x = np.zeros((5, 64), dtype=np.float32)
    assert anonymous.post(f"/v2/models/{name}/infer", json={"inputs": [tensor(x, data=[0.0] * 320)]}).is_success
    bad = {"inputs": [tensor(x, data=[99.0] * 320)]}  # off the 0..16 scale: the model refuses it
    assert anonymous.post(f"/v2/models/{name}/infer", json=bad).status_code == 400
    after = stats()
    assert (after["name"], after["version"]) == (name, "1")
    assert after["inference_count"] - before["inference_count"] == 5
    assert after["execution_count"] - before["execution_count"] == 1
    success, fail = after["inference_stats"]["success"], after["inference_stats"]["fail"]
    assert success["count"] - before["inference_stats"]["success"]["count"] == 1
    assert fail["count"] - before["inference_stats"]["fail"]["count"] == 1
    assert success["ns"] > before["inference_stats"]["success"]["ns"]
    for phase in ("compute_input", "compute_infer", "compute_output"):
        assert after["inference_stats"][phase]["count"] == success["count"]
    assert after["last_inference"] >= before["last_inference"] and after["last_inference"] > 0
    assert any(b["batch_size"] == 5 for b in after["batch_stats"])
    every = anonymous.get("/v2/models/stats").json()["model_stats"]
    assert any(entry["name"] == name for entry in every)
    assert_v2_error(anonymous.get("/v2/models/nope/stats"), 404, "nope")


def test_the_v2_extensions_are_documented(anonymous: httpx.Client) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]
    assert "post" in paths["/v2/repository/index"]
    for path in ("/v2/models/{name}/config", "/v2/models/{name}/stats", "/v2/models/stats"):
        assert "get" in paths[path], path

    def schema(path: str, method: str = "get") -> dict[str, Any]:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    assert schema("/v2/models/{name}") == {"$ref": "#/components/schemas/ModelMetadata"}
    assert schema("/v2/models/{name}/config") == {"$ref": "#/components/schemas/ModelConfig"}
    assert schema("/v2/models/{name}/stats") == {"$ref": "#/components/schemas/StatisticsResponse"}
    assert schema("/v2/repository/index", "post")["items"] == {"$ref": "#/components/schemas/RepositoryIndexEntry"}
