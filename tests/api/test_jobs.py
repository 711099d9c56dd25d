"""/v1/jobs: train and modularize jobs end to end, listing and paging, cancellation, server-sent events."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx

from tests.api.conftest import Trained
from tests.api.helpers import AUTH, assert_error, get_job, sse_events, succeeded
from tests.live_server import LiveServer


def test_train_job_on_digits_yields_a_model_and_ten_modules(client: httpx.Client, trained: Trained) -> None:
    job = trained.job
    assert job["kind"] == "train" and job["status"] == "succeeded" and job["error"] is None
    assert job["attempts"] == 1 and not job["cancel_requested"]
    created, started, finished = (datetime.fromisoformat(job[k]) for k in ("created_at", "started_at", "finished_at"))
    assert created <= started <= finished
    assert job["params"]["dataset"] == "digits" and job["params"]["arch"] == "mlp" and job["params"]["epochs"] == 8

    model = trained.model
    assert model["id"] == job["result"]["model_id"] and model["job_id"] == job["id"]
    assert model["arch"] == "mlp" and model["labels"] == [str(d) for d in range(10)]
    assert (model["alpha"], model["beta"], model["gamma"]) == (1.0, 1.0, 0.3)  # MODA, not standard
    assert model["input_spec"]["channels"] == 1 and model["input_spec"]["height"] == 8
    assert model["metrics"]["accuracy"] >= 90.0
    assert len(model["metrics"]["history"]) == 8

    assert len(job["result"]["module_ids"]) == 10
    assert sorted(m["id"] for m in trained.modules) == sorted(job["result"]["module_ids"])
    for c, module in enumerate(trained.modules):
        assert module["model_id"] == model["id"]
        assert (module["class_index"], module["label"], module["tau"]) == (c, str(c), 0.9)
        assert 0 < module["size"] < 1 and module["params"] > 0  # a module is a strict part of the model
        assert client.get(f"/v1/modules/{module['id']}").json() == module


def test_job_listing_pages_without_gaps_or_repeats(client: httpx.Client, trained: Trained) -> None:
    everything = client.get("/v1/jobs", params={"limit": 1000}).json()
    total = everything["total"]
    assert total >= 1 and len(everything["items"]) == total
    created = [j["created_at"] for j in everything["items"]]
    assert created == sorted(created, reverse=True)  # newest first

    paged = []
    for offset in range(0, total, 2):
        page = client.get("/v1/jobs", params={"offset": offset, "limit": 2}).json()
        assert (page["offset"], page["limit"], page["total"]) == (offset, 2, total)
        paged += [j["id"] for j in page["items"]]
    assert paged == [j["id"] for j in everything["items"]]
    beyond = client.get("/v1/jobs", params={"offset": total, "limit": 5}).json()
    assert beyond["items"] == [] and beyond["total"] == total

    filtered = client.get("/v1/jobs", params={"status": "succeeded", "kind": "train"}).json()
    assert trained.job["id"] in [j["id"] for j in filtered["items"]]
    assert all(j["status"] == "succeeded" and j["kind"] == "train" for j in filtered["items"])
    # An unknown kind is a mistake to say, not an empty page; the message names the kinds there are.
    refused = client.get("/v1/jobs", params={"kind": "bake"})
    assert_error(refused, 422, "INVALID_ARGUMENT", "kind")
    assert all(kind in refused.json()["error"]["message"] for kind in ("train", "modularize", "replace"))


def test_bad_job_requests_are_refused_before_anything_is_queued(client: httpx.Client, trained: Trained) -> None:
    before = client.get("/v1/jobs").json()["total"]
    assert_error(client.post("/v1/jobs", json={"kind": "bake"}), 422, "INVALID_ARGUMENT", "kind")
    assert_error(client.post("/v1/jobs", json={"params": {}}), 422, "INVALID_ARGUMENT", "kind")
    assert_error(client.post("/v1/jobs", json={"kind": "ingest"}), 400, "INVALID_ARGUMENT", "/v1/models")
    train = {"kind": "train"}
    cases = [
        ({"epochs": 0}, "epochs"),
        ({"epochs": "many"}, "epochs"),
        ({"dataset": "imagenet"}, "dataset"),
        ({"arch": "transformer"}, "arch"),
        ({"tau": 1.5}, "tau"),
        ({"lr": -1}, "lr"),
        ({"seed": 2**70}, "seed"),  # torch takes 64-bit seeds: the job would crash on it
        ({"name": "../escape"}, "name"),
        ({"epochz": 3}, "epochz"),  # a misspelt parameter is an error, not silently ignored
        ({"dataset": "mnist", "data_dir": "../../etc"}, "data_dir"),  # outside MODA_DATASETS_DIR
        ({"dataset": "npz", "data_dir": "/etc"}, "data_dir"),
    ]
    for params, field in cases:
        assert_error(client.post("/v1/jobs", json={**train, "params": params}), 400, "INVALID_ARGUMENT", field)
    # Without a dataset, data_dir would be silently ignored for the model's own data.
    model_id = trained.model["id"]
    for kind, params in [
        ("modularize", {"model_id": model_id, "tau": 0.5, "data_dir": "mnist"}),
        ("calibrate", {"module_ids": trained.module_ids()[:2], "data_dir": "mnist"}),
        ("replace", {"model_id": model_id, "target_class": 0, "module_id": trained.modules[0]["id"], "data_dir": "x"}),
    ]:
        refused = client.post("/v1/jobs", json={"kind": kind, "params": params})
        assert_error(refused, 400, "INVALID_ARGUMENT", "data_dir needs dataset")
    assert_error(
        client.post("/v1/jobs", json={"kind": "modularize", "params": {"model_id": "no-such-model"}}),
        404,
        "NOT_FOUND",
        "no-such-model",
    )
    assert_error(
        client.post("/v1/jobs", json={"kind": "modularize", "params": {"model_id": trained.model["id"]}}),
        409,
        "ALREADY_EXISTS",
        "tau=0.9",
    )
    assert client.get("/v1/jobs").json()["total"] == before  # nothing was queued


def test_unknown_job_is_404_everywhere(client: httpx.Client) -> None:
    assert_error(client.get("/v1/jobs/nope"), 404, "NOT_FOUND", "nope")
    assert_error(client.post("/v1/jobs/nope/cancel"), 404, "NOT_FOUND", "nope")
    assert_error(client.get("/v1/jobs/nope/events"), 404, "NOT_FOUND", "nope")


def test_a_finished_job_cannot_be_cancelled(client: httpx.Client, trained: Trained) -> None:
    assert_error(client.post(f"/v1/jobs/{trained.job['id']}/cancel"), 409, "CONFLICT", "succeeded")
    assert get_job(client, trained.job["id"])["status"] == "succeeded"


def test_events_of_a_finished_job_are_one_end_event(client: httpx.Client, trained: Trained) -> None:
    with client.stream("GET", f"/v1/jobs/{trained.job['id']}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response))
    assert events == [("end", get_job(client, trained.job["id"]))]


def test_running_train_job_is_cancelled_within_seconds_and_events_follow_it(
    client: httpx.Client, trained: Trained
) -> None:
    long = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1000}})
    assert long.status_code == 202, long.text
    job_id = long.json()["id"]
    # The one worker is busy with the long job, so this one waits in the queue: cancelled at once.
    queued = client.post("/v1/jobs", json={"kind": "train", "params": {"epochs": 1}}).json()

    events: list[tuple[str, dict]] = []
    cancelled_at = None
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        for event, data in sse_events(response):
            events.append((event, data))
            if cancelled_at is None and event == "progress" and data["progress"].get("epoch", 0) >= 1:
                queued_now = client.post(f"/v1/jobs/{queued['id']}/cancel")
                assert queued_now.status_code == 200 and queued_now.json()["status"] == "cancelled"
                cancel = client.post(f"/v1/jobs/{job_id}/cancel")
                assert cancel.status_code == 200, cancel.text
                assert cancel.json()["cancel_requested"] is True
                cancelled_at = time.monotonic()
    ended_after = time.monotonic() - cancelled_at if cancelled_at else None

    assert cancelled_at is not None, f"the job never reported an epoch: {events}"
    assert ended_after is not None and ended_after < 5.0, f"cancellation took {ended_after:.1f}s"
    kinds = [e for e, _ in events]
    assert kinds[-1] == "end" and set(kinds[:-1]) == {"progress"}
    final = events[-1][1]
    assert final["status"] == "cancelled" and final["error"] is None and final["result"] == {}
    assert 1 <= final["progress"]["epoch"] < 1000
    epochs = [d["progress"]["epoch"] for _, d in events if "epoch" in d["progress"]]
    assert epochs == sorted(epochs)  # progress only moves forward
    assert get_job(client, job_id) == final
    assert get_job(client, queued["id"])["status"] == "cancelled"  # it never ran
    assert get_job(client, queued["id"])["attempts"] == 0


def test_modularize_job_splits_a_model_at_another_tau(client: httpx.Client, trained: Trained) -> None:
    response = client.post(
        "/v1/jobs", json={"kind": "modularize", "params": {"model_id": trained.model["id"], "tau": 0.5}}
    )
    assert response.status_code == 202, response.text
    job = succeeded(client, response.json()["id"])
    assert job["result"]["model_id"] == trained.model["id"] and len(job["result"]["module_ids"]) == 10

    at_half = client.get(f"/v1/models/{trained.model['id']}/modules", params={"tau": 0.5}).json()
    assert at_half["total"] == 10 and {m["tau"] for m in at_half["items"]} == {0.5}
    # A lower threshold keeps at least the neurons a higher one keeps: no module shrinks.
    for low, high in zip(sorted(at_half["items"], key=lambda m: m["class_index"]), trained.modules, strict=True):
        assert low["params"] >= high["params"]
    everything = client.get(f"/v1/models/{trained.model['id']}/modules").json()
    assert everything["total"] == 20


def test_identical_modularize_requests_at_one_instant_make_one_job(
    hub: LiveServer, client: httpx.Client, trained: Trained
) -> None:
    body = {"kind": "modularize", "params": {"model_id": trained.model["id"], "tau": 0.7}}
    barrier = threading.Barrier(6, timeout=30)

    def submit(_: int) -> httpx.Response:
        with hub.client(headers=AUTH) as own:  # a connection each, as six separate callers
            barrier.wait()
            return own.post("/v1/jobs", json=body)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(submit, range(6)))
    assert [a.status_code for a in answers] == [202] * 6, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    succeeded(client, answers[0].json()["id"])
