"""Fixtures for the registry tests: every store test runs on SQLite and on PostgreSQL (the
`database_url` fixture, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from modules_store import Model, Module, NewModel, NewModule, SqlStore

DIGITS_SPEC: dict[str, Any] = {
    "channels": 1,
    "height": 8,
    "width": 8,
    "mean": (4.88,),  # a tuple, as InputSpec.to_dict() gives it: must read back as a list
    "std": (6.02,),
    "pixel_max": 16.0,
}
LABELS = ["zero", "one", "two", "three"]


@pytest.fixture
def open_sql_store(database_url: str) -> Iterator[Callable[..., SqlStore]]:
    """Opens (and finally closes) more stores on the test's database, like separate processes would."""
    opened: list[SqlStore] = []

    def open_store(**kwargs: Any) -> SqlStore:
        store = SqlStore(database_url, **kwargs)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(open_sql_store: Callable[..., SqlStore]) -> SqlStore:
    return open_sql_store()


@pytest.fixture
def make_model(store: SqlStore) -> Callable[..., Model]:
    def make(name: str = "digits-mlp", *, on: SqlStore | None = None, **overrides: Any) -> Model:
        """A model row; `on`: another connection to the same database (racing writers), default `store`."""
        fields: dict[str, Any] = {
            "arch": "mlp",
            "arch_config": {"hidden": [64, 32], "num_classes": len(LABELS)},
            "input_spec": DIGITS_SPEC,
            "labels": LABELS,
            "alpha": 1.0,
            "beta": 1.0,
            "gamma": 0.3,
            "weights_sha256": "a" * 64,
            "metrics": {"accuracy": 0.97},
        }
        fields.update(overrides)
        modules = fields.pop("modules", ())
        return (on or store).create_model(NewModel(name=name, **fields), modules=modules)

    return make


def new_modules(model: Model, tau: float = 0.9, classes: Sequence[int] | None = None) -> list[NewModule]:
    indices = range(len(model.labels)) if classes is None else classes
    return [
        NewModule(
            model_id=model.id,
            class_index=index,
            label=model.labels[index],
            tau=tau,
            mask_sha256=f"{index:064x}",
            params=100 + index,
            size=0.1 + index / 100,
            onnx_sha256=f"{index + 1000:064x}",
            empty_mask_fallback=index == 0,
            metrics={"rate_mean": 0.5},
        )
        for index in indices
    ]


@pytest.fixture
def make_modules(store: SqlStore) -> Callable[..., list[Module]]:
    def make(model: Model, tau: float = 0.9, classes: Sequence[int] | None = None) -> list[Module]:
        return store.create_modules(new_modules(model, tau, classes))

    return make


@pytest.fixture
def module_specs() -> Callable[..., list[NewModule]]:
    """new_modules(model, tau=0.9, classes=None): NewModule specs for some classes of a model."""
    return new_modules
