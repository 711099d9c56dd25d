"""The parameters of each job kind, validated when the job is submitted (a 4xx, not a failed job).
service.jobs.kinds ties each to its kind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.moda.data import DATASET_NAMES
from service.moda.decompose import DEFAULT_TAU
from service.moda.nets import ARCHITECTURES

if TYPE_CHECKING:  # the names are known only when the registries are imported: str to a type checker
    DatasetName = str
    ArchName = str
else:
    DatasetName = Literal[DATASET_NAMES]
    ArchName = Literal[tuple(ARCHITECTURES)]
Tau = Annotated[float, Field(gt=0.0, le=1.0, description="activation-rate threshold of a module's mask")]
Fraction = Annotated[float, Field(gt=0.0, le=1.0)]
# A path below MODA_DATASETS_DIR: bounded, so that an overlong one is a 4xx, not ENAMETOOLONG in a job.
DataDir = Annotated[str, Field(min_length=1, max_length=1024)]
ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class JobParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataDirNeedsDataset(BaseModel):
    """For models whose `dataset` may be left to a default model's own data: a `data_dir` alone
    would be silently ignored (the default data has its own directory), so it is refused."""

    @model_validator(mode="after")
    def _data_dir_needs_dataset(self) -> Self:
        if getattr(self, "dataset", None) is None and getattr(self, "data_dir", None) is not None:
            raise ValueError("data_dir needs dataset: name the dataset whose files the directory holds")
        return self


class DataParams(JobParams):
    dataset: DatasetName = Field(default="digits", description="the data to read (digits is bundled)")
    data_dir: DataDir | None = Field(
        default=None,
        description="directory of the dataset files, relative to MODA_DATASETS_DIR "
        "(default: MODA_DATASETS_DIR/<dataset>); digits needs none",
    )


class TrainParams(DataParams):
    """Train a standard or MODA model, then split it into one module per class."""

    arch: ArchName = Field(default="mlp", description="the architecture to train")
    epochs: int = Field(default=10, ge=1, le=1000, description="passes over the training data")
    alpha: float = Field(default=1.0, ge=0.0, description="affinity weight (0, 0, 0: standard training)")
    beta: float = Field(default=1.0, ge=0.0, description="dispersion weight")
    gamma: float = Field(default=0.3, ge=0.0, description="compactness weight")
    lr: float = Field(default=0.05, gt=0.0, le=10.0, description="SGD learning rate")
    weight_decay: float = Field(default=0.0, ge=0.0, le=1.0, description="L2 penalty (the paper uses none)")
    batch_size: int | None = Field(default=None, ge=1, le=65536, description="default adapts to the data")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="torch seeds are 64-bit")
    tau: Tau = DEFAULT_TAU
    name: ModelName | None = Field(default=None, description="model name; default <dataset>-<arch>")
    classes: list[int] | None = Field(
        default=None, min_length=2, description="train on these classes of the dataset only (one output each)"
    )
    train_fraction: Fraction | dict[int, Fraction] = Field(
        default=1.0,
        description="fraction of each class's training samples to use: one number, or class index -> fraction",
    )


class IngestParams(DataParams):
    """Register an uploaded trained model (weights already stored as an artifact), then modularize it."""

    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str = ""
    arch: ArchName
    labels: list[str] | None = Field(default=None, description="class labels; default the dataset's")
    tau: Tau = DEFAULT_TAU
    name: ModelName | None = None


class ModularizeParams(DataParams, DataDirNeedsDataset):
    """Split an existing model into modules at a new τ (over its own training data by default)."""

    model_id: str = Field(description="the model to split")
    tau: Tau = DEFAULT_TAU
    # Optional here: None is the model's own dataset.
    dataset: DatasetName | None = Field(  # type: ignore[assignment]
        default=None, description="the data to measure activations on; default the model's own"
    )


class CalibrateParams(JobParams, DataDirNeedsDataset):
    """Compose modules of several models and calibrate their logits on a dataset."""

    module_ids: list[str] = Field(min_length=2, description="modules of several models, in any order")
    dataset: DatasetName | None = Field(default=None, description="default: the first model's dataset")
    data_dir: DataDir | None = Field(default=None, description="its directory below MODA_DATASETS_DIR; needs dataset")


class ReplaceParams(JobParams, DataDirNeedsDataset):
    """Repair class `target_class` of the weak model `model_id` with `module_id` from a stronger model."""

    model_id: str = Field(description="the weak model")
    target_class: int = Field(ge=0, description="the weak class, as an index of the weak model")
    module_id: str = Field(description="a module of that class from a stronger model with the same input")
    classes: list[int] | None = Field(default=None, description="weak-model classes to keep; default all")
    dataset: DatasetName | None = Field(default=None, description="calibration data; default the weak model's")
    data_dir: DataDir | None = Field(default=None, description="its directory below MODA_DATASETS_DIR; needs dataset")
