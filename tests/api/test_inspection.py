"""Read-only views the web UI draws: a composition's cost before it is built (preview), the overlap
matrix of a model's modules, the datasets on record, and the per-epoch history of a train job."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

from tests.api.conftest import Trained
from tests.api.helpers import assert_error


def test_preview_costs_what_the_built_composition_costs(client: httpx.Client, trained: Trained) -> None:
    ids = trained.module_ids((1, 4, 7))  # a selection no other test composes, so it is not built yet
    before = client.get("/v1/compositions/preview", params={"modules": ids})
    assert before.status_code == 200, before.text
    preview = before.json()
    assert preview["existing"] is None
    assert preview["strategy"] == "prune"
    assert preview["labels"] == ["1", "4", "7"]
    assert preview["source_params"] == trained.model["metrics"]["params"]

    built = client.post("/v1/compositions", json={"modules": list(reversed(ids))})
    assert built.status_code == 201, built.text
    composition = built.json()
    for field in ("params", "macs", "size_ratio"):
        assert preview[field] == composition[field], field
    after = client.get("/v1/compositions/preview", params={"modules": ids}).json()
    assert after["existing"]["id"] == composition["id"]
    assert after["existing"]["accuracy"] == composition["accuracy"]


def test_preview_of_several_models_is_calibrated_and_sums_their_parts(
    client: httpx.Client, trained: Trained, uploaded: Trained
) -> None:
    ids = [trained.modules[1]["id"], uploaded.modules[5]["id"]]
    both = client.get("/v1/compositions/preview", params={"modules": ids}).json()
    assert both["strategy"] == "calibrated"
    assert both["existing"] is None
    assert both["source_params"] == trained.model["metrics"]["params"] + uploaded.model["metrics"]["params"]
    alone = [client.get("/v1/compositions/preview", params={"modules": [i]}).json() for i in ids]
    assert both["params"] == sum(p["params"] for p in alone)
    assert both["macs"] == sum(p["macs"] for p in alone)
    # Output order is by model id, then class, whatever the order asked.
    by_model = sorted([(trained.model["id"], "1"), (uploaded.model["id"], "5")])
    assert both["labels"] == [label for _, label in by_model]


def test_preview_refuses_what_compose_refuses(client: httpx.Client, trained: Trained) -> None:
    twice = trained.module_ids((2, 2))
    assert_error(client.get("/v1/compositions/preview", params={"modules": twice}), 400, "INVALID_ARGUMENT")
    assert_error(client.get("/v1/compositions/preview", params={"modules": ["nope"]}), 404, "NOT_FOUND")
    assert client.get("/v1/compositions/preview").status_code == 422


def test_overlap_matrix_is_symmetric_with_module_sizes_on_its_diagonal(client: httpx.Client, trained: Trained) -> None:
    response = client.get(f"/v1/models/{trained.model['id']}/overlap")
    assert response.status_code == 200, response.text
    overlap = response.json()
    assert overlap["tau"] == 0.9
    assert overlap["module_ids"] == [m["id"] for m in trained.modules]
    assert overlap["labels"] == trained.model["labels"]
    shared, jaccard = overlap["shared"], overlap["jaccard"]
    n = len(trained.modules)
    assert len(shared) == len(jaccard) == n and all(len(row) == n for row in shared + jaccard)
    for i in range(n):
        assert abs(shared[i][i] - trained.modules[i]["size"]) < 0.02  # padding aside, the module's size
        assert jaccard[i][i] == 1.0
        for j in range(n):
            assert shared[i][j] == shared[j][i] and jaccard[i][j] == jaccard[j][i]
            assert 0 <= shared[i][j] <= min(shared[i][i], shared[j][j]) + 1e-9
            assert 0 <= jaccard[i][j] <= 1
    pairs = [jaccard[i][j] for i in range(n) for j in range(i)]
    assert sum(pairs) / len(pairs) < 0.9  # MODA modules are mostly distinct


def test_overlap_of_unknown_model_or_tau_is_404(client: httpx.Client, trained: Trained) -> None:
    assert_error(client.get("/v1/models/nope/overlap"), 404, "NOT_FOUND")
    missing = client.get(f"/v1/models/{trained.model['id']}/overlap", params={"tau": 0.123})
    assert_error(missing, 404, "NOT_FOUND", "0.123")


def test_datasets_name_the_data_of_models(client: httpx.Client, trained: Trained) -> None:
    page = client.get("/v1/datasets").json()
    by_id: dict[str, dict[str, Any]] = {d["id"]: d for d in page["items"]}
    dataset = by_id[trained.model["dataset_id"]]
    assert dataset["name"] == "digits"
    assert dataset["labels"] == trained.model["labels"]
    assert dataset["n_train"] + dataset["n_test"] == 1797
    assert client.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    assert_error(client.get("/v1/datasets/nope"), 404, "NOT_FOUND")


def test_train_history_has_every_loss_term_and_class_accuracy(trained: Trained) -> None:
    metrics = trained.model["metrics"]
    history = metrics["history"]
    assert [h["epoch"] for h in history] == list(range(1, metrics["epochs"] + 1))
    for h in history:
        assert h["loss"] >= h["ce"] > 0  # MODA: the affinity, dispersion and compactness terms add to CE
        assert {"affinity", "dispersion", "compactness", "train_accuracy", "test_accuracy"} <= h.keys()
    assert history[-1]["loss"] < history[0]["loss"]
    per_class = metrics["class_accuracy"]
    assert len(per_class) == 10 and all(0 <= a <= 100 for a in per_class)
    # The test split has about 36 images per class: the mean of the classes is close to the overall accuracy.
    assert abs(sum(per_class) / 10 - metrics["accuracy"]) < 2


def test_samples_of_a_dataset_are_inputs_its_compositions_predict(
    client: httpx.Client, trained: Trained, composition: dict[str, Any]
) -> None:
    dataset_id = trained.model["dataset_id"]
    labels = [c["label"] for c in composition["classes"]]
    response = client.get(f"/v1/datasets/{dataset_id}/samples", params={"labels": labels, "n": 30})
    assert response.status_code == 200, response.text
    samples = response.json()
    assert [s["label"] for s in samples] == labels * 10  # in turn from each class
    pixels = np.array([s["pixels"] for s in samples])
    assert pixels.shape == (30, 1, 8, 8) and pixels.min() >= 0 and pixels.max() <= 16
    assert len({p.tobytes() for p in pixels}) == 30  # thirty different images
    again = client.get(f"/v1/datasets/{dataset_id}/samples", params={"labels": labels, "n": 30}).json()
    assert again == samples
    predicted = client.post(f"/v1/compositions/{composition['id']}/predict", json={"inputs": pixels.tolist()})
    assert predicted.status_code == 200, predicted.text
    right = sum(p["label"] == s["label"] for p, s in zip(predicted.json()["predictions"], samples, strict=True))
    assert right >= 27  # test images the model never saw: its ~97 % accuracy


def test_samples_refuse_unknown_classes_and_sizes(client: httpx.Client, trained: Trained) -> None:
    path = f"/v1/datasets/{trained.model['dataset_id']}/samples"
    assert_error(client.get(path, params={"labels": ["ten"]}), 400, "INVALID_ARGUMENT", "ten")
    assert client.get(path, params={"n": 0}).status_code == 422
    assert client.get(path, params={"n": 65}).status_code == 422
    assert_error(client.get("/v1/datasets/nope/samples"), 404, "NOT_FOUND")
    assert len(client.get(path).json()) == 8
