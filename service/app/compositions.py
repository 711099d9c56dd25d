"""Requesting a composition of modules: which strategy makes it, the checks of a request, and making
it now (pruned or concatenated) or by a `calibrate` job (several models, calibrated)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from modules_store import ArtifactStore, Composition, Job, Model, Module, RegistryStore, Strategy
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.compositions import CompositionBuilder, find_composition
from service.jobs.executor import Executor
from service.jobs.planner import Planner
from service.jobs.submit import submit_job
from service.moda.data.samples import samples_of

Calibration = Literal["auto", "none"]


@dataclass(frozen=True)
class Ready:
    """The composition, stored: `created` by this request, or found."""

    composition: Composition
    created: bool


@dataclass(frozen=True)
class Pending:
    """The `calibrate` job making the composition (one job per composition while it runs)."""

    job: Job


class Compositions:
    """Compositions on request. One per process: it keeps decoded source models for the next build."""

    def __init__(self, store: RegistryStore, artifacts: ArtifactStore, executor: Executor, settings: Settings) -> None:
        self.store = store
        self.executor = executor
        self.settings = settings
        self.planner = Planner(store, settings)
        self.builder = CompositionBuilder(store, artifacts, settings)
        self._lock = threading.Lock()  # one build at a time: each is CPU-bound and memory-hungry

    def request(
        self,
        module_ids: Sequence[str],
        calibration: Calibration = "auto",
        dataset: str | None = None,
        data_dir: str | None = None,
    ) -> Ready | Pending:
        """Modules of one model are pruned out of it now. Modules of several models run each model's
        pruned part once; their logits are calibrated by a `calibrate` job on the data named (default
        the first model's own), unless `calibration` is 'none'."""
        modules, models = self.planner.selection(module_ids)
        calibrated = len(models) > 1 and calibration != "none"
        if not calibrated and (dataset is not None or data_dir is not None):
            one_model = "modules of one model are pruned, not calibrated"
            why = one_model if len(models) == 1 else "calibration 'none' fits nothing"
            raise HubError(
                ErrorCode.INVALID_ARGUMENT, f"dataset and data_dir name calibration data, but {why}: leave them out"
            )
        if len(models) == 1:
            return self._pruned(modules, next(iter(models.values())))
        if not calibrated:
            return self._concatenated(modules, models)
        return self._calibrated(module_ids, next(iter(models.values())), dataset, data_dir)

    def pruned(self, module_ids: Sequence[str]) -> Ready:
        """Modules of one model, pruned: what /v1/predict composes and predicts with."""
        # Looked up before the selection is read and checked: /v1/predict asks for an existing
        # composition on every call, and a stored one was checked when it was made.
        _, found = find_composition(self.store, module_ids, Strategy.PRUNE)
        if found is not None:
            return Ready(found, created=False)
        modules, models = self.planner.selection(module_ids)
        if len(models) > 1:
            raise HubError(
                ErrorCode.INCOMPATIBLE_MODULES,
                "the modules come from several models: their logits need calibration "
                "(POST /v1/compositions with calibration 'auto', or 'none' for raw logits)",
            )
        return self._pruned(modules, next(iter(models.values())))

    def _pruned(self, modules: list[Module], model: Model) -> Ready:
        module_ids = [m.id for m in modules]
        with self._lock:
            # Looked up under the lock: a concurrent request may have built it while this one waited.
            cid, found = find_composition(self.store, module_ids, Strategy.PRUNE)
            if found is not None:
                return Ready(found, created=False)
            classifier = self.builder.pruned(model, modules)
            test_data = self._test_split(model, modules)
            stored = self.builder.store_classifier(cid, Strategy.PRUNE, classifier, module_ids, test_data=test_data)
        return Ready(*stored)

    def _concatenated(self, modules: list[Module], models: dict[str, Model]) -> Ready:
        module_ids = [m.id for m in modules]
        cid, found = find_composition(self.store, module_ids, Strategy.CONCAT)
        if found is not None:
            return Ready(found, created=False)
        with self._lock:
            classifier = self.builder.combined(modules, models)
            stored = self.builder.store_classifier(cid, Strategy.CONCAT, classifier, module_ids, test_data=None)
        return Ready(*stored)

    def _calibrated(
        self, module_ids: Sequence[str], first: Model, dataset: str | None, data_dir: str | None
    ) -> Ready | Pending:
        data = self.planner.data_key(first, dataset, data_dir)
        cid, found = find_composition(self.store, module_ids, Strategy.CALIBRATED, data)
        if found is not None:
            return Ready(found, created=False)
        # submit_job refuses data the job could not calibrate on (other input, missing classes) now,
        # rather than queueing a job that would fail. A repeated request gets the job already
        # making this composition, not a second one.
        params = {"module_ids": list(module_ids), "dataset": dataset, "data_dir": data_dir}
        job = submit_job(self.store, self.executor, self.settings, "calibrate", params, dedupe_key=f"calibrate:{cid}")
        return Pending(job)

    def _test_split(self, model: Model, modules: Sequence[Module]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The model's test samples of the selected classes, labelled by output position."""
        labels = [m.label for m in modules]
        try:
            data = self.planner.dataset_of(model, labels=labels)
        except HubError:
            return None  # the data is not on this server: accuracy stays unmeasured
        return samples_of(data, labels, split="test")
