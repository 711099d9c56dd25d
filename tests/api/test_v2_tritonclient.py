"""The stock tritonclient against a real server: discover a composition, read its labels and
configuration, classify with `class_count`, read the statistics; datatypes refused as Triton does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.api.helpers import CLASSES, digits
from tests.live_server import LiveServer

httpclient = pytest.importorskip("tritonclient.http")
triton_utils = pytest.importorskip("tritonclient.utils")


@pytest.fixture
def triton(hub: LiveServer) -> Any:
    with httpclient.InferenceServerClient(url=hub.url.removeprefix("http://")) as client:
        yield client


def test_tritonclient_discovers_reads_labels_and_classifies(triton: Any, composition: dict[str, Any]) -> None:
    assert triton.is_server_live() and triton.is_server_ready()
    assert "classification" in triton.get_server_metadata()["extensions"]
    index = triton.get_model_repository_index()
    name = composition["id"]
    assert {"name": name, "version": "1", "state": "READY"} in index
    assert triton.is_model_ready(name)

    metadata = triton.get_model_metadata(name)
    labels = metadata["parameters"]["labels"]
    assert labels == [str(c) for c in CLASSES]
    (tensor,) = metadata["inputs"]
    config = triton.get_model_config(name)
    assert config["max_batch_size"] > 0 and [tensor["shape"][0], *config["input"][0]["dims"]] == tensor["shape"]

    x, y = digits().of_classes(CLASSES)
    x = np.ascontiguousarray(x[:40], dtype=np.float32)
    inputs = [httpclient.InferInput(tensor["name"], list(x.shape), tensor["datatype"])]
    inputs[0].set_data_from_numpy(x, binary_data=True)
    outputs = [httpclient.InferRequestedOutput("probabilities", binary_data=True, class_count=2)]
    result = triton.infer(name, inputs, outputs=outputs, request_id="classify-1")

    assert result.get_response()["id"] == "classify-1"
    top = result.as_numpy("probabilities")
    assert top.shape == (40, 2)
    best = [entry.decode().split(":") for entry in top[:, 0]]
    assert all(labels[int(index)] == label for _, index, label in best)
    assert np.mean([label == str(truth) for (_, _, label), truth in zip(best, y[:40], strict=True)]) > 0.9
    assert all(float(a.decode().split(":")[0]) >= float(b.decode().split(":")[0]) for a, b in top)

    (stats,) = triton.get_inference_statistics(name)["model_stats"]
    assert stats["name"] == name and stats["inference_count"] >= 40 and stats["execution_count"] >= 1
    assert stats["inference_stats"]["success"]["count"] == stats["execution_count"]


@pytest.mark.parametrize("datatype", ["FP64", "UINT8"])
def test_tritonclient_inputs_of_another_datatype_get_tritons_refusal(
    triton: Any, composition: dict[str, Any], datatype: str
) -> None:
    x = np.zeros((2, 1, 8, 8), dtype=triton_utils.triton_to_np_dtype(datatype))
    tensor = httpclient.InferInput("input", list(x.shape), datatype)
    tensor.set_data_from_numpy(x, binary_data=True)
    with pytest.raises(triton_utils.InferenceServerException) as info:
        triton.infer(composition["id"], [tensor])
    assert info.value.status() == "400"
    assert f"datatype '{datatype}', but this model expects 'FP32'" in info.value.message()
