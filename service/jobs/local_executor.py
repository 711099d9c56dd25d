"""The embedded executor: MODA_WORKERS worker processes started and supervised by the server.

A worker that dies (killed, out of memory) is replaced, and its running job is recovered at
once — re-queued while it has attempts left, else failed with the reason. At start-up the jobs of
this host's workers that no longer exist (the previous server was killed) are recovered the same way.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from multiprocessing.process import BaseProcess

from modules_store import JobStatus, RegistryStore, all_items
from service.config import Settings
from service.jobs.worker import open_backends, poll_loop, worker_id_prefix

log = logging.getLogger(__name__)
KIND = "local"


def _process_main(settings_json: str, parent_pid: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    poll_loop(Settings.model_validate_json(settings_json))


def _exit_with_parent(parent_pid: int) -> None:
    """A worker must not outlive a killed server: it would run on, unsupervised and invisible."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    log.error("server process %s is gone; worker %s exits", parent_pid, os.getpid())
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dead_local_workers(store: RegistryStore) -> list[str]:
    """Recover running jobs of this host's local workers whose process is gone; returns their ids."""
    host_prefix = worker_id_prefix(KIND)
    # The whole listing is read before anything is recovered: recovered jobs leave it, and the
    # pages read after that would start past jobs never seen.
    owners = [job.worker_id or "" for job in all_items(store.list_jobs, status=JobStatus.RUNNING)]
    pids = dict.fromkeys(
        int(owner.removeprefix(host_prefix).split(":", 1)[0]) for owner in owners if owner.startswith(host_prefix)
    )
    recovered = []
    for pid in pids:
        if not _alive(pid):
            recovered += [job.id for job in store.recover_worker_jobs(worker_id_prefix(KIND, pid))]
    return recovered


class LocalExecutor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")  # no forked torch/DB state
        self._processes: list[BaseProcess] = []
        self._stop = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="local-workers", daemon=True)

    def start(self) -> None:
        store, _ = open_backends(self.settings)
        try:
            recovered = recover_dead_local_workers(store)
        finally:
            store.close()
        if recovered:
            log.warning("recovered jobs of dead local workers: %s", ", ".join(recovered))
        self._processes = [self._spawn() for _ in range(self.settings.workers)]
        self._supervisor.start()

    def submit(self, job: object) -> None:
        """Nothing to do: idle workers poll the job table."""

    def stop(self) -> None:
        self._stop.set()
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=5)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def _spawn(self) -> BaseProcess:
        process = self._context.Process(
            target=_process_main,
            args=(self.settings.model_dump_json(), os.getpid()),
            name="moda-worker",
            daemon=True,
        )
        process.start()
        log.info("started local worker process %s", process.pid)
        return process

    def _replace_dead_workers(self, store: RegistryStore) -> None:
        for i, process in enumerate(self._processes):
            if process.is_alive() or self._stop.is_set():
                continue
            log.error("local worker %s died (exit code %s)", process.pid, process.exitcode)
            if process.pid is not None:
                store.recover_worker_jobs(worker_id_prefix(KIND, process.pid))
            self._processes[i] = self._spawn()

    def _supervise(self) -> None:
        store, _ = open_backends(self.settings)
        try:
            while not self._stop.wait(1.0):
                try:
                    self._replace_dead_workers(store)
                except Exception:  # the database is restarting: the next round tries again
                    log.exception("supervising local workers failed")
        finally:
            store.close()
