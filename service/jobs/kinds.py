"""Every job kind in one table: its parameters, the checks made when it is submitted, the function
that runs it and the result it leaves. Adding a kind is one entry here (with its params model and
run function) and its tests; the API, the submit path and the runner read everything from here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modules_store import RegistryStore
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.calibrate import check_calibration, run_calibrate
from service.jobs.context import JobContext
from service.jobs.datasets import open_dataset
from service.jobs.ingest import run_ingest
from service.jobs.modularize import run_modularize
from service.jobs.params import (
    CalibrateParams,
    IngestParams,
    JobParams,
    ModularizeParams,
    ReplaceParams,
    TrainParams,
)
from service.jobs.planner import Planner
from service.jobs.replace import check_replace, run_replace
from service.jobs.train import run_train, training_data
from service.validation_messages import describe_validation_errors

# A submit-time check: raises the error the job would end with (a 4xx, nothing queued).
SubmitCheck = Callable[[RegistryStore, Settings, Any], None]
JobFunction = Callable[[JobContext, Any], dict[str, Any]]
UPLOAD = "uploading weights to POST /v1/models"


class RegisteredResult(BaseModel):
    """What a job that registers a model's modules leaves in `result`."""

    model_config = ConfigDict(extra="forbid")
    model_id: str = Field(description="the model the modules belong to")
    module_ids: list[str] = Field(description="its modules at the job's τ, one per class")


class ClassAccuracy(BaseModel):
    """One output class's test accuracy (percent) before and after calibration."""

    label: str = Field(description="the class's label")
    before: float | None = Field(description="percent, before calibration (raw logits, or the weak model's own)")
    after: float | None = Field(description="percent, through the fitted calibration layer")


class ComposedResult(BaseModel):
    """What a job that makes a composition leaves in `result`."""

    model_config = ConfigDict(extra="forbid")
    composition_id: str = Field(description="the composition, servable at once")
    per_class_accuracy: list[ClassAccuracy] | None = Field(
        default=None, description="absent when the composition existed already and nothing was fitted"
    )


@dataclass(frozen=True)
class JobKind:
    """One kind of job, whole."""

    name: str
    params: type[JobParams]
    run: JobFunction
    result: type[BaseModel]
    check: SubmitCheck | None = None
    # How a client asks for this kind when not through POST /v1/jobs (None: through POST /v1/jobs).
    submitted_at: str | None = None
    # The same parameters asked for while such a job is in flight are that job (submit.params_key).
    dedupe_by_params: bool = False

    @property
    def summary(self) -> str:
        return (self.params.__doc__ or "").strip()


def _check_train(store: RegistryStore, settings: Settings, p: TrainParams) -> None:
    # Its files (DATASET_UNAVAILABLE names the missing ones), classes and fractions, now.
    training_data(open_dataset(settings.resolved_datasets_dir, p.dataset, p.data_dir), p)


def _check_modularize(store: RegistryStore, settings: Settings, p: ModularizeParams) -> None:
    store.get_model(p.model_id)  # NOT_FOUND now rather than a failed job later
    if store.list_modules(p.model_id, tau=p.tau, limit=1).total:
        raise HubError(ErrorCode.ALREADY_EXISTS, f"model {p.model_id} already has modules at tau={p.tau}")


def _check_calibrate(store: RegistryStore, settings: Settings, p: CalibrateParams) -> None:
    check_calibration(Planner(store, settings), p)


def _check_replace(store: RegistryStore, settings: Settings, p: ReplaceParams) -> None:
    check_replace(Planner(store, settings), p)


JOB_KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind("train", TrainParams, run_train, RegisteredResult, _check_train),
        JobKind("ingest", IngestParams, run_ingest, RegisteredResult, submitted_at=UPLOAD),
        JobKind(
            "modularize", ModularizeParams, run_modularize, RegisteredResult, _check_modularize, dedupe_by_params=True
        ),
        JobKind("calibrate", CalibrateParams, run_calibrate, ComposedResult, _check_calibrate),
        JobKind("replace", ReplaceParams, run_replace, ComposedResult, _check_replace),
    )
}


def job_kind(name: str) -> JobKind:
    """The kind called `name`; INVALID_ARGUMENT naming the kinds there are."""
    try:
        return JOB_KINDS[name]
    except KeyError:
        raise HubError(
            ErrorCode.INVALID_ARGUMENT, f"unknown job kind {name!r}; choose one of {', '.join(JOB_KINDS)}"
        ) from None


def parse_params(kind: str, params: dict[str, Any]) -> JobParams:
    """Validate `params` for `kind`; INVALID_ARGUMENT names every field at fault."""
    model = job_kind(kind).params
    try:
        return model.model_validate(params)
    except ValidationError as error:
        problems = describe_validation_errors(error.errors(), whole="params")
        raise HubError(ErrorCode.INVALID_ARGUMENT, f"invalid {kind} params: {problems}") from error
