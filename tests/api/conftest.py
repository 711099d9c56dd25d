"""One real server for the whole API suite (subprocess, local worker process, SQLite), one trained
digits/mlp model, and one composition of three of its modules; most tests share them.

The shared server requires an API key (MODA_API_KEY), so `client` sends it and `anonymous` does not.
Every test is also checked for 5xx answers in the logs of the servers it touched: never a 500. And
every status any test sees must be documented for its operation in the OpenAPI document: checked
once all tests have run (an error at the teardown of the last test names each one that is not).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from service.api.app import create_app
from tests.api.contract import StatusRecorder, undocumented
from tests.api.helpers import (
    API_KEY,
    AUTH,
    CLASSES,
    DIGITS_HALF,
    SERVERS,
    log_size,
    server_errors,
    start_server,
    state_dict_bytes,
    succeeded,
    write_digits_npz,
    write_tiny_npz,
)
from tests.live_server import LiveServer

MAX_UPLOAD_MB = 1  # a digits mlp state dict is about 0.4 MB
MAX_BATCH = 400  # the digits test split has 360 images


@pytest.fixture(autouse=True)
def no_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if any server answered one of its requests with a 5xx (unless the test is an
    expected failure: those document a known bug, which may well be a 500)."""
    before = {id(s): log_size(s) for s in SERVERS}
    yield
    if request.node.get_closest_marker("xfail") is None:
        errors = [line for s in SERVERS for line in server_errors(s, before.get(id(s), 0))]
        assert not errors, f"the server answered with 5xx: {errors}"


@pytest.fixture(scope="session", autouse=True)
def statuses_seen() -> Iterator[StatusRecorder]:
    """Records every response of the session; at its end, each status must be documented."""
    recorder = StatusRecorder()
    with recorder.installed():
        yield recorder
    missing = undocumented(recorder.seen, create_app().openapi())
    assert not missing, "statuses the OpenAPI document omits:\n" + "\n".join(missing)


@pytest.fixture(autouse=True)
def statuses_of_this_test(request: pytest.FixtureRequest, statuses_seen: StatusRecorder) -> None:
    statuses_seen.test = request.node.nodeid
    statuses_seen.paused = request.node.get_closest_marker("xfail") is not None


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("hub")
    datasets = home / "datasets"
    write_tiny_npz(datasets / "tiny")
    write_digits_npz(datasets / DIGITS_HALF)
    env = {
        "MODA_API_KEY": API_KEY,
        "MODA_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
        "MODA_MAX_BATCH": str(MAX_BATCH),
        "MODA_DATASETS_DIR": str(datasets),
        "MODA_WORKERS": "1",
    }
    with start_server(home, env) as server:
        yield server


@pytest.fixture(scope="session")
def client(hub: LiveServer) -> Iterator[httpx.Client]:
    """Authorized: sends the API key."""
    with hub.client(headers=AUTH) as c:
        yield c


@pytest.fixture(scope="session")
def anonymous(hub: LiveServer) -> Iterator[httpx.Client]:
    """Sends no API key."""
    with hub.client() as c:
        yield c


@dataclass(frozen=True)
class Trained:
    job: dict[str, Any]
    model: dict[str, Any]
    modules: list[dict[str, Any]]  # τ = 0.9, by class index

    def module_ids(self, classes: tuple[int, ...] = CLASSES) -> list[str]:
        return [self.modules[c]["id"] for c in classes]


def registered(client: httpx.Client, response: httpx.Response, **module_params: Any) -> Trained:
    """The model a train or ingest job (its 202 `response`) registers, once the job has succeeded, and
    its modules (those matching `module_params`, e.g. tau)."""
    assert response.status_code == 202, response.text
    job = succeeded(client, response.json()["id"])
    model = client.get(f"/v1/models/{job['result']['model_id']}").json()
    modules = client.get(f"/v1/models/{model['id']}/modules", params=module_params).json()["items"]
    return Trained(job, model, sorted(modules, key=lambda m: m["class_index"]))


@pytest.fixture(scope="session")
def trained(client: httpx.Client) -> Trained:
    """A MODA mlp trained on digits through POST /v1/jobs (8 epochs: about 97% accuracy)."""
    response = client.post(
        "/v1/jobs", json={"kind": "train", "params": {"dataset": "digits", "arch": "mlp", "epochs": 8}}
    )
    return registered(client, response, tau=0.9)


@pytest.fixture(scope="session")
def composition(client: httpx.Client, trained: Trained) -> dict[str, Any]:
    """The composition of the modules of digits 0, 3 and 8."""
    response = client.post("/v1/compositions", json={"modules": trained.module_ids()})
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="session")
def uploaded(client: httpx.Client) -> Trained:
    """A second digits mlp (random weights) uploaded as a torch.save state dict and ingested."""
    response = client.post(
        "/v1/models",
        files={"file": ("weights.pt", state_dict_bytes(seed=1), "application/octet-stream")},
        data={"arch": "mlp", "dataset": "digits", "name": "uploaded-mlp"},
    )
    return registered(client, response)


@pytest.fixture(scope="session")
def tiny(client: httpx.Client) -> Trained:
    """An mlp on a 1x4x4, 0..255 dataset (npz under MODA_DATASETS_DIR): an input digits models lack."""
    response = client.post(
        "/v1/jobs",
        json={"kind": "train", "params": {"dataset": "npz", "data_dir": "tiny", "epochs": 1, "name": "tiny"}},
    )
    return registered(client, response)
