"""DELETE /v1/compositions/{id}, /v1/modules/{id} and /v1/models/{id}: 204 and gone everywhere at
once (records, predictions, V2, downloads, the files), 404 when absent, 409 while in use, the API key.

The tests delete a model of their own, never the shared `trained` one the other tests compose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Trained, registered
from tests.api.helpers import assert_error, digits, wait_job
from tests.live_server import LiveServer


def artifact(hub: LiveServer, sha256: str) -> Path:
    return hub.home / "artifacts" / sha256[:2] / sha256[2:]


def predict(client: httpx.Client, composition_id: str) -> httpx.Response:
    x, _ = digits().of_classes((0, 1))
    return client.post(f"/v1/compositions/{composition_id}/predict", json={"inputs": x[:2].tolist()})


def compose(client: httpx.Client, module_ids: list[str]) -> dict[str, Any]:
    response = client.post("/v1/compositions", json={"modules": module_ids})
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="module")
def doomed(client: httpx.Client) -> Trained:
    """A digits mlp of one epoch, for the tests to delete bit by bit."""
    response = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1, "name": "doomed"}})
    return registered(client, response)


def test_deleting_needs_the_api_key(anonymous: httpx.Client, client: httpx.Client, doomed: Trained) -> None:
    composition = compose(client, doomed.module_ids((0, 1)))
    for path in (
        f"/v1/compositions/{composition['id']}",
        f"/v1/modules/{doomed.modules[0]['id']}",
        f"/v1/models/{doomed.model['id']}?cascade=true",
    ):
        assert_error(anonymous.delete(path), 401, "UNAUTHENTICATED", "Authorization: Bearer")
        assert client.get(path.split("?")[0]).status_code == 200  # still there


def test_a_deleted_composition_is_gone_at_once_and_can_be_made_again(
    hub: LiveServer, client: httpx.Client, anonymous: httpx.Client, doomed: Trained
) -> None:
    composition = compose(client, doomed.module_ids((0, 1)))
    cid, onnx = composition["id"], artifact(hub, composition["onnx_sha256"])
    assert predict(anonymous, cid).status_code == 200  # cached in the server, session and all
    assert anonymous.get(f"/v2/models/{cid}").status_code == 200 and onnx.is_file()

    deleted = client.delete(f"/v1/compositions/{cid}")
    assert deleted.status_code == 204 and deleted.content == b""

    assert_error(predict(anonymous, cid), 404, "NOT_FOUND", cid)
    assert_error(client.get(f"/v1/compositions/{cid}"), 404, "NOT_FOUND", cid)
    assert_error(client.get(f"/v1/compositions/{cid}/onnx"), 404, "NOT_FOUND")
    assert anonymous.get(f"/v2/models/{cid}").status_code == 404
    assert anonymous.post(f"/v2/models/{cid}/infer", json={"inputs": []}).status_code == 404
    assert cid not in [c["id"] for c in client.get("/v1/compositions", params={"limit": 1000}).json()["items"]]
    assert not onnx.exists()  # nothing else named the file
    assert_error(client.delete(f"/v1/compositions/{cid}"), 404, "NOT_FOUND", cid)
    # Its modules stay, and composing them again makes it again, file and all.
    again = client.post("/v1/compositions", json={"modules": doomed.module_ids((0, 1))})
    assert again.status_code == 201 and again.json()["id"] == cid and onnx.is_file()
    assert predict(anonymous, cid).status_code == 200


def test_a_module_is_deleted_on_its_own(hub: LiveServer, client: httpx.Client, doomed: Trained) -> None:
    lone, used = doomed.modules[9], doomed.modules[8]
    composition = compose(client, [used["id"], doomed.modules[7]["id"]])
    assert_error(client.delete(f"/v1/modules/{used['id']}"), 409, "CONFLICT", composition["id"])

    assert client.delete(f"/v1/modules/{lone['id']}").status_code == 204
    assert_error(client.get(f"/v1/modules/{lone['id']}"), 404, "NOT_FOUND")
    left = client.get(f"/v1/models/{doomed.model['id']}/modules").json()["items"]
    assert lone["id"] not in [m["id"] for m in left] and len(left) == len(doomed.modules) - 1
    assert not artifact(hub, lone["onnx_sha256"]).exists() and artifact(hub, used["onnx_sha256"]).is_file()

    assert client.delete(f"/v1/modules/{used['id']}", params={"cascade": True}).status_code == 204
    assert_error(client.get(f"/v1/compositions/{composition['id']}"), 404, "NOT_FOUND")
    assert_error(client.delete(f"/v1/modules/{used['id']}"), 404, "NOT_FOUND")


def test_a_model_used_by_compositions_refuses_deletion_unless_cascade(
    hub: LiveServer, client: httpx.Client, anonymous: httpx.Client, doomed: Trained, composition: dict[str, Any]
) -> None:
    used = compose(client, doomed.module_ids((2, 3)))
    model_id = doomed.model["id"]
    refused = client.delete(f"/v1/models/{model_id}")
    assert_error(refused, 409, "CONFLICT", model_id, used["id"], "cascade")
    assert client.get(f"/v1/models/{model_id}").status_code == 200 and predict(anonymous, used["id"]).status_code == 200

    files = [artifact(hub, used["onnx_sha256"]), artifact(hub, doomed.model["metrics"]["onnx_sha256"])]
    modules = client.get(f"/v1/models/{model_id}/modules").json()["items"]
    files += [artifact(hub, m["onnx_sha256"]) for m in modules]
    assert all(f.is_file() for f in files)
    assert client.delete(f"/v1/models/{model_id}", params={"cascade": "true"}).status_code == 204

    assert_error(client.get(f"/v1/models/{model_id}"), 404, "NOT_FOUND", model_id)
    assert_error(client.get(f"/v1/models/{model_id}/modules"), 404, "NOT_FOUND")
    assert all(client.get(f"/v1/modules/{m['id']}").status_code == 404 for m in modules)
    assert_error(predict(anonymous, used["id"]), 404, "NOT_FOUND")
    assert not any(f.exists() for f in files)
    assert_error(client.delete(f"/v1/models/{model_id}"), 404, "NOT_FOUND", model_id)
    # What other models are made of is untouched.
    assert predict(anonymous, composition["id"]).status_code == 200
    assert artifact(hub, composition["onnx_sha256"]).is_file()


def test_a_model_a_job_reads_is_kept_until_the_job_ends(client: httpx.Client) -> None:
    """Refused with 409 naming the job, rather than pulled from under it."""
    response = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1, "name": "read-by-a-job"}})
    model = registered(client, response).model
    # The one worker trains a long job, so the modularize job waits, queued, and reads the model later.
    busy = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1000, "name": "busy"}}).json()
    reader = client.post("/v1/jobs", json={"kind": "modularize", "params": {"model_id": model["id"], "tau": 0.5}})
    assert reader.status_code == 202, reader.text
    reader_id = reader.json()["id"]
    try:
        refused = client.delete(f"/v1/models/{model['id']}")
        assert_error(refused, 409, "CONFLICT", model["id"], reader_id, "modularize")
        assert client.get(f"/v1/models/{model['id']}").status_code == 200
    finally:
        for job_id in (reader_id, busy["id"]):
            client.post(f"/v1/jobs/{job_id}/cancel")
    assert wait_job(client, reader_id)["status"] == "cancelled"
    wait_job(client, busy["id"])
    assert client.delete(f"/v1/models/{model['id']}").status_code == 204
