"""The `calibrate` job: modules of several models -> each model's pruned part, one K×K calibration.

It fits the calibration on the dataset's training split (default: the first model's own data) with
every network frozen, and records per-class test accuracy before and after; the `replace` job
(replace.py) calibrates and stores its composition the same way, through `calibrate_and_store`.
"""

from __future__ import annotations

from typing import Any

import torch

from modules_store import Strategy
from service.errors import ErrorCode, HubError
from service.jobs.compositions import Classifier, CompositionBuilder, find_composition
from service.jobs.context import JobContext
from service.jobs.params import CalibrateParams
from service.jobs.planner import Planner
from service.moda.combine import CombinedClassifier, fit_calibration
from service.moda.data import ImageDataset
from service.moda.data.samples import samples_of
from service.moda.metrics import per_class_accuracy
from service.moda.training import predict_logits


def calibrate_and_store(
    ctx: JobContext,
    builder: CompositionBuilder,
    cid: str,
    strategy: Strategy,
    built: Classifier,
    module_ids: list[str],
    data: ImageDataset,
    baseline: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Fit the calibration, measure per class before/after, store; `baseline`: logits to compare with."""
    labels = [c.label for c in built.classes]
    x, y = samples_of(data, labels, "train")
    if len(y) == 0:
        raise HubError(ErrorCode.INVALID_ARGUMENT, f"dataset {data.name!r} has no training samples of {labels}")
    ctx.report(stage="calibrating", samples=len(y))
    assert isinstance(built.net, CombinedClassifier)
    x_test, y_test = samples_of(data, labels, "test")
    before_logits = baseline if baseline is not None else predict_logits(built.net, x_test)
    calibration = fit_calibration(built.net, x, y)
    built.net.calibration = calibration.layer
    ctx.check_cancelled()
    before = per_class_accuracy(before_logits, y_test, len(labels))
    after = per_class_accuracy(predict_logits(built.net, x_test), y_test, len(labels))
    per_class = [{"label": lab, "before": b, "after": a} for lab, b, a in zip(labels, before, after, strict=True)]
    ctx.report(stage="exporting")
    composition, _ = builder.store_classifier(
        cid,
        strategy,
        built,
        module_ids,
        test_data=(x_test, y_test),
        job_id=ctx.job.id,
        metrics={
            "per_class_accuracy": per_class,
            "calibration_train_loss": calibration.train_loss,
            "calibration_train_accuracy": calibration.train_accuracy,
        },
    )
    return {"composition_id": composition.id, "per_class_accuracy": per_class}


def run_calibrate(ctx: JobContext, p: CalibrateParams) -> dict[str, Any]:
    planner = Planner(ctx.store, ctx.settings)
    modules, models = planner.selection(p.module_ids)
    first = next(iter(models.values()))
    data_key = planner.data_key(first, p.dataset, p.data_dir)
    cid, found = find_composition(ctx.store, p.module_ids, Strategy.CALIBRATED, data_key)
    if found is not None:
        return {"composition_id": found.id}
    ctx.report(stage="loading data")
    data = planner.dataset_of(first, p.dataset, p.data_dir, [m.label for m in modules])
    builder = CompositionBuilder(ctx.store, ctx.artifacts, ctx.settings)
    built = builder.combined(modules, models)
    return calibrate_and_store(ctx, builder, cid, Strategy.CALIBRATED, built, [m.id for m in modules], data)


def check_calibration(planner: Planner, p: CalibrateParams) -> None:
    """Refuse modules that cannot be composed and data they cannot be calibrated on, as the job would:
    submission runs this before queueing a `calibrate` job."""
    modules, models = planner.selection(p.module_ids)
    first = next(iter(models.values()))
    planner.dataset_of(first, p.dataset, p.data_dir, [m.label for m in modules])
