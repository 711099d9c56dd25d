"""`moda serve`: the API on every core, the job workers and their recovery exactly once.

One Python process answers on one core (the GIL), so the API runs as MODA_API_PROCESSES
processes (default: one per core) sharing one listening socket and one registry. The job
executor's workers and the reaper run in the supervising process, never in an API process, so
however many API processes there are, every job is claimed, watched and recovered once.

    moda serve (supervisor)  ── job workers (MODA_WORKERS), reaper
      ├─ API process 1       ── create_api_app(): the routes, no jobs
      └─ API process N
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from service.api.app import JobSupervision, create_app
from service.config import Settings, get_settings
from service.jobs.executor import make_executor
from service.jobs.worker import open_backends

log = logging.getLogger(__name__)


def api_processes(settings: Settings) -> int:
    return settings.api_processes or os.cpu_count() or 1


def serve(settings: Settings) -> None:
    """Serve until interrupted. uvicorn picks uvloop and httptools when installed (`uvicorn[standard]`)."""
    processes = api_processes(settings)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": settings.access_log,
    }
    if processes == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # API processes are spawned afresh and read their settings from the environment: hand them
    # what the command line chose.
    os.environ["MODA_HOST"], os.environ["MODA_PORT"] = settings.host, str(settings.port)
    store, _ = open_backends(settings)  # also brings the schema up to date before any API opens it
    jobs = JobSupervision(settings, store, make_executor(settings))
    jobs.start()
    try:
        uvicorn.run(f"{__name__}:create_api_app", factory=True, workers=processes, **options)
    finally:
        jobs.stop()
        store.close()


def create_api_app() -> FastAPI:
    """The app of one API process under `serve`: no job workers, and gone when its supervisor is."""
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    return create_app(get_settings(), run_jobs=False)


def _exit_with_parent(parent_pid: int) -> None:
    """A supervisor killed with SIGKILL cannot stop its API processes; they must not serve on alone."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    log.error("supervisor %s is gone; API process %s exits", parent_pid, os.getpid())
    os._exit(1)
