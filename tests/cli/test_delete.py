"""`moda delete`: models, modules and compositions removed through the real command and server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import moda
from tests.live_server import LiveServer, wait_for

KEY = "cli-delete-key"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"MODA_API_KEY": KEY, "MODA_WORKERS": "1", "OMP_NUM_THREADS": "1"}
    with LiveServer(tmp_path_factory.mktemp("cli-delete"), env).start(timeout=180) as server:
        yield server


@pytest.fixture(scope="module")
def api(hub: LiveServer) -> Iterator[httpx.Client]:
    with hub.client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


def test_delete_a_composition_then_a_model_with_its_compositions(hub: LiveServer, api: httpx.Client) -> None:
    job = api.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1}}).raise_for_status().json()
    done = wait_for(
        lambda: (j := api.get(f"/v1/jobs/{job['id']}").json())["status"] == "succeeded" and j,
        timeout=180,
        what="training",
    )
    model_id = done["result"]["model_id"]
    modules = done["result"]["module_ids"]
    first = api.post("/v1/compositions", json={"modules": modules[:2]}).raise_for_status().json()["id"]
    second = api.post("/v1/compositions", json={"modules": modules[2:4]}).raise_for_status().json()["id"]
    url = ("--url", hub.url, "--api-key", KEY)

    anonymous = moda("--url", hub.url, "delete", "composition", first)
    assert anonymous.code == 1 and "UNAUTHENTICATED" in anonymous.err and "--api-key" in anonymous.err
    deleted = moda(*url, "delete", "composition", first)
    assert deleted.code == 0 and f"deleted composition {first}" in deleted.out, deleted.err
    assert api.get(f"/v1/compositions/{first}").status_code == 404
    gone = moda(*url, "delete", "composition", first)
    assert gone.code == 1 and "NOT_FOUND" in gone.err

    refused = moda(*url, "delete", "model", model_id)
    assert refused.code == 1 and "CONFLICT" in refused.err and second in refused.err
    assert moda(*url, "delete", "composition", second, "--cascade").code == 2  # a composition has nothing to cascade to
    cascaded = moda(*url, "delete", "model", model_id, "--cascade")
    assert cascaded.code == 0, cascaded.err
    assert api.get(f"/v1/models/{model_id}").status_code == 404
    assert api.get(f"/v1/compositions/{second}").status_code == 404
    # Nothing else was ever stored: every file the model, its modules and compositions had is reclaimed.
    assert [p for p in Path(hub.home, "artifacts").rglob("*") if p.is_file()] == []
