"""Putting what the ML core made into the registry: datasets, models and their modules."""

from __future__ import annotations

from typing import Any

from modules_store import Dataset, Model, Module, NewModule
from service.jobs.context import JobContext
from service.moda.compose import compose, keep_plan, param_count
from service.moda.data import ImageDataset
from service.moda.data.sandbox import dataset_key
from service.moda.decompose import activation_rates, class_masks
from service.moda.metrics import count_macs
from service.moda.nets import ModularNet, config_of
from service.moda.onnx_export import export_onnx
from service.moda.serialization import checkpoint_bytes, mask_bytes
from service.moda.training import accuracy, predict_logits


def register_dataset(ctx: JobContext, data: ImageDataset, dataset: str, data_dir: str | None) -> Dataset:
    return ctx.store.get_or_create_dataset(
        name=dataset_key(dataset, data_dir),
        input_spec=data.input_spec.to_dict(),
        labels=data.labels,
        n_train=len(data.x_train),
        n_test=len(data.x_test),
        data_dir=data_dir,
    )


def register_model(
    ctx: JobContext,
    net: ModularNet,
    data: ImageDataset,
    dataset: Dataset,
    *,
    name: str,
    labels: list[str],
    weights: tuple[float, float, float],
    metrics: dict[str, Any],
) -> Model:
    """Store the weights (with their config) and the model row, with its accuracy on the test split."""
    alpha, beta, gamma = weights
    full_onnx = export_onnx(net, labels, range(len(labels)))
    metrics = {
        "accuracy": accuracy(predict_logits(net, data.x_test), data.y_test),
        "params": param_count(net),
        "macs": count_macs(net, data.x_test[:1]),
        "onnx_sha256": ctx.artifacts.put_bytes(full_onnx.data),
        **metrics,
    }
    return ctx.store.create_model(
        name=name,
        arch=config_of(net).arch,
        arch_config=config_of(net).to_dict(),
        input_spec=data.input_spec.to_dict(),
        labels=labels,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        weights_sha256=ctx.artifacts.put_bytes(checkpoint_bytes(net)),
        metrics=metrics,
        dataset_id=dataset.id,
        job_id=ctx.job.id,
    )


def modularize(
    ctx: JobContext, model: Model, net: ModularNet, data: ImageDataset, tau: float
) -> list[Module]:
    """Decompose `net` over the training split at τ: one module (ONNX + mask) per class."""
    ctx.report(stage="decomposing", tau=tau)
    masks = class_masks(activation_rates(net, data.x_train, data.y_train), tau)
    total = param_count(net)
    new = []
    for mask in masks:
        ctx.check_cancelled()
        c = mask.class_index
        ctx.report(stage="modularizing", module=c + 1, modules=len(masks), tau=tau)
        module_net = compose(net, keep_plan(net, [mask]))
        onnx = export_onnx(module_net, [model.labels[c]], [c], metadata={"model_id": model.id})
        new.append(
            NewModule(
                model_id=model.id,
                class_index=c,
                label=model.labels[c],
                tau=tau,
                mask_sha256=ctx.artifacts.put_bytes(mask_bytes(mask)),
                params=param_count(module_net),
                size=param_count(module_net) / total,
                onnx_sha256=ctx.artifacts.put_bytes(onnx.data),
                empty_mask_fallback=mask.used_fallback,
                metrics={
                    "macs": count_macs(module_net, data.x_test[:1]),
                    "fallback_layers": mask.fallback_layers,
                    "kept_neurons": mask.kept_fraction(),
                },
            )
        )
    return ctx.store.create_modules(new)
