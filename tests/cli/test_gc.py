"""`moda gc`: lists what nothing names, removes it only with --yes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules_store import LocalArtifactStore, open_artifact_store, open_store
from service.config import Settings, get_settings
from tests.cli.helpers import moda, moda_process


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MODA_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_gc_lists_then_removes_unreferenced_artifacts(settings: Settings) -> None:
    open_store(settings.resolved_database_url).close()
    artifacts = open_artifact_store(settings.resolved_artifacts_url)
    assert isinstance(artifacts, LocalArtifactStore)
    orphan = artifacts.put_bytes(b"x" * 2500)
    os.utime(artifacts.path_for(orphan), (time.time() - 7200,) * 2)
    recent = artifacts.put_bytes(b"just written")

    listed = moda("gc")
    assert listed.code == 0, listed.err
    assert orphan in listed.out and recent not in listed.out and "2.5" in listed.out
    assert "1 unreferenced artifacts" in listed.out and "moda gc --yes" in listed.out
    assert artifacts.exists(orphan)  # listing removes nothing

    removed = moda("gc", "--yes")
    assert removed.code == 0 and "removed 1 artifacts" in removed.out
    assert not artifacts.exists(orphan) and artifacts.exists(recent)
    assert "no unreferenced artifacts" in moda("gc").out


def test_gc_lists_then_removes_the_temporary_files_of_crashed_writes(settings: Settings) -> None:
    open_store(settings.resolved_database_url).close()
    artifacts = open_artifact_store(settings.resolved_artifacts_url)
    assert isinstance(artifacts, LocalArtifactStore)
    crashed, writing = artifacts.root / ".incoming-crashed", artifacts.root / ".incoming-writing"
    crashed.write_bytes(b"c" * 1500)
    os.utime(crashed, (time.time() - 7200,) * 2)
    writing.write_bytes(b"still being written")

    listed = moda("gc")
    assert listed.code == 0, listed.err
    assert crashed.name in listed.out and writing.name not in listed.out and "1.5" in listed.out
    assert "1 unfinished writes" in listed.out and "unreferenced artifacts," not in listed.out
    assert crashed.exists()  # listing removes nothing

    removed = moda("gc", "--yes")
    assert removed.code == 0 and "removed 1 unfinished writes" in removed.out, removed.out
    assert not crashed.exists() and writing.exists()
    assert "no unreferenced artifacts nor unfinished writes" in moda("gc").out


def test_gc_never_creates_a_registry(settings: Settings) -> None:
    artifacts = open_artifact_store(settings.resolved_artifacts_url)
    artifacts.put_bytes(b"stored by a registry that is gone")
    result = moda("gc", "--yes")
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("error: the registry") and "does not exist" in result.err
    assert not (settings.home / "registry.db").exists() and artifacts.holds_any()


def test_a_registry_failing_mid_run_is_one_line_of_error_and_nothing_removed(settings: Settings) -> None:
    import sqlite3

    open_store(settings.resolved_database_url).close()
    artifacts = open_artifact_store(settings.resolved_artifacts_url)
    assert isinstance(artifacts, LocalArtifactStore)
    orphan = artifacts.put_bytes(b"named by nothing, as far as gc can tell")
    os.utime(artifacts.path_for(orphan), (time.time() - 7200,) * 2)
    with sqlite3.connect(settings.home / "registry.db") as raw:
        raw.execute("DROP TABLE jobs")  # gc opens the registry, then fails to read what jobs name

    result = moda_process("gc", "--yes", env={"MODA_HOME": str(settings.home)})
    assert result.code == 1 and result.out == "", result.out
    assert result.err.startswith("error: the registry could not be read") and "no such table" in result.err
    assert "Traceback" not in result.err and "alembic" not in result.err, result.err
    assert artifacts.exists(orphan)
