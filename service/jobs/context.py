"""What a running job sees: the registry, its artifacts, progress reporting and cancellation.

A heartbeat thread reports progress every MODA_HEARTBEAT_S seconds and learns whether the job was
cancelled, so training checks a local flag before every batch instead of querying the database.
"""

from __future__ import annotations

import logging
import math
import threading
from types import TracebackType
from typing import Any

from modules_store import ArtifactStore, Conflict, Job, NotFound, RegistryStore
from service.config import Settings
from service.moda.training import EpochMetrics, TrainingHooks

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job when its cancellation was requested; the runner records `cancelled`."""


class JobContext:
    def __init__(
        self, store: RegistryStore, artifacts: ArtifactStore, settings: Settings, job: Job, worker_id: str
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.settings = settings
        self.job = job
        self.worker_id = worker_id
        self.cancelled = threading.Event()
        self.lost = threading.Event()  # the job was recovered from this worker: abandon it
        self._progress: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> JobContext:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, **progress: Any) -> None:
        """Update the job's progress (fields merge, so the last epoch stays visible while modules
        are made); the next heartbeat stores it."""
        with self._lock:
            self._progress = {**self._progress, **progress}

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise JobCancelled()

    def _beat(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_s):
            self.beat_now()

    def beat_now(self) -> None:
        with self._lock:
            progress = dict(self._progress)
        try:
            if self.store.heartbeat(self.job.id, self.worker_id, _finite(progress)):
                self.cancelled.set()
        except (Conflict, NotFound) as error:  # recovered from us, or finished elsewhere
            log.warning("job %s lost by %s: %s", self.job.id, self.worker_id, error)
            self.lost.set()
            self.cancelled.set()
        except Exception:  # the database blinked: keep running, the next beat retries
            log.exception("heartbeat of job %s failed", self.job.id)

    def training_hooks(self, stage: str = "training") -> TrainingHooks:
        return _ProgressHooks(self, stage)


def _finite(progress: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities (a diverging run) are not JSON: they are reported as null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in progress.items()}


class _ProgressHooks(TrainingHooks):
    def __init__(self, ctx: JobContext, stage: str) -> None:
        self.ctx = ctx
        self.stage = stage

    def on_epoch(self, m: EpochMetrics) -> None:
        self.ctx.report(
            stage=self.stage,
            epoch=m.epoch,
            epochs=m.epochs,
            loss=m.loss,
            ce=m.ce,
            affinity=m.affinity,
            dispersion=m.dispersion,
            compactness=m.compactness,
            train_accuracy=m.train_acc,
            test_accuracy=m.test_acc,
            epoch_seconds=m.seconds,
        )

    def should_stop(self) -> bool:
        return self.ctx.cancelled.is_set()
