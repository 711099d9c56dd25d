"""Datasets, models, modules and compositions: round trips, uniqueness, ordering, pagination."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modules_store import (
    MAX_PAGE_LIMIT,
    Composition,
    CompositionClass,
    Model,
    Module,
    NewComposition,
    NewModule,
    SqlStore,
    StoreError,
    Strategy,
    composition_id,
    new_id,
)

SPEC = {"channels": 1, "height": 8, "width": 8, "mean": (4.88,), "std": (6.02,), "pixel_max": 16.0}
LABELS = ["zero", "one", "two", "three"]  # the labels make_model gives a model

MakeModel = Callable[..., Model]
MakeModules = Callable[..., list[Module]]


def _code(error: pytest.ExceptionInfo[StoreError]) -> str:
    return error.value.code


# -- datasets ---------------------------------------------------------------------------------


def test_get_or_create_dataset_creates_once_and_round_trips(store: SqlStore) -> None:
    created = store.get_or_create_dataset(name="digits", input_spec=SPEC, labels=LABELS, n_train=1437, n_test=360)
    again = store.get_or_create_dataset(
        name="digits", input_spec=SPEC, labels=LABELS, n_train=9, n_test=9, data_dir="/elsewhere"
    )
    assert again == created
    assert store.get_dataset(created.id) == created
    assert store.get_dataset_by_name("digits") == created
    assert created.input_spec["mean"] == [4.88]  # tuples come back as JSON lists, also from create
    assert (created.n_train, created.n_test, created.data_dir) == (1437, 360, None)


def test_dataset_name_means_one_layout(store: SqlStore) -> None:
    store.get_or_create_dataset(name="digits", input_spec=SPEC, labels=LABELS, n_train=1, n_test=1)
    with pytest.raises(StoreError) as error:
        store.get_or_create_dataset(name="digits", input_spec=SPEC, labels=["a", "b"], n_train=1, n_test=1)
    assert _code(error) == "CONFLICT"


def test_missing_dataset_is_not_found(store: SqlStore) -> None:
    with pytest.raises(StoreError) as error:
        store.get_dataset("nope")
    assert _code(error) == "NOT_FOUND"
    with pytest.raises(StoreError) as error:
        store.get_dataset_by_name("nope")
    assert _code(error) == "NOT_FOUND"


def test_list_datasets_orders_by_name(store: SqlStore) -> None:
    for name in ["svhn", "digits", "mnist"]:
        store.get_or_create_dataset(name=name, input_spec=SPEC, labels=LABELS, n_train=1, n_test=1)
    page = store.list_datasets(offset=1, limit=1)
    assert [dataset.name for dataset in page.items] == ["mnist"]
    assert page.total == 3


# -- models -----------------------------------------------------------------------------------


def test_model_round_trip(store: SqlStore, make_model: MakeModel) -> None:
    dataset = store.get_or_create_dataset(name="digits", input_spec=SPEC, labels=LABELS, n_train=1, n_test=1)
    job = store.create_job("train", {"epochs": 3})
    model = make_model(dataset_id=dataset.id, job_id=job.id)
    assert store.get_model(model.id) == model
    assert model.version == 1
    assert model.arch_config == {"hidden": [64, 32], "num_classes": 4}
    assert (model.alpha, model.beta, model.gamma) == (1.0, 1.0, 0.3)
    assert (model.dataset_id, model.job_id) == (dataset.id, job.id)


def test_model_versions_increment_per_name(make_model: MakeModel) -> None:
    versions = [(model.name, model.version) for model in (make_model("a"), make_model("a"), make_model("b"))]
    assert versions == [("a", 1), ("a", 2), ("b", 1)]
    assert make_model("a").version == 3


def test_explicit_model_version(store: SqlStore, make_model: MakeModel) -> None:
    assert make_model("a", version=5).version == 5
    assert make_model("a").version == 6  # auto continues after the highest
    with pytest.raises(StoreError) as error:
        make_model("a", version=5)
    assert _code(error) == "ALREADY_EXISTS"
    with pytest.raises(StoreError) as error:
        make_model("a", version=0)
    assert _code(error) == "INVALID_ARGUMENT"
    assert store.list_models(name="a").total == 2


def test_model_references_must_exist(make_model: MakeModel) -> None:
    for reference in ({"dataset_id": "missing"}, {"job_id": "missing"}):
        with pytest.raises(StoreError) as error:
            make_model(**reference)
        assert _code(error) == "NOT_FOUND"


def test_find_model_by_job(store: SqlStore, make_model: MakeModel) -> None:
    job, idle = store.create_job("train"), store.create_job("train")
    assert store.find_model_by_job(job.id) is None
    model = make_model(job_id=job.id)
    make_model("unrelated")
    assert store.find_model_by_job(job.id) == model
    assert store.find_model_by_job(idle.id) is None
    assert store.find_model_by_job("missing") is None


def test_a_job_registers_one_model(store: SqlStore, make_model: MakeModel) -> None:
    job = store.create_job("train")
    first = make_model(job_id=job.id)
    with pytest.raises(StoreError) as error:
        make_model("another-name", job_id=job.id)
    assert _code(error) == "ALREADY_EXISTS"
    assert store.list_models().items == [first]


def test_create_model_writes_its_modules_with_it(
    store: SqlStore, make_model: MakeModel, module_specs: Callable[..., list[NewModule]]
) -> None:
    specs = module_specs(make_model("template"))  # their model_id is the template's: the store replaces it
    model = make_model("with-modules", modules=specs)
    modules = store.list_modules(model.id).items
    assert [(m.model_id, m.class_index, m.tau) for m in modules] == [(model.id, c, 0.9) for c in range(len(LABELS))]
    assert [m.onnx_sha256 for m in modules] == [spec.onnx_sha256 for spec in specs]


def test_create_model_with_a_bad_module_writes_nothing(
    store: SqlStore, make_model: MakeModel, module_specs: Callable[..., list[NewModule]]
) -> None:
    good = module_specs(make_model("template"), classes=[0, 1])
    job = store.create_job("train")
    for bad, code in [
        (dataclasses.replace(good[1], class_index=2), "INVALID_ARGUMENT"),  # label "one" is not class 2
        (good[0], "ALREADY_EXISTS"),  # the batch repeats class 0
    ]:
        with pytest.raises(StoreError) as error:
            make_model("half-written", job_id=job.id, modules=[good[0], bad])
        assert _code(error) == code
    assert store.list_models(name="half-written").total == 0
    assert store.find_model_by_job(job.id) is None


def test_get_model_by_name(store: SqlStore, make_model: MakeModel) -> None:
    first, second = make_model("a"), make_model("a")
    assert store.get_model_by_name("a") == second
    assert store.get_model_by_name("a", version=1) == first
    for name, version in [("a", 3), ("b", None)]:
        with pytest.raises(StoreError) as error:
            store.get_model_by_name(name, version)
        assert _code(error) == "NOT_FOUND"


def test_list_models_pages_in_name_version_order(store: SqlStore, make_model: MakeModel) -> None:
    for name in ["b", "a", "b", "a", "a"]:
        make_model(name)
    seen = []
    for offset in range(0, 6, 2):
        page = store.list_models(offset=offset, limit=2)
        assert (page.total, page.offset, page.limit) == (5, offset, 2)
        seen += [(model.name, model.version) for model in page.items]
    assert seen == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]
    only_b = store.list_models(name="b", limit=1)
    assert only_b.total == 2
    assert [model.version for model in only_b.items] == [1]
    assert store.list_models(offset=10).items == []


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0), (0, MAX_PAGE_LIMIT + 1)])
def test_page_bounds_are_checked(store: SqlStore, offset: int, limit: int) -> None:
    with pytest.raises(StoreError) as error:
        store.list_models(offset=offset, limit=limit)
    assert _code(error) == "INVALID_ARGUMENT"


def test_update_model_metrics_merges(store: SqlStore, make_model: MakeModel) -> None:
    model = make_model(metrics={"accuracy": 0.9, "loss": 0.3})
    updated = store.update_model_metrics(model.id, {"accuracy": 0.95, "module_size": 0.12})
    assert updated.metrics == {"accuracy": 0.95, "loss": 0.3, "module_size": 0.12}
    assert store.get_model(model.id) == updated
    with pytest.raises(StoreError) as error:
        store.update_model_metrics("missing", {})
    assert _code(error) == "NOT_FOUND"


def test_json_fields_refuse_nan(make_model: MakeModel) -> None:
    with pytest.raises(StoreError) as error:
        make_model(metrics={"accuracy": math.nan})
    assert _code(error) == "INVALID_ARGUMENT"


# -- modules ----------------------------------------------------------------------------------


def test_create_modules_round_trip(store: SqlStore, make_model: MakeModel, make_modules: MakeModules) -> None:
    model = make_model()
    modules = make_modules(model)
    assert [module.class_index for module in modules] == [0, 1, 2, 3]
    assert [module.label for module in modules] == LABELS
    assert modules[0].empty_mask_fallback and not modules[1].empty_mask_fallback
    assert all(store.get_module(module.id) == module for module in modules)
    assert modules[2].params == 102 and modules[2].size == pytest.approx(0.12)


def test_get_modules_keeps_the_given_order(store: SqlStore, make_model: MakeModel, make_modules: MakeModules) -> None:
    a, b, c, _ = make_modules(make_model())
    assert store.get_modules([c.id, a.id, b.id, c.id]) == [c, a, b, c]
    assert store.get_modules([]) == []


def test_get_modules_names_every_missing_id(store: SqlStore, make_model: MakeModel, make_modules: MakeModules) -> None:
    a, *_ = make_modules(make_model())
    with pytest.raises(StoreError) as error:
        store.get_modules(["ghost-1", a.id, "ghost-2", "ghost-1"])
    assert _code(error) == "NOT_FOUND"
    assert "ghost-1" in error.value.message and "ghost-2" in error.value.message
    assert a.id not in error.value.message


def test_module_key_is_unique(store: SqlStore, make_model: MakeModel, make_modules: MakeModules) -> None:
    model = make_model()
    make_modules(model, tau=0.9, classes=[0])
    make_modules(model, tau=0.8, classes=[0])  # another tau is another module
    with pytest.raises(StoreError) as error:
        make_modules(model, tau=0.9, classes=[0])
    assert _code(error) == "ALREADY_EXISTS"


def test_create_modules_is_all_or_nothing(
    store: SqlStore,
    make_model: MakeModel,
    make_modules: MakeModules,
    module_specs: Callable[..., list[NewModule]],
) -> None:
    model = make_model()
    make_modules(model, classes=[3])
    # Three fresh modules, then one that exists: none of the four may be written.
    with pytest.raises(StoreError) as error:
        store.create_modules(module_specs(model, classes=[0, 1, 2, 3]))
    assert _code(error) == "ALREADY_EXISTS"
    assert "class_index" in error.value.message  # names the key that clashed
    # A batch that repeats itself fails the same way.
    with pytest.raises(StoreError) as error:
        store.create_modules(module_specs(model, classes=[0, 1, 0]))
    assert _code(error) == "ALREADY_EXISTS"
    assert [module.class_index for module in store.list_modules(model.id).items] == [3]


def test_create_modules_rolls_back_on_a_late_invalid_module(
    store: SqlStore, make_model: MakeModel, module_specs: Callable[..., list[NewModule]]
) -> None:
    model = make_model()
    good = module_specs(model, classes=[0, 1])
    bad = dataclasses.replace(good[1], class_index=2)  # label "one" is not class 2
    with pytest.raises(StoreError) as error:
        store.create_modules([good[0], bad])
    assert _code(error) == "INVALID_ARGUMENT"
    assert store.list_modules(model.id).total == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"class_index": 4, "label": "four"}, "INVALID_ARGUMENT"),
        ({"class_index": -1}, "INVALID_ARGUMENT"),
        ({"tau": 1.5}, "INVALID_ARGUMENT"),
        ({"model_id": "missing"}, "NOT_FOUND"),
    ],
)
def test_create_modules_validates(
    store: SqlStore,
    make_model: MakeModel,
    module_specs: Callable[..., list[NewModule]],
    change: dict[str, object],
    code: str,
) -> None:
    spec = dataclasses.replace(module_specs(make_model(), classes=[0])[0], **change)
    with pytest.raises(StoreError) as error:
        store.create_modules([spec])
    assert _code(error) == code


def test_list_modules_orders_filters_and_pages(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    model, other = make_model(), make_model("other")
    make_modules(model, tau=0.9)
    make_modules(model, tau=0.5, classes=[1, 2])
    make_modules(other, tau=0.9)
    page = store.list_modules(model.id, limit=3)
    assert page.total == 6
    assert [(module.class_index, module.tau) for module in page.items] == [(0, 0.9), (1, 0.5), (1, 0.9)]
    at_half = store.list_modules(model.id, tau=0.5)
    assert (at_half.total, [module.class_index for module in at_half.items]) == (2, [1, 2])
    assert store.list_modules(make_model("empty").id).total == 0
    with pytest.raises(StoreError) as error:
        store.list_modules("missing")
    assert _code(error) == "NOT_FOUND"


# -- compositions -----------------------------------------------------------------------------


def _compose(
    store: SqlStore, modules: list[Module], strategy: Strategy = Strategy.PRUNE, cid: str | None = None
) -> tuple[Composition, bool]:
    ids = [module.id for module in modules]
    return store.create_composition(
        NewComposition(
            id=cid or composition_id(ids, strategy),
            strategy=strategy,
            module_ids=ids,
            classes=[
                CompositionClass(
                    index=position,
                    label=module.label,
                    module_id=module.id,
                    model_id=module.model_id,
                    class_index=module.class_index,
                )
                for position, module in enumerate(modules)
            ],
            input_spec=SPEC,
            onnx_sha256="c" * 64,
            params=1234,
            size_ratio=0.25,
            macs=5_000_000_000,  # beyond 32 bits
        )
    )


def test_create_composition_is_idempotent(store: SqlStore, make_model: MakeModel, make_modules: MakeModules) -> None:
    a, b, c, _ = make_modules(make_model())
    created, was_created = _compose(store, [c, a, b])
    again, created_again = _compose(store, [c, a, b])
    assert (was_created, created_again) == (True, False)
    assert again == created == store.get_composition(created.id)
    assert created.module_ids == [c.id, a.id, b.id]
    assert created.classes[0] == CompositionClass(
        index=0, label=c.label, module_id=c.id, model_id=c.model_id, class_index=c.class_index
    )
    assert created.strategy is Strategy.PRUNE
    assert created.macs == 5_000_000_000 and created.accuracy is None


def test_composition_of_an_unknown_strategy_is_invalid(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    a, *_ = make_modules(make_model())
    new = NewComposition(
        id=composition_id([a.id], "stacked"),
        strategy="stacked",  # type: ignore[arg-type]  # what an untyped caller could pass
        module_ids=[a.id],
        classes=[],
        input_spec=SPEC,
        onnx_sha256="c" * 64,
        params=1,
        size_ratio=0.1,
        macs=1,
    )
    with pytest.raises(StoreError) as error:
        store.create_composition(new)
    assert _code(error) == "INVALID_ARGUMENT"
    assert "stacked" in error.value.message and "calibrated" in error.value.message
    assert store.list_compositions().total == 0


def test_composition_of_missing_modules_is_not_found(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    a, *_ = make_modules(make_model())
    with pytest.raises(StoreError) as error:
        store.create_composition(
            NewComposition(
                id=composition_id([a.id, "ghost"], Strategy.PRUNE),
                strategy=Strategy.PRUNE,
                module_ids=[a.id, "ghost"],
                classes=[],
                input_spec=SPEC,
                onnx_sha256="c" * 64,
                params=1,
                size_ratio=0.1,
                macs=1,
            )
        )
    assert _code(error) == "NOT_FOUND"
    assert "ghost" in error.value.message
    assert store.list_compositions().total == 0


def test_a_composition_stored_under_its_24_digit_id_is_found_by_its_32_digit_id(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    """A registry written before composition ids had 32 digits holds the first 24: both name it."""
    a, b, *_ = make_modules(make_model())
    legacy = _recipe({"module_ids": sorted([a.id, b.id]), "strategy": "prune"}, digits=24)
    current = composition_id([a.id, b.id], Strategy.PRUNE)
    stored, _ = _compose(store, [a, b], cid=legacy)  # as the code of then stored it
    assert stored.id == legacy and current.startswith(legacy)

    assert store.get_composition(legacy) == store.get_composition(current) == stored
    assert _compose(store, [b, a]) == (stored, False), "the same modules composed again: found, not made twice"
    assert store.list_compositions().total == 1
    assert store.update_composition_metrics(current, {"f1": 0.5}).id == legacy
    with pytest.raises(StoreError) as error:
        store.get_composition(legacy + "zz")  # not an id of the current form: no shorter one is tried
    assert _code(error) == "NOT_FOUND"

    assert store.delete_composition(current).compositions == [legacy]
    assert store.compositions_deleted_since(0).composition_ids == [legacy], "the id processes cache it by"
    for cid in (legacy, current):
        with pytest.raises(StoreError) as error:
            store.get_composition(cid)
        assert _code(error) == "NOT_FOUND"


def test_an_id_stored_as_it_is_wins_over_its_24_digit_form(
    store: SqlStore, make_model: MakeModel, make_modules: MakeModules
) -> None:
    # Both forms stored: a server of each version composed the same modules at the same moment.
    a, b, *_ = make_modules(make_model())
    exact, _ = _compose(store, [a, b])
    legacy, created = _compose(store, [a, b], cid=exact.id[:24])
    assert created
    assert store.get_composition(exact.id) == exact and store.get_composition(legacy.id) == legacy
    assert store.delete_composition(exact.id).compositions == [exact.id]


def test_list_and_update_compositions(store: SqlStore, make_model: MakeModel, make_modules: MakeModules) -> None:
    a, b, c, d = make_modules(make_model())
    first, _ = _compose(store, [a, b])
    second, _ = _compose(store, [c, d], strategy=Strategy.CALIBRATED)
    page = store.list_compositions(limit=1, offset=1)
    assert (page.total, page.items) == (2, [second])
    updated = store.update_composition_metrics(first.id, {"f1": 0.8}, accuracy=0.91)
    assert (updated.accuracy, updated.metrics) == (0.91, {"f1": 0.8})
    assert store.get_composition(updated.id) == updated
    with pytest.raises(StoreError) as error:
        store.get_composition("missing")
    assert _code(error) == "NOT_FOUND"


def _recipe(identity: dict[str, Any], digits: int = 32) -> str:
    """composition_id's documented recipe, written out again: sha256 of canonical JSON, 32 hex digits
    (24 before they grew to 32)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:digits]


def test_composition_id_recipe() -> None:
    expected = _recipe({"module_ids": ["a", "b"], "strategy": "prune"})
    assert composition_id(["b", "a"], "prune") == composition_id(["a", "b"], "prune") == expected
    assert len(expected) == len(new_id()) == 32
    assert composition_id(["a", "b"], "calibrated") != expected
    for ids in ([], ["a", "a"]):
        with pytest.raises(StoreError) as error:
            composition_id(ids, "prune")
        assert _code(error) == "INVALID_ARGUMENT"


def test_composition_id_names_the_data_it_was_fitted_on() -> None:
    # Without data, the recipe is the one from before ids named data: stored ids stay valid.
    for strategy in ("prune", "concat"):
        before = _recipe({"module_ids": ["m1", "m2"], "strategy": strategy})
        assert composition_id(["m2", "m1"], strategy) == composition_id(["m1", "m2"], strategy, None) == before

    expected = _recipe({"data": "npz:faces/v2", "module_ids": ["a", "b"], "strategy": "calibrated"})
    assert composition_id(["b", "a"], "calibrated", "npz:faces/v2") == expected
    assert composition_id(["a", "b"], "calibrated", "npz:faces/v2") == expected
    others = {
        composition_id(["a", "b"], "calibrated"),
        composition_id(["a", "b"], "calibrated", "digits"),
        composition_id(["a", "b"], "replace", "npz:faces/v2"),
    }
    assert expected not in others and len(others) == 3
    with pytest.raises(StoreError) as error:
        composition_id(["a", "b"], "calibrated", "")
    assert _code(error) == "INVALID_ARGUMENT"


# -- timestamps -------------------------------------------------------------------------------


def test_timestamps_are_timezone_aware_utc(
    store: SqlStore, open_sql_store: Callable[..., SqlStore], make_model: MakeModel, make_modules: MakeModules
) -> None:
    before = datetime.now(UTC)
    model = make_model()
    (module,) = make_modules(model, classes=[0])
    job = store.create_job("train")
    claimed = store.claim_job("w")
    assert claimed is not None
    reader = open_sql_store(migrate=False)  # fresh connections: nothing cached from the writes
    stamps = [
        reader.get_model(model.id).created_at,
        reader.get_module(module.id).created_at,
        reader.get_job(job.id).created_at,
        reader.get_job(job.id).started_at,
        reader.get_job(job.id).heartbeat_at,
    ]
    for stamp in stamps:
        assert stamp is not None and stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC) + timedelta(seconds=1)
