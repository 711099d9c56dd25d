"""find_garbage / collect: only old files that nothing names go, and never one named meanwhile;
find_partial_writes / remove_partial_writes: only temporary files of writes long silent go."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modules_store import LocalArtifactStore, open_store
from service.jobs.garbage import collect, find_garbage, find_partial_writes, remove_partial_writes

HOUR = 3600.0


def aged(artifacts: LocalArtifactStore, data: bytes, hours: float) -> str:
    sha256 = artifacts.put_bytes(data)
    then = time.time() - hours * HOUR
    os.utime(artifacts.path_for(sha256), (then, then))
    return sha256


def test_old_unnamed_files_are_garbage_and_named_or_young_ones_stay(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    orphan = aged(artifacts, b"left by a crashed job", hours=5)
    bigger = aged(artifacts, b"another, larger orphan" * 10, hours=2)
    young = aged(artifacts, b"a writer is about to name me", hours=0.1)
    uploaded = aged(artifacts, b"weights of a queued ingest", hours=5)
    store.create_job("ingest", {"weights_sha256": uploaded})  # an unfinished job names it

    garbage = find_garbage(store, artifacts, min_age_s=HOUR)
    assert [a.sha256 for a in garbage] == [bigger, orphan]  # largest first
    assert garbage[1].size == len(b"left by a crashed job")

    collected = collect(store, artifacts, garbage)
    assert [a.sha256 for a in collected.removed] == [bigger, orphan] and collected.kept == []
    assert collected.bytes == sum(a.size for a in garbage)
    assert not artifacts.exists(orphan) and not artifacts.exists(bigger)
    assert artifacts.exists(young) and artifacts.exists(uploaded)
    assert find_garbage(store, artifacts, min_age_s=HOUR) == []


def test_a_file_named_after_the_listing_is_kept(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    sha256 = aged(artifacts, b"about to be named", hours=5)
    garbage = find_garbage(store, artifacts, min_age_s=HOUR)
    store.create_job("ingest", {"weights_sha256": sha256})
    collected = collect(store, artifacts, garbage)
    assert collected.removed == [] and [a.sha256 for a in collected.kept] == [sha256]
    assert artifacts.exists(sha256)


def test_content_written_again_is_young_again(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    aged(artifacts, b"the same bytes", hours=5)
    artifacts.put_bytes(b"the same bytes")  # a writer storing it again, before its row exists
    assert find_garbage(store, artifacts, min_age_s=HOUR) == []


def test_a_negative_grace_period_is_refused(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    with pytest.raises(ValueError, match="min_age_s"):
        find_garbage(store, LocalArtifactStore(tmp_path / "a"), min_age_s=-1)


def test_a_file_written_again_after_the_listing_is_kept(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    sha256 = aged(artifacts, b"uploaded again", hours=5)
    garbage = find_garbage(store, artifacts, min_age_s=HOUR)
    artifacts.put_bytes(b"uploaded again")  # a writer stores it again; its row comes next
    collected = collect(store, artifacts, garbage)
    assert collected.removed == [] and [a.sha256 for a in collected.kept] == [sha256]
    assert artifacts.exists(sha256)


def partial_write(artifacts: LocalArtifactStore, name: str, size: int, hours: float) -> str:
    """A write's temporary file, last written to `hours` ago (one whose writer crashed, when old)."""
    path = artifacts.root / f".incoming-{name}"
    path.write_bytes(b"p" * size)
    then = time.time() - hours * HOUR
    os.utime(path, (then, then))
    return path.name


def test_old_partial_writes_go_and_young_ones_stay(tmp_path: Path) -> None:
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    crashed = partial_write(artifacts, "crashed", size=10, hours=3)
    bigger = partial_write(artifacts, "bigger", size=50, hours=1.5)
    writing = partial_write(artifacts, "in-progress", size=20, hours=0.2)
    kept = aged(artifacts, b"an artifact is no partial write", hours=5)

    found = find_partial_writes(artifacts, min_age_s=HOUR)
    assert [(p.name, p.size) for p in found] == [(bigger, 50), (crashed, 10)]  # largest first
    assert remove_partial_writes(artifacts, found) == found
    assert [p.name for p in artifacts.partial_writes()] == [writing]
    assert artifacts.exists(kept)
    assert find_partial_writes(artifacts, min_age_s=HOUR) == []
    with pytest.raises(ValueError, match="min_age_s"):
        find_partial_writes(artifacts, min_age_s=-1)


def test_a_partial_write_written_to_after_the_listing_is_kept(tmp_path: Path) -> None:
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    name = partial_write(artifacts, "stalled", size=10, hours=2)
    found = find_partial_writes(artifacts, min_age_s=HOUR)
    with open(artifacts.root / name, "ab") as resumed:  # its writer was only slow
        resumed.write(b"more")
    assert remove_partial_writes(artifacts, found) == []
    assert (artifacts.root / name).exists()
