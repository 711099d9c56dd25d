"""Races between processes, played by threads that each open their own store (own engine, own pool)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from modules_store import (
    Composition,
    Model,
    Module,
    NewComposition,
    NewModule,
    SqlStore,
    StoreError,
    Strategy,
    composition_id,
)

T = TypeVar("T")
OpenStore = Callable[..., SqlStore]
MakeModel = Callable[..., Model]


def run_together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..count-1) on `count` threads released at the same instant; re-raise any failure."""
    barrier = threading.Barrier(count, timeout=30)

    def start(index: int) -> T:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(start, index) for index in range(count)]
        return [future.result(timeout=60) for future in futures]


def test_each_job_is_claimed_exactly_once(store: SqlStore, open_sql_store: OpenStore) -> None:
    jobs = [store.create_job("train") for _ in range(20)]
    workers = [open_sql_store(migrate=False) for _ in range(8)]

    def drain(index: int) -> list[str]:
        claimed = []
        while (job := workers[index].claim_job(f"worker-{index}")) is not None:
            claimed.append(job.id)
        return claimed

    claims = [job_id for claimed in run_together(len(workers), drain) for job_id in claimed]
    assert sorted(claims) == sorted(job.id for job in jobs)  # all claimed, none twice
    assert {store.get_job(job.id).attempts for job in jobs} == {1}


def test_racing_creators_of_one_composition_get_one_row(
    store: SqlStore,
    open_sql_store: OpenStore,
    make_model: Callable[..., Model],
    make_modules: Callable[..., list[Module]],
) -> None:
    modules = make_modules(make_model(), classes=[0, 2])
    ids = [module.id for module in modules]
    key = composition_id(ids, "prune")
    stores = [open_sql_store(migrate=False) for _ in range(8)]

    def create(index: int) -> tuple[Composition, bool]:
        return stores[index].create_composition(
            NewComposition(
                id=key,
                strategy=Strategy.PRUNE,
                module_ids=ids,
                classes=[],
                input_spec={},
                onnx_sha256="d" * 64,
                params=10,
                size_ratio=0.5,
                macs=100,
            )
        )

    results = run_together(len(stores), create)
    assert sum(created for _, created in results) == 1
    assert all(composition == results[0][0] for composition, _ in results)
    assert store.list_compositions().total == 1


def test_racing_model_creators_get_distinct_versions(
    store: SqlStore, open_sql_store: OpenStore, make_model: MakeModel
) -> None:
    stores = [open_sql_store(migrate=False) for _ in range(6)]

    def create(index: int) -> int:
        return make_model("contended", on=stores[index], weights_sha256=f"{index:064x}").version

    assert sorted(run_together(len(stores), create)) == [1, 2, 3, 4, 5, 6]


def test_racing_attempts_of_one_job_register_one_model(
    store: SqlStore, open_sql_store: OpenStore, make_model: MakeModel
) -> None:
    job = store.create_job("train")
    stores = [open_sql_store(migrate=False) for _ in range(6)]

    def create(index: int) -> str:
        try:
            # Not one name, whose version lock would serialise the attempts anyway.
            make_model(f"attempt-{index}", on=stores[index], weights_sha256=f"{index:064x}", job_id=job.id)
        except StoreError as error:
            return error.code
        return "created"

    assert sorted(run_together(len(stores), create)) == ["ALREADY_EXISTS"] * 5 + ["created"]
    assert store.list_models().total == 1


def test_racing_dataset_creators_share_one_dataset(store: SqlStore, open_sql_store: OpenStore) -> None:
    stores = [open_sql_store(migrate=False) for _ in range(6)]

    def create(index: int) -> str:
        dataset = stores[index].get_or_create_dataset(
            name="digits", input_spec={"channels": 1}, labels=["0", "1"], n_train=10, n_test=5
        )
        return dataset.id

    assert len(set(run_together(len(stores), create))) == 1
    assert store.list_datasets().total == 1


def test_racing_module_batches_write_one_batch(
    store: SqlStore,
    open_sql_store: OpenStore,
    make_model: Callable[..., Model],
    module_specs: Callable[..., list[NewModule]],
) -> None:
    model = make_model()
    batch = module_specs(model)
    stores = [open_sql_store(migrate=False) for _ in range(4)]

    def create(index: int) -> str:
        try:
            stores[index].create_modules(batch)
        except StoreError as error:
            return error.code
        return "created"

    outcomes = sorted(run_together(len(stores), create))
    assert outcomes == ["ALREADY_EXISTS"] * 3 + ["created"]
    assert store.list_modules(model.id).total == len(batch)


def test_first_open_from_several_processes_migrates_once(database_url: str) -> None:
    opened = run_together(4, lambda _: SqlStore(database_url))
    try:
        job = opened[0].create_job("train")
        assert all(other.get_job(job.id) == job for other in opened)
    finally:
        for store in opened:
            store.close()


def test_racing_submitters_of_one_dedupe_key_get_one_job(store: SqlStore, open_sql_store: OpenStore) -> None:
    stores = [open_sql_store(migrate=False) for _ in range(6)]
    answers = run_together(len(stores), lambda i: stores[i].find_or_create_job("modularize", dedupe_key="split"))
    assert len({job.id for job, _ in answers}) == 1
    assert sum(created for _, created in answers) == 1
    assert store.list_jobs(kind="modularize").total == 1
