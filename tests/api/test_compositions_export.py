"""GET /v1/compositions/{id}/export?format=triton: a model repository that Triton's own config
parser accepts, holding the composition's graph and labels; unknown formats and ids refused."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort

from tests.api.conftest import MAX_BATCH
from tests.api.helpers import CLASSES, assert_error, digits
from tests.triton_proto import model_config_pb2, parse_model_config


def test_a_triton_export_is_a_model_repository_of_the_composition(
    anonymous: httpx.Client, composition: dict[str, Any]
) -> None:
    name = composition["id"]
    response = anonymous.get(f"/v1/compositions/{name}/export", params={"format": "triton"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    assert f"composition-{name}-triton.tar.gz" in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert set(files) == {f"{name}/config.pbtxt", f"{name}/labels.txt", f"{name}/1/model.onnx"}

    config = parse_model_config(files[f"{name}/config.pbtxt"].decode())
    pb2 = model_config_pb2()
    assert (config.name, config.platform, config.max_batch_size) == (name, "onnxruntime_onnx", MAX_BATCH)
    (tensor,) = config.input
    assert (tensor.name, tensor.data_type, list(tensor.dims)) == ("input", pb2.TYPE_FP32, [1, 8, 8])
    # The config Triton would load is the one this server reports over V2.
    served = anonymous.get(f"/v2/models/{name}/config").json()
    assert [
        {
            "name": o.name,
            "data_type": pb2.DataType.Name(o.data_type),
            "dims": list(o.dims),
            "label_filename": o.label_filename,
        }
        for o in config.output
    ] == served["output"]
    (label_file,) = {o.label_filename for o in config.output}
    labels = files[f"{name}/{label_file}"].decode().splitlines()
    assert labels == [c["label"] for c in composition["classes"]] == [str(c) for c in CLASSES]

    # The graph answers what the server answers: its probabilities are those of /v1 predict.
    x, y = digits().of_classes(CLASSES)
    session = ort.InferenceSession(files[f"{name}/1/model.onnx"], providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {tensor.name: x.astype(np.float32)})
    predictions = anonymous.post(f"/v1/compositions/{name}/predict", json={"inputs": x.tolist()}).json()
    served_probabilities = [[p["probabilities"][label] for label in labels] for p in predictions["predictions"]]
    np.testing.assert_allclose(probabilities, served_probabilities, atol=1e-5)
    predicted = [labels[k] for k in probabilities.argmax(axis=1)]
    assert np.mean(np.array(predicted) == y.astype(str)) > 0.9

    # The default format is triton, and the same composition exports the same bytes.
    assert anonymous.get(f"/v1/compositions/{name}/export").content == response.content


def test_unknown_formats_and_compositions_are_refused(anonymous: httpx.Client, composition: dict[str, Any]) -> None:
    url = f"/v1/compositions/{composition['id']}/export"
    assert_error(anonymous.get(url, params={"format": "savedmodel"}), 400, "INVALID_ARGUMENT", "savedmodel", "triton")
    assert_error(anonymous.get(url, params={"format": ""}), 400, "INVALID_ARGUMENT", "triton")
    assert_error(anonymous.get("/v1/compositions/nope/export"), 404, "NOT_FOUND", "nope")


def test_the_export_is_documented(anonymous: httpx.Client) -> None:
    export = anonymous.get("/openapi.json").json()["paths"]["/v1/compositions/{composition_id}/export"]["get"]
    assert "application/gzip" in export["responses"]["200"]["content"]
    assert [p["name"] for p in export["parameters"] if p["in"] == "query"] == ["format"]
