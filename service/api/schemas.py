"""What the HTTP API reads and writes. `XPublic` models never carry internal fields (artifact paths,
mask hashes); entities convert with `XPublic.of(entity)`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from modules_store import Page, Strategy
from service.jobs.params import DataDirNeedsDataset, DatasetName

T = TypeVar("T")


class Public(BaseModel):
    """Read from a registry entity's attributes; fields not declared here stay private."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, entity: object) -> Self:
        return cls.model_validate(entity)


class PagePublic(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


def page_of(page: Page[Any], convert: Any) -> dict[str, Any]:
    items = [convert(x) for x in page.items]
    return {"items": items, "total": page.total, "offset": page.offset, "limit": page.limit}


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["train", "ingest", "modularize", "replace", "calibrate"] = Field(
        description="train | modularize | replace (ingest jobs come from POST /v1/models)"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="see the job kind's parameters")


class JobPublic(Public):
    id: str
    kind: str
    status: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None


class ModelPublic(Public):
    id: str
    name: str
    version: int
    arch: str
    input_spec: dict[str, Any]
    labels: list[str]
    alpha: float
    beta: float
    gamma: float
    metrics: dict[str, Any]
    dataset_id: str | None
    job_id: str | None
    created_at: datetime


class ModulePublic(Public):
    id: str
    model_id: str
    class_index: int = Field(description="the class's index in the source model")
    label: str
    tau: float
    params: int
    size: float = Field(description="params(module) / params(model)")
    empty_mask_fallback: bool = Field(description="a layer's mask was empty and kept its top neuron")
    metrics: dict[str, Any]
    onnx_sha256: str
    created_at: datetime


class CompositionClass(Public):
    index: int = Field(description="output position")
    label: str
    module_id: str
    model_id: str
    class_index: int = Field(description="the class's index in its source model")


class CompositionCreate(DataDirNeedsDataset):
    model_config = ConfigDict(extra="forbid")
    modules: list[str] = Field(min_length=1, description="module ids")
    calibration: Literal["auto", "none"] = Field(
        default="auto",
        description="modules of several models are calibrated by a `calibrate` job (202) unless 'none' "
        "(raw logits side by side, 201)",
    )
    dataset: DatasetName | None = Field(default=None, description="calibration data; default the first model's dataset")
    data_dir: str | None = None


class CompositionPublic(Public):
    id: str
    strategy: Strategy
    classes: list[CompositionClass]
    module_ids: list[str]
    input_spec: dict[str, Any]
    params: int
    size_ratio: float
    macs: int
    accuracy: float | None = Field(description="percent, on the test split of its classes, when measured")
    metrics: dict[str, Any]
    onnx_sha256: str
    job_id: str | None
    created_at: datetime


class CompositionPreviewPublic(Public):
    strategy: str = Field(description="prune (one model) or calibrated (several: POST answers 202 and a job builds it)")
    labels: list[str] = Field(description="the composition's classes, in output order")
    params: int
    macs: int
    size_ratio: float = Field(description="params / params of the source models")
    source_params: int
    source_macs: int
    existing: CompositionPublic | None = Field(description="the composition, when it is built already")


class DatasetPublic(Public):
    id: str
    name: str
    input_spec: dict[str, Any]
    labels: list[str]
    n_train: int
    n_test: int
    created_at: datetime


class SamplePublic(Public):
    label: str
    class_index: int = Field(description="the class's index in the dataset")
    pixels: list[Any] = Field(description="(C, H, W) raw pixels: one of the `inputs` of a predict request")


class ModuleOverlapPublic(Public):
    tau: float
    labels: list[str]
    module_ids: list[str]
    shared: list[list[float]] = Field(
        description="shared[i][j] = |params(i) ∩ params(j)| / params(model); module i's size on the diagonal"
    )
    jaccard: list[list[float]] = Field(description="jaccard[i][j] = |i ∩ j| / |i ∪ j|")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[Any] = Field(
        description="a batch of raw-pixel samples, each (C, H, W), (H, W) for one channel, or flat",
        examples=[[[0.0] * 64]],
    )


class ComposePredictRequest(PredictRequest):
    modules: list[str] = Field(min_length=1, description="module ids to compose (cached) and predict with")


class Prediction(BaseModel):
    label: str
    class_index: int
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    composition_id: str
    predictions: list[Prediction]
