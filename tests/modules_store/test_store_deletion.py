"""Deleting compositions, modules and models: what goes, what refuses, which artifacts become free,
and the deletion log that other processes poll. On SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from modules_store import (
    Composition,
    CompositionClass,
    DeletionsSince,
    Model,
    Module,
    NewComposition,
    SqlStore,
    StoreError,
    Strategy,
    composition_id,
    sql_deletion,
)

MakeModel = Callable[..., Model]
MakeModules = Callable[..., list[Module]]
SPEC = {"channels": 1, "height": 8, "width": 8, "mean": [4.88], "std": [6.02], "pixel_max": 16.0}


def compose(store: SqlStore, modules: Sequence[Module], onnx: str) -> Composition:
    ids = [m.id for m in modules]
    classes = [
        CompositionClass(index=i, label=m.label, module_id=m.id, model_id=m.model_id, class_index=m.class_index)
        for i, m in enumerate(modules)
    ]
    composition, _ = store.create_composition(
        NewComposition(
            id=composition_id(ids, Strategy.PRUNE),
            strategy=Strategy.PRUNE,
            module_ids=ids,
            classes=classes,
            input_spec=SPEC,
            onnx_sha256=onnx,
            params=10,
            size_ratio=0.5,
            macs=100,
        )
    )
    return composition


def code_of(call: Callable[[], object]) -> str:
    with pytest.raises(StoreError) as error:
        call()
    return str(error.value.code)


def test_deleting_a_composition_frees_its_graph_and_keeps_its_modules(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    a, b, *_ = make_modules(make_model())
    composition = compose(store, [a, b], "c" * 64)
    deleted = store.delete_composition(composition.id)
    assert (deleted.compositions, deleted.modules, deleted.models) == ([composition.id], [], [])
    assert deleted.artifacts == ["c" * 64]
    assert code_of(lambda: store.get_composition(composition.id)) == "NOT_FOUND"
    assert store.get_modules([a.id, b.id]) == [a, b]
    assert code_of(lambda: store.delete_composition(composition.id)) == "NOT_FOUND"


def test_an_artifact_another_row_names_is_not_freed(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    a, b, c, _ = make_modules(make_model())
    first = compose(store, [a, b], "c" * 64)
    compose(store, [a, c], "c" * 64)  # the same bytes: one artifact, two compositions
    assert store.delete_composition(first.id).artifacts == []


def test_a_used_module_refuses_deletion_naming_its_compositions(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    a, b, c, _ = make_modules(make_model())
    first, second = compose(store, [a, b], "c" * 64), compose(store, [a, c], "d" * 64)
    with pytest.raises(StoreError) as error:
        store.delete_module(a.id)
    assert error.value.code == "CONFLICT"
    assert first.id in error.value.message and second.id in error.value.message
    assert store.get_module(a.id) == a and store.get_composition(first.id) == first  # nothing went

    deleted = store.delete_module(a.id, cascade=True)
    assert deleted.modules == [a.id] and sorted(deleted.compositions) == sorted([first.id, second.id])
    assert deleted.artifacts == sorted(["c" * 64, "d" * 64, a.mask_sha256, a.onnx_sha256])
    assert code_of(lambda: store.get_module(a.id)) == "NOT_FOUND"
    assert store.get_modules([b.id, c.id]) == [b, c]


def test_deleting_a_model_takes_its_modules_and_frees_what_only_it_named(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    doomed = make_model("doomed", weights_sha256="e" * 64, metrics={"onnx_sha256": "f" * 64})
    other = make_model("other")
    doomed_modules = make_modules(doomed)
    kept = make_modules(other, classes=[0])  # the same mask and graph bytes as doomed's class 0
    composition = compose(store, doomed_modules[:2], "c" * 64)

    with pytest.raises(StoreError) as error:
        store.delete_model(doomed.id)
    assert error.value.code == "CONFLICT" and composition.id in error.value.message

    deleted = store.delete_model(doomed.id, cascade=True)
    assert deleted.models == [doomed.id] and deleted.compositions == [composition.id]
    assert sorted(deleted.modules) == sorted(m.id for m in doomed_modules)
    shared = {kept[0].mask_sha256, kept[0].onnx_sha256}
    named = {"c" * 64, "e" * 64, "f" * 64} | {s for m in doomed_modules for s in (m.mask_sha256, m.onnx_sha256)}
    assert set(deleted.artifacts) == named - shared
    assert code_of(lambda: store.get_model(doomed.id)) == "NOT_FOUND"
    assert store.list_modules(other.id).items == kept
    assert code_of(lambda: store.delete_model(doomed.id)) == "NOT_FOUND"


def test_weights_a_queued_job_will_read_are_not_freed(store: SqlStore, make_model: MakeModel) -> None:
    model = make_model(weights_sha256="e" * 64)
    job = store.create_job("ingest", {"weights_sha256": "e" * 64})
    assert store.delete_model(model.id).artifacts == []
    store.request_cancel(job.id)  # a finished job reads nothing any more
    assert store.delete_model(make_model(weights_sha256="e" * 64).id).artifacts == ["e" * 64]


def test_the_deletion_log_tells_other_stores_what_went(
    store: SqlStore, open_sql_store: Callable[..., SqlStore], make_model: MakeModel, make_modules: MakeModules
) -> None:
    other_process = open_sql_store()
    a, b, c, d = make_modules(make_model())
    mark = other_process.deletion_mark()
    assert other_process.compositions_deleted_since(mark) == DeletionsSince(position=mark, composition_ids=[])
    first, second = compose(store, [a, b], "c" * 64), compose(store, [c, d], "d" * 64)
    store.delete_composition(first.id)
    store.delete_module(c.id, cascade=True)
    read = other_process.compositions_deleted_since(mark)
    assert read.composition_ids == [first.id, second.id] and not read.pruned
    latest = read.position
    assert latest == other_process.deletion_mark() > mark
    assert other_process.compositions_deleted_since(latest) == DeletionsSince(position=latest, composition_ids=[])
    # Composed again after its deletion: it exists, and its deletion stays in the log.
    again = compose(store, [a, b], "c" * 64)
    assert again.id == first.id and store.get_composition(first.id) == again


def test_the_deletion_log_keeps_a_day_and_tells_a_reader_behind_it(
    store: SqlStore,
    open_sql_store: Callable[..., SqlStore],
    make_model: MakeModel,
    make_modules: MakeModules,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    idle_process, awake_process = open_sql_store(), open_sql_store()
    a, b, c, d = make_modules(make_model())
    old, older, recent = compose(store, [a], "c" * 64), compose(store, [b], "d" * 64), compose(store, [c], "e" * 64)
    idle_mark = idle_process.deletion_mark()
    now = datetime.now(UTC)

    def deleting_at(when: datetime) -> None:
        monkeypatch.setattr(sql_deletion, "utc_now", lambda: when)

    deleting_at(now - timedelta(days=3))
    store.delete_composition(old.id)
    awake = awake_process.compositions_deleted_since(idle_mark)
    assert awake.composition_ids == [old.id] and not awake.pruned
    deleting_at(now - timedelta(hours=12))
    store.delete_composition(older.id)  # prunes the entries older than a day before it: old's
    awake = awake_process.compositions_deleted_since(awake.position)
    assert awake.composition_ids == [older.id] and not awake.pruned, "a reader that saw old's misses nothing"
    deleting_at(now)
    store.delete_composition(recent.id)  # older's is half a day old: kept
    store.delete_module(d.id, cascade=True)  # logs no composition

    behind = idle_process.compositions_deleted_since(idle_mark)
    assert behind.pruned, "old's entry is gone: the idle reader cannot know what it missed"
    assert behind.composition_ids == [older.id, recent.id] and behind.position == awake_process.deletion_mark()
    assert not idle_process.compositions_deleted_since(behind.position).pruned

    # Every entry older than a day: the latest one stays, so positions keep counting up.
    monkeypatch.setattr(sql_deletion, "utc_now", lambda: now + timedelta(days=5))
    (e,) = make_modules(make_model("another"), classes=[0])
    store.delete_composition(compose(store, [e], "f" * 64).id)
    assert store.deletion_mark() > behind.position
    monkeypatch.setattr(sql_deletion, "utc_now", lambda: now + timedelta(days=10))
    (f,) = make_modules(make_model("a third"), classes=[0])
    store.delete_composition(compose(store, [f], "a" * 64).id)
    latest = store.deletion_mark()
    assert store.compositions_deleted_since(latest - 1).composition_ids == [composition_id([f.id], Strategy.PRUNE)]
    assert store.compositions_deleted_since(behind.position).pruned


def test_named_artifacts_are_those_a_row_or_an_unfinished_job_names(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    a, b, *_ = make_modules(make_model())
    compose(store, [a, b], "c" * 64)
    job = store.create_job("ingest", {"weights_sha256": "d" * 64})
    done = store.create_job("ingest", {"weights_sha256": "e" * 64})
    store.request_cancel(done.id)  # a finished job names nothing any more
    candidates = ["c" * 64, a.onnx_sha256, b.mask_sha256, "d" * 64, "e" * 64, "f" * 64]
    assert store.named_artifacts(candidates) == {"c" * 64, a.onnx_sha256, b.mask_sha256, "d" * 64}
    assert store.named_artifacts([]) == set()
    store.request_cancel(job.id)
    assert "d" * 64 not in store.named_artifacts(candidates)
