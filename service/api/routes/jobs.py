"""/v1/jobs: submit, list, inspect, cancel, and follow jobs (server-sent events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from modules_store import TERMINAL_STATUSES, Job, JobStatus
from service.api.deps import Authorized, ExecutorDep, Offset, SettingsDep, StoreDep
from service.api.openapi_contract import errors
from service.api.schemas import JobCreate, JobKindName, JobPublic, PagePublic, page_of
from service.app.jobs import submit

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
SUBMIT_ERRORS = errors(400, 404, 409, 507, why={409: "a modularize job for a τ the model already has modules at"})
CANCEL_ERRORS = errors(404, 409, 507, why={409: "the job has finished already"})


@router.post("", status_code=202, response_model=JobPublic, dependencies=[Authorized], responses=SUBMIT_ERRORS)
def create_job(body: JobCreate, store: StoreDep, executor: ExecutorDep, settings: SettingsDep) -> JobPublic:
    """Queue a job of any kind but `ingest` (upload weights to POST /v1/models for that). Models,
    modules or data the job could not use are refused here (400/404), with the message the job
    would give, and nothing is queued. A `modularize` job identical to one queued or running is
    that job."""
    return JobPublic.of(submit(store, executor, settings, body.kind, body.params))


@router.get("", response_model=PagePublic[JobPublic], responses=errors(422))
def list_jobs(
    store: StoreDep,
    status: JobStatus | None = None,
    kind: JobKindName | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict:
    return page_of(store.list_jobs(offset=offset, limit=limit, status=status, kind=kind), JobPublic.of)


@router.get("/{job_id}", response_model=JobPublic, responses=errors(404))
def get_job(job_id: str, store: StoreDep) -> JobPublic:
    return JobPublic.of(store.get_job(job_id))


@router.post("/{job_id}/cancel", response_model=JobPublic, dependencies=[Authorized], responses=CANCEL_ERRORS)
def cancel_job(job_id: str, store: StoreDep) -> JobPublic:
    """A queued job is cancelled at once; a running one stops within one training batch."""
    return JobPublic.of(store.request_cancel(job_id))


async def existing_job(job_id: str, store: StoreDep) -> Job:
    """The job, read before the event stream starts: an unknown id is a plain 404, not a broken stream."""
    return await run_in_threadpool(store.get_job, job_id)


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=errors(404))
async def job_events(
    first: Annotated[Job, Depends(existing_job)], store: StoreDep, settings: SettingsDep
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: one `progress` event per change, then one `end` event with the final job.
    A quiet stream (a queued job, a long epoch) carries a `: ping` comment every 15 s, so proxies
    keep it open."""
    job, last = first, None
    while True:
        snapshot = JobPublic.of(job).model_dump(mode="json")
        if job.status in TERMINAL_STATUSES:
            yield ServerSentEvent(event="end", data=snapshot)
            return
        change = {k: v for k, v in snapshot.items() if k != "heartbeat_at"}  # a beat alone is no news
        if change != last:
            yield ServerSentEvent(event="progress", data=snapshot)
            last = change
        await asyncio.sleep(min(settings.heartbeat_s, 1.0))
        job = await run_in_threadpool(store.get_job, job.id)
