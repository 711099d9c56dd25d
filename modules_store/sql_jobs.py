"""The SQL store's job queue (the state machine and its contract are in store.py).

Claims are atomic on both backends. PostgreSQL: the candidate row is selected FOR UPDATE SKIP
LOCKED, so concurrent claimers each lock a different job instead of queueing on the same one.
SQLite: the transaction holds the database write lock from its start (engine.immediate). On both,
the UPDATE is conditional on status = 'queued' and its row count is checked, so a claim can never
take a job that stopped being queued.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, or_, select, text, update
from sqlalchemy.orm import Session

from modules_store.clock import utc_now
from modules_store.entities import Job, JobStatus, Page
from modules_store.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modules_store.ids import new_id
from modules_store.rows import IN_FLIGHT, JobRow
from modules_store.sql_session import SqlSessions, fetch_page
from modules_store.store import DEFAULT_MAX_ATTEMPTS
from modules_store.validation import as_json, require_text

_CLAIM_TRIES = 3


class SqlJobs:
    _db: SqlSessions

    def create_job(
        self, kind: str, params: Mapping[str, Any] | None = None, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ) -> Job:
        with self._db.begin(write=True) as session:
            return self._insert(session, kind, params, max_attempts, dedupe_key=None)

    def find_or_create_job(
        self,
        kind: str,
        params: Mapping[str, Any] | None = None,
        *,
        dedupe_key: str,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> tuple[Job, bool]:
        require_text(dedupe_key, "dedupe key")
        for _ in range(_CLAIM_TRIES):
            with self._db.begin(write=False) as session:
                found = session.scalars(
                    select(JobRow).where(JobRow.dedupe_key == dedupe_key, text(IN_FLIGHT)).limit(1)
                ).first()
                if found is not None:
                    return found.to_entity(), False
            try:
                with self._db.begin(write=True) as session:
                    return self._insert(session, kind, params, max_attempts, dedupe_key=dedupe_key), True
            except AlreadyExists:
                continue  # another caller created it between our look and our insert: find theirs
        raise Conflict(f"could not create or find the job keyed {dedupe_key!r}: it kept changing; try again")

    @staticmethod
    def _insert(
        session: Session, kind: str, params: Mapping[str, Any] | None, max_attempts: int, dedupe_key: str | None
    ) -> Job:
        require_text(kind, "job kind")
        if max_attempts < 1:
            raise InvalidArgument(f"max_attempts must be >= 1, got {max_attempts}")
        row = JobRow(
            id=new_id(),
            kind=kind,
            status=JobStatus.QUEUED.value,
            params=as_json(dict(params or {}), "job params"),
            progress={},
            result={},
            error=None,
            attempts=0,
            max_attempts=max_attempts,
            cancel_requested=False,
            dedupe_key=dedupe_key,
            worker_id=None,
            heartbeat_at=None,
            created_at=utc_now(),
            started_at=None,
            finished_at=None,
        )
        session.add(row)
        session.flush()
        return row.to_entity()

    def get_job(self, job_id: str) -> Job:
        with self._db.begin(write=False) as session:
            return _get_job(session, job_id).to_entity()

    def list_jobs(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        status: JobStatus | str | None = None,
        kind: str | None = None,
    ) -> Page[Job]:
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id.desc())
        if status is not None:
            query = query.where(JobRow.status == _status(status).value)
        if kind is not None:
            query = query.where(JobRow.kind == kind)
        with self._db.begin(write=False) as session:
            return fetch_page(session, query, offset=offset, limit=limit)

    def claim_job(
        self, worker_id: str, *, job_id: str | None = None, kinds: Collection[str] | None = None
    ) -> Job | None:
        require_text(worker_id, "worker id")
        if kinds is not None and (isinstance(kinds, str) or not kinds):
            raise InvalidArgument("kinds must be a non-empty collection of job kinds, or None for any")
        candidate = select(JobRow.id).where(JobRow.status == JobStatus.QUEUED.value)
        if job_id is not None:
            candidate = candidate.where(JobRow.id == job_id)
        if kinds is not None:
            candidate = candidate.where(JobRow.kind.in_(list(kinds)))
        candidate = candidate.order_by(JobRow.created_at, JobRow.id).limit(1).with_for_update(skip_locked=True)
        with self._db.begin(write=True) as session:
            for _ in range(_CLAIM_TRIES):
                chosen = session.scalar(candidate)
                if chosen is None:
                    return None
                now = utc_now()
                claimed = session.execute(
                    update(JobRow)
                    .where(JobRow.id == chosen, JobRow.status == JobStatus.QUEUED.value)
                    .values(
                        status=JobStatus.RUNNING.value,
                        attempts=JobRow.attempts + 1,
                        worker_id=worker_id,
                        started_at=now,
                        heartbeat_at=now,
                        progress={},
                    )
                    .execution_options(synchronize_session=False)
                )
                if cast(CursorResult[Any], claimed).rowcount == 1:
                    return _get_job(session, chosen, refresh=True).to_entity()
            return None

    def heartbeat(self, job_id: str, worker_id: str, progress: Mapping[str, Any] | None = None) -> bool:
        snapshot = None if progress is None else as_json(dict(progress), "progress")
        with self._db.begin(write=True) as session:
            row = _get_job(session, job_id, for_update=True)
            _require_owner(row, worker_id)
            row.heartbeat_at = utc_now()
            if snapshot is not None:
                row.progress = snapshot
            return row.cancel_requested

    def finish_job(
        self,
        job_id: str,
        status: JobStatus | str,
        *,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        worker_id: str | None = None,
    ) -> Job:
        target = _status(status)
        if not target.is_terminal:
            raise InvalidArgument(f"a job finishes as succeeded, failed or cancelled, not {target.value}")
        outcome = None if result is None else as_json(dict(result), "job result")
        with self._db.begin(write=True) as session:
            row = _get_job(session, job_id, for_update=True)
            if worker_id is not None:
                _require_owner(row, worker_id)
            elif row.status != JobStatus.RUNNING.value:
                raise Conflict(f"job {job_id!r} is {row.status}: only a running job can finish")
            row.status = target.value
            row.finished_at = utc_now()
            if outcome is not None:
                row.result = outcome
            row.error = error
            return row.to_entity()

    def request_cancel(self, job_id: str) -> Job:
        with self._db.begin(write=True) as session:
            row = _get_job(session, job_id, for_update=True)
            status = JobStatus(row.status)
            if status.is_terminal:
                raise Conflict(f"job {job_id!r} is already {status.value}")
            row.cancel_requested = True
            if status is JobStatus.QUEUED:
                row.status = JobStatus.CANCELLED.value
                row.finished_at = utc_now()
            return row.to_entity()

    def recover_stale_jobs(self, stale_after: timedelta, *, now: datetime | None = None) -> list[Job]:
        if stale_after < timedelta(0):
            raise InvalidArgument(f"stale_after must be >= 0, got {stale_after}")
        if now is not None and now.tzinfo is None:
            raise InvalidArgument("now must be timezone-aware")
        at = now or utc_now()
        cutoff = at - stale_after
        query = _running().where(or_(JobRow.heartbeat_at.is_(None), JobRow.heartbeat_at < cutoff))

        def reason(row: JobRow) -> str:
            last = row.heartbeat_at.isoformat() if row.heartbeat_at else "never"
            return f"worker {row.worker_id!r} stopped heartbeating (last heartbeat: {last})"

        return self._recover(query, at, reason)

    def recover_worker_jobs(self, worker_id_prefix: str) -> list[Job]:
        if not worker_id_prefix:
            raise InvalidArgument("worker_id_prefix must be non-empty (it would match every worker)")
        query = _running().where(JobRow.worker_id.startswith(worker_id_prefix, autoescape=True))

        def reason(row: JobRow) -> str:
            return f"worker {row.worker_id!r} stopped heartbeating: its supervisor found it gone"

        return self._recover(query, utc_now(), reason)

    def _recover(self, query: Select[JobRow], now: datetime, reason: Callable[[JobRow], str]) -> list[Job]:
        # SKIP LOCKED: a row locked right now is being heartbeated or finished, i.e. alive.
        query = query.order_by(JobRow.created_at, JobRow.id).with_for_update(skip_locked=True)
        with self._db.begin(write=True) as session:
            rows: Sequence[JobRow] = session.scalars(query).all()
            for row in rows:
                _apply_recovery(row, now, reason(row))
            return [row.to_entity() for row in rows]


def _apply_recovery(row: JobRow, now: datetime, reason: str) -> None:
    if row.cancel_requested:
        row.status = JobStatus.CANCELLED.value
        row.finished_at = now
    elif row.attempts < row.max_attempts:
        row.status = JobStatus.QUEUED.value
        row.worker_id = None
        row.started_at = None
        row.heartbeat_at = None
        row.progress = {}
    else:
        row.status = JobStatus.FAILED.value
        row.finished_at = now
        row.error = f"{reason}; gave up after {row.attempts} of {row.max_attempts} attempts"


def _running() -> Select[JobRow]:
    return select(JobRow).where(JobRow.status == JobStatus.RUNNING.value)


def _get_job(session: Session, job_id: str, *, for_update: bool = False, refresh: bool = False) -> JobRow:
    row = session.get(JobRow, job_id, with_for_update=for_update or None, populate_existing=refresh)
    if row is None:
        raise NotFound(f"job {job_id!r} not found")
    return row


def _require_owner(row: JobRow, worker_id: str) -> None:
    if row.status != JobStatus.RUNNING.value or row.worker_id != worker_id:
        raise Conflict(
            f"job {row.id!r} is {row.status} (worker {row.worker_id!r}): worker {worker_id!r} does not own it any more"
        )


def _status(value: JobStatus | str) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError as error:
        allowed = ", ".join(status.value for status in JobStatus)
        raise InvalidArgument(f"unknown job status {value!r}; one of: {allowed}") from error
