"""The registry contract. Backends implement `RegistryStore`; callers get one from `open_store(url)`.

Rules every method follows (a backend that breaks one is wrong, whatever its tests say):

* Failures the caller can act on raise `StoreError` with a code (modules_store.errors); anything
  else that escapes (an unreachable database) is an outage, not an answer.
* Each method is one transaction: it happens completely or not at all.
* Entities returned by a create equal the ones later read back (`==` on the dataclasses).
* Timestamps are timezone-aware UTC, set by the store from the caller's clock.
* Listings return a `Page`; `offset` >= 0 and 1 <= `limit` <= MAX_PAGE_LIMIT, else INVALID_ARGUMENT.
  Each listing has a fixed, documented order, so paging through it is stable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from modules_store.entities import (
    Composition,
    Dataset,
    Deleted,
    DeletionsSince,
    Job,
    JobStatus,
    Model,
    Module,
    NewComposition,
    NewModel,
    NewModule,
    Page,
)

MAX_PAGE_LIMIT = 1000
MAX_OFFSET = 2**63 - 1  # SQL's BIGINT: databases (and their drivers) take nothing larger
DEFAULT_MAX_ATTEMPTS = 2

T = TypeVar("T")


def all_items(list_page: Callable[..., Page[T]], /, *args: Any, **filters: Any) -> Iterator[T]:
    """Every item of a listing, in its order, read MAX_PAGE_LIMIT at a time as they are consumed.

        modules = list(all_items(store.list_modules, model_id, tau=0.5))

    `list_page` is a listing method (or any callable taking `offset` and `limit` keywords that
    returns a `Page`), called with `args` and `filters`. Stopping early reads no further pages. A
    caller that changes the listing while walking it (e.g. recovers the running jobs it lists)
    must take the whole list first: offsets would shift under it and skip items.
    """
    offset = 0
    while True:
        page = list_page(*args, **filters, offset=offset, limit=MAX_PAGE_LIMIT)
        yield from page.items
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return


class RegistryStore(ABC):
    """Datasets, models, modules, compositions and jobs, indexed by id."""

    # -- datasets -----------------------------------------------------------------------------

    @abstractmethod
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
        """The dataset called `name`, created from these fields if there is none yet.

        Safe under concurrent calls (both get the same row). An existing dataset whose
        `input_spec` or `labels` differ from the arguments -> CONFLICT: a name means one data
        layout. Other fields of an existing dataset are returned as stored, not updated.
        """

    @abstractmethod
    def get_dataset(self, dataset_id: str) -> Dataset:
        """The dataset with this id; NOT_FOUND if none."""

    @abstractmethod
    def get_dataset_by_name(self, name: str) -> Dataset:
        """The dataset with this name; NOT_FOUND if none."""

    @abstractmethod
    def list_datasets(self, *, offset: int = 0, limit: int = 50) -> Page[Dataset]:
        """Datasets ordered by name."""

    # -- models -------------------------------------------------------------------------------

    @abstractmethod
    def create_model(self, model: NewModel, modules: Sequence[NewModule] = ()) -> Model:
        """Register a trained model, and its `modules` with it: all in one transaction.

        `model.version` None takes the next version of `name` (1 for a new name; concurrent creators get
        distinct versions). An explicit `version` that is taken -> ALREADY_EXISTS; < 1 ->
        INVALID_ARGUMENT. A `dataset_id` or `job_id` that does not exist -> NOT_FOUND.

        A job registers at most one model: a `job_id` that has one already -> ALREADY_EXISTS, also
        when attempts of the job race (a re-run then finds it with `find_model_by_job`).

        `modules` become the new model's (their `model_id` is ignored: the id is not known before)
        and are checked as `create_modules` checks them; if any fails, the model is not written
        either, so a model is never seen without the modules it was registered with.
        """

    @abstractmethod
    def get_model(self, model_id: str) -> Model:
        """The model with this id; NOT_FOUND if none."""

    @abstractmethod
    def find_model_by_job(self, job_id: str) -> Model | None:
        """The model the job `job_id` registered, or None if it registered none (or does not exist)."""

    @abstractmethod
    def get_model_by_name(self, name: str, version: int | None = None) -> Model:
        """Version `version` of the model `name`, the latest when None; NOT_FOUND if none."""

    @abstractmethod
    def list_models(self, *, offset: int = 0, limit: int = 50, name: str | None = None) -> Page[Model]:
        """Models ordered by (name, version), optionally only those called `name`."""

    @abstractmethod
    def update_model_metrics(self, model_id: str, metrics: Mapping[str, Any]) -> Model:
        """Merge `metrics` into the model's metrics (given keys replace, others stay); NOT_FOUND."""

    # -- modules ------------------------------------------------------------------------------

    @abstractmethod
    def create_modules(self, modules: Sequence[NewModule]) -> list[Module]:
        """Create all `modules` in one transaction, returned in the given order.

        All or nothing: if any module fails, none is written. A (model_id, class_index, tau) that
        exists already, or appears twice in the batch -> ALREADY_EXISTS. A missing model ->
        NOT_FOUND. A class_index outside the model's labels, or a label that is not
        labels[class_index] -> INVALID_ARGUMENT. An empty batch returns [].
        """

    @abstractmethod
    def get_module(self, module_id: str) -> Module:
        """The module with this id; NOT_FOUND if none."""

    @abstractmethod
    def get_modules(self, module_ids: Sequence[str]) -> list[Module]:
        """The modules with these ids, in the same order (repeats repeated).

        Any missing id -> NOT_FOUND, whose message names every missing id.
        """

    @abstractmethod
    def list_modules(
        self, model_id: str, *, tau: float | None = None, offset: int = 0, limit: int = 100
    ) -> Page[Module]:
        """Modules of a model ordered by (class_index, tau), optionally only those at `tau`.

        NOT_FOUND if the model does not exist (an existing model without modules is an empty page).
        """

    # -- compositions -------------------------------------------------------------------------
    #
    # Every method here that takes a composition id finds a composition stored under it, or, for an
    # id of 32 hex digits, under its first 24: the id a registry written before ids had 32 digits
    # gave the same composition (modules_store.ids.composition_lookup_ids). Either id names it; the
    # composition keeps the id it was stored under.

    @abstractmethod
    def create_composition(self, composition: NewComposition) -> tuple[Composition, bool]:
        """Create a composition idempotently: returns (composition, created).

        `composition.id` should be `modules_store.ids.composition_id(module_ids, strategy, data)`. If a
        composition with that id (or its 24-digit form) exists, it is returned unchanged with
        created=False, also when another caller creates it at the same moment (no ALREADY_EXISTS
        ever escapes). Module ids that do not exist -> NOT_FOUND naming them. The modules cannot be deleted while a
        composition uses them (delete_module, delete_model).
        """

    @abstractmethod
    def get_composition(self, composition_id: str) -> Composition:
        """The composition with this id; NOT_FOUND if none."""

    @abstractmethod
    def list_compositions(self, *, offset: int = 0, limit: int = 50) -> Page[Composition]:
        """Compositions, oldest first (created_at, then id)."""

    @abstractmethod
    def update_composition_metrics(
        self, composition_id: str, metrics: Mapping[str, Any], *, accuracy: float | None = None
    ) -> Composition:
        """Merge `metrics` into the composition's metrics and set `accuracy` when given; NOT_FOUND."""

    # -- deletions ----------------------------------------------------------------------------
    #
    # A deletion removes rows only; it returns (Deleted.artifacts) the artifacts nothing names any
    # more, for the caller to reclaim. Every deleted composition is written to a deletion log, so
    # processes that cache compositions learn of it (`compositions_deleted_since`). The log keeps a
    # day of entries, and always its latest; a reader whose position is older than what it keeps
    # is told so (DeletionsSince.pruned).

    @abstractmethod
    def delete_composition(self, composition_id: str) -> Deleted:
        """Delete the composition; NOT_FOUND if none."""

    @abstractmethod
    def delete_module(self, module_id: str, *, cascade: bool = False) -> Deleted:
        """Delete the module; NOT_FOUND if none. While compositions use it: CONFLICT naming them,
        or with `cascade` those compositions are deleted with it."""

    @abstractmethod
    def delete_model(self, model_id: str, *, cascade: bool = False) -> Deleted:
        """Delete the model and its modules; NOT_FOUND if none. While compositions use its modules:
        CONFLICT naming them, or with `cascade` those compositions are deleted with it."""

    @abstractmethod
    def named_artifacts(self, candidates: Collection[str]) -> set[str]:
        """Those of the sha256s `candidates` that a row of the registry, or a queued or running job,
        names: the artifacts that must stay."""

    @abstractmethod
    def deletion_mark(self) -> int:
        """The position of the latest entry of the composition deletion log (0 when empty)."""

    @abstractmethod
    def compositions_deleted_since(self, mark: int) -> DeletionsSince:
        """The log's latest position and the ids of the compositions deleted after position `mark`,
        or `pruned` when entries after `mark` may be gone."""

    # -- jobs ---------------------------------------------------------------------------------
    #
    # queued --claim--> running --finish--> succeeded | failed | cancelled
    #   |                  |  \--recover--> queued (attempts left) | failed | cancelled
    #   \--cancel--> cancelled    (cancel on running only sets cancel_requested; the worker
    #                              sees it in its next heartbeat and finishes as cancelled)
    # Terminal states are final: any further transition -> CONFLICT.

    @abstractmethod
    def create_job(
        self, kind: str, params: Mapping[str, Any] | None = None, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ) -> Job:
        """A new queued job; `max_attempts` >= 1 (else INVALID_ARGUMENT) bounds how often it is claimed."""

    @abstractmethod
    def find_or_create_job(
        self,
        kind: str,
        params: Mapping[str, Any] | None = None,
        *,
        dedupe_key: str,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> tuple[Job, bool]:
        """(the job in flight made with `dedupe_key`, False), or (a new queued job, True) when none is.

        In flight: queued or running and not asked to cancel. Atomic: of callers racing with one key,
        exactly one creates the job and the others get it.
        """

    @abstractmethod
    def get_job(self, job_id: str) -> Job:
        """The job with this id; NOT_FOUND if none."""

    @abstractmethod
    def list_jobs(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        status: JobStatus | str | None = None,
        kind: str | None = None,
    ) -> Page[Job]:
        """Jobs, newest first (created_at descending, then id), optionally filtered.

        An unknown `status` -> INVALID_ARGUMENT.
        """

    @abstractmethod
    def claim_job(
        self, worker_id: str, *, job_id: str | None = None, kinds: Collection[str] | None = None
    ) -> Job | None:
        """Atomically move one queued job to running for `worker_id`, or return None.

        Takes the oldest queued job (of `kinds` when given), or exactly `job_id` when given (None
        if that job is no longer queued). Increments `attempts`, sets `worker_id`, `started_at`
        and `heartbeat_at`, clears `progress`. However many workers (threads, processes, hosts)
        call this at once, each job is claimed by exactly one of them.
        """

    @abstractmethod
    def heartbeat(self, job_id: str, worker_id: str, progress: Mapping[str, Any] | None = None) -> bool:
        """Record that `worker_id` is alive on its running job; returns `cancel_requested`.

        `progress`, when given, replaces the job's progress. NOT_FOUND if no such job. CONFLICT
        if the job is not running or is owned by another worker: the job was recovered from this
        worker (it looked dead) and the worker must abandon it without finishing it.
        """

    @abstractmethod
    def finish_job(
        self,
        job_id: str,
        status: JobStatus | str,
        *,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        worker_id: str | None = None,
    ) -> Job:
        """Move a running job to a terminal `status`, recording `result` / `error`.

        A non-terminal `status` -> INVALID_ARGUMENT. A job that is not running -> CONFLICT. When
        `worker_id` is given the job must also be owned by it (CONFLICT otherwise), which keeps a
        worker that lost its job from overwriting the outcome of the worker that took it over.
        """

    @abstractmethod
    def request_cancel(self, job_id: str) -> Job:
        """Ask for a job to stop.

        queued -> cancelled at once; running -> `cancel_requested` set (its worker learns it from
        its next heartbeat; repeating the request is harmless); terminal -> CONFLICT.
        """

    @abstractmethod
    def recover_stale_jobs(self, stale_after: timedelta, *, now: datetime | None = None) -> list[Job]:
        """Recover running jobs whose last heartbeat is older than `now - stale_after`.

        For use by a periodic reaper (or any worker). Each such job, per the recovery rule:
        cancel_requested -> cancelled; attempts < max_attempts -> queued again (worker, start,
        heartbeat and progress cleared); otherwise -> failed with an error saying that its worker
        stopped heartbeating. Returns the jobs as they are now. `now` defaults to the current time.
        """

    @abstractmethod
    def recover_worker_jobs(self, worker_id_prefix: str) -> list[Job]:
        """Recover, by the same rule, every running job whose worker_id starts with the prefix.

        For a supervisor that knows those workers are dead whatever their last heartbeat says:
        e.g. a service that names its local workers f"{host}:{pid}:{n}" calls this at start-up
        with f"{host}:" to recover what its previous process left running. End the prefix with a
        separator: "w1" would also match "w10". An empty prefix -> INVALID_ARGUMENT.
        """

    # -- health -------------------------------------------------------------------------------

    @abstractmethod
    def ping(self) -> None:
        """Return if the database answers; raise ConnectionError (chained to the cause) if not."""

    @abstractmethod
    def close(self) -> None:
        """Release pooled connections (at shutdown). A later call reconnects.

        A store opened before os.fork() is safe to use in the child: connections inherited
        from the parent are discarded, never shared."""
