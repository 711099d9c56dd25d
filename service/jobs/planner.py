"""What a composition is made of and the data it is calibrated on, checked against the registry and
the data before anything is built: the API checks a request with it before queueing its job, and
the job checks again (registries change meanwhile, jobs are queued by other means)."""

from __future__ import annotations

from collections.abc import Sequence

from modules_store import Model, Module, RegistryStore
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.datasets import canonical_dataset_key, dataset_key, open_dataset, split_dataset_key
from service.moda.data import ImageDataset
from service.moda.spec import InputSpec, describe_input


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


class Planner:
    """Selections of modules and calibration data, read from the registry and checked; it builds
    nothing and reads no artifacts."""

    def __init__(self, store: RegistryStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

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
