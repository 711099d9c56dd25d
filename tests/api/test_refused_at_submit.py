"""Calibration and replacement requests a job could not carry out are refused when submitted (a 4xx
naming the problem, nothing queued), not accepted and then failed by the job.

Other data is written below the shared server's MODA_DATASETS_DIR: digits at 16×16 on 0..255 (digits'
classes, another input) and digits' classes 0..4 only (digits' input, missing classes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.conftest import Trained, registered
from tests.api.helpers import assert_error, succeeded, to_8bit
from tests.live_server import LiveServer

WIDE = "digits-16px"  # 1×16×16, 0..255
LOW = "digits-0-4"  # 1×8×8, 0..16, classes 0..4
TARGET = 3


def _write_npz(
    directory: Path, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, labels: list[str]
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(
        directory / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, labels=np.array(labels)
    )


@pytest.fixture(scope="module")
def other_data(hub: LiveServer) -> None:
    from service.moda.data.digits import load_digits

    data = load_digits()
    x_train, y_train = data.x_train.numpy()[:, 0], data.y_train.numpy()  # (N, 8, 8)
    x_test, y_test = data.x_test.numpy()[:, 0], data.y_test.numpy()
    datasets = hub.home / "datasets"

    def wide(x: np.ndarray) -> np.ndarray:  # each pixel twice as wide and high, on 0..255
        return np.kron(to_8bit(x), np.ones((2, 2), dtype=np.uint8))

    # A quarter of the training images: enough for one epoch of a donor model, quickly.
    _write_npz(datasets / WIDE, wide(x_train[::4]), y_train[::4], wide(x_test), y_test, data.labels)
    low_train, low_test = y_train < 5, y_test < 5
    _write_npz(
        datasets / LOW, x_train[low_train], y_train[low_train], x_test[low_test], y_test[low_test], data.labels[:5]
    )


@pytest.fixture(scope="module")
def wide_model(client: httpx.Client, other_data: None) -> Trained:
    """A model of digits' classes that takes 16×16 images on 0..255: a donor with another input."""
    params = {"dataset": "npz", "data_dir": WIDE, "epochs": 1, "name": "wide"}
    return registered(client, client.post("/v1/jobs", json={"kind": "train", "params": params}))


def job_count(client: httpx.Client) -> int:
    return client.get("/v1/jobs").json()["total"]


def test_replacements_no_job_could_make_are_refused_at_submit(
    client: httpx.Client, trained: Trained, uploaded: Trained, wide_model: Trained
) -> None:
    # The weak model: the uploaded digits mlp; the donor: the trained one's module of class 3.
    base = {"model_id": uploaded.model["id"], "target_class": TARGET, "module_id": trained.modules[TARGET]["id"]}
    cases: list[tuple[dict[str, Any], int, str, tuple[str, ...]]] = [
        ({"model_id": "no-such-model"}, 404, "NOT_FOUND", ("no-such-model",)),
        ({"module_id": "no-such-module"}, 404, "NOT_FOUND", ("no-such-module",)),
        ({"target_class": 42}, 400, "INVALID_ARGUMENT", ("target_class 42", "0..9")),
        ({"module_id": trained.modules[TARGET + 1]["id"]}, 400, "INVALID_ARGUMENT", ("is of class '4'",)),
        ({"module_id": wide_model.modules[TARGET]["id"]}, 400, "INCOMPATIBLE_MODULES", ("1×16×16", "1×8×8")),
        ({"classes": [0, 1]}, 400, "INVALID_ARGUMENT", ("include target_class",)),
        ({"classes": [3, 3, 4]}, 400, "INVALID_ARGUMENT", ("distinct",)),
        ({"classes": [3, 10]}, 400, "INVALID_ARGUMENT", ("classes of the weak model",)),
        ({"dataset": "npz", "data_dir": LOW}, 400, "INVALID_ARGUMENT", ("no classes named", "'9'")),
        ({"dataset": "npz", "data_dir": WIDE}, 400, "INVALID_ARGUMENT", (WIDE, "1×16×16", "1×8×8")),
        ({"dataset": "npz", "data_dir": "no-such-data"}, 400, "DATASET_UNAVAILABLE", ("no-such-data",)),
    ]
    before = job_count(client)
    for change, status, code, fragments in cases:
        response = client.post("/v1/jobs", json={"kind": "replace", "params": base | change})
        assert_error(response, status, code, *fragments)
    assert job_count(client) == before  # nothing was queued

    # The checks refuse only what the job would: the classes the data lacks left out, it is accepted.
    kept = {"classes": [0, 1, 2, TARGET, 4], "dataset": "npz", "data_dir": LOW}
    accepted = client.post("/v1/jobs", json={"kind": "replace", "params": base | kept})
    assert accepted.status_code == 202, accepted.text
    result = succeeded(client, accepted.json()["id"])["result"]
    assert [row["label"] for row in result["per_class_accuracy"]] == ["0", "1", "2", "3", "4"]


def test_calibration_on_data_with_another_input_is_refused_at_submit(
    client: httpx.Client, trained: Trained, uploaded: Trained, other_data: None
) -> None:
    selection = [trained.modules[1]["id"], uploaded.modules[2]["id"]]
    wide = {"dataset": "npz", "data_dir": WIDE}
    jobs, compositions = job_count(client), client.get("/v1/compositions").json()["total"]
    refused = client.post("/v1/compositions", json={"modules": selection, **wide})
    message = assert_error(refused, 400, "INVALID_ARGUMENT", WIDE, "1×16×16 pixels on a 0..255 scale", "1×8×8")
    # The same through /v1/jobs, and modules a calibrate job could not find.
    by_job = client.post("/v1/jobs", json={"kind": "calibrate", "params": {"module_ids": selection, **wide}})
    assert assert_error(by_job, 400, "INVALID_ARGUMENT") == message
    unknown = {"module_ids": [selection[0], "no-such-module"]}
    assert_error(
        client.post("/v1/jobs", json={"kind": "calibrate", "params": unknown}), 404, "NOT_FOUND", "no-such-module"
    )
    assert job_count(client) == jobs
    assert client.get("/v1/compositions").json()["total"] == compositions


@pytest.mark.parametrize(
    ("change", "status", "code", "fragments"),
    [
        ({"dataset": "mnist"}, 400, "DATASET_UNAVAILABLE", ("mnist",)),  # no MNIST files on this server
        ({"classes": [0, 99]}, 400, "INVALID_ARGUMENT", ("[99] out of range", "10 classes")),
        ({"classes": [1, 1]}, 400, "INVALID_ARGUMENT", ("duplicates",)),
        ({"train_fraction": {"99": 0.5}}, 400, "INVALID_ARGUMENT", ("[99]", "not kept")),
        ({"dataset": "npz", "data_dir": "x" * 5000}, 400, "INVALID_ARGUMENT", ("data_dir", "1024")),
    ],
)
def test_train_jobs_the_data_cannot_serve_are_refused_at_submit(
    client: httpx.Client, change: dict[str, Any], status: int, code: str, fragments: tuple[str, ...]
) -> None:
    before = job_count(client)
    params = {"dataset": "digits", "epochs": 1} | change
    assert_error(client.post("/v1/jobs", json={"kind": "train", "params": params}), status, code, *fragments)
    assert job_count(client) == before  # nothing queued


def test_missing_data_is_named_without_the_servers_paths(client: httpx.Client, hub: LiveServer) -> None:
    response = client.post("/v1/jobs", json={"kind": "train", "params": {"dataset": "mnist", "epochs": 1}})
    message = assert_error(response, 400, "DATASET_UNAVAILABLE", "train-images-idx3-ubyte", "MODA_DATASETS_DIR/mnist")
    assert str(hub.home) not in message and str(hub.home.resolve()) not in message
