"""The `train` job: train a standard or MODA model on a dataset, register it, modularize it."""

from __future__ import annotations

from typing import Any

import torch

from service.jobs.context import JobCancelled, JobContext
from service.jobs.datasets import open_dataset
from service.jobs.params import TrainParams
from service.jobs.registration import (
    draft_model,
    prepare_modules,
    register_dataset,
    register_model_with_modules,
    registered_earlier,
    registration_result,
)
from service.moda.data import ImageDataset
from service.moda.nets import ArchConfig, build_model
from service.moda.training import EpochMetrics, TrainConfig, train


def training_data(full: ImageDataset, p: TrainParams) -> ImageDataset:
    """The data a train job learns from: `full` thinned by `train_fraction`, then restricted to
    `classes`. Classes the data lacks and fractions of classes not kept are refused here, which
    submitting the job calls too, so they are a 4xx rather than a failed job."""
    data = full if p.train_fraction == 1.0 else full.subset(train_fraction=p.train_fraction, seed=p.seed)
    return data if p.classes is None else data.restrict(p.classes)


def epoch_record(h: EpochMetrics) -> dict[str, Any]:
    return {
        "epoch": h.epoch,
        "loss": h.loss,
        "ce": h.ce,
        "affinity": h.affinity,
        "dispersion": h.dispersion,
        "compactness": h.compactness,
        "train_accuracy": h.train_acc,
        "test_accuracy": h.test_acc,
    }


def run_train(ctx: JobContext, p: TrainParams) -> dict[str, Any]:
    if (earlier := registered_earlier(ctx, p.tau)) is not None:
        return earlier
    ctx.report(stage="loading data", dataset=p.dataset)
    full = open_dataset(ctx.settings.resolved_datasets_dir, p.dataset, p.data_dir)
    data = training_data(full, p)
    torch.manual_seed(p.seed)
    net = build_model(ArchConfig(p.arch, data.input_spec, data.num_classes))
    config = TrainConfig(
        epochs=p.epochs,
        alpha=p.alpha,
        beta=p.beta,
        gamma=p.gamma,
        lr=p.lr,
        weight_decay=p.weight_decay,
        batch_size=p.batch_size,
        seed=p.seed,
    )
    run = train(net, data, config, ctx.training_hooks())
    if run.stopped:
        raise JobCancelled()
    net.cpu()  # trained on CUDA when there is one; measured, exported and stored from the CPU

    draft = draft_model(
        ctx,
        net,
        data,
        data.labels,
        metrics={
            "train_accuracy": run.history[-1].train_acc,
            "epochs": p.epochs,
            "epoch_seconds": [round(h.seconds, 4) for h in run.history],
            # Every loss term per epoch: the web UI draws the training curves from it.
            "history": [epoch_record(h) for h in run.history],
        },
    )
    prepared = prepare_modules(ctx, net, data, data.labels, p.tau)
    model, modules = register_model_with_modules(
        ctx,
        draft,
        register_dataset(ctx, full, p.dataset, p.data_dir),
        prepared,
        name=p.name or f"{p.dataset}-{p.arch}",
        weights=(p.alpha, p.beta, p.gamma),
    )
    return registration_result(model, modules)
