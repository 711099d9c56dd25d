"""SQLAlchemy rows: the relational shape of the registry. Only the SQL backend imports this.

Every schema change here needs an Alembic revision in modules_store/migrations/versions; a test
compares the migrated schema with this metadata and fails on any difference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from modules_store.column_types import UtcDateTime
from modules_store.entities import Composition, CompositionClass, Dataset, Job, JobStatus, Model, Module, Strategy

# Deterministic constraint names, so migrations can refer to (and later drop) them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
SHA256 = String(64)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DatasetRow(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    data_dir: Mapped[str | None] = mapped_column(Text)
    input_spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels: Mapped[list[str]] = mapped_column(JSON)
    n_train: Mapped[int] = mapped_column(BigInteger)
    n_test: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def to_entity(self) -> Dataset:
        return Dataset(
            id=self.id,
            name=self.name,
            data_dir=self.data_dir,
            input_spec=self.input_spec,
            labels=list(self.labels),
            n_train=self.n_train,
            n_test=self.n_test,
            created_at=self.created_at,
        )


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    arch: Mapped[str] = mapped_column(String(64))
    arch_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    input_spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels: Mapped[list[str]] = mapped_column(JSON)
    alpha: Mapped[float] = mapped_column(Double)
    beta: Mapped[float] = mapped_column(Double)
    gamma: Mapped[float] = mapped_column(Double)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    weights_sha256: Mapped[str] = mapped_column(SHA256)
    # A model outlives the dataset record and the job that made it: the links just go blank.
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    # Indexed: every train/ingest attempt looks up the model its job may have registered already.
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def to_entity(self) -> Model:
        return Model(
            id=self.id,
            name=self.name,
            version=self.version,
            arch=self.arch,
            arch_config=self.arch_config,
            input_spec=self.input_spec,
            labels=list(self.labels),
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            metrics=self.metrics,
            weights_sha256=self.weights_sha256,
            dataset_id=self.dataset_id,
            job_id=self.job_id,
            created_at=self.created_at,
        )


class ModuleRow(Base):
    __tablename__ = "modules"
    # The unique index leads with model_id, so it also serves "modules of a model" lookups;
    # a separate index on model_id would only cost writes.
    __table_args__ = (UniqueConstraint("model_id", "class_index", "tau"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    class_index: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(255))
    tau: Mapped[float] = mapped_column(Double)
    mask_sha256: Mapped[str] = mapped_column(SHA256)
    params: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[float] = mapped_column(Double)
    onnx_sha256: Mapped[str] = mapped_column(SHA256)
    empty_mask_fallback: Mapped[bool] = mapped_column(Boolean)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def to_entity(self) -> Module:
        return Module(
            id=self.id,
            model_id=self.model_id,
            class_index=self.class_index,
            label=self.label,
            tau=self.tau,
            mask_sha256=self.mask_sha256,
            params=self.params,
            size=self.size,
            onnx_sha256=self.onnx_sha256,
            empty_mask_fallback=self.empty_mask_fallback,
            metrics=self.metrics,
            created_at=self.created_at,
        )


class CompositionModuleRow(Base):
    """One module of a composition at its output position: keeps module ids referentially sound."""

    __tablename__ = "composition_modules"

    composition_id: Mapped[str] = mapped_column(ForeignKey("compositions.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RESTRICT: a module that a composition is built from cannot silently disappear.
    module_id: Mapped[str] = mapped_column(ForeignKey("modules.id", ondelete="RESTRICT"), index=True)


class CompositionRow(Base):
    __tablename__ = "compositions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32))
    classes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    input_spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    onnx_sha256: Mapped[str] = mapped_column(SHA256)
    params: Mapped[int] = mapped_column(BigInteger)
    size_ratio: Mapped[float] = mapped_column(Double)
    macs: Mapped[int] = mapped_column(BigInteger)
    accuracy: Mapped[float | None] = mapped_column(Double)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    links: Mapped[list[CompositionModuleRow]] = relationship(
        order_by=CompositionModuleRow.position,
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )

    def to_entity(self) -> Composition:
        return Composition(
            id=self.id,
            strategy=Strategy(self.strategy),
            module_ids=[link.module_id for link in self.links],
            classes=[CompositionClass(**entry) for entry in self.classes],
            input_spec=self.input_spec,
            onnx_sha256=self.onnx_sha256,
            params=self.params,
            size_ratio=self.size_ratio,
            macs=self.macs,
            accuracy=self.accuracy,
            metrics=self.metrics,
            job_id=self.job_id,
            created_at=self.created_at,
        )


class CompositionDeletionRow(Base):
    """The deletion log: each deleted composition, in order, for processes that cache compositions.

    Processes poll it by position. Each deletion prunes the entries older than a day (never the
    latest: positions must keep counting up), and a reader whose position is older than the oldest
    entry kept is told it may have missed some (sql_deletion.compositions_deleted_since).
    """

    __tablename__ = "composition_deletions"

    # Integer, not BigInteger: only INTEGER PRIMARY KEY counts up by itself on SQLite.
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    composition_id: Mapped[str] = mapped_column(ID)
    deleted_at: Mapped[datetime] = mapped_column(UtcDateTime())


_STATUS_VALUES = ", ".join(f"'{status.value}'" for status in JobStatus)
# A job that will still do its work: queued or running, and not asked to cancel.
IN_FLIGHT = "dedupe_key IS NOT NULL AND status IN ('queued', 'running') AND NOT cancel_requested"


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
        # Serves the claim query (status = 'queued' ORDER BY created_at) and status filters.
        Index(None, "status", "created_at"),
        # At most one job in flight per dedupe key, enforced by the database so that requests at
        # the same instant cannot both create one (see SqlJobs.find_or_create_job).
        Index(
            "uq_jobs_dedupe_key_in_flight",
            "dedupe_key",
            unique=True,
            sqlite_where=text(IN_FLIGHT),
            postgresql_where=text(IN_FLIGHT),
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean)
    dedupe_key: Mapped[str | None] = mapped_column(String(128))
    worker_id: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    def to_entity(self) -> Job:
        return Job(
            id=self.id,
            kind=self.kind,
            status=JobStatus(self.status),
            params=self.params,
            progress=self.progress,
            result=self.result,
            error=self.error,
            attempts=self.attempts,
            max_attempts=self.max_attempts,
            cancel_requested=self.cancel_requested,
            worker_id=self.worker_id,
            heartbeat_at=self.heartbeat_at,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )
