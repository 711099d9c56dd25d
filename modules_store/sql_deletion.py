"""The SQL store's deletions: compositions, modules, models, and the artifacts they leave unnamed.

A deletion is one transaction: the rows go, each deleted composition is written to the deletion
log (whose entries older than a day go then too), and the artifacts the deleted rows named are
checked against every row left (and the queued and running jobs), so that an artifact shared by
content with another row is never reported free.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modules_store.clock import utc_now
from modules_store.entities import MODEL_ARTIFACT_METRICS, Deleted, DeletionsSince, JobStatus
from modules_store.errors import Conflict, NotFound
from modules_store.rows import (
    CompositionDeletionRow,
    CompositionModuleRow,
    CompositionRow,
    JobRow,
    ModelRow,
    ModuleRow,
)
from modules_store.sql_catalog import composition_row
from modules_store.sql_session import SqlSessions, serialise_on

# Job params that name an artifact a job still has to read (an upload waiting to be ingested).
_JOB_ARTIFACT_PARAMS = ("weights_sha256",)
_IN_CHUNK = 500
# How long the composition deletion log keeps an entry: far beyond the second within which every
# API process polls it while it serves, so that only a process idle for a day can miss an entry;
# that one learns so (DeletionsSince.pruned) and drops its whole composition cache. The length
# trades such a drop against the log's size (a day of deletions), and covers any clock skew
# between the hosts that write `deleted_at`.
DELETION_LOG_RETENTION = timedelta(days=1)
_UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class SqlDeletion:
    _db: SqlSessions

    def delete_composition(self, composition_id: str) -> Deleted:
        with self._db.begin(write=True) as session:
            row = composition_row(session, composition_id, for_update=True)
            if row is None:
                raise NotFound(f"composition {composition_id!r} not found")
            return _remove(session, [row], [], None)

    def delete_module(self, module_id: str, *, cascade: bool = False) -> Deleted:
        with self._db.begin(write=True) as session:
            module = session.get(ModuleRow, module_id, with_for_update=True)
            if module is None:
                raise NotFound(f"module {module_id!r} not found")
            users = _compositions_using(session, [module_id], f"module {module_id}", cascade)
            return _remove(session, users, [module], None)

    def delete_model(self, model_id: str, *, cascade: bool = False) -> Deleted:
        with self._db.begin(write=True) as session:
            model = session.get(ModelRow, model_id, with_for_update=True)
            if model is None:
                raise NotFound(f"model {model_id!r} not found")
            modules = list(session.scalars(select(ModuleRow).where(ModuleRow.model_id == model_id)))
            users = _compositions_using(session, [m.id for m in modules], f"model {model_id}", cascade)
            return _remove(session, users, modules, model)

    def named_artifacts(self, candidates: Collection[str]) -> set[str]:
        shas = list(candidates)
        named: set[str] = set()
        with self._db.begin(write=False) as session:
            for start in range(0, len(shas), _IN_CHUNK):  # bounded IN lists, whatever the store holds
                named |= _still_named(session, shas[start : start + _IN_CHUNK])
        return named

    def deletion_mark(self) -> int:
        with self._db.begin(write=False) as session:
            return int(session.scalar(select(func.max(CompositionDeletionRow.position))) or 0)

    def compositions_deleted_since(self, mark: int) -> DeletionsSince:
        log = CompositionDeletionRow
        oldest = select(func.min(log.position)).scalar_subquery()
        # The entries after `mark` and the oldest one kept, read in one statement (one snapshot): a
        # prune committed between two reads could drop entries the first did not see.
        query = (
            select(log.position, log.composition_id)
            .where((log.position > mark) | (log.position == oldest))
            .order_by(log.position)
        )
        with self._db.begin(write=False) as session:
            rows = session.execute(query).all()
        if not rows:
            return DeletionsSince(position=mark, composition_ids=[])
        # Positions before the oldest entry kept were pruned (or never taken: a rolled-back
        # transaction's; the reader then drops its cache for nothing, harmlessly).
        pruned = rows[0].position > mark + 1
        after = [row for row in rows if row.position > mark]
        return DeletionsSince(
            position=max(mark, rows[-1].position), composition_ids=[row.composition_id for row in after], pruned=pruned
        )


def _compositions_using(session: Session, module_ids: Sequence[str], what: str, cascade: bool) -> list[CompositionRow]:
    """The compositions made of any of `module_ids`; CONFLICT naming them unless `cascade`."""
    if not module_ids:
        return []
    users = select(CompositionModuleRow.composition_id).where(CompositionModuleRow.module_id.in_(module_ids))
    rows = list(
        session.scalars(
            select(CompositionRow).where(CompositionRow.id.in_(users)).order_by(CompositionRow.id).with_for_update()
        )
    )
    if rows and not cascade:
        ids = ", ".join(row.id for row in rows)
        raise Conflict(
            f"{what} is used by {len(rows)} composition(s): {ids}; delete them first, or delete with cascade"
        )
    return rows


def _remove(
    session: Session, compositions: Sequence[CompositionRow], modules: Sequence[ModuleRow], model: ModelRow | None
) -> Deleted:
    named = {row.onnx_sha256 for row in compositions}
    named |= {sha for m in modules for sha in (m.mask_sha256, m.onnx_sha256)}
    if model is not None:
        named.add(model.weights_sha256)
        named |= {model.metrics[key] for key in MODEL_ARTIFACT_METRICS if isinstance(model.metrics.get(key), str)}
    composition_ids = [row.id for row in compositions]
    module_ids = [m.id for m in modules]
    now = utc_now()
    try:
        if composition_ids:
            # Log positions must commit in their order, or a poller that saw a later one would skip
            # an earlier one for good: deletions that log take turns until they commit.
            serialise_on(session, "composition-deletions")
            # composition_modules rows go with them (ON DELETE CASCADE).
            session.execute(delete(CompositionRow).where(CompositionRow.id.in_(composition_ids)))
            session.add_all(CompositionDeletionRow(composition_id=cid, deleted_at=now) for cid in composition_ids)
            session.flush()
            _prune_deletion_log(session, now - DELETION_LOG_RETENTION)
        if model is not None:  # its modules go with it (ON DELETE CASCADE)
            session.execute(delete(ModelRow).where(ModelRow.id == model.id))
        elif module_ids:
            session.execute(delete(ModuleRow).where(ModuleRow.id.in_(module_ids)))
        session.flush()
    except IntegrityError as error:
        # A composition of these modules was committed after they were read (PostgreSQL): its
        # foreign key (RESTRICT) refuses the deletion. Asking again names it.
        raise Conflict("a composition was made of these modules meanwhile: nothing was deleted; try again") from error
    return Deleted(
        models=[] if model is None else [model.id],
        modules=module_ids,
        compositions=composition_ids,
        artifacts=sorted(named - _still_named(session, named)),
    )


def _prune_deletion_log(session: Session, cutoff: datetime) -> None:
    """Drop the log's entries before its first one of `cutoff` or later: a prefix, never the latest
    (on SQLite, a table emptied would number its next entry 1 again, behind every reader)."""
    log = CompositionDeletionRow
    first_kept = session.scalar(select(func.min(log.position)).where(log.deleted_at >= cutoff))
    if first_kept is not None:
        session.execute(delete(log).where(log.position < first_kept))


def _still_named(session: Session, candidates: Collection[str]) -> set[str]:
    """Those of `candidates` that a row left in the registry, or an unfinished job, names."""
    if not candidates:
        return set()
    shas = list(candidates)
    columns: list[tuple[SQLColumnExpression[str], ColumnElement[bool] | None]] = [
        (ModelRow.weights_sha256, None),
        *((ModelRow.metrics[key].as_string(), None) for key in MODEL_ARTIFACT_METRICS),
        (ModuleRow.mask_sha256, None),
        (ModuleRow.onnx_sha256, None),
        (CompositionRow.onnx_sha256, None),
        *((JobRow.params[key].as_string(), JobRow.status.in_(_UNFINISHED)) for key in _JOB_ARTIFACT_PARAMS),
    ]
    named: set[str] = set()
    for column, condition in columns:
        query = select(column).where(column.in_(shas)).distinct()
        if condition is not None:
            query = query.where(condition)
        named |= set(session.scalars(query))
    return named
