"""CompositionCache: the registry is read once per composition, never for a hit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from modules_store import CodedError, Composition, CompositionClass, NotFound, Strategy
from service.errors import ErrorCode, HubError
from service.serving.predictor import CompositionCache, Predictor, Served, check_version
from service.serving.sessions import SessionCache

SPEC = {"channels": 1, "height": 8, "width": 8, "mean": [4.9], "std": [6.0], "pixel_max": 16.0}
BASE = Composition(
    id="c0",
    strategy=Strategy.PRUNE,
    module_ids=["m0"],
    classes=[CompositionClass(index=0, label="0", module_id="m0", model_id="x", class_index=0)],
    input_spec=SPEC,
    onnx_sha256="0" * 64,
    params=1,
    size_ratio=0.5,
    macs=1,
    accuracy=None,
    metrics={},
    job_id=None,
    created_at=datetime.now(UTC),
)


class Registry:
    def __init__(self, ids: list[str]) -> None:
        self.rows = {i: replace(BASE, id=i) for i in ids}
        self.reads: list[str] = []

    def get_composition(self, composition_id: str) -> Composition:
        self.reads.append(composition_id)
        if composition_id not in self.rows:
            raise NotFound(f"composition {composition_id} not found")
        return self.rows[composition_id]


def test_hits_do_not_read_the_registry_and_the_least_recent_is_evicted() -> None:
    registry = Registry(["a", "b", "c"])
    cache = CompositionCache(registry.get_composition, capacity=2)
    assert cache.get("a").spec.shape == (1, 8, 8)
    cache.get("b")
    cache.get("a")
    assert registry.reads == ["a", "b"]
    cache.get("c")  # evicts b, the least recently used
    assert cache.cached("b") is None and cache.cached("a") is not None
    cache.get("b")
    assert registry.reads == ["a", "b", "c", "b"]


def test_misses_are_not_remembered_so_a_composition_made_later_is_found() -> None:
    registry = Registry([])
    cache = CompositionCache(registry.get_composition, capacity=4)
    with pytest.raises(NotFound):
        cache.get("later")
    registry.rows["later"] = replace(BASE, id="later")
    assert cache.get("later").id == "later"


def test_a_composition_has_one_version() -> None:
    check_version("c0", "1")
    with pytest.raises(HubError) as error:
        check_version("c0", "2")
    assert error.value.code == ErrorCode.NOT_FOUND and "only version is '1'" in error.value.message


def test_a_read_that_a_deletion_overtakes_is_answered_but_not_kept() -> None:
    registry = Registry(["a"])
    cache: CompositionCache

    def read_then_deleted(composition_id: str) -> Composition:
        row = registry.get_composition(composition_id)
        del registry.rows[composition_id]
        cache.forget([composition_id])  # the deletion lands between the read and the caching
        return row

    cache = CompositionCache(read_then_deleted, capacity=4)
    assert cache.get("a").id == "a"
    assert cache.cached("a") is None  # not kept: the next ask reads the registry, and finds none
    with pytest.raises(NotFound):
        cache.get("a")


def test_a_composition_found_under_another_id_is_kept_and_forgotten_under_both() -> None:
    # /v1/predict asks by the 32-digit id its modules make; a composition stored before ids had 32
    # digits answers under its 24-digit one.
    registry = Registry(["old"])
    forgotten: list[Served] = []
    cache = CompositionCache(registry.get_composition, capacity=4, on_forget=forgotten.append)
    found = cache.get("new", lambda _: registry.get_composition("old"))
    assert found.id == "old"
    assert cache.get("new") is found and cache.get("old") is found
    assert registry.reads == ["old"], "either id is answered again without reading the registry"
    cache.forget(["old"])
    assert cache.cached("new") is None and cache.cached("old") is None
    assert forgotten == [found], "its session is dropped once"


def _artifact_missing(sha256: str) -> Path:
    raise NotFound(f"artifact {sha256} not found")  # what ArtifactStore.local_path says of a removed file


@pytest.mark.parametrize("deleted", [True, False])
def test_a_file_gone_is_not_found_when_its_composition_was_deleted_and_corrupt_otherwise(deleted: bool) -> None:
    # Another process deleted the composition (row and file) a moment ago; this one still keeps it,
    # without a session yet, until its deletion feed says so. A file gone under a row still there is
    # a loss, which stays CORRUPT_ARTIFACT.
    registry = Registry(["a"])
    cache = CompositionCache(registry.get_composition, capacity=4)
    predictor = Predictor(cache, SessionCache(_artifact_missing, capacity=2), max_batch=8)
    served = cache.get("a")
    if deleted:
        del registry.rows["a"]
    with pytest.raises(CodedError) as error:
        predictor.logits(served, np.zeros((1, 1, 8, 8), np.float32))
    assert error.value.code == (ErrorCode.NOT_FOUND if deleted else ErrorCode.CORRUPT_ARTIFACT)
    assert (cache.cached("a") is None) == deleted, "a deleted composition is forgotten at once"
