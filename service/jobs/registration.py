"""Putting what the ML core made into the registry: datasets, models and their modules.

The slow part (decomposing, composing every module, exporting and storing its ONNX) runs before
any row is written; the rows of a model and its modules are then written in one transaction. A
worker killed mid-job thus leaves no half-registered model behind, only content-addressed
artifacts that the re-run finds already stored.

A worker can also die after the rows are written and before the runner records the job as
finished; the job is then recovered and run again. Registration is therefore idempotent per job:
the re-run finds the rows its earlier attempt wrote and returns them instead of writing a copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from modules_store import AlreadyExists, Dataset, Model, Module, NewModel, NewModule, RegistryStore, all_items
from service.errors import ErrorCode, HubError
from service.jobs.context import JobContext
from service.jobs.datasets import dataset_key
from service.moda.compose import compose_served, keep_plan, param_count
from service.moda.data import ImageDataset
from service.moda.decompose import activation_rates, class_masks
from service.moda.metrics import count_macs, per_class_accuracy
from service.moda.nets import ModularNet, config_of
from service.moda.onnx_export import export_onnx
from service.moda.serialization import checkpoint_bytes, mask_bytes
from service.moda.training import accuracy, predict_logits

PENDING = ""  # model id of a module prepared before its model row exists


@dataclass(frozen=True)
class ModelDraft:
    """A model ready to register: its weights and full ONNX stored, its metrics measured."""

    net: ModularNet
    labels: list[str]
    weights_sha256: str
    metrics: dict[str, Any]


def register_dataset(ctx: JobContext, data: ImageDataset, dataset: str, data_dir: str | None) -> Dataset:
    return ctx.store.get_or_create_dataset(
        name=dataset_key(dataset, data_dir),
        input_spec=data.input_spec.to_dict(),
        labels=data.labels,
        n_train=len(data.x_train),
        n_test=len(data.x_test),
        data_dir=data_dir,
    )


def draft_model(
    ctx: JobContext, net: ModularNet, data: ImageDataset, labels: list[str], metrics: dict[str, Any]
) -> ModelDraft:
    """Store the weights (with their config) and the full model's ONNX; measure it on the test split."""
    full_onnx = export_onnx(net, labels, range(len(labels)))
    logits = predict_logits(net, data.x_test)
    per_class = per_class_accuracy(logits, data.y_test, len(labels))
    measured = {
        "accuracy": accuracy(logits, data.y_test),
        "class_accuracy": [a if math.isfinite(a) else None for a in per_class],  # None: no test samples
        "params": param_count(net),
        "macs": count_macs(net, data.x_test[:1]),
        "onnx_sha256": ctx.artifacts.put_bytes(full_onnx.data),
        **metrics,
    }
    return ModelDraft(net, labels, ctx.artifacts.put_bytes(checkpoint_bytes(net)), measured)


def prepare_modules(
    ctx: JobContext, net: ModularNet, data: ImageDataset, labels: list[str], tau: float
) -> list[NewModule]:
    """Decompose `net` over the training split at τ: one module (ONNX + mask) per class, stored."""
    ctx.report(stage="decomposing", tau=tau)
    masks = class_masks(activation_rates(net, data.x_train, data.y_train), tau)
    total = param_count(net)
    prepared = []
    for mask in masks:
        ctx.check_cancelled()
        c = mask.class_index
        ctx.report(stage="modularizing", module=c + 1, modules=len(masks), tau=tau)
        served, module_net = compose_served(net, keep_plan(net, [mask]), ctx.settings.channel_align)
        onnx = export_onnx(served, [labels[c]], [c])
        prepared.append(
            NewModule(
                model_id=PENDING,
                class_index=c,
                label=labels[c],
                tau=tau,
                mask_sha256=ctx.artifacts.put_bytes(mask_bytes(mask)),
                params=param_count(module_net),
                size=param_count(module_net) / total,
                onnx_sha256=ctx.artifacts.put_bytes(onnx.data),
                empty_mask_fallback=mask.used_fallback,
                metrics={
                    "macs": count_macs(module_net, data.x_test[:1]),
                    "served_params": param_count(served),
                    "served_macs": count_macs(served, data.x_test[:1]),
                    "fallback_layers": mask.fallback_layers,
                    "kept_neurons": mask.kept_fraction(),
                },
            )
        )
    return prepared


def add_modules(ctx: JobContext, model_id: str, prepared: list[NewModule]) -> list[Module]:
    """Add the modules `prepared` (one per class, at one τ) to an existing model.

    Modules are keyed by (model, class, τ) and each batch is written all or nothing, so when the
    store refuses them as existing and the model has a module at this τ for exactly the prepared
    classes, that complete set is this job's: written by an earlier attempt, or, if a concurrent
    job with the same model and τ got there first, the one set the registry can hold for it.
    """
    try:
        return ctx.store.create_modules([replace(m, model_id=model_id) for m in prepared])
    except AlreadyExists:
        existing = _modules_at(ctx.store, model_id, prepared[0].tau)
        if sorted(m.class_index for m in existing) != sorted(m.class_index for m in prepared):
            raise
        return existing


def _modules_at(store: RegistryStore, model_id: str, tau: float) -> list[Module]:
    """All the model's modules at `tau`, in class order."""
    return list(all_items(store.list_modules, model_id, tau=tau))


def registered_earlier(ctx: JobContext, tau: float) -> dict[str, Any] | None:
    """The result of an earlier attempt of this job that registered its model, or None.

    Checked first by a re-run, so a job whose rows are written is not trained or measured again.
    """
    model = ctx.store.find_model_by_job(ctx.job.id)
    if model is None:
        return None
    modules = _modules_at(ctx.store, model.id, tau)
    if not modules:
        # Only a registry written before a model and its modules shared one transaction can hold
        # this; modules prepared from a re-trained network would not match the stored weights.
        raise HubError(
            ErrorCode.CONFLICT,
            f"model {model.id}, registered by an earlier attempt of this job, has no modules at tau={tau}: "
            "submit a modularize job for it",
        )
    return registration_result(model, modules)


def registration_result(model: Model, modules: list[Module]) -> dict[str, Any]:
    return {"model_id": model.id, "module_ids": [m.id for m in modules]}


def register_model_with_modules(
    ctx: JobContext,
    draft: ModelDraft,
    dataset: Dataset,
    prepared: list[NewModule],
    *,
    name: str,
    weights: tuple[float, float, float],
) -> tuple[Model, list[Module]]:
    """The model row and its module rows, in one transaction: the last, quick step of a job.

    The store lets a job register one model; when this job has one already (an earlier attempt
    wrote it and died before the job was finished), that model is returned with its modules at
    the prepared τ, which the same transaction wrote, and what this attempt made is dropped.
    """
    ctx.check_cancelled()
    alpha, beta, gamma = weights
    config = config_of(draft.net)
    try:
        new = NewModel(
            name=name,
            arch=config.arch,
            arch_config=config.to_dict(),
            input_spec=config.input_spec.to_dict(),
            labels=draft.labels,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            weights_sha256=draft.weights_sha256,
            metrics=draft.metrics,
            dataset_id=dataset.id,
            job_id=ctx.job.id,
        )
        model = ctx.store.create_model(new, modules=prepared)
    except AlreadyExists:
        earlier = ctx.store.find_model_by_job(ctx.job.id)
        if earlier is None:  # refused for another reason
            raise
        model = earlier
    return model, _modules_at(ctx.store, model.id, prepared[0].tau)
