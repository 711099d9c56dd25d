"""Ingesting a model trained elsewhere: the upload is checked now (size, parameters, data, weights
against the architecture), so a bad one gets a 4xx, then stored and registered by an `ingest` job."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from modules_store import ArtifactStore, Job, RegistryStore
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.datasets import open_dataset
from service.jobs.executor import Executor
from service.jobs.ingest import load_uploaded
from service.jobs.kinds import parse_params
from service.jobs.params import IngestParams
from service.jobs.submit import submit_job
from service.moda.decompose import DEFAULT_TAU


@dataclass(frozen=True)
class Upload:
    """An uploaded weights file and what the uploader says it is."""

    weights: bytes
    filename: str
    arch: str
    dataset: str
    labels: list[str] | None = None  # default: the dataset's
    data_dir: str | None = None
    name: str | None = None
    tau: float = DEFAULT_TAU


def ingest_upload(
    upload: Upload, store: RegistryStore, artifacts: ArtifactStore, executor: Executor, settings: Settings
) -> Job:
    """The `ingest` job registering `upload`, queued once its weights are known to load into the
    architecture for the dataset's input and classes (INVALID_WEIGHTS otherwise)."""
    if len(upload.weights) > settings.max_upload_bytes:
        raise HubError(ErrorCode.PAYLOAD_TOO_LARGE, f"the upload exceeds MODA_MAX_UPLOAD_MB={settings.max_upload_mb:g}")
    if not upload.weights:
        raise HubError(ErrorCode.INVALID_WEIGHTS, "the uploaded file is empty")
    params = {
        "dataset": upload.dataset,
        "data_dir": upload.data_dir,
        "arch": upload.arch,
        "labels": upload.labels,
        "name": upload.name,
        "filename": upload.filename,
        "tau": upload.tau,
        # The digest the artifact store names the weights by: known before they are stored, so that
        # the parameters are checked whole before anything is written.
        "weights_sha256": hashlib.sha256(upload.weights).hexdigest(),
    }
    checked = parse_params("ingest", params)
    assert isinstance(checked, IngestParams)
    data = open_dataset(settings.resolved_datasets_dir, checked.dataset, checked.data_dir)
    load_uploaded(data, checked.arch, checked.labels or data.labels, upload.weights)  # INVALID_WEIGHTS if unfit
    with artifacts.writing() as held:  # the file stays until the job (its params) names it
        held.put_bytes(upload.weights)
        return submit_job(store, executor, settings, "ingest", params)
