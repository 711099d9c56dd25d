"""Errors are JSON with a stable code, whatever goes wrong and wherever: unknown routes, wrong
methods, odd ids, malformed bodies, oversized bodies with and without a Content-Length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import MAX_BATCH, MAX_UPLOAD_MB, Trained
from tests.api.helpers import CLASSES, assert_error, assert_v2_error, digits, png, raw_json, to_8bit

OVER_LIMIT = MAX_UPLOAD_MB * 1024 * 1024 + 1


def chunked(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked transfer encoding)."""
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_unknown_routes_and_methods_are_json_errors(client: httpx.Client) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(client.delete("/v1/jobs"), 405, "INVALID_ARGUMENT", "method")
    assert_error(client.put("/v1/compositions"), 405, "INVALID_ARGUMENT", "method")
    assert_v2_error(client.get("/v2/nothing-here"), 404)


@pytest.mark.parametrize("odd_id", ["%00", "..%2F..%2Fetc%2Fpasswd", "x" * 2000, "%E2%98%83", "' OR 1=1 --"])
def test_odd_ids_are_404_not_500(client: httpx.Client, odd_id: str) -> None:
    for path in ("/v1/jobs/{}", "/v1/models/{}", "/v1/modules/{}/onnx", "/v1/compositions/{}"):
        response = client.get(path.format(odd_id))
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert_v2_error(client.get(f"/v2/models/{odd_id}"), 404)


def test_malformed_bodies_are_4xx(client: httpx.Client, composition: dict[str, Any]) -> None:
    url = f"/v1/compositions/{composition['id']}/predict"
    huge = '{"inputs": [[' + ", ".join(["1"] * 63 + ["1" + "0" * 400]) + "]]}"
    response = client.post(url, content=huge.encode(), headers={"content-type": "application/json"})
    assert_error(response, 400, "INVALID_ARGUMENT", "too large")
    no_boundary = client.post(url, content=b"--x\r\n\r\n", headers={"content-type": "multipart/form-data"})
    assert 400 <= no_boundary.status_code < 500 and no_boundary.json()["error"]["code"]
    not_utf8 = client.post(url, content=b'{"inputs": "\xff\xfe"}', headers={"content-type": "application/json"})
    assert_error(not_utf8, 400, "INVALID_ARGUMENT")
    a_list = client.post("/v1/jobs", json=[{"kind": "train"}])
    assert_error(a_list, 422, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    ("url", "body", "where"),
    [
        (
            "/v1/jobs",
            '{"kind": "train", "params": {"epochs": 1,, }}',
            "Expecting property name enclosed in double quotes: line 1 column 42 (char 41)",
        ),
        ("/v1/jobs", "not json", "Expecting value: line 1 column 1 (char 0)"),
        ("/v1/jobs", '{"kind": "train",\n "params": {}\n', "Expecting ',' delimiter: line 3 column 1 (char 32)"),
        ("/v1/compositions", '{"modules": [', "Expecting value: line 1 column 14 (char 13)"),
    ],
)
def test_a_body_that_is_not_json_says_why_and_where(client: httpx.Client, url: str, body: str, where: str) -> None:
    """As the endpoints that parse their own bodies say it, not FastAPI's "41: JSON decode error"."""
    message = assert_error(raw_json(client, url, body), 422, "INVALID_ARGUMENT")
    assert message == f"the body is not valid JSON: {where}"


def test_json_nested_deeper_than_a_parser_goes_is_400(client: httpx.Client, composition: dict[str, Any]) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for url in (f"/v1/compositions/{composition['id']}/predict", "/v1/predict", "/v1/jobs"):
        assert_error(raw_json(client, url, '{"inputs": ' + deep + "}"), 400, "INVALID_ARGUMENT")
    infer = '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": ' + deep + "}]}"
    assert_v2_error(raw_json(client, f"/v2/models/{composition['id']}/infer", infer), 400, "JSON")


@pytest.mark.parametrize(
    "listing",
    [
        "/v1/jobs",
        "/v1/models",
        "/v1/models/{model_id}/modules",
        "/v1/compositions",
    ],
)
def test_offsets_beyond_64_bits_are_refused_not_500(client: httpx.Client, trained: Trained, listing: str) -> None:
    url = listing.format(model_id=trained.model["id"])
    last = client.get(url, params={"offset": 2**63 - 1})
    assert last.status_code == 200 and last.json()["items"] == []
    for offset in (2**63, 10**30):
        assert_error(client.get(url, params={"offset": offset}), 422, "INVALID_ARGUMENT", "offset")


def test_too_many_image_files_are_refused(client: httpx.Client, composition: dict[str, Any]) -> None:
    x, _ = digits().of_classes(CLASSES)
    image = png(to_8bit(x[0, 0]))
    files = [("files", (f"{i}.png", image, "image/png")) for i in range(MAX_BATCH + 1)]
    response = client.post(f"/v1/compositions/{composition['id']}/predict", files=files)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == "INVALID_ARGUMENT"


def test_oversized_request_bodies_are_413_with_or_without_content_length(
    client: httpx.Client, composition: dict[str, Any]
) -> None:
    predict = f"/v1/compositions/{composition['id']}/predict"
    infer = f"/v2/models/{composition['id']}/infer"
    body = b'{"inputs": [' + b" " * OVER_LIMIT + b"]}"
    json_type = {"content-type": "application/json"}

    for url in (predict, "/v1/predict", "/v1/compositions", "/v1/jobs"):
        assert_error(client.post(url, content=body, headers=json_type), 413, "PAYLOAD_TOO_LARGE", "MODA_MAX_UPLOAD_MB")
        streamed = client.post(url, content=chunked(body), headers=json_type)
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "PAYLOAD_TOO_LARGE", "MODA_MAX_UPLOAD_MB")
    # /v2 keeps the Open Inference Protocol's error shape.
    assert_v2_error(client.post(infer, content=body, headers=json_type), 413, "MODA_MAX_UPLOAD_MB")
    assert_v2_error(client.post(infer, content=chunked(body), headers=json_type), 413, "MODA_MAX_UPLOAD_MB")

    # Just under the limit, a streamed body is read and answered on its merits.
    x, _ = digits().of_classes(CLASSES)
    small = ('{"inputs": ' + str(x[:2].tolist()) + "}").encode()
    fine = client.post(predict, content=chunked(small, 100), headers=json_type)
    assert fine.status_code == 200, fine.text
    assert len(fine.json()["predictions"]) == 2
