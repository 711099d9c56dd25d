"""The `ingest` job: register a model trained elsewhere (weights uploaded as an artifact), modularize it.

The upload endpoint has already checked that the weights load into the architecture; this job
measures the model on the dataset and splits it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from service.errors import ErrorCode, HubError, core_errors_coded
from service.jobs.context import JobContext
from service.jobs.datasets import open_dataset
from service.jobs.params import IngestParams
from service.jobs.registration import (
    draft_model,
    prepare_modules,
    register_dataset,
    register_model_with_modules,
    registered_earlier,
    registration_result,
)
from service.moda.data import ImageDataset
from service.moda.nets import ArchConfig, ModularNet
from service.moda.serialization import load_weights, read_state_dict


def load_uploaded(data: ImageDataset, arch: str, labels: list[str], weights: bytes) -> ModularNet:
    """Build `arch` for the dataset's input and `labels`, and load the uploaded weights strictly.

    `labels` name the dataset's classes in order: one per class, all distinct (modules are
    decomposed on the dataset's samples and compositions key their outputs by label).
    """
    repeated = sorted(label for label, n in Counter(labels).items() if n > 1)  # linear: 100k labels are 100k steps
    if repeated:
        raise HubError(ErrorCode.INVALID_ARGUMENT, f"labels must be distinct; repeated: {', '.join(repeated)}")
    if len(labels) != data.num_classes:
        raise HubError(
            ErrorCode.INVALID_ARGUMENT,
            f"{len(labels)} labels given, but the dataset {data.name!r} has {data.num_classes} classes: "
            "give one label per class, in class order",
        )
    config = ArchConfig(arch, data.input_spec, len(labels))
    with core_errors_coded():  # INVALID_WEIGHTS, answered at upload time as well as in the job
        return load_weights(config, read_state_dict(weights))


def run_ingest(ctx: JobContext, p: IngestParams) -> dict[str, Any]:
    if (earlier := registered_earlier(ctx, p.tau)) is not None:
        return earlier
    ctx.report(stage="loading data", dataset=p.dataset)
    data = open_dataset(ctx.settings.resolved_datasets_dir, p.dataset, p.data_dir)
    labels = p.labels or data.labels
    net = load_uploaded(data, p.arch, labels, ctx.artifacts.get_bytes(p.weights_sha256))
    metrics = {"trained_by": "upload", "uploaded_filename": p.filename, "uploaded_sha256": p.weights_sha256}
    draft = draft_model(ctx, net, data, labels, metrics)
    prepared = prepare_modules(ctx, net, data, labels, p.tau)
    model, modules = register_model_with_modules(
        ctx,
        draft,
        register_dataset(ctx, data, p.dataset, p.data_dir),
        prepared,
        name=p.name or f"{p.dataset}-{p.arch}-ingested",
        weights=(0.0, 0.0, 0.0),  # unknown training: recorded as standard, metrics say "trained_by": "upload"
    )
    return registration_result(model, modules)
