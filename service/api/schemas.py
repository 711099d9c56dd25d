"""What the HTTP API reads and writes. `XPublic` models never carry internal fields (artifact paths,
mask hashes); entities convert with `XPublic.of(entity)`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, Self, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, JsonValue, TypeAdapter, create_model
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from modules_store import JobStatus, Page, Strategy
from service.errors import ErrorCode
from service.jobs.kinds import JOB_KINDS, JobKind
from service.jobs.params import DataDirNeedsDataset, DatasetName

T = TypeVar("T")

# sklearn's first digits test image, a 0, on the digits' own scale (0..16): a sample that classifies.
DIGIT_ZERO: list[JsonValue] = [
    [0, 0, 5, 13, 9, 1, 0, 0],
    [0, 0, 13, 15, 10, 15, 5, 0],
    [0, 3, 15, 2, 0, 11, 8, 0],
    [0, 4, 12, 0, 0, 8, 8, 0],
    [0, 5, 8, 0, 0, 9, 8, 0],
    [0, 4, 11, 0, 1, 12, 7, 0],
    [0, 2, 14, 5, 10, 12, 0, 0],
    [0, 0, 6, 13, 10, 0, 0, 0],
]
TRAIN_EXAMPLE: dict[str, JsonValue] = {
    "dataset": "digits",
    "arch": "mlp",
    "epochs": 10,
    "alpha": 1.0,
    "beta": 1.0,
    "gamma": 0.3,
}
JOB_EXAMPLES: list[JsonValue] = [{"kind": "train", "params": TRAIN_EXAMPLE}]
if TYPE_CHECKING:
    JobKindName = str
else:
    JobKindName = Literal[tuple(JOB_KINDS)]  # the table's names: only known once it is imported
# Types built at run time from the JobKind table: values to a type checker, not annotations.
RUNTIME_LITERAL: Any = Literal
RUNTIME_UNION: Any = Union


class ErrorDetail(BaseModel):
    """What went wrong, for programs (`code`) and for people (`message`)."""

    code: ErrorCode = Field(description="stable; branch on it, not on the message")
    message: str = Field(description="what was refused and why; names the fields or files at fault")


class ErrorBody(BaseModel):
    """Every /v1 error (and every error of the probes and /metrics): one object under `error`."""

    error: ErrorDetail = Field(description="the error")


class Readiness(BaseModel):
    """Whether this process can serve: 200 when every check is ok, else 503."""

    status: Literal["ready", "not ready"] = Field(description="the verdict")
    checks: dict[str, Literal["ok", "unavailable"]] = Field(
        description="database, artifacts, storage: each ok or unavailable (the server log says why)"
    )


class Public(BaseModel):
    """Read from a registry entity's attributes; fields not declared here stay private."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, entity: object) -> Self:
        return cls.model_validate(entity)


class PagePublic(BaseModel, Generic[T]):
    """One page of a listing."""

    # Here, not only in the docstring: a parametrized PagePublic[X] would lose it.
    model_config = ConfigDict(json_schema_extra={"description": "One page of a listing."})

    items: list[T] = Field(description="this page's items")
    total: int = Field(description="items in the whole listing")
    offset: int = Field(description="items skipped before this page")
    limit: int = Field(description="the most items a page holds")


def page_of(page: Page[Any], convert: Any) -> dict[str, Any]:
    items = [convert(x) for x in page.items]
    return {"items": items, "total": page.total, "offset": page.offset, "limit": page.limit}


def _params_required(kind: JobKind) -> bool:
    return any(field.is_required() for field in kind.params.model_fields.values())


def _request_of(kind: JobKind) -> type[BaseModel]:
    """`{"kind": name, "params": {...}}` for one kind, as OpenAPI shows it."""
    params = Field(description=f"the {kind.name} job's parameters")
    if not _params_required(kind):
        params = Field(default_factory=dict, description=f"the {kind.name} job's parameters; all have defaults")
    return create_model(
        f"{kind.name.capitalize()}JobCreate",
        __doc__=f"A `{kind.name}` job. {kind.summary}",
        __config__=ConfigDict(extra="forbid"),
        kind=(RUNTIME_LITERAL[kind.name], Field(description="the job kind")),
        params=(kind.params, params),
    )


# The kinds POST /v1/jobs takes, one request shape each, told apart by `kind`.
SUBMITTABLE = [kind for kind in JOB_KINDS.values() if kind.submitted_at is None]
JOB_REQUEST: Any = Annotated[
    RUNTIME_UNION[tuple(_request_of(kind) for kind in SUBMITTABLE)], Field(discriminator="kind")
]


class JobCreate(BaseModel):
    """A job to queue: its kind and that kind's parameters.

    Parsed in two steps so that a kind's parameters are refused with the job's own message (400,
    naming every field at fault); the schema is the union of the kinds' request shapes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": JOB_EXAMPLES},
    )
    kind: JobKindName = Field(description="the job kind")
    params: dict[str, Any] = Field(default_factory=dict, description="the kind's parameters")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        union = handler(TypeAdapter(JOB_REQUEST).core_schema)
        return {
            **union,
            "description": "A job to queue: its kind and that kind's parameters (`ingest` jobs come from "
            "POST /v1/models).",
            "examples": JOB_EXAMPLES,
        }


class _JobResultSchema:
    """`result` as OpenAPI shows it: empty, or the result model of one of the kinds."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        results = tuple(dict.fromkeys(kind.result for kind in JOB_KINDS.values()))
        union = handler(TypeAdapter(RUNTIME_UNION[results]).core_schema)
        empty = {"type": "object", "maxProperties": 0, "description": "until the job succeeds"}
        return {"anyOf": [*union.get("anyOf", [union]), empty]}


class JobPublic(Public):
    """A job: what it was asked to do, where it is, and what it left."""

    id: str = Field(description="the job's id")
    kind: Literal[tuple(JOB_KINDS)] = Field(description="the job kind")  # type: ignore[valid-type]
    status: JobStatus = Field(description="queued → running → succeeded, failed or cancelled")
    params: dict[str, Any] = Field(description="the kind's parameters, defaults filled in")
    progress: dict[str, Any] = Field(description="the last figures the job reported: stage, epoch, loss...")
    result: Annotated[dict[str, Any], _JobResultSchema()] = Field(
        description="empty until the job succeeds; then what the kind leaves: RegisteredResult (train, "
        "ingest, modularize) or ComposedResult (calibrate, replace)"
    )
    error: str | None = Field(description="why a failed job failed: `CODE: message`")
    attempts: int = Field(description="times a worker has started it")
    max_attempts: int = Field(description="starts allowed before a job whose worker went silent is failed")
    cancel_requested: bool = Field(description="a cancel was asked for; a running job stops within a batch")
    created_at: datetime = Field(description="when it was queued")
    started_at: datetime | None = Field(description="when a worker last started it")
    finished_at: datetime | None = Field(description="when it reached a terminal status")
    heartbeat_at: datetime | None = Field(description="its worker's last sign of life")


class ModelPublic(Public):
    """A registered model (trained here or uploaded), whose modules can be composed."""

    id: str = Field(description="the model's id")
    name: str = Field(description="its name; versions count up per name")
    version: int = Field(description="1 for the first model of a name")
    arch: str = Field(description="architecture: mlp, lenet5, vgg16, resnet18 or mobilenet")
    input_spec: dict[str, Any] = Field(description="the input it takes: shape and pixel scale")
    labels: list[str] = Field(description="class labels, by output index")
    alpha: float = Field(description="affinity weight it was trained with")
    beta: float = Field(description="dispersion weight it was trained with")
    gamma: float = Field(description="compactness weight it was trained with")
    metrics: dict[str, Any] = Field(description="accuracy, training history, ONNX file's sha256...")
    dataset_id: str | None = Field(description="the registered dataset it was trained or measured on")
    job_id: str | None = Field(description="the job that registered it")
    created_at: datetime = Field(description="when it was registered")


class ModulePublic(Public):
    """One class of a model, split out: an ONNX network of one logit."""

    id: str = Field(description="the module's id")
    model_id: str = Field(description="the model it comes from")
    class_index: int = Field(description="the class's index in the source model")
    label: str = Field(description="the class's label")
    tau: float = Field(description="activation-rate threshold its masks were cut at")
    params: int = Field(description="parameters it keeps")
    size: float = Field(description="params(module) / params(model)")
    empty_mask_fallback: bool = Field(description="a layer's mask was empty and kept its top neuron")
    metrics: dict[str, Any] = Field(description="its MACs and measured figures")
    onnx_sha256: str = Field(description="sha256 of its ONNX file (the download's ETag)")
    created_at: datetime = Field(description="when it was registered")


class CompositionClass(Public):
    """One output of a composition and where it comes from."""

    index: int = Field(description="output position")
    label: str = Field(description="the class's label")
    module_id: str = Field(description="the module that gives this output")
    model_id: str = Field(description="that module's model")
    class_index: int = Field(description="the class's index in its source model")


class CompositionCreate(DataDirNeedsDataset):
    """Modules to compose into one classifier; the same modules in any order are the same composition."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"modules": ["a0c1...", "b3d4...", "c8e9..."]},
                {"modules": ["a0c1...", "f7a2..."], "calibration": "auto", "dataset": "digits"},
            ]
        },
    )
    modules: list[str] = Field(min_length=1, description="module ids")
    calibration: Literal["auto", "none"] = Field(
        default="auto",
        description="modules of several models are calibrated by a `calibrate` job (202) unless 'none' "
        "(raw logits side by side, 201)",
    )
    dataset: DatasetName | None = Field(default=None, description="calibration data; default the first model's dataset")
    data_dir: str | None = Field(
        default=None, description="directory of the calibration data below MODA_DATASETS_DIR; needs `dataset`"
    )


class CompositionPublic(Public):
    """A composed classifier, served at /v1/compositions/{id}/predict and as V2 model `id`."""

    id: str = Field(
        description="the composition's id: a hash of its modules, strategy and data, 32 hex digits (24 for "
        "one stored before ids grew: it keeps that id, and its 32-digit id names it too)"
    )
    strategy: Strategy = Field(description="how it was built: prune, concat (raw logits), calibrated or replace")
    classes: list[CompositionClass] = Field(description="its outputs, in output order")
    module_ids: list[str] = Field(description="the modules it is made of")
    input_spec: dict[str, Any] = Field(description="the input it takes: shape and pixel scale")
    params: int = Field(description="parameters of the composed network")
    size_ratio: float = Field(description="params / the source models' params")
    macs: int = Field(description="multiply-accumulates per sample")
    accuracy: float | None = Field(description="percent, on the test split of its classes, when measured")
    metrics: dict[str, Any] = Field(description="further measured figures (per-class accuracy...)")
    onnx_sha256: str = Field(description="sha256 of its ONNX file (the download's ETag)")
    job_id: str | None = Field(description="the job that made it, if one did")
    created_at: datetime = Field(description="when it was stored")


class CompositionPreviewPublic(Public):
    """What composing some modules would give, before building it."""

    strategy: str = Field(description="prune (one model) or calibrated (several: POST answers 202 and a job builds it)")
    labels: list[str] = Field(description="the composition's classes, in output order")
    params: int = Field(description="parameters of the composed network")
    macs: int = Field(description="multiply-accumulates per sample")
    size_ratio: float = Field(description="params / params of the source models")
    source_params: int = Field(description="parameters of the source models")
    source_macs: int = Field(description="multiply-accumulates per sample of the source models")
    existing: CompositionPublic | None = Field(description="the composition, when it is built already")


class DatasetPublic(Public):
    """A dataset a model was trained or measured on."""

    id: str = Field(description="the dataset's id")
    name: str = Field(description="its name: digits, mnist, npz...")
    input_spec: dict[str, Any] = Field(description="its images: shape and pixel scale")
    labels: list[str] = Field(description="class labels, by class index")
    n_train: int = Field(description="training images")
    n_test: int = Field(description="test images")
    created_at: datetime = Field(description="when it was registered")


class SamplePublic(Public):
    """One test image of a dataset."""

    label: str = Field(description="its class's label")
    class_index: int = Field(description="the class's index in the dataset")
    pixels: list[Any] = Field(description="(C, H, W) raw pixels: one of the `inputs` of a predict request")


class ModuleOverlapPublic(Public):
    """How much the modules of one model at one τ share."""

    tau: float = Field(description="the τ of the modules compared")
    labels: list[str] = Field(description="their classes, in matrix order")
    module_ids: list[str] = Field(description="the modules, in matrix order")
    shared: list[list[float]] = Field(
        description="shared[i][j] = |params(i) ∩ params(j)| / params(model); module i's size on the diagonal"
    )
    jaccard: list[list[float]] = Field(description="jaccard[i][j] = |i ∩ j| / |i ∪ j|")


class PredictRequest(BaseModel):
    """A batch to classify, as raw pixels on the dataset's own scale (digits 0–16, images 0–255)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"inputs": [DIGIT_ZERO]}]})
    inputs: list[Any] = Field(
        description="a batch of raw-pixel samples, each (C, H, W), (H, W) for one channel, or flat",
    )


class ComposePredictRequest(PredictRequest):
    """Modules to compose (or the cached composition of them) and a batch to classify with it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"modules": ["a0c1...", "b3d4...", "c8e9..."], "inputs": [DIGIT_ZERO]}]},
    )
    modules: list[str] = Field(min_length=1, description="module ids to compose (cached) and predict with")


class Prediction(BaseModel):
    """One sample's class and every class's probability."""

    label: str = Field(description="the most probable class's label")
    class_index: int = Field(description="its index in the model its module came from (as the dataset numbers it)")
    probabilities: dict[str, float] = Field(description="label -> probability, summing to 1")


class PredictResponse(BaseModel):
    """The predictions of one batch, in the order of its samples."""

    composition_id: str = Field(description="the composition that predicted")
    predictions: list[Prediction] = Field(description="one per sample")
