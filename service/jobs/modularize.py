"""The `modularize` job: split an existing model into modules at another τ."""

from __future__ import annotations

from typing import Any

from service.errors import ErrorCode, HubError
from service.jobs.context import JobContext
from service.jobs.datasets import open_dataset
from service.jobs.params import ModularizeParams
from service.jobs.planner import Planner
from service.jobs.registration import add_modules, prepare_modules, registration_result
from service.moda.serialization import load_checkpoint


def run_modularize(ctx: JobContext, p: ModularizeParams) -> dict[str, Any]:
    model = ctx.store.get_model(p.model_id)
    dataset, data_dir = Planner(ctx.store, ctx.settings).data_source(model, p.dataset, p.data_dir)
    ctx.report(stage="loading data", dataset=dataset)
    data = open_dataset(ctx.settings.resolved_datasets_dir, dataset, data_dir)
    if model.labels != data.labels:  # a model of some of the dataset's classes (train with `classes`)
        missing = [label for label in model.labels if label not in data.labels]
        if missing:
            raise HubError(ErrorCode.INVALID_ARGUMENT, f"dataset {dataset!r} has no classes named {missing}")
        data = data.restrict([data.labels.index(label) for label in model.labels])
    net = load_checkpoint(ctx.artifacts.get_bytes(model.weights_sha256))
    modules = add_modules(ctx, model.id, prepare_modules(ctx, net, data, model.labels, p.tau))
    return registration_result(model, modules)
