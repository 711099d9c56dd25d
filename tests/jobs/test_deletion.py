"""Deleter: refuses what a queued or running job reads, reclaims the files nothing names any more; and
a job that loses the race to a deletion fails cleanly, naming what is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from modules_store import Deleted, JobStatus, LocalArtifactStore, Model, NewModel, NewModule, SqlStore
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.deletion import Deleter
from service.jobs.runner import run_job

SPEC = {"channels": 1, "height": 8, "width": 8, "mean": [4.9], "std": [6.0], "pixel_max": 16.0}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path}/registry.db")
    yield store
    store.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def new_model(name: str, weights_sha256: str, metrics: dict[str, str] | None = None) -> NewModel:
    return NewModel(
        name=name,
        arch="mlp",
        arch_config={},
        input_spec=SPEC,
        labels=["a", "b"],
        alpha=1,
        beta=1,
        gamma=0.3,
        weights_sha256=weights_sha256,
        metrics=metrics or {},
    )


def stored_model(store: SqlStore, artifacts: LocalArtifactStore, name: str) -> Model:
    """A model whose weights, full graph and two modules' files are really stored."""
    put = artifacts.put_bytes
    return store.create_model(
        new_model(name, put(f"{name} weights".encode()), {"onnx_sha256": put(f"{name} graph".encode())}),
        modules=[
            NewModule(
                model_id="",
                class_index=c,
                label="ab"[c],
                tau=0.9,
                params=1,
                size=0.5,
                mask_sha256=put(f"{name} mask {c}".encode()),
                onnx_sha256=put(f"{name} module {c}".encode()),
            )
            for c in (0, 1)
        ],
    )


def files(artifacts: LocalArtifactStore) -> set[Path]:
    return {path for path in artifacts.root.rglob("*") if path.is_file()}


def test_a_model_a_job_reads_is_refused_then_deleted_with_its_files(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    kept_files = files(artifacts)
    model = stored_model(store, artifacts, "doomed")
    heard: list[Deleted] = []
    deleter = Deleter(store, artifacts, on_deleted=heard.append)
    (module, _) = store.list_modules(model.id).items
    reader = store.create_job("calibrate", {"module_ids": [module.id, "elsewhere"]})

    for delete in (lambda: deleter.model(model.id), lambda: deleter.module(module.id)):
        with pytest.raises(HubError) as error:
            delete()
        assert error.value.code == ErrorCode.CONFLICT and reader.id in error.value.message
    assert store.get_model(model.id) == model and heard == []

    store.request_cancel(reader.id)
    deleted = deleter.model(model.id)
    assert heard == [deleted] and deleted.models == [model.id] and len(deleted.artifacts) == 6
    assert files(artifacts) == kept_files  # every file of the model's is reclaimed


def test_a_job_queued_before_its_model_was_deleted_fails_cleanly(
    store: SqlStore, artifacts: LocalArtifactStore, tmp_path: Path
) -> None:
    model = stored_model(store, artifacts, "raced")
    store.create_job("modularize", {"model_id": model.id, "tau": 0.5})
    store.delete_model(model.id)  # the instant between the Deleter's check and the deletion
    job = store.claim_job("w1")
    assert job is not None
    run_job(store, artifacts, Settings(home=tmp_path, heartbeat_s=0.05), job, "w1")
    finished = store.get_job(job.id)
    assert finished.status == JobStatus.FAILED and finished.error is not None
    assert finished.error.startswith("NOT_FOUND") and model.id in finished.error


def test_a_writer_storing_the_bytes_of_a_file_being_deleted_keeps_it(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    doomed = stored_model(store, artifacts, "doomed")
    deleter = Deleter(store, artifacts)
    with artifacts.writing() as writer:  # e.g. the same weights uploaded again
        weights = writer.put_bytes(b"doomed weights")  # found stored: the doomed model's file
        assert weights == doomed.weights_sha256
        deleted = deleter.model(doomed.id)  # lands between the writer's find and its row
        assert weights in deleted.artifacts and len(deleted.artifacts) == 6
        again = store.create_model(new_model("again", weights))
    assert artifacts.get_bytes(again.weights_sha256) == b"doomed weights", "the new row names a file that is gone"
    assert len([sha for sha in deleted.artifacts if artifacts.exists(sha)]) == 1  # the rest were reclaimed


def test_a_registry_failing_while_files_are_reclaimed_still_reports_the_deletion(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    model = stored_model(store, artifacts, "outage")
    heard: list[Deleted] = []
    deleter = Deleter(store, artifacts, on_deleted=heard.append)
    real = store.named_artifacts

    def down(shas: object) -> object:
        if heard == [] and store.list_models().total == 0:  # after the deletion committed
            raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))
        return real(shas)  # type: ignore[arg-type]

    store.named_artifacts = down  # type: ignore[method-assign]
    deleted = deleter.model(model.id)  # answered: the rows are gone whatever became of the files
    assert heard == [deleted] and deleted.models == [model.id]
    assert all(artifacts.exists(sha) for sha in deleted.artifacts), "nothing removed unasked: left to gc"


def test_an_artifact_directory_that_cannot_be_locked_keeps_its_file(
    artifacts: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = artifacts.put_bytes(b"on a share without directory locks")
    opened_before = len(list(Path("/proc/self/fd").iterdir()))

    def no_lock(fd: int, operation: int) -> None:
        raise OSError(9, "Bad file descriptor")  # what NFS's POSIX emulation says of a directory

    monkeypatch.setattr("modules_store.local_artifacts.fcntl.flock", no_lock)
    assert artifacts.reclaim(sha, lambda: False) is False
    assert artifacts.exists(sha)
    assert len(list(Path("/proc/self/fd").iterdir())) == opened_before, "the directory's descriptor is closed"
