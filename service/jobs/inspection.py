"""Read-only views that need the networks or the data, not only the registry's rows: what a
composition would cost before it is built, how much a model's modules overlap, and sample images
of a dataset to try a classifier on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modules_store import Composition, Model, RegistryStore, Strategy, all_items
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.compositions import CompositionBuilder, find_composition
from service.jobs.datasets import open_dataset, split_dataset_key
from service.jobs.planner import Planner
from service.moda.compose import keep_plan
from service.moda.metrics import overlap_matrix


@dataclass(frozen=True)
class CompositionPreview:
    strategy: Strategy  # what POST /v1/compositions with calibration "auto" would build
    labels: list[str]  # output order
    params: int
    macs: int
    size_ratio: float  # params / params of the source models
    source_params: int
    source_macs: int
    existing: Composition | None  # built already: its id and measured accuracy


def preview_composition(planner: Planner, builder: CompositionBuilder, module_ids: Sequence[str]) -> CompositionPreview:
    """The cost of composing `module_ids`, measured as building it would (nothing is exported or stored)."""
    modules, models = planner.selection(module_ids)
    parts = []
    for model_id, model in models.items():
        parts.append(builder.pruned_part(model, [m for m in modules if m.model_id == model_id]))
    params = sum(p.size for p in parts)
    strategy = Strategy.PRUNE if len(models) == 1 else Strategy.CALIBRATED
    return CompositionPreview(
        strategy=strategy,
        labels=[m.label for m in modules],
        params=params,
        macs=sum(p.macs for p in parts),
        size_ratio=params / sum(p.full_size for p in parts),
        source_params=sum(p.full_size for p in parts),
        source_macs=sum(p.full_macs for p in parts),
        existing=_existing(planner, module_ids, strategy, next(iter(models.values()))),
    )


def _existing(planner: Planner, module_ids: Sequence[str], strategy: Strategy, first: Model) -> Composition | None:
    if strategy == Strategy.PRUNE:
        return find_composition(planner.store, module_ids, strategy)[1]
    try:
        data = planner.data_key(first)  # calibrated on the first model's own data, as "auto" would
    except HubError:
        return None  # no data on record: building it would name some, so nothing is built yet
    return find_composition(planner.store, module_ids, strategy, data)[1]


@dataclass(frozen=True)
class ModuleOverlap:
    tau: float
    labels: list[str]
    module_ids: list[str]
    shared: list[list[float]]  # |params(a) ∩ params(b)| / params(model); a module's size on the diagonal
    jaccard: list[list[float]]  # |a ∩ b| / |a ∪ b|


def module_overlap(store: RegistryStore, builder: CompositionBuilder, model: Model, tau: float | None) -> ModuleOverlap:
    """The overlap of every pair of the model's modules at `tau` (default: the τ of its first module)."""
    if tau is None:
        first = store.list_modules(model.id, limit=1).items
        if not first:
            raise HubError(ErrorCode.NOT_FOUND, f"model {model.id} has no modules")
        tau = first[0].tau
    modules = list(all_items(store.list_modules, model.id, tau=tau))
    if not modules:
        raise HubError(ErrorCode.NOT_FOUND, f"model {model.id} has no modules at tau={tau:g}")
    net = builder.sources.network(model.weights_sha256)
    matrix = overlap_matrix(net, [keep_plan(net, [builder.sources.mask(m.mask_sha256)]) for m in modules])
    return ModuleOverlap(
        tau=tau,
        labels=[m.label for m in modules],
        module_ids=[m.id for m in modules],
        shared=[[o.shared for o in row] for row in matrix],
        jaccard=[[o.jaccard for o in row] for row in matrix],
    )


@dataclass(frozen=True)
class Sample:
    label: str
    class_index: int  # in the dataset
    pixels: list[Any]  # (C, H, W) raw pixels, 0..pixel_max: what /v1 predict takes as one input


MAX_SAMPLES = 64


def dataset_samples(
    store: RegistryStore, settings: Settings, dataset_id: str, labels: Sequence[str], n: int
) -> list[Sample]:
    """`n` images of the test split (never trained on) of the dataset on record, taken in turn from
    each class named in `labels` (default: all), the same ones on every call."""
    record = store.get_dataset(dataset_id)
    data = open_dataset(settings.resolved_datasets_dir, *split_dataset_key(record.name))
    unknown = [label for label in labels if label not in data.labels]
    if unknown:
        raise HubError(ErrorCode.INVALID_ARGUMENT, f"dataset {record.name!r} has no classes named {unknown}")
    classes = [data.labels.index(label) for label in labels] if labels else list(range(data.num_classes))
    queues = [(data.y_test == c).nonzero().flatten().tolist() for c in classes]
    picked: list[int] = []
    for turn in range(max(map(len, queues), default=0)):
        picked += [queue[turn] for queue in queues if turn < len(queue)]
    return [Sample(data.labels[int(data.y_test[i])], int(data.y_test[i]), data.x_test[i].tolist()) for i in picked[:n]]
