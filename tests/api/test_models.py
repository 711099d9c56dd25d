"""/v1/models and /v1/modules: listing, ONNX downloads with ETags, and uploads of trained weights."""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import torch

from tests.api.conftest import MAX_UPLOAD_MB, Trained
from tests.api.helpers import (
    assert_error,
    digits,
    png,
    safetensors_bytes,
    state_dict_bytes,
    succeeded,
)


def upload(client: httpx.Client, content: bytes, filename: str = "weights.pt", **form: str) -> httpx.Response:
    data = {"arch": "mlp", "dataset": "digits", **form}
    return client.post("/v1/models", files={"file": (filename, content, "application/octet-stream")}, data=data)


def ingest_jobs(client: httpx.Client) -> int:
    return client.get("/v1/jobs", params={"kind": "ingest"}).json()["total"]


def test_models_list_get_and_filter_by_name(client: httpx.Client, trained: Trained) -> None:
    models = client.get("/v1/models", params={"limit": 1000}).json()
    assert trained.model in models["items"]
    assert client.get(f"/v1/models/{trained.model['id']}").json() == trained.model
    named = client.get("/v1/models", params={"name": trained.model["name"]}).json()
    assert named["total"] >= 1 and {m["name"] for m in named["items"]} == {trained.model["name"]}
    assert client.get("/v1/models", params={"name": "no-such-name"}).json() == {
        "items": [],
        "total": 0,
        "offset": 0,
        "limit": 50,
    }
    assert_error(client.get("/v1/models/nope"), 404, "NOT_FOUND", "nope")
    assert_error(client.get("/v1/models/nope/modules"), 404, "NOT_FOUND", "nope")
    assert_error(client.get("/v1/models", params={"limit": 0}), 422, "INVALID_ARGUMENT", "limit")
    assert_error(client.get("/v1/models", params={"offset": -1}), 422, "INVALID_ARGUMENT", "offset")


def test_modules_of_a_model_page_in_class_order(client: httpx.Client, trained: Trained) -> None:
    model_id = trained.model["id"]
    seen = []
    for offset in (0, 3, 6, 9):
        page = client.get(f"/v1/models/{model_id}/modules", params={"tau": 0.9, "offset": offset, "limit": 3})
        body = page.json()
        assert body["total"] == 10 and body["offset"] == offset and body["limit"] == 3
        seen += body["items"]
    assert seen == trained.modules
    assert [m["class_index"] for m in seen] == list(range(10))
    assert_error(client.get(f"/v1/models/{model_id}/modules", params={"tau": "high"}), 422, "INVALID_ARGUMENT")


def test_module_onnx_download_is_verified_and_cacheable(client: httpx.Client, trained: Trained) -> None:
    module = trained.modules[3]
    response = client.get(f"/v1/modules/{module['id']}/onnx")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/onnx"
    assert hashlib.sha256(response.content).hexdigest() == module["onnx_sha256"]
    etag = response.headers["etag"]
    assert etag == f'"{module["onnx_sha256"]}"'

    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = client.get(f"/v1/modules/{module['id']}/onnx", headers={"If-None-Match": if_none_match})
        assert cached.status_code == 304, if_none_match
        assert cached.content == b"" and cached.headers["etag"] == etag
    stale = client.get(f"/v1/modules/{module['id']}/onnx", headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200 and stale.content == response.content

    # A module is a one-logit classifier of its class that runs in a plain ONNX Runtime session.
    session = ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    x, _ = digits().of_classes((3,))
    (logits,) = session.run(["logits"], {"input": x.astype(np.float32)})
    assert logits.shape == (len(x), 1) and np.isfinite(logits).all()
    assert_error(client.get("/v1/modules/nope/onnx"), 404, "NOT_FOUND", "nope")
    assert_error(client.get("/v1/modules/nope"), 404, "NOT_FOUND", "nope")


def test_the_whole_model_downloads_as_onnx_that_scores_its_recorded_accuracy(
    client: httpx.Client, trained: Trained
) -> None:
    response = client.get(f"/v1/models/{trained.model['id']}/onnx")
    assert response.status_code == 200 and response.headers["content-type"] == "application/onnx"
    assert hashlib.sha256(response.content).hexdigest() == trained.model["metrics"]["onnx_sha256"]
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    session = ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    data = digits()
    (logits,) = session.run(["logits"], {"input": data.x_test.astype(np.float32)})
    assert logits.shape == (len(data.x_test), 10)
    accuracy = 100.0 * float((logits.argmax(axis=1) == data.y_test).mean())
    assert accuracy == pytest.approx(trained.model["metrics"]["accuracy"], abs=0.01)
    assert_error(client.get("/v1/models/nope/onnx"), 404, "NOT_FOUND", "nope")


def test_upload_of_a_torch_state_dict_is_ingested_into_modules(client: httpx.Client, uploaded: Trained) -> None:
    model = uploaded.model
    assert model["name"] == "uploaded-mlp" and model["arch"] == "mlp"
    assert model["labels"] == [str(d) for d in range(10)]  # the dataset's, when none are given
    assert model["job_id"] == uploaded.job["id"] and uploaded.job["kind"] == "ingest"
    assert model["metrics"]["uploaded_filename"] == "weights.pt"
    assert (model["alpha"], model["beta"], model["gamma"]) == (0.0, 0.0, 0.0)
    assert len(uploaded.job["result"]["module_ids"]) == 10 and len(uploaded.modules) == 10
    assert [m["class_index"] for m in uploaded.modules] == list(range(10))


def test_upload_of_safetensors_with_labels_is_ingested(client: httpx.Client) -> None:
    labels = [f"digit-{d}" for d in range(10)]
    response = upload(client, safetensors_bytes(seed=2), "weights.safetensors", labels=",".join(labels), name="from-st")
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["kind"] == "ingest" and queued["status"] in ("queued", "running")
    job = succeeded(client, queued["id"])
    model = client.get(f"/v1/models/{job['result']['model_id']}").json()
    assert model["name"] == "from-st" and model["labels"] == labels
    modules = client.get(f"/v1/models/{model['id']}/modules").json()["items"]
    assert sorted(m["label"] for m in modules) == sorted(labels)
    assert sorted(m["id"] for m in modules) == sorted(job["result"]["module_ids"])


class _RunsCode:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).touch()",))


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pwned"
    yield path
    path.unlink(missing_ok=True)


def test_malicious_pickle_upload_is_refused_and_never_executed(client: httpx.Client, marker: Path) -> None:
    before = ingest_jobs(client)
    in_torch_file = io.BytesIO()
    torch.save({"hidden.0.weight": _RunsCode(marker)}, in_torch_file)
    raw_pickle = pickle.dumps(_RunsCode(marker))
    for name, payload in (("evil.pt", in_torch_file.getvalue()), ("evil.pkl", raw_pickle)):
        assert_error(upload(client, payload, name), 400, "INVALID_WEIGHTS", "weights")
    assert not marker.exists(), "the server unpickled the upload and ran its code"
    assert ingest_jobs(client) == before


def test_a_pickled_model_is_refused_with_what_to_upload_instead(client: httpx.Client) -> None:
    """torch.save(model) and pickled objects beside tensors are refused in a sentence that says what
    to send instead: not torch's page of advice (ANSI codes, "re-run with weights_only=False")."""
    before = ingest_jobs(client)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with_objects = {"state_dict": net.state_dict(), "optimizer": torch.optim.SGD(net.parameters(), lr=0.1)}
    for name, content in (("model.pt", _torch_bytes(net)), ("checkpoint.pt", _torch_bytes(with_objects))):
        message = assert_error(
            upload(client, content, name),
            400,
            "INVALID_WEIGHTS",
            "pickled python objects",
            "never unpickles",
            "torch.save(model.state_dict()",
            ".safetensors",
        )
        assert len(message) < 400, message
        assert "\x1b" not in message and "weights_only" not in message, message
    whole = assert_error(upload(client, _torch_bytes(net)), 400, "INVALID_WEIGHTS")
    assert "torch.nn.modules.container.Sequential" in whole  # the object torch refused to build
    assert ingest_jobs(client) == before


def test_files_that_are_not_weights_are_refused(client: httpx.Client) -> None:
    before = ingest_jobs(client)
    x, _ = digits().of_classes((0,))
    not_weights = {
        "notes.txt": b"these are not the weights you are looking for",
        "digit.png": png(x[0, 0]),
        "half.safetensors": safetensors_bytes()[:1000],  # truncated
        "half.pt": state_dict_bytes()[:1000],
        "list.pt": _torch_bytes([torch.zeros(3)]),  # a list, not a state dict
    }
    for name, content in not_weights.items():
        assert_error(upload(client, content, name), 400, "INVALID_WEIGHTS")
    assert_error(upload(client, b"", "empty.pt"), 400, "INVALID_WEIGHTS", "empty")
    assert ingest_jobs(client) == before


def test_weights_that_do_not_fit_the_architecture_are_refused(client: httpx.Client) -> None:
    before = ingest_jobs(client)
    mlp = state_dict_bytes()
    message = assert_error(upload(client, mlp, arch="lenet5"), 400, "INVALID_WEIGHTS", "lenet5", "missing keys")
    assert "unexpected keys" in message
    wrong_head = state_dict_bytes(num_classes=7)
    assert_error(upload(client, wrong_head), 400, "INVALID_WEIGHTS", "head.weight", "(10, ", "(7, ")
    nan = torch.load(io.BytesIO(mlp), weights_only=True)
    next(iter(nan.values())).fill_(float("nan"))
    assert_error(upload(client, _torch_bytes(nan)), 400, "INVALID_WEIGHTS", "NaN")
    assert ingest_jobs(client) == before


def test_an_upload_with_two_weights_files_is_refused_not_guessed(client: httpx.Client) -> None:
    before = client.get("/v1/jobs").json()["total"]
    files = [("file", ("a.pt", state_dict_bytes(seed=1))), ("file", ("b.pt", state_dict_bytes(seed=2)))]
    response = client.post("/v1/models", files=files, data={"arch": "mlp", "dataset": "digits"})
    assert_error(response, 400, "INVALID_ARGUMENT", "2 parts named 'file'")
    assert client.get("/v1/jobs").json()["total"] == before


def test_upload_form_errors_name_the_field(client: httpx.Client) -> None:
    before = ingest_jobs(client)
    weights = state_dict_bytes()
    assert_error(upload(client, weights, arch="transformer"), 400, "INVALID_ARGUMENT", "arch")
    assert_error(upload(client, weights, dataset="imagenet"), 400, "INVALID_ARGUMENT", "dataset")
    assert_error(upload(client, weights, dataset="mnist"), 400, "DATASET_UNAVAILABLE", "mnist")
    assert_error(upload(client, weights, dataset="npz", data_dir="../.."), 400, "INVALID_ARGUMENT", "data_dir")
    assert_error(upload(client, weights, tau="1.5"), 422, "INVALID_ARGUMENT", "tau")
    assert_error(upload(client, weights, name="no spaces"), 400, "INVALID_ARGUMENT", "name")
    assert_error(upload(client, weights, labels="[1, 2]"), 400, "INVALID_ARGUMENT", "labels")
    # Labels name the dataset's classes: one per class, all distinct.
    assert_error(upload(client, weights, labels="a,b,c"), 400, "INVALID_ARGUMENT", "3 labels", "10 classes")
    assert_error(upload(client, weights, labels=",".join("aabcdefghi")), 400, "INVALID_ARGUMENT", "distinct", "a")
    three = state_dict_bytes(num_classes=3)  # weights that fit 3 labels still do not fit 10 classes
    assert_error(upload(client, three, labels="a,b,c"), 400, "INVALID_ARGUMENT", "10 classes")
    missing_file = client.post("/v1/models", data={"arch": "mlp", "dataset": "digits"})
    assert_error(missing_file, 422, "INVALID_ARGUMENT", "file")
    missing_arch = client.post("/v1/models", files={"file": ("w.pt", weights)}, data={"dataset": "digits"})
    assert_error(missing_arch, 422, "INVALID_ARGUMENT", "arch")
    assert ingest_jobs(client) == before


def test_oversized_uploads_are_refused_with_413(client: httpx.Client) -> None:
    before = ingest_jobs(client)
    too_big = state_dict_bytes() + b"\0" * (MAX_UPLOAD_MB * 1024 * 1024)
    assert_error(upload(client, too_big), 413, "PAYLOAD_TOO_LARGE", "MODA_MAX_UPLOAD_MB=1")

    # Without a Content-Length (chunked transfer encoding) the limit holds all the same.
    body, content_type = _multipart(too_big)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    response = client.post("/v1/models", content=chunks(), headers={"content-type": content_type})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE", "MODA_MAX_UPLOAD_MB=1")
    assert ingest_jobs(client) == before


def _torch_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _multipart(weights: bytes) -> tuple[bytes, str]:
    """The multipart body httpx would send for an mlp/digits upload of `weights`, and its content type."""
    request = httpx.Request(
        "POST",
        "http://x/v1/models",
        files={"file": ("weights.pt", weights, "application/octet-stream")},
        data={"arch": "mlp", "dataset": "digits"},
    )
    return request.read(), request.headers["content-type"]
