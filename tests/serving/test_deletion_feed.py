"""Deleted compositions leave the caches: at once in the deleting process, within a second in the
others (DeletionFeed over a real registry), for at most one query per second and none per hit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modules_store import (
    Composition,
    CompositionClass,
    DeletionsSince,
    NewComposition,
    NewModel,
    NewModule,
    NotFound,
    SqlStore,
    Strategy,
    composition_id,
    sql_deletion,
)
from service.serving.deletion_feed import DeletionFeed
from service.serving.predictor import CompositionCache, Predictor, Served
from service.serving.sessions import SessionCache
from tests.serving.helpers import DIGITS, ArtifactDir, linear_onnx, pixels

SPEC = DIGITS.to_dict()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/registry.db"


@pytest.fixture
def store(url: str) -> Iterator[SqlStore]:
    store = SqlStore(url)
    yield store
    store.close()


def compositions(store: SqlStore, n: int) -> list[Composition]:
    """`n` compositions, each of one module of one model."""
    labels = [str(i) for i in range(n)]
    model = store.create_model(
        NewModel(
            name="m",
            arch="mlp",
            arch_config={},
            input_spec=SPEC,
            labels=labels,
            alpha=0,
            beta=0,
            gamma=0,
            weights_sha256="a" * 64,
        ),
        modules=[
            NewModule(
                model_id="",
                class_index=i,
                label=label,
                tau=0.9,
                mask_sha256=f"{i:064x}",
                params=1,
                size=0.1,
                onnx_sha256=f"{i + 100:064x}",
            )
            for i, label in enumerate(labels)
        ],
    )
    made = []
    for module in store.list_modules(model.id).items:
        ids = [module.id]
        classes = [
            CompositionClass(
                index=0, label=module.label, module_id=module.id, model_id=model.id, class_index=module.class_index
            )
        ]
        composition, _ = store.create_composition(
            NewComposition(
                id=composition_id(ids, Strategy.PRUNE),
                strategy=Strategy.PRUNE,
                module_ids=ids,
                classes=classes,
                input_spec=SPEC,
                onnx_sha256=f"{module.class_index + 200:064x}",
                params=1,
                size_ratio=0.1,
                macs=1,
            )
        )
        made.append(composition)
    return made


def test_a_deletion_elsewhere_is_dropped_on_the_first_request_a_second_later(store: SqlStore, url: str) -> None:
    elsewhere = SqlStore(url)  # another API process's registry connection
    a, b = compositions(store, 2)
    clock, polls, forgotten = Clock(), [], []

    def since(mark: int) -> DeletionsSince:
        polls.append(mark)
        return store.compositions_deleted_since(mark)

    feed = DeletionFeed(store.deletion_mark, since, clock=clock)
    cache = CompositionCache(store.get_composition, 16, feed, on_forget=forgotten.append)
    cache.get(a.id), cache.get(b.id)
    elsewhere.delete_composition(a.id)
    elsewhere.close()

    clock.now += 0.99
    assert cache.get(a.id).id == a.id and polls == []  # hits within the second ask the registry nothing
    clock.now += 0.01
    with pytest.raises(NotFound):
        cache.get(a.id)
    assert [served.id for served in forgotten] == [a.id] and len(polls) == 1
    for _ in range(100):
        assert cache.cached(b.id) is not None
    assert len(polls) == 1  # one poll per second, however many requests
    clock.now += 1.0
    cache.get(b.id)
    assert len(polls) == 2 and polls[1] > polls[0]  # from where the last poll left off


def test_a_composition_made_again_after_its_deletion_is_served_again(store: SqlStore) -> None:
    (a,) = compositions(store, 1)
    clock = Clock()
    cache = CompositionCache(
        store.get_composition, 16, DeletionFeed(store.deletion_mark, store.compositions_deleted_since, clock=clock)
    )
    cache.get(a.id)
    store.delete_composition(a.id)
    store.create_composition(
        NewComposition(
            id=a.id,
            strategy=a.strategy,
            module_ids=a.module_ids,
            classes=a.classes,
            input_spec=a.input_spec,
            onnx_sha256=a.onnx_sha256,
            params=1,
            size_ratio=0.1,
            macs=1,
        )
    )
    clock.now += 1.0
    assert cache.get(a.id).composition.created_at > a.created_at  # dropped, and read anew


def test_an_unreadable_log_keeps_serving_and_is_retried_a_second_later() -> None:
    clock, calls = Clock(), []

    def since(mark: int) -> DeletionsSince:
        calls.append(mark)
        if len(calls) == 1:
            raise ConnectionError("the database is restarting")
        return DeletionsSince(position=7, composition_ids=["gone"])

    feed, dropped = DeletionFeed(lambda: 3, since, clock=clock), []
    clock.now += 1.0
    feed.poll(dropped.extend, never)
    feed.poll(dropped.extend, never)  # not again within the second, although the last one failed
    assert calls == [3] and dropped == []
    clock.now += 1.0
    feed.poll(dropped.extend, never)
    assert calls == [3, 3] and dropped == ["gone"]


def never() -> None:
    raise AssertionError("the log was not pruned: nothing calls for dropping everything")


def test_a_process_idle_while_the_log_was_pruned_drops_everything_it_caches(
    store: SqlStore, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = SqlStore(url)  # another API process's registry connection, busy meanwhile
    a, b, c = compositions(store, 3)
    clock, forgotten = Clock(), []
    feed = DeletionFeed(store.deletion_mark, store.compositions_deleted_since, clock=clock)
    cache = CompositionCache(store.get_composition, 16, feed, on_forget=forgotten.append)
    cache.get(a.id), cache.get(b.id)
    now = datetime.now(UTC)
    monkeypatch.setattr(sql_deletion, "utc_now", lambda: now - timedelta(days=2))
    elsewhere.delete_composition(a.id)
    monkeypatch.setattr(sql_deletion, "utc_now", lambda: now)
    elsewhere.delete_composition(c.id)  # prunes a's entry: a day older
    elsewhere.close()

    clock.now += 3 * 86400.0  # this process asked nothing meanwhile
    with pytest.raises(NotFound):
        cache.get(a.id)
    assert {served.id for served in forgotten} == {a.id, b.id}, "what else it missed is not known"
    assert cache.get(b.id).id == b.id  # read again


def test_forgetting_drops_the_composition_and_its_session(artifacts: ArtifactDir, store: SqlStore) -> None:
    sha = artifacts.put(linear_onnx(DIGITS, 1)[0])
    sessions = SessionCache(artifacts.open_path, capacity=4)
    (a,) = compositions(store, 1)

    def drop_session(served: Served) -> None:
        sessions.discard(sha)

    cache = CompositionCache(store.get_composition, 16, on_forget=drop_session)
    cache.get(a.id)
    sessions.run(sha, pixels(1, DIGITS))
    assert sha in sessions
    cache.forget([a.id, "never-cached"])
    assert cache.cached(a.id) is None and sha not in sessions
    assert sessions.discard(sha) is False


def test_in_memory_only_while_nothing_would_ask_the_registry_or_load_a_graph(
    artifacts: ArtifactDir, store: SqlStore
) -> None:
    (a,) = compositions(store, 1)
    graph = artifacts.put(linear_onnx(DIGITS, 1)[0])
    clock = Clock()
    feed = DeletionFeed(store.deletion_mark, store.compositions_deleted_since, clock=clock)
    sessions = SessionCache(lambda _: artifacts.open_path(graph), capacity=4)  # every sha names it
    predictor = Predictor(CompositionCache(store.get_composition, 16, feed), sessions, max_batch=8)
    assert not predictor.in_memory(a.id)  # not read from the registry yet
    served = predictor.compositions.get(a.id)
    assert not predictor.in_memory(a.id)  # its graph is not loaded yet
    predictor.logits(served, pixels(1, DIGITS))
    assert predictor.in_memory(a.id)
    clock.now += 1.0
    assert not predictor.in_memory(a.id)  # a deletion poll is due: the next read asks the registry
    predictor.compositions.get(a.id)
    assert predictor.in_memory(a.id)
    sessions.discard(served.composition.onnx_sha256)
    assert not predictor.in_memory(a.id)
