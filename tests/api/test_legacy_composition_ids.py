"""A registry written when composition ids had 24 hex digits, served by this code (32 digits), on
SQLite and PostgreSQL: its compositions keep their ids and are found, served and deleted by them,
and asking for the same modules again finds them instead of composing them twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from modules_store import JobStatus, Strategy, composition_id, open_artifact_store, open_store
from service.api.app import create_app
from service.config import Settings
from service.jobs.compositions import CompositionBuilder
from service.jobs.runner import run_job
from tests.api.helpers import digits

CLASSES = (0, 1, 2)


def id_of_then(module_ids: list[str]) -> str:
    """The id the code of then gave a pruned composition: the first 24 hex digits of the same recipe."""
    identity = {"module_ids": sorted(module_ids), "strategy": "prune"}
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


@pytest.fixture
def old_registry(tmp_path: Path, database_url: str) -> tuple[Settings, list[str], str]:
    """A trained digits mlp and the composition of the modules of CLASSES, stored as then: (settings,
    those module ids, the composition's 24-digit id)."""
    settings = Settings(home=tmp_path, database_url=database_url, workers=0)
    store = open_store(settings.resolved_database_url)
    artifacts = open_artifact_store(settings.resolved_artifacts_url)
    try:
        job = store.create_job("train", {"dataset": "digits", "arch": "mlp", "epochs": 1})
        claimed = store.claim_job("test:w", job_id=job.id)
        assert claimed is not None
        run_job(store, artifacts, settings, claimed, "test:w")
        trained = store.get_job(job.id)
        assert trained.status == JobStatus.SUCCEEDED, trained.error
        model = store.get_model(trained.result["model_id"])
        modules = [m for m in store.list_modules(model.id).items if m.class_index in CLASSES]
        module_ids = [m.id for m in modules]
        builder = CompositionBuilder(store, artifacts, settings)
        old_id = id_of_then(module_ids)
        stored, _ = builder.store_classifier(
            old_id, Strategy.PRUNE, builder.pruned(model, modules), module_ids, test_data=None
        )
        assert stored.id == old_id
    finally:
        store.close()
    return settings, module_ids, old_id


async def scenario(settings: Settings, module_ids: list[str], old_id: str) -> None:
    app = create_app(settings, run_jobs=False)
    async with (
        app.router.lifespan_context(app),  # the registry and the caches, as when served
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as api,
    ):
        x = digits().of_classes(CLASSES)[0][:4].astype(np.float32)
        inputs = x.tolist()

        assert (await api.get(f"/v1/compositions/{old_id}")).json()["id"] == old_id
        asked_again = await api.post("/v1/compositions", json={"modules": list(reversed(module_ids))})
        assert (asked_again.status_code, asked_again.json()["id"]) == (200, old_id), "found, not composed twice"
        assert (await api.get("/v1/compositions")).json()["total"] == 1
        predicted = await api.post(f"/v1/compositions/{old_id}/predict", json={"inputs": inputs})
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["composition_id"] == old_id
        for _ in range(2):  # composed-and-cached, then from the cache
            answer = await api.post("/v1/predict", json={"modules": module_ids, "inputs": inputs})
            assert answer.status_code == 200, answer.text
            assert answer.json() == predicted.json()
        assert (await api.get(f"/v2/models/{old_id}")).json()["name"] == old_id
        tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
        inferred = await api.post(f"/v2/models/{old_id}/infer", json={"inputs": [tensor]})
        assert (inferred.status_code, inferred.json()["model_name"]) == (200, old_id)
        assert (await api.get(f"/v1/compositions/{old_id}/onnx")).status_code == 200

        assert (await api.delete(f"/v1/compositions/{old_id}")).status_code == 204
        for gone in (f"/v1/compositions/{old_id}", f"/v2/models/{old_id}"):
            assert (await api.get(gone)).status_code == 404
        # Its modules composed again make a composition of the current form, not the cached one.
        new_id = composition_id(module_ids, Strategy.PRUNE)
        answer = await api.post("/v1/predict", json={"modules": module_ids, "inputs": inputs})
        assert answer.status_code == 200, answer.text
        assert answer.json()["composition_id"] == new_id and len(new_id) == 32
        assert (await api.get(f"/v1/compositions/{new_id}")).status_code == 200


def test_compositions_of_24_digit_ids_are_served_found_and_deleted(
    old_registry: tuple[Settings, list[str], str],
) -> None:
    asyncio.run(scenario(*old_registry))
