"""A worker's identity and its main loop: claim a queued job, run it, repeat."""

from __future__ import annotations

import logging
import os
import socket
import threading

from modules_store import ArtifactStore, RegistryStore, open_artifact_store, open_store, redacted_url
from service.config import Settings
from service.jobs.runner import run_job

log = logging.getLogger(__name__)


def worker_id_prefix(kind: str, pid: int | None = None) -> str:
    """`kind:host:` or `kind:host:pid:` — the prefixes the store recovers jobs by."""
    host = socket.gethostname()
    return f"{kind}:{host}:" if pid is None else f"{kind}:{host}:{pid}:"


def worker_id(kind: str) -> str:
    return worker_id_prefix(kind, os.getpid()) + "w"


def open_backends(settings: Settings) -> tuple[RegistryStore, ArtifactStore]:
    """The registry and the artifact store, as every process of the service opens them. An embedded
    registry is created only where no artifacts are stored yet: a registry file deleted under a
    running service must not be replaced by an empty one that silently orphans everything."""
    artifacts = open_artifact_store(settings.resolved_artifacts_url)
    return open_store(settings.resolved_database_url, create=not artifacts.holds_any()), artifacts


def poll_loop(settings: Settings, stop: threading.Event | None = None) -> None:
    """Claim and run jobs until `stop` is set (forever in a worker process)."""
    store, artifacts = open_backends(settings)
    me = worker_id("local")
    log.info("local worker %s polling %s", me, redacted_url(settings.resolved_database_url))
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            store.ping()  # a registry replaced under this process: claim nothing from its stale copy
            job = store.claim_job(me)
        except Exception:  # the database is restarting: wait and retry
            log.exception("claiming a job failed")
            job = None
        if job is None:
            stop.wait(settings.poll_s)
            continue
        run_job(store, artifacts, settings, job, me)
