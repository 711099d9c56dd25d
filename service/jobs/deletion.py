"""Deleting models, modules and compositions: refused while a job needs them, artifacts reclaimed.

A queued or running job that reads a model or module (modularize, calibrate, replace) keeps it:
its deletion is refused (CONFLICT, naming the jobs) rather than pulled from under the job. A job
submitted in the instant between that check and the deletion fails cleanly instead: it finds the
model or module NOT_FOUND, and nothing it would write can name the deleted rows (foreign keys).

The registry reports the artifacts that no row names any more; they are removed from the artifact
store here. A composition made again later from the same bytes stores its artifact anew.

Writers store an artifact before the row that names it, and one storing the same bytes as a file
being deleted finds that file and keeps it: removed between the writer's find and its row's
commit, the row would name nothing (CORRUPT_ARTIFACT). So writers store inside
ArtifactStore.writing(), which holds what they store until their rows are written, and files are
removed by ArtifactStore.reclaim(): never while a writer holds one, and only if the registry, asked
again once no writer can take hold of it, still names it nowhere. A file kept because a writer
held it and then never named it is left to `moda gc`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from functools import partial
from typing import Any

from modules_store import ArtifactStore, Deleted, Job, JobStatus, RegistryStore, all_items
from service.errors import ErrorCode, HubError

log = logging.getLogger(__name__)


class Deleter:
    """`on_deleted` hears of every deletion once it is done (the API drops what it caches of it)."""

    def __init__(
        self, store: RegistryStore, artifacts: ArtifactStore, on_deleted: Callable[[Deleted], object] | None = None
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self._on_deleted = on_deleted

    def composition(self, composition_id: str) -> Deleted:
        # No job reads a composition: calibrate and replace jobs only make them.
        return self._reclaim(self.store.delete_composition(composition_id))

    def module(self, module_id: str, *, cascade: bool = False) -> Deleted:
        module = self.store.get_module(module_id)
        self._refuse_while_used(f"module {module.id}", model_ids=(), module_ids={module.id})
        return self._reclaim(self.store.delete_module(module_id, cascade=cascade))

    def model(self, model_id: str, *, cascade: bool = False) -> Deleted:
        modules = {m.id for m in all_items(self.store.list_modules, model_id)}  # NOT_FOUND for no model
        self._refuse_while_used(f"model {model_id}", model_ids={model_id}, module_ids=modules)
        return self._reclaim(self.store.delete_model(model_id, cascade=cascade))

    def _refuse_while_used(self, what: str, model_ids: Collection[str], module_ids: Collection[str]) -> None:
        users = [job for job in unfinished_jobs(self.store) if _reads(job.params, model_ids, module_ids)]
        if users:
            named = ", ".join(f"{job.id} ({job.kind}, {job.status})" for job in users)
            raise HubError(
                ErrorCode.CONFLICT, f"{what} is in use by job(s) {named}: wait for them to end, or cancel them"
            )

    def _reclaim(self, deleted: Deleted) -> Deleted:
        try:
            for sha256 in deleted.artifacts:
                try:
                    self.artifacts.reclaim(sha256, partial(still_named, self.store, sha256))
                except Exception:  # the rows are gone already: a file left only costs space (gc)
                    log.warning("could not reclaim artifact %s", sha256, exc_info=True)
        finally:
            if self._on_deleted is not None:
                self._on_deleted(deleted)  # the deletion happened, whatever became of its files
        return deleted


def still_named(store: RegistryStore, sha256: str) -> bool:
    """Whether a row, or an unfinished job, names the artifact (asked again right before removing it)."""
    return bool(store.named_artifacts([sha256]))


def unfinished_jobs(store: RegistryStore) -> list[Job]:
    return [
        job for status in (JobStatus.QUEUED, JobStatus.RUNNING) for job in all_items(store.list_jobs, status=status)
    ]


def _reads(params: dict[str, Any], model_ids: Collection[str], module_ids: Collection[str]) -> bool:
    """Whether a job with `params` reads one of these models or modules (the params that name them:
    model_id of modularize and replace, module_id of replace, module_ids of calibrate)."""
    named_modules = [params.get("module_id"), *(params.get("module_ids") or [])]
    return params.get("model_id") in model_ids or any(m in module_ids for m in named_modules)
