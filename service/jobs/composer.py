"""Making compositions: from module ids to a stored, verified ONNX classifier.

    prune       modules of one model: the union of their masks sliced out of the model (synchronous)
    concat      modules of several models, raw logits side by side (calibration "none"; synchronous)
    calibrated  modules of several models, each model's pruned part run once, then a K×K
                calibration fitted on data with every part frozen (a `calibrate` job)
    replace     a weak model's own logits for its classes with one class taken from another
                model's module, calibrated the same way (a `replace` job)

A composition's id hashes its sorted module ids and its strategy, and for calibrated and replace
compositions the data they are fitted on, so asking twice (in any order) returns the same
composition, and calibrating on other data makes another.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from modules_store import (
    ArtifactStore,
    Composition,
    CompositionClass,
    Model,
    Module,
    NewComposition,
    NotFound,
    RegistryStore,
    Strategy,
    composition_id,
)
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.datasets import canonical_dataset_key, dataset_key, open_dataset, split_dataset_key
from service.moda.combine import CombinedClassifier, Pick
from service.moda.compose import KeepPlan, compose_served, keep_plan, param_count
from service.moda.data import ImageDataset
from service.moda.decompose import ClassMask
from service.moda.metrics import count_macs
from service.moda.nets import ModularNet
from service.moda.onnx_export import export_onnx
from service.moda.serialization import load_checkpoint, load_mask
from service.moda.spec import InputSpec
from service.moda.training import accuracy, predict_logits

PRUNE, CONCAT, CALIBRATED, REPLACE = Strategy.PRUNE, Strategy.CONCAT, Strategy.CALIBRATED, Strategy.REPLACE


@lru_cache(maxsize=8)
def _network(artifacts: ArtifactStore, weights_sha256: str) -> ModularNet:
    return load_checkpoint(artifacts.get_bytes(weights_sha256))


@lru_cache(maxsize=256)
def _mask(artifacts: ArtifactStore, mask_sha256: str) -> ClassMask:
    return load_mask(artifacts.get_bytes(mask_sha256))


def _macs(net: ModularNet | CombinedClassifier) -> int:
    return count_macs(net, torch.zeros(1, *net.spec.shape))  # one (1, C, H, W) sample


def describe_input(spec: InputSpec) -> str:
    c, h, w = spec.shape
    return f"{c}×{h}×{w} pixels on a 0..{spec.pixel_max:g} scale"


def check_selection(modules: Sequence[Module], models: dict[str, Model]) -> None:
    """Refuse selections no classifier can be made of, naming what is wrong."""
    if not modules:
        raise HubError(ErrorCode.INVALID_ARGUMENT, "a composition needs at least one module")
    ids = [m.id for m in modules]
    if len(set(ids)) != len(ids):
        raise HubError(ErrorCode.INVALID_ARGUMENT, "a module is listed twice")
    classes = [(m.model_id, m.class_index) for m in modules]
    if len(set(classes)) != len(classes):
        raise HubError(
            ErrorCode.INVALID_ARGUMENT,
            "two modules of the same class of the same model (different τ): choose one",
        )
    labels = [m.label for m in modules]
    if len(set(labels)) != len(labels):
        raise HubError(ErrorCode.INVALID_ARGUMENT, f"labels must be distinct in a composition: {labels}")
    first = next(iter(models.values()))
    first_spec = InputSpec.from_dict(first.input_spec)
    for model in models.values():
        spec = InputSpec.from_dict(model.input_spec)
        if not spec.same_input(first_spec):
            raise HubError(
                ErrorCode.INCOMPATIBLE_MODULES,
                "modules of models with different inputs cannot be composed: "
                f"{first.name} v{first.version} takes {describe_input(first_spec)}, "
                f"{model.name} v{model.version} takes {describe_input(spec)}",
            )


@dataclass(frozen=True)
class Part:
    """One source network of a composition and the outputs taken from it."""

    model: Model
    net: ModularNet  # what is served: the pruned part padded to the channel alignment, or the full model
    size: int  # parameters of the neurons it keeps (pruned part or full model), padding excluded
    macs: int  # multiply-accumulates of those neurons, per sample
    full_size: int  # parameters of its source model
    full_macs: int  # multiply-accumulates of its source model, per sample


@dataclass(frozen=True)
class Built:
    """A classifier ready to store: the network, its output classes, its parts."""

    net: ModularNet | CombinedClassifier
    classes: list[CompositionClass]  # output order
    parts: list[Part]


class Planner:
    """What a composition is made of and the data it is calibrated on, checked against the registry
    and the data: everything but building, which needs no artifacts, so that a request can be
    checked before its job is queued."""

    def __init__(self, store: RegistryStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    # -- selections ---------------------------------------------------------------------------

    def selection(self, module_ids: Sequence[str]) -> tuple[list[Module], dict[str, Model]]:
        """The modules (sorted by model, then class) and their models, checked to be composable."""
        modules = self.store.get_modules(list(module_ids))
        # Sorted by id, like the modules: the output order must not depend on the request's order.
        models = {model_id: self.store.get_model(model_id) for model_id in sorted({m.model_id for m in modules})}
        check_selection(modules, models)
        return sorted(modules, key=lambda m: (m.model_id, m.class_index)), models

    def data_source(self, model: Model, dataset: str | None, data_dir: str | None) -> tuple[str, str | None]:
        """(dataset, data_dir) of the data named, or of the model's own training data when none is."""
        if dataset is not None:
            return dataset, data_dir
        if model.dataset_id is None:
            raise HubError(ErrorCode.INVALID_ARGUMENT, f"model {model.id} has no dataset on record: name one")
        return split_dataset_key(self.store.get_dataset(model.dataset_id).name)

    def data_key(self, model: Model, dataset: str | None = None, data_dir: str | None = None) -> str:
        """The data `dataset_of` reads, as a calibrated composition's id names it.

        Leaving the model's own data implicit and naming it give the same key, so both requests
        find the same composition."""
        source = self.data_source(model, dataset, data_dir)
        return canonical_dataset_key(self.settings.resolved_datasets_dir, *source)

    def dataset_of(
        self, model: Model, dataset: str | None = None, data_dir: str | None = None, labels: Sequence[str] = ()
    ) -> ImageDataset:
        """The data named, or the model's own training data; it must take the model's input and have
        classes named `labels`."""
        dataset, data_dir = self.data_source(model, dataset, data_dir)
        data = open_dataset(self.settings.resolved_datasets_dir, dataset, data_dir)
        key, spec = dataset_key(dataset, data_dir), InputSpec.from_dict(model.input_spec)
        # Checked first: data of another input is the wrong data whatever its labels, and the model
        # would otherwise fail on it deep inside the calibration with a matrix-shape error.
        if not data.input_spec.same_input(spec):
            raise HubError(
                ErrorCode.INVALID_ARGUMENT,
                f"dataset {key!r} holds {describe_input(data.input_spec)}, "
                f"but {model.name} v{model.version} takes {describe_input(spec)}: "
                "name calibration data with the model's input",
            )
        missing = [label for label in labels if label not in data.labels]
        if missing:
            raise HubError(
                ErrorCode.INVALID_ARGUMENT,
                f"dataset {key!r} has no classes named {missing}: name calibration data that has them",
            )
        return data


class Composer(Planner):
    def __init__(self, store: RegistryStore, artifacts: ArtifactStore, settings: Settings) -> None:
        super().__init__(store, settings)
        self.artifacts = artifacts
        self._lock = threading.Lock()  # one build at a time: each is CPU-bound and memory-hungry

    def existing(self, cid: str) -> Composition | None:
        try:
            return self.store.get_composition(cid)
        except NotFound:
            return None

    # -- building -----------------------------------------------------------------------------

    def network(self, model: Model) -> ModularNet:
        return _network(self.artifacts, model.weights_sha256)

    def plan(self, net: ModularNet, modules: Sequence[Module]) -> KeepPlan:
        """What the union of `modules` (all of `net`'s model) keeps of `net`."""
        return keep_plan(net, [_mask(self.artifacts, m.mask_sha256) for m in modules])

    def pruned_part(self, model: Model, modules: Sequence[Module]) -> Part:
        net = self.network(model)
        plan = self.plan(net, modules)
        served, kept = compose_served(net, plan, self.settings.channel_align)
        return Part(model, served, param_count(kept), _macs(kept), param_count(net), _macs(net))

    def full_part(self, model: Model) -> Part:
        net = _network(self.artifacts, model.weights_sha256)
        return Part(model, net, param_count(net), _macs(net), param_count(net), _macs(net))

    def combine(self, modules: Sequence[Module], models: dict[str, Model]) -> Built:
        """Each model's pruned part run once, outputs in (model, class) order."""
        parts, picks, ordered = [], [], []
        for model_id, model in sorted(models.items()):
            own = sorted((m for m in modules if m.model_id == model_id), key=lambda m: m.class_index)
            parts.append(self.pruned_part(model, own))
            picks += [Pick(len(parts) - 1, column) for column in range(len(own))]
            ordered += own
        classes = [class_entry(i, m) for i, m in enumerate(ordered)]
        spec = InputSpec.from_dict(next(iter(models.values())).input_spec)
        return Built(CombinedClassifier([p.net for p in parts], picks, spec), classes, parts)

    def store_built(
        self,
        cid: str,
        strategy: Strategy,
        built: Built,
        module_ids: Sequence[str],
        *,
        test_data: tuple[torch.Tensor, torch.Tensor] | None,
        metrics: dict[str, Any] | None = None,
        job_id: str | None = None,
    ) -> tuple[Composition, bool]:
        """Export `built`, store the ONNX and the composition row (idempotent on `cid`)."""
        labels = [c.label for c in built.classes]
        indices = [c.class_index for c in built.classes]
        onnx = export_onnx(built.net, labels, indices, metadata={"composition_id": cid, "strategy": strategy})
        accuracy_pct = None
        if test_data is not None and len(test_data[1]):
            accuracy_pct = accuracy(predict_logits(built.net, test_data[0]), test_data[1])
        params = sum(p.size for p in built.parts)
        served_params = sum(p.numel() for p in built.net.parameters())
        new = NewComposition(
            id=cid,
            strategy=strategy,
            module_ids=list(module_ids),
            classes=built.classes,
            input_spec=built.net.spec.to_dict(),
            onnx_sha256=self.artifacts.put_bytes(onnx.data),
            params=params,
            size_ratio=params / sum(p.full_size for p in built.parts),
            macs=sum(p.macs for p in built.parts),
            accuracy=accuracy_pct,
            metrics={
                "source_params": sum(p.full_size for p in built.parts),
                "source_macs": sum(p.full_macs for p in built.parts),
                # What runs: the kept neurons plus the zero channels padding each width to the alignment.
                "channel_align": self.settings.channel_align,
                "served_params": served_params,
                "served_macs": _macs(built.net),
                "onnx_max_abs_diff": onnx.max_abs_diff,
                **(metrics or {}),
            },
            job_id=job_id,
        )
        return self.store.create_composition(new)

    # -- synchronous strategies ---------------------------------------------------------------

    def compose(self, module_ids: Sequence[str]) -> tuple[Composition, bool]:
        """Modules of one model, pruned: (composition, created)."""
        # Looked up before the selection is read and checked: /v1/predict asks for an existing
        # composition on every call, and a stored one was checked when it was made.
        cid = composition_id(list(module_ids), PRUNE)
        found = self.existing(cid)
        if found is not None:
            return found, False
        modules, models = self.selection(module_ids)
        if len(models) > 1:
            raise HubError(
                ErrorCode.INCOMPATIBLE_MODULES,
                "the modules come from several models: their logits need calibration "
                "(POST /v1/compositions with calibration 'auto', or 'none' for raw logits)",
            )
        (model,) = models.values()
        with self._lock:
            found = self.existing(cid)  # built by a concurrent request while this one waited
            if found is not None:
                return found, False
            part = self.pruned_part(model, modules)
            classes = [class_entry(i, m) for i, m in enumerate(modules)]
            built = Built(part.net, classes, [part])
            return self.store_built(
                cid, PRUNE, built, [m.id for m in modules], test_data=self._test_split(model, modules)
            )

    def concat(self, module_ids: Sequence[str]) -> tuple[Composition, bool]:
        """Modules of several models, uncalibrated logits side by side."""
        cid = composition_id(list(module_ids), CONCAT)
        found = self.existing(cid)
        if found is not None:
            return found, False
        modules, models = self.selection(module_ids)
        with self._lock:
            built = self.combine(modules, models)
            return self.store_built(cid, CONCAT, built, [m.id for m in modules], test_data=None)

    def _test_split(self, model: Model, modules: Sequence[Module]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The model's test samples of the selected classes, labelled by output position."""
        try:
            data = self.dataset_of(model, labels=[m.label for m in modules])
        except HubError:
            return None  # the data is not on this server: accuracy stays unmeasured
        return samples_of(data, [m.label for m in modules], split="test")


def class_entry(index: int, module: Module) -> CompositionClass:
    """Output `index` of a composition, computed by `module`."""
    return CompositionClass(
        index=index, label=module.label, module_id=module.id, model_id=module.model_id, class_index=module.class_index
    )


def samples_of(data: ImageDataset, labels: Sequence[str], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of the classes named `labels` (all in `data`), targets = position in `labels`: (N, C, H, W), (N,)."""
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
    position = torch.full((data.num_classes,), -1, dtype=torch.int64)
    for i, label in enumerate(labels):
        position[data.labels.index(label)] = i
    target = position[y]
    keep = target >= 0
    return x[keep], target[keep]
