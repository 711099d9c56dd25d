"""A full disk under the artifacts or the registry: StorageFull (INSUFFICIENT_STORAGE), nothing half-written.

The disk is a real 1 MiB tmpfs mounted for the test (root only; skipped where mounting is refused).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules_store import LocalArtifactStore, SqlStore, StorageFull


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 1 MiB tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"this machine refuses to mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_an_artifact_that_does_not_fit_is_refused_and_leaves_nothing(tiny_disk: Path) -> None:
    store = LocalArtifactStore(tiny_disk / "artifacts")
    small = store.put_bytes(b"fits")
    with pytest.raises(StorageFull) as error:
        store.put_bytes(os.urandom(2 << 20))
    assert error.value.code == "INSUFFICIENT_STORAGE" and "nothing was stored" in error.value.message
    leftovers = [p for p in (tiny_disk / "artifacts").rglob("*") if p.is_file()]
    assert [p.name for p in leftovers] == [small[2:]]  # no temporary file, no partial artifact
    assert store.get_bytes(small) == b"fits"


def test_a_registry_write_that_does_not_fit_is_refused_and_the_registry_still_reads(tiny_disk: Path) -> None:
    store = SqlStore(f"sqlite:///{tiny_disk / 'registry.db'}")
    try:
        first = store.create_job("train", {"note": "fits"}, max_attempts=1)
        with pytest.raises(StorageFull) as error:
            for _ in range(200):
                store.create_job("train", {"padding": os.urandom(8192).hex()}, max_attempts=1)
        assert "disk is full" in error.value.message
        assert store.get_job(first.id).params == {"note": "fits"}
    finally:
        store.close()
