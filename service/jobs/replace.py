"""The `replace` job (the paper's RQ2): repair a weak class of model W with model S's module of that
class. The composition is W's own logits for its other classes beside S's module for the weak class,
one K×K calibration fitted on data (default: W's own), with per-class accuracy before and after.

Every rule of a replacement is here: which models and modules it takes and what it refuses
(`plan_replacement`), its data (`replacement_data`), and the check submission runs so that a request
the job would refuse gets a 4xx with the same message (`check_replace`). The job checks again when it
runs: for jobs queued by other means, and for registries changed meanwhile.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from modules_store import Model, Module, RegistryStore, Strategy, all_items
from service.errors import ErrorCode, HubError
from service.jobs.calibrate import calibrate_and_store
from service.jobs.compositions import Classifier, CompositionBuilder, class_entry, find_composition
from service.jobs.context import JobContext
from service.jobs.params import ReplaceParams
from service.jobs.planner import Planner
from service.moda.combine import CombinedClassifier, Pick
from service.moda.data import ImageDataset
from service.moda.data.samples import samples_of
from service.moda.spec import InputSpec, describe_input
from service.moda.training import predict_logits


def _provenance_modules(store: RegistryStore, model_id: str, classes: list[int]) -> dict[int, Module]:
    """A module of each of the weak model's kept classes, naming where each output comes from."""
    found: dict[int, Module] = {}
    for module in all_items(store.list_modules, model_id):  # a model may hold modules at many τ
        found.setdefault(module.class_index, module)
        if all(c in found for c in classes):
            break  # stop reading pages once every class has its module
    missing = [c for c in classes if c not in found]
    if missing:
        raise HubError(ErrorCode.NOT_FOUND, f"model {model_id} has no modules for classes {missing}: modularize it")
    return found


@dataclass(frozen=True)
class Replacement:
    """A `replace` job's models and modules, checked: what its composition is made of."""

    weak: Model
    strong: Model  # the donor module's model
    donor: Module
    kept: list[int]  # the weak model's classes the composition keeps, in output order
    entries: list[Module]  # a module per output: the donor for target_class, else the weak model's own


def plan_replacement(planner: Planner, p: ReplaceParams) -> Replacement:
    """The models and modules `p` names, checked (also at submission: see `check_replace`)."""
    weak = planner.store.get_model(p.model_id)
    donor = planner.store.get_module(p.module_id)
    strong = planner.store.get_model(donor.model_id)
    check_replacement(weak, strong, p, donor)
    kept = sorted(p.classes) if p.classes else list(range(len(weak.labels)))
    own = _provenance_modules(planner.store, weak.id, [c for c in kept if c != p.target_class])
    entries = [donor if c == p.target_class else own[c] for c in kept]
    return Replacement(weak, strong, donor, kept, entries)


def replacement_data(planner: Planner, plan: Replacement, p: ReplaceParams) -> ImageDataset:
    """The calibration data: the weak model's input, and every kept class."""
    return planner.dataset_of(plan.weak, p.dataset, p.data_dir, [plan.weak.labels[c] for c in plan.kept])


def run_replace(ctx: JobContext, p: ReplaceParams) -> dict[str, Any]:
    planner = Planner(ctx.store, ctx.settings)
    plan = plan_replacement(planner, p)
    weak, strong, donor, kept = plan.weak, plan.strong, plan.donor, plan.kept
    module_ids = [m.id for m in plan.entries]
    data_key = planner.data_key(weak, p.dataset, p.data_dir)
    cid, found = find_composition(ctx.store, module_ids, Strategy.REPLACE, data_key)
    if found is not None:
        return {"composition_id": found.id}

    builder = CompositionBuilder(ctx.store, ctx.artifacts, ctx.settings)
    parts = [builder.full_part(weak), builder.pruned_part(strong, [donor])]
    picks = [Pick(1, 0) if c == p.target_class else Pick(0, c) for c in kept]
    classes = [class_entry(i, m) for i, m in enumerate(plan.entries)]
    spec = InputSpec.from_dict(weak.input_spec)
    built = Classifier(CombinedClassifier([part.net for part in parts], picks, spec), classes, parts)

    ctx.report(stage="loading data")
    data = replacement_data(planner, plan, p)
    x_test, _ = samples_of(data, [weak.labels[c] for c in kept], "test")
    weak_alone = predict_logits(parts[0].net, x_test)[:, kept]  # W restricted to the kept classes
    result = calibrate_and_store(ctx, builder, cid, Strategy.REPLACE, built, module_ids, data, baseline=weak_alone)
    target = kept.index(p.target_class)
    rows = result["per_class_accuracy"]
    others = [r for i, r in enumerate(rows) if i != target and r["before"] is not None]
    result |= {
        "target_class": {"label": rows[target]["label"], **{k: rows[target][k] for k in ("before", "after")}},
        "other_classes": {
            "before": statistics.fmean(r["before"] for r in others) if others else None,
            "after": statistics.fmean(r["after"] for r in others) if others else None,
        },
    }
    return result


def check_replacement(weak: Model, strong: Model, p: ReplaceParams, donor: Module) -> None:
    """Refuse a replacement whose target class, donor module or kept classes do not fit the weak model."""
    weak_labels = weak.labels
    if not 0 <= p.target_class < len(weak_labels):
        raise HubError(
            ErrorCode.INVALID_ARGUMENT,
            f"target_class {p.target_class} is not a class of the weak model (0..{len(weak_labels) - 1})",
        )
    if donor.label != weak_labels[p.target_class]:
        raise HubError(
            ErrorCode.INVALID_ARGUMENT,
            f"module {donor.id} is of class {donor.label!r}; the weak model's class {p.target_class} is "
            f"{weak_labels[p.target_class]!r}",
        )
    weak_spec, strong_spec = InputSpec.from_dict(weak.input_spec), InputSpec.from_dict(strong.input_spec)
    if not weak_spec.same_input(strong_spec):
        raise HubError(
            ErrorCode.INCOMPATIBLE_MODULES,
            f"the module's model {strong.name} v{strong.version} takes {describe_input(strong_spec)}, "
            f"the weak model {weak.name} v{weak.version} takes {describe_input(weak_spec)}: "
            "a module can replace a class only of a model with the same input",
        )
    if p.classes is not None:
        bad = [c for c in p.classes if not 0 <= c < len(weak_labels)]
        if bad or p.target_class not in p.classes or len(set(p.classes)) != len(p.classes):
            raise HubError(
                ErrorCode.INVALID_ARGUMENT,
                f"classes must be distinct classes of the weak model and include target_class; got {p.classes}",
            )


def check_replace(planner: Planner, p: ReplaceParams) -> None:
    """Refuse, as the job would, a replacement of models or modules that do not fit and data it could
    not be calibrated on: submission runs this before queueing a `replace` job."""
    replacement_data(planner, plan_replacement(planner, p), p)
