"""Making a composition servable: from module ids to a stored, verified ONNX classifier.

Modules of one model are composed structurally (`strategy="prune"`): the union of their masks
sliced out of the model, exported as one ONNX graph. The composition id is a hash of the sorted
module ids and the strategy, so asking twice (in any order) returns the same composition.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import torch

from modules_store import ArtifactStore, Composition, Model, Module, NotFound, RegistryStore, composition_id
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.moda.compose import compose, keep_plan, param_count
from service.moda.data.sandbox import open_dataset, split_dataset_key
from service.moda.decompose import ClassMask
from service.moda.metrics import count_macs, restricted_accuracy
from service.moda.nets import ModularNet
from service.moda.onnx_export import export_onnx
from service.moda.serialization import load_checkpoint, load_mask
from service.moda.spec import InputSpec
from service.moda.training import predict_logits

PRUNE = "prune"


@lru_cache(maxsize=8)
def _network(artifacts: ArtifactStore, weights_sha256: str) -> ModularNet:
    return load_checkpoint(artifacts.get_bytes(weights_sha256))


@lru_cache(maxsize=256)
def _mask(artifacts: ArtifactStore, mask_sha256: str) -> ClassMask:
    return load_mask(artifacts.get_bytes(mask_sha256))


def check_selection(modules: list[Module], models: dict[str, Model]) -> None:
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
                f"{first.name} v{first.version} takes {_describe(first_spec)}, "
                f"{model.name} v{model.version} takes {_describe(spec)}",
            )


def _describe(spec: InputSpec) -> str:
    c, h, w = spec.shape
    return f"{c}×{h}×{w} pixels on a 0..{spec.pixel_max:g} scale"


class Composer:
    def __init__(self, store: RegistryStore, artifacts: ArtifactStore, settings: Settings) -> None:
        self.store = store
        self.artifacts = artifacts
        self.settings = settings
        self._lock = threading.Lock()  # one build at a time: each is CPU-bound and memory-hungry

    def selection(self, module_ids: list[str]) -> tuple[list[Module], dict[str, Model]]:
        modules = self.store.get_modules(module_ids)
        models = {m.model_id: self.store.get_model(m.model_id) for m in modules}
        check_selection(modules, models)
        return modules, models

    def compose(self, module_ids: list[str]) -> tuple[Composition, bool]:
        """The pruned composition of modules of one model: (composition, created)."""
        modules, models = self.selection(module_ids)
        if len(models) > 1:
            raise HubError(
                ErrorCode.INCOMPATIBLE_MODULES,
                "modules come from several models; ask for a calibrated composition "
                "(the default) or calibration 'none'",
            )
        (model,) = models.values()
        cid = composition_id(module_ids, PRUNE)
        try:
            return self.store.get_composition(cid), False
        except NotFound:
            pass
        with self._lock:
            return self._build(cid, sorted(modules, key=lambda m: m.class_index), model)

    def _build(self, cid: str, modules: list[Module], model: Model) -> tuple[Composition, bool]:
        net = _network(self.artifacts, model.weights_sha256)
        plan = keep_plan(net, [_mask(self.artifacts, m.mask_sha256) for m in modules])
        composed = compose(net, plan)
        labels = [m.label for m in modules]
        indices = [m.class_index for m in modules]
        onnx = export_onnx(composed, labels, indices, metadata={"composition_id": cid, "strategy": PRUNE})
        example = torch.zeros(1, *composed.spec.shape)  # (1, C, H, W)
        classes = [
            {
                "index": i,
                "label": m.label,
                "module_id": m.id,
                "model_id": m.model_id,
                "class_index": m.class_index,
            }
            for i, m in enumerate(modules)
        ]
        return self.store.create_composition(
            composition_id=cid,
            strategy=PRUNE,
            module_ids=[m.id for m in modules],
            classes=classes,
            input_spec=model.input_spec,
            onnx_sha256=self.artifacts.put_bytes(onnx.data),
            params=param_count(composed),
            size_ratio=param_count(composed) / param_count(net),
            macs=count_macs(composed, example),
            accuracy=self._accuracy(model, composed, indices),
            metrics={
                "model_macs": count_macs(net, example),
                "onnx_max_abs_diff": onnx.max_abs_diff,
            },
        )

    def _accuracy(self, model: Model, composed: ModularNet, classes: list[int]) -> float | None:
        """Accuracy on the test samples of the selected classes, when the model's data is at hand."""
        if model.dataset_id is None:
            return None
        dataset, data_dir = split_dataset_key(self.store.get_dataset(model.dataset_id).name)
        try:
            data = open_dataset(self.settings.resolved_datasets_dir, dataset, data_dir)
        except HubError:
            return None  # the data is not on this server: accuracy stays unmeasured
        return restricted_accuracy(predict_logits(composed, data.x_test), data.y_test, classes)
