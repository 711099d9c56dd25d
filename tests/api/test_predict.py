"""Prediction over HTTP: JSON tensors, multipart PNG images, the one-call POST /v1/predict, and
every malformed input answered with a 400 that says what is wrong."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.conftest import MAX_BATCH, Trained
from tests.api.helpers import CLASSES, assert_error, digits, png, raw_json, to_8bit


def probabilities(predictions: list[dict[str, Any]]) -> np.ndarray:
    return np.array([[p["probabilities"][str(c)] for c in CLASSES] for p in predictions])


def json_predict(client: httpx.Client, composition_id: str, x: np.ndarray) -> list[dict[str, Any]]:
    response = client.post(f"/v1/compositions/{composition_id}/predict", json={"inputs": x.tolist()})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def image_predict(client: httpx.Client, composition_id: str, images: list[bytes]) -> list[dict[str, Any]]:
    files = [("files", (f"digit-{i}.png", content, "image/png")) for i, content in enumerate(images)]
    response = client.post(f"/v1/compositions/{composition_id}/predict", files=files)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_png_images_predict_like_their_pixels(client: httpx.Client, composition: dict[str, Any]) -> None:
    x, y = digits().of_classes(CLASSES)
    pixels = to_8bit(x[:, 0])  # (N, 8, 8) on 0..255, as a PNG holds them
    from_images = image_predict(client, composition["id"], [png(p) for p in pixels])
    assert len(from_images) == len(x)
    accuracy = 100.0 * np.mean([p["class_index"] == t for p, t in zip(from_images, y, strict=True)])
    assert accuracy >= 90.0
    # An image is its pixels rescaled 0..255 -> 0..16: the same request as JSON gives the same answer.
    same_pixels = pixels[:, None].astype(np.float64) * 16.0 / 255.0
    from_json = json_predict(client, composition["id"], same_pixels)
    np.testing.assert_allclose(probabilities(from_images), probabilities(from_json), atol=1e-6)
    assert [p["label"] for p in from_images] == [p["label"] for p in from_json]


def test_larger_images_are_resized_to_the_model_input(client: httpx.Client, composition: dict[str, Any]) -> None:
    x, _ = digits().of_classes(CLASSES)
    pixels = to_8bit(x[:12, 0])
    small = image_predict(client, composition["id"], [png(p) for p in pixels])
    large = image_predict(client, composition["id"], [png(p, scale=4) for p in pixels])  # 32x32
    np.testing.assert_allclose(probabilities(large), probabilities(small), atol=1e-6)


def test_json_samples_may_be_flat_2d_or_3d(client: httpx.Client, composition: dict[str, Any]) -> None:
    x, _ = digits().of_classes(CLASSES)
    sample = x[0]  # (1, 8, 8)
    layouts = [sample.tolist(), sample[0].tolist(), sample.ravel().tolist()]
    response = client.post(f"/v1/compositions/{composition['id']}/predict", json={"inputs": layouts})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert predictions[0] == predictions[1] == predictions[2]


def test_one_call_predict_composes_and_predicts(
    client: httpx.Client, composition: dict[str, Any], trained: Trained
) -> None:
    x, y = digits().of_classes(CLASSES)
    response = client.post("/v1/predict", json={"modules": trained.module_ids()[::-1], "inputs": x.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["composition_id"] == composition["id"]  # the cached composition of the same modules
    assert body["predictions"] == json_predict(client, composition["id"], x)
    assert np.mean([p["class_index"] == t for p, t in zip(body["predictions"], y, strict=True)]) >= 0.9

    # A selection never composed before is composed, stored and then served like any other.
    fresh = trained.module_ids((4, 6, 9))
    x46, _ = digits().of_classes((4, 6, 9))
    response = client.post("/v1/predict", json={"modules": fresh, "inputs": x46[:5].tolist()})
    assert response.status_code == 200, response.text
    stored = client.get(f"/v1/compositions/{response.json()['composition_id']}")
    assert stored.status_code == 200 and sorted(stored.json()["module_ids"]) == sorted(fresh)


BAD_INPUTS = [
    pytest.param({"inputs": [[1.0] * 63]}, "(63,)", id="wrong-shape"),
    pytest.param({"inputs": [[[1.0] * 8] * 7]}, "(7, 8)", id="wrong-2d-shape"),
    pytest.param({"inputs": [[1.0] * 64, [1.0] * 63]}, "sample 1", id="ragged-batch"),
    pytest.param({"inputs": [[1.0] * 64, "x"]}, "sample 1", id="a-string-sample"),
    pytest.param({"inputs": [[True] * 64]}, "bool", id="booleans"),
    pytest.param({"inputs": [[None] * 64]}, "None", id="nulls"),
    pytest.param({"inputs": [[-1.0] * 64]}, "raw pixels", id="negative"),
    pytest.param({"inputs": [[0.5 - i / 64 for i in range(64)]]}, "not normalised", id="normalised"),
    pytest.param({"inputs": [[17.0] * 64]}, "0..16", id="above-pixel-max"),
    pytest.param({"inputs": []}, "empty", id="empty-batch"),
    pytest.param({"inputs": 3}, "batch", id="scalar"),
    pytest.param({"inputs": [[1.0] * 64] * (MAX_BATCH + 1)}, f"at most {MAX_BATCH}", id="batch-too-large"),
    pytest.param({"samples": [[1.0] * 64]}, "inputs", id="no-inputs-key"),
    pytest.param([[1.0] * 64], "inputs", id="bare-list"),
]


@pytest.mark.parametrize(("body", "fragment"), BAD_INPUTS)
def test_bad_json_inputs_get_400_naming_the_problem(
    client: httpx.Client, composition: dict[str, Any], body: Any, fragment: str
) -> None:
    response = client.post(f"/v1/compositions/{composition['id']}/predict", json=body)
    assert_error(response, 400, "INVALID_ARGUMENT", fragment)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_get_400(client: httpx.Client, composition: dict[str, Any], token: str) -> None:
    sample = ", ".join(["1.0"] * 63 + [token])
    response = raw_json(client, f"/v1/compositions/{composition['id']}/predict", f'{{"inputs": [[{sample}]]}}')
    assert_error(response, 400, "INVALID_ARGUMENT", "NaN or infinity")


def test_bodies_that_are_not_inputs_get_400(client: httpx.Client, composition: dict[str, Any]) -> None:
    url = f"/v1/compositions/{composition['id']}/predict"
    assert_error(raw_json(client, url, '{"inputs": [[1.0'), 400, "INVALID_ARGUMENT", "not valid JSON")
    text = client.post(url, content=b"1,2,3", headers={"content-type": "text/csv"})
    assert_error(text, 400, "INVALID_ARGUMENT", "text/csv")
    not_image = client.post(url, files=[("files", ("notes.png", b"no pixels here", "image/png"))])
    assert_error(not_image, 400, "INVALID_IMAGE", "notes.png")
    x, _ = digits().of_classes(CLASSES)
    good = png(to_8bit(x[0, 0]))
    truncated = client.post(url, files=[("files", ("ok.png", good)), ("files", ("cut.png", good[:40]))])
    assert_error(truncated, 400, "INVALID_IMAGE", "cut.png")
    wrong_field = client.post(url, files=[("image", ("ok.png", good, "image/png"))])
    assert_error(wrong_field, 400, "INVALID_ARGUMENT", "files")


def test_one_call_predict_refuses_bad_requests(client: httpx.Client, trained: Trained, tiny: Trained) -> None:
    before = client.get("/v1/compositions").json()["total"]
    sample = [[1.0] * 64]
    cases = [
        ({"modules": [], "inputs": sample}, 422, "INVALID_ARGUMENT", "modules"),
        ({"modules": trained.module_ids()}, 422, "INVALID_ARGUMENT", "inputs"),
        ({"modules": ["no-such-module"], "inputs": sample}, 404, "NOT_FOUND", "no-such-module"),
        ({"modules": trained.module_ids(), "inputs": [[1.0] * 10]}, 400, "INVALID_ARGUMENT", "(10,)"),
        (
            {"modules": [trained.modules[0]["id"], tiny.modules[1]["id"]], "inputs": sample},
            400,
            "INCOMPATIBLE_MODULES",
            "different inputs",
        ),
    ]
    for body, status, code, fragment in cases:
        assert_error(client.post("/v1/predict", json=body), status, code, fragment)
    nan = json.dumps({"modules": trained.module_ids(), "inputs": [[1.0] * 63 + [float("nan")]]})
    assert_error(raw_json(client, "/v1/predict", nan), 400, "INVALID_ARGUMENT", "NaN")
    assert client.get("/v1/compositions").json()["total"] == before
