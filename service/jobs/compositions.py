"""Compositions from registry modules: source parts read and built (service/moda/assembly.py), the
classifier exported to ONNX, measured and stored; and the lookup every strategy starts with.

    prune       modules of one model: the union of their masks sliced out of the model
    concat      modules of several models, raw logits side by side (calibration "none")
    calibrated  modules of several models, each model's pruned part run once, then a K×K
                calibration fitted on data with every part frozen (a `calibrate` job)
    replace     a weak model's own logits for its classes with one class taken from another
                model's module, calibrated the same way (a `replace` job)

A composition's id hashes its sorted module ids and its strategy, and for calibrated and replace
compositions the data they are fitted on, so asking twice (in any order) returns the same
composition, and calibrating on other data makes another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from service.jobs.sources import SourceNetworks
from service.moda.assembly import Part, footprint, full_part, pruned_part
from service.moda.combine import CombinedClassifier, Pick
from service.moda.nets import ModularNet
from service.moda.onnx_export import export_onnx
from service.moda.spec import InputSpec
from service.moda.training import accuracy, predict_logits


@dataclass(frozen=True)
class Classifier:
    """A composition's network before it is stored: the network, its output classes, its parts."""

    net: ModularNet | CombinedClassifier
    classes: list[CompositionClass]  # output order
    parts: list[Part]


def class_entry(index: int, module: Module) -> CompositionClass:
    """Output `index` of a composition, computed by `module`."""
    return CompositionClass(
        index=index, label=module.label, module_id=module.id, model_id=module.model_id, class_index=module.class_index
    )


def find_composition(
    store: RegistryStore, module_ids: Sequence[str], strategy: Strategy, data: str | None = None
) -> tuple[str, Composition | None]:
    """The id of the composition these modules make with `strategy` (calibrated on `data`), and the
    composition when it is stored already (maybe under the id it had before ids had 32 digits)."""
    cid = composition_id(list(module_ids), strategy, data)
    try:
        return cid, store.get_composition(cid)
    except NotFound:
        return cid, None


class CompositionBuilder:
    """Builds classifiers of registry modules and stores them; its source cache lives as long as it."""

    def __init__(self, store: RegistryStore, artifacts: ArtifactStore, settings: Settings) -> None:
        self.store = store
        self.artifacts = artifacts
        self.settings = settings
        self.sources = SourceNetworks(artifacts, settings.model_cache_size)

    def pruned_part(self, model: Model, modules: Sequence[Module]) -> Part:
        masks = [self.sources.mask(m.mask_sha256) for m in modules]
        return pruned_part(self.sources.network(model.weights_sha256), masks, self.settings.channel_align)

    def full_part(self, model: Model) -> Part:
        return full_part(self.sources.network(model.weights_sha256))

    def pruned(self, model: Model, modules: Sequence[Module]) -> Classifier:
        """Modules of one model (sorted by class), pruned out of it."""
        part = self.pruned_part(model, modules)
        return Classifier(part.net, [class_entry(i, m) for i, m in enumerate(modules)], [part])

    def combined(self, modules: Sequence[Module], models: dict[str, Model]) -> Classifier:
        """Each model's pruned part run once, outputs in (model, class) order."""
        parts, picks, ordered = [], [], []
        for model_id, model in sorted(models.items()):
            own = sorted((m for m in modules if m.model_id == model_id), key=lambda m: m.class_index)
            parts.append(self.pruned_part(model, own))
            picks += [Pick(len(parts) - 1, column) for column in range(len(own))]
            ordered += own
        classes = [class_entry(i, m) for i, m in enumerate(ordered)]
        spec = InputSpec.from_dict(next(iter(models.values())).input_spec)
        return Classifier(CombinedClassifier([p.net for p in parts], picks, spec), classes, parts)

    def store_classifier(
        self,
        cid: str,
        strategy: Strategy,
        classifier: Classifier,
        module_ids: Sequence[str],
        *,
        test_data: tuple[torch.Tensor, torch.Tensor] | None,
        metrics: dict[str, Any] | None = None,
        job_id: str | None = None,
    ) -> tuple[Composition, bool]:
        """Export `classifier`, store the ONNX and the composition row (idempotent on `cid`)."""
        net = classifier.net
        labels = [c.label for c in classifier.classes]
        indices = [c.class_index for c in classifier.classes]
        onnx = export_onnx(net, labels, indices, metadata={"composition_id": cid, "strategy": strategy})
        accuracy_pct = None
        if test_data is not None and len(test_data[1]):
            accuracy_pct = accuracy(predict_logits(net, test_data[0]), test_data[1])
        cost = footprint(net, classifier.parts)
        with self.artifacts.writing() as held:  # the file stays until the row names it
            new = NewComposition(
                id=cid,
                strategy=strategy,
                module_ids=list(module_ids),
                classes=classifier.classes,
                input_spec=net.spec.to_dict(),
                onnx_sha256=held.put_bytes(onnx.data),
                params=cost.params,
                size_ratio=cost.size_ratio,
                macs=cost.macs,
                accuracy=accuracy_pct,
                metrics={
                    "source_params": cost.source_params,
                    "source_macs": cost.source_macs,
                    "channel_align": self.settings.channel_align,
                    "served_params": cost.served_params,
                    "served_macs": cost.served_macs,
                    "onnx_max_abs_diff": onnx.max_abs_diff,
                    **(metrics or {}),
                },
                job_id=job_id,
            )
            return self.store.create_composition(new)
