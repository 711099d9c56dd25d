"""The SQL store's catalogue: datasets, models, modules, compositions (the contract is in store.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modules_store.clock import utc_now
from modules_store.entities import (
    Composition,
    Dataset,
    Model,
    Module,
    NewComposition,
    NewModel,
    NewModule,
    Page,
    Strategy,
)
from modules_store.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modules_store.ids import composition_lookup_ids, new_id
from modules_store.rows import CompositionModuleRow, CompositionRow, DatasetRow, JobRow, ModelRow, ModuleRow
from modules_store.sql_session import SqlSessions, fetch_page, serialise_on
from modules_store.validation import as_json, require_text, string_list

_MAX_ID_LENGTH = 64


RowT = TypeVar("RowT")


class SqlCatalog:
    _db: SqlSessions

    # -- datasets -----------------------------------------------------------------------------

    def get_or_create_dataset(
        self,
        *,
        name: str,
        input_spec: Mapping[str, Any],
        labels: Sequence[str],
        n_train: int,
        n_test: int,
        data_dir: str | None = None,
    ) -> Dataset:
        require_text(name, "dataset name")
        spec = as_json(dict(input_spec), "input_spec")
        label_list = string_list(labels, "labels")
        query = select(DatasetRow).where(DatasetRow.name == name)
        try:
            with self._db.begin(write=True) as session:
                row = session.scalar(query)
                if row is None:
                    row = DatasetRow(
                        id=new_id(),
                        name=name,
                        data_dir=data_dir,
                        input_spec=spec,
                        labels=label_list,
                        n_train=int(n_train),
                        n_test=int(n_test),
                        created_at=utc_now(),
                    )
                    session.add(row)
                    session.flush()
                return _same_layout(row, spec, label_list)
        except AlreadyExists:
            # A concurrent caller inserted it between our read and our insert (PostgreSQL).
            with self._db.begin(write=False) as session:
                row = session.scalar(query)
                if row is None:
                    raise
                return _same_layout(row, spec, label_list)

    def get_dataset(self, dataset_id: str) -> Dataset:
        with self._db.begin(write=False) as session:
            return _get(session, DatasetRow, dataset_id, "dataset").to_entity()

    def get_dataset_by_name(self, name: str) -> Dataset:
        with self._db.begin(write=False) as session:
            row = session.scalar(select(DatasetRow).where(DatasetRow.name == name))
            if row is None:
                raise NotFound(f"dataset {name!r} not found")
            return row.to_entity()

    def list_datasets(self, *, offset: int = 0, limit: int = 50) -> Page[Dataset]:
        with self._db.begin(write=False) as session:
            query = select(DatasetRow).order_by(DatasetRow.name)
            return fetch_page(session, query, offset=offset, limit=limit)

    # -- models -------------------------------------------------------------------------------

    def create_model(self, model: NewModel, modules: Sequence[NewModule] = ()) -> Model:
        name, version, dataset_id, job_id = model.name, model.version, model.dataset_id, model.job_id
        require_text(name, "model name")
        require_text(model.arch, "arch")
        if version is not None and version < 1:
            raise InvalidArgument(f"model version must be >= 1, got {version}")
        fields: dict[str, Any] = {
            "name": name,
            "arch": model.arch,
            "arch_config": as_json(dict(model.arch_config), "arch_config"),
            "input_spec": as_json(dict(model.input_spec), "input_spec"),
            "labels": string_list(model.labels, "labels"),
            "alpha": float(model.alpha),
            "beta": float(model.beta),
            "gamma": float(model.gamma),
            "metrics": as_json(dict(model.metrics), "metrics"),
            "weights_sha256": model.weights_sha256,
            "dataset_id": dataset_id,
            "job_id": job_id,
        }
        with self._db.begin(write=True) as session:
            # Without this, two creators of one name could both read version N and insert N+1.
            serialise_on(session, f"model-version:{name}")
            if dataset_id is not None:
                _get(session, DatasetRow, dataset_id, "dataset")
            if job_id is not None:
                _get(session, JobRow, job_id, "job")
                # Two attempts of one job can both get here (a worker taken for dead was not).
                serialise_on(session, f"model-job:{job_id}")
                if _model_of_job(session, job_id) is not None:
                    raise AlreadyExists(f"job {job_id!r} has registered a model already")
            if version is None:
                latest = session.scalar(select(func.max(ModelRow.version)).where(ModelRow.name == name))
                chosen = (latest or 0) + 1
            else:
                chosen = version
                taken = select(ModelRow.id).where(ModelRow.name == name, ModelRow.version == version)
                if session.scalar(taken) is not None:
                    raise AlreadyExists(f"model {name!r} version {version} exists")
            row = ModelRow(id=new_id(), version=chosen, created_at=utc_now(), **fields)
            session.add(row)
            session.flush()
            _add_modules(session, [replace(new, model_id=row.id) for new in modules], {row.id: row})
            return row.to_entity()

    def get_model(self, model_id: str) -> Model:
        with self._db.begin(write=False) as session:
            return _get(session, ModelRow, model_id, "model").to_entity()

    def find_model_by_job(self, job_id: str) -> Model | None:
        with self._db.begin(write=False) as session:
            row = _model_of_job(session, job_id)
            return None if row is None else row.to_entity()

    def get_model_by_name(self, name: str, version: int | None = None) -> Model:
        query = select(ModelRow).where(ModelRow.name == name)
        if version is None:
            query = query.order_by(ModelRow.version.desc()).limit(1)
        else:
            query = query.where(ModelRow.version == version)
        with self._db.begin(write=False) as session:
            row = session.scalar(query)
            if row is None:
                which = "any version" if version is None else f"version {version}"
                raise NotFound(f"model {name!r} ({which}) not found")
            return row.to_entity()

    def list_models(self, *, offset: int = 0, limit: int = 50, name: str | None = None) -> Page[Model]:
        query = select(ModelRow).order_by(ModelRow.name, ModelRow.version)
        if name is not None:
            query = query.where(ModelRow.name == name)
        with self._db.begin(write=False) as session:
            return fetch_page(session, query, offset=offset, limit=limit)

    def update_model_metrics(self, model_id: str, metrics: Mapping[str, Any]) -> Model:
        update = as_json(dict(metrics), "metrics")
        with self._db.begin(write=True) as session:
            row = _get(session, ModelRow, model_id, "model", for_update=True)
            row.metrics = {**row.metrics, **update}
            return row.to_entity()

    # -- modules ------------------------------------------------------------------------------

    def create_modules(self, modules: Sequence[NewModule]) -> list[Module]:
        if not modules:
            return []
        with self._db.begin(write=True) as session:
            model_ids = {new.model_id for new in modules}
            models = {row.id: row for row in session.scalars(select(ModelRow).where(ModelRow.id.in_(model_ids)))}
            missing = sorted(model_ids - models.keys())
            if missing:
                raise NotFound(f"models not found: {', '.join(missing)}")
            return _add_modules(session, modules, models)

    def get_module(self, module_id: str) -> Module:
        with self._db.begin(write=False) as session:
            return _get(session, ModuleRow, module_id, "module").to_entity()

    def get_modules(self, module_ids: Sequence[str]) -> list[Module]:
        module_ids = string_list(module_ids, "module_ids")
        with self._db.begin(write=False) as session:
            found = _get_modules(session, module_ids)
        return [found[module_id] for module_id in module_ids]

    def list_modules(
        self, model_id: str, *, tau: float | None = None, offset: int = 0, limit: int = 100
    ) -> Page[Module]:
        query = select(ModuleRow).where(ModuleRow.model_id == model_id).order_by(ModuleRow.class_index, ModuleRow.tau)
        if tau is not None:
            query = query.where(ModuleRow.tau == float(tau))
        with self._db.begin(write=False) as session:
            _get(session, ModelRow, model_id, "model")
            return fetch_page(session, query, offset=offset, limit=limit)

    # -- compositions -------------------------------------------------------------------------

    def create_composition(self, composition: NewComposition) -> tuple[Composition, bool]:
        composition_id, job_id, accuracy = composition.id, composition.job_id, composition.accuracy
        require_text(composition_id, "composition id")
        if len(composition_id) > _MAX_ID_LENGTH:
            raise InvalidArgument(f"composition id longer than {_MAX_ID_LENGTH} characters")
        try:
            strategy = Strategy(composition.strategy)
        except ValueError:
            raise InvalidArgument(f"unknown strategy {composition.strategy!r}; known: {', '.join(Strategy)}") from None
        ids = string_list(composition.module_ids, "module_ids")
        if not ids:
            raise InvalidArgument("a composition needs at least one module")
        fields: dict[str, Any] = {
            "strategy": strategy.value,
            "classes": as_json([asdict(entry) for entry in composition.classes], "classes"),
            "input_spec": as_json(dict(composition.input_spec), "input_spec"),
            "onnx_sha256": composition.onnx_sha256,
            "params": int(composition.params),
            "size_ratio": float(composition.size_ratio),
            "macs": int(composition.macs),
            "accuracy": None if accuracy is None else float(accuracy),
            "metrics": as_json(dict(composition.metrics), "metrics"),
            "job_id": job_id,
        }
        try:
            with self._db.begin(write=True) as session:
                row = composition_row(session, composition_id)
                if row is not None:
                    return row.to_entity(), False
                _get_modules(session, ids)
                if job_id is not None:
                    _get(session, JobRow, job_id, "job")
                row = CompositionRow(
                    id=composition_id,
                    created_at=utc_now(),
                    links=[
                        CompositionModuleRow(position=position, module_id=module_id)
                        for position, module_id in enumerate(ids)
                    ],
                    **fields,
                )
                session.add(row)
                session.flush()
                return row.to_entity(), True
        except AlreadyExists:
            # Lost a race to a concurrent creator of the same id (PostgreSQL): theirs is the one.
            with self._db.begin(write=False) as session:
                row = composition_row(session, composition_id)
                if row is None:
                    raise
                return row.to_entity(), False

    def get_composition(self, composition_id: str) -> Composition:
        with self._db.begin(write=False) as session:
            return _composition(session, composition_id).to_entity()

    def list_compositions(self, *, offset: int = 0, limit: int = 50) -> Page[Composition]:
        query = select(CompositionRow).order_by(CompositionRow.created_at, CompositionRow.id)
        with self._db.begin(write=False) as session:
            return fetch_page(session, query, offset=offset, limit=limit)

    def update_composition_metrics(
        self, composition_id: str, metrics: Mapping[str, Any], *, accuracy: float | None = None
    ) -> Composition:
        update = as_json(dict(metrics), "metrics")
        with self._db.begin(write=True) as session:
            row = _composition(session, composition_id, for_update=True)
            row.metrics = {**row.metrics, **update}
            if accuracy is not None:
                row.accuracy = float(accuracy)
            return row.to_entity()


def _get(session: Session, row_type: type[RowT], row_id: str, what: str, *, for_update: bool = False) -> RowT:
    row = session.get(row_type, row_id, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"{what} {row_id!r} not found")
    return row


def composition_row(session: Session, composition_id: str, *, for_update: bool = False) -> CompositionRow | None:
    """The composition stored under `composition_id`, or under the shorter id a registry written
    before ids had 32 digits gave it (`composition_lookup_ids`)."""
    candidates = composition_lookup_ids(composition_id)
    query = select(CompositionRow).where(CompositionRow.id.in_(candidates))
    rows = {row.id: row for row in session.scalars(query.with_for_update() if for_update else query)}
    return next((rows[cid] for cid in candidates if cid in rows), None)


def _composition(session: Session, composition_id: str, *, for_update: bool = False) -> CompositionRow:
    row = composition_row(session, composition_id, for_update=for_update)
    if row is None:
        raise NotFound(f"composition {composition_id!r} not found")
    return row


def _same_layout(row: DatasetRow, input_spec: Any, labels: list[str]) -> Dataset:
    if row.input_spec != input_spec or row.labels != labels:
        raise Conflict(
            f"dataset {row.name!r} exists with another input spec or labels ({row.input_spec}, {row.labels})"
        )
    return row.to_entity()


def _get_modules(session: Session, module_ids: Sequence[str]) -> dict[str, Module]:
    """The modules with these ids, by id; NOT_FOUND naming every id that has none."""
    if not module_ids:
        return {}
    rows = session.scalars(select(ModuleRow).where(ModuleRow.id.in_(set(module_ids))))
    found = {row.id: row.to_entity() for row in rows}
    missing = list(dict.fromkeys(module_id for module_id in module_ids if module_id not in found))
    if missing:
        raise NotFound(f"modules not found: {', '.join(missing)}")
    return found


def _model_of_job(session: Session, job_id: str) -> ModelRow | None:
    # A database written before a job could register only one model may hold several: the first counts.
    query = select(ModelRow).where(ModelRow.job_id == job_id).order_by(ModelRow.created_at, ModelRow.id)
    return session.scalar(query.limit(1))


def _add_modules(session: Session, modules: Sequence[NewModule], models: Mapping[str, ModelRow]) -> list[Module]:
    """Insert `modules`, each of the model `models[module.model_id]`, in the session's transaction."""
    keys = [(new.model_id, new.class_index, float(new.tau)) for new in modules]
    if len(set(keys)) != len(keys):
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        raise AlreadyExists(f"the batch repeats (model_id, class_index, tau): {repeated}")
    now = utc_now()
    rows = [_module_row(new, models[new.model_id], now) for new in modules]
    # A module that exists already fails the unique constraint here, and the whole
    # transaction rolls back: the constraint is the one check no concurrent batch can slip past.
    session.add_all(rows)
    session.flush()
    return [row.to_entity() for row in rows]


def _module_row(new: NewModule, model: ModelRow, now: datetime) -> ModuleRow:
    if not 0 <= new.class_index < len(model.labels):
        raise InvalidArgument(
            f"class_index {new.class_index} is outside model {model.id!r}'s {len(model.labels)} classes"
        )
    if new.label != model.labels[new.class_index]:
        raise InvalidArgument(
            f"label {new.label!r} is not class {new.class_index} of model {model.id!r} "
            f"({model.labels[new.class_index]!r})"
        )
    if not 0.0 <= new.tau <= 1.0:
        raise InvalidArgument(f"tau must be within [0, 1], got {new.tau}")
    return ModuleRow(
        id=new_id(),
        model_id=new.model_id,
        class_index=new.class_index,
        label=new.label,
        tau=float(new.tau),
        mask_sha256=new.mask_sha256,
        params=int(new.params),
        size=float(new.size),
        onnx_sha256=new.onnx_sha256,
        empty_mask_fallback=bool(new.empty_mask_fallback),
        metrics=as_json(dict(new.metrics), "module metrics"),
        created_at=now,
    )
