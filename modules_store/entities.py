"""What the registry hands out: frozen dataclasses, independent of SQLAlchemy.

Rows (modules_store.rows) turn into these with `row.to_entity()`; nothing outside the SQL backend
ever sees a row. Ids are strings, timestamps are timezone-aware UTC datetimes, JSON-shaped fields
are plain dicts and lists (frozen means the fields cannot be rebound, not that a dict is immutable:
treat them as read-only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One slice of a listing: `items` from position `offset`, at most `limit` of `total`."""

    items: list[T]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True, kw_only=True)
class Dataset:
    id: str
    name: str  # unique
    data_dir: str | None  # where the files were read from; None for bundled data (digits)
    input_spec: dict[str, Any]  # service.moda.spec.InputSpec.to_dict()
    labels: list[str]
    n_train: int
    n_test: int
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Model:
    id: str
    name: str
    version: int  # (name, version) is unique; 1, 2, ... per name when not chosen by the caller
    arch: str
    arch_config: dict[str, Any]  # everything needed to rebuild the network around its weights
    input_spec: dict[str, Any]
    labels: list[str]
    alpha: float
    beta: float
    gamma: float
    metrics: dict[str, Any]  # e.g. {"accuracy": 0.97}
    weights_sha256: str
    dataset_id: str | None
    job_id: str | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class NewModel:
    """A model to be registered: a Model without the fields the store assigns (id, created_at, and
    version unless given)."""

    name: str
    arch: str
    arch_config: Mapping[str, Any]
    input_spec: Mapping[str, Any]
    labels: Sequence[str]
    alpha: float
    beta: float
    gamma: float
    weights_sha256: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    dataset_id: str | None = None
    job_id: str | None = None
    version: int | None = None  # None: the next version of `name`


@dataclass(frozen=True, kw_only=True)
class NewModule:
    """A module to be created: a Module without the fields the store assigns (id, created_at)."""

    model_id: str
    class_index: int
    label: str  # must equal the model's labels[class_index]
    tau: float
    mask_sha256: str
    params: int
    size: float  # params / params(model)
    onnx_sha256: str
    empty_mask_fallback: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Module:
    id: str
    model_id: str
    class_index: int
    label: str
    tau: float  # (model_id, class_index, tau) is unique
    mask_sha256: str  # artifact holding the per-layer masks
    params: int
    size: float  # fraction of the model's parameters
    onnx_sha256: str
    # True when some layer's mask would have been empty at this tau and kept its highest-rate neuron.
    empty_mask_fallback: bool
    metrics: dict[str, Any]
    created_at: datetime


class Strategy(StrEnum):
    """How a composition's modules become one network; part of the composition's id."""

    PRUNE = "prune"  # modules of one model: the model pruned to their neurons, one dense network
    CONCAT = "concat"  # modules of several models side by side, raw logits (no calibration)
    CALIBRATED = "calibrated"  # modules of several models and a calibration layer fitted on data
    REPLACE = "replace"  # a weak model's classes, one served by a stronger model's module, calibrated


@dataclass(frozen=True, kw_only=True)
class CompositionClass:
    """Output `index` of a composition: class `class_index` (`label`) of model `model_id`, computed
    by module `module_id`."""

    index: int
    label: str
    module_id: str
    model_id: str
    class_index: int


@dataclass(frozen=True, kw_only=True)
class NewComposition:
    """A composition to be created: a Composition without the fields the store assigns (created_at)."""

    id: str  # modules_store.ids.composition_id(module_ids, strategy, data)
    strategy: Strategy
    module_ids: Sequence[str]  # in output order
    classes: Sequence[CompositionClass]
    input_spec: Mapping[str, Any]
    onnx_sha256: str
    params: int
    size_ratio: float
    macs: int
    accuracy: float | None = None  # None until measured
    metrics: Mapping[str, Any] = field(default_factory=dict)
    job_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Composition:
    id: str  # modules_store.ids.composition_id(module_ids, strategy, data), chosen by the caller
    strategy: Strategy
    module_ids: list[str]  # in output order
    classes: list[CompositionClass]  # in output order
    input_spec: dict[str, Any]
    onnx_sha256: str
    params: int
    size_ratio: float
    macs: int
    accuracy: float | None  # None until measured
    metrics: dict[str, Any]
    job_id: str | None
    created_at: datetime


# Model metrics that name artifacts (besides weights_sha256): the full model's ONNX, the upload.
MODEL_ARTIFACT_METRICS = ("onnx_sha256", "uploaded_sha256")


@dataclass(frozen=True, kw_only=True)
class Deleted:
    """What one deletion removed, and the artifacts it left unreferenced."""

    models: list[str]
    modules: list[str]  # the deleted model's too
    compositions: list[str]  # the cascade's too
    # sha256s that the deleted rows named and no row (nor a queued or running job) names any more:
    # the caller reclaims them from the artifact store.
    artifacts: list[str]


@dataclass(frozen=True, kw_only=True)
class DeletionsSince:
    """The composition deletion log after a position: what a process that caches compositions drops."""

    position: int  # the log's latest position: where the next read starts
    composition_ids: list[str]  # deleted after the position asked, in order
    # Entries after the position asked may have been pruned: which compositions went is unknown, so
    # a cache must drop everything it holds.
    pruned: bool = False


class JobStatus(StrEnum):
    """Where a job is: queued -> running -> succeeded, failed or cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    kind: str  # "train", "ingest", "modularize", "replace", ...
    status: JobStatus
    params: dict[str, Any]
    progress: dict[str, Any]  # the running worker's latest snapshot (replaced by each heartbeat)
    result: dict[str, Any]  # ids of what the job made
    error: str | None
    attempts: int  # claims so far
    max_attempts: int
    cancel_requested: bool
    worker_id: str | None  # the worker that claimed it last
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
