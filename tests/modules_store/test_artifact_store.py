"""Content-addressed artifacts: atomic writes, verified reads, URL selection."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modules_store import LocalArtifactStore, StoreError, open_artifact_store


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _flip_a_byte(path: Path, at: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_bytes_round_trip_at_their_content_address(artifacts: LocalArtifactStore) -> None:
    data = b"onnx graph bytes" * 100
    sha = artifacts.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert artifacts.get_bytes(sha) == data
    assert artifacts.exists(sha)
    path = artifacts.local_path(sha)
    assert path == artifacts.root / sha[:2] / sha[2:]
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == 0o644


def test_put_file_streams_large_files(artifacts: LocalArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "weights.safetensors"
    data = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    source.write_bytes(data)
    sha = artifacts.put_file(source)
    assert sha == hashlib.sha256(data).hexdigest()
    assert artifacts.get_bytes(sha) == data
    assert artifacts.put_bytes(data) == sha


def test_put_is_idempotent(artifacts: LocalArtifactStore, tmp_path: Path) -> None:
    sha = artifacts.put_bytes(b"mask")
    inode = artifacts.local_path(sha).stat().st_ino
    source = tmp_path / "mask.bin"
    source.write_bytes(b"mask")
    assert artifacts.put_bytes(b"mask") == artifacts.put_file(source) == sha
    assert artifacts.local_path(sha).stat().st_ino == inode  # not rewritten
    assert _all_files(artifacts.root) == [artifacts.local_path(sha)]


def test_corrupted_file_is_refused(artifacts: LocalArtifactStore) -> None:
    sha = artifacts.put_bytes(b"x" * 1000)
    _flip_a_byte(artifacts.path_for(sha))
    for read in (artifacts.get_bytes, artifacts.local_path):
        with pytest.raises(StoreError) as error:
            read(sha)
        assert error.value.code == "CORRUPT_ARTIFACT"
        assert "corrupted" in error.value.message and sha in error.value.message


def test_local_path_rechecks_a_file_that_changed(artifacts: LocalArtifactStore) -> None:
    sha = artifacts.put_bytes(b"y" * 1000)
    path = artifacts.local_path(sha)  # verified and remembered
    before = path.stat()
    _flip_a_byte(path)
    # Make sure the change is visible in the stat key even on a coarse-timestamp file system.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    with pytest.raises(StoreError) as error:
        artifacts.local_path(sha)
    assert error.value.code == "CORRUPT_ARTIFACT"


def test_putting_again_repairs_a_corrupted_file(artifacts: LocalArtifactStore) -> None:
    sha = artifacts.put_bytes(b"z" * 1000)
    _flip_a_byte(artifacts.path_for(sha))
    assert artifacts.put_bytes(b"z" * 1000) == sha
    assert artifacts.get_bytes(sha) == b"z" * 1000


def test_missing_and_malformed_addresses(artifacts: LocalArtifactStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not artifacts.exists(absent)
    for read in (artifacts.get_bytes, artifacts.local_path):
        with pytest.raises(StoreError) as error:
            read(absent)
        assert error.value.code == "NOT_FOUND"
    for bad in ("abc", absent.upper(), "../" + absent[3:], absent + "0"):
        with pytest.raises(StoreError) as error:
            artifacts.get_bytes(bad)
        assert error.value.code == "INVALID_ARGUMENT"


def test_writes_leave_no_temporary_files(artifacts: LocalArtifactStore) -> None:
    shas = [artifacts.put_bytes(bytes([n]) * 100) for n in range(5)]
    assert _all_files(artifacts.root) == sorted(artifacts.path_for(sha) for sha in shas)


def test_a_failed_write_leaves_nothing_behind(
    artifacts: LocalArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        artifacts.put_bytes(b"half-written")
    source = tmp_path / "big.bin"
    source.write_bytes(b"q" * 5000)
    with pytest.raises(OSError, match="disk vanished"):
        artifacts.put_file(source)
    assert _all_files(artifacts.root) == []
    assert not artifacts.exists(hashlib.sha256(b"half-written").hexdigest())


CRASHING_WRITER = """
import os, sys
from modules_store import LocalArtifactStore

os.fsync = lambda fd: os._exit(9)  # killed once the bytes are written, before the rename
LocalArtifactStore(sys.argv[1]).put_bytes(b"x" * 3000)
"""


def test_a_writer_killed_mid_write_leaves_a_partial_write_that_can_be_removed(artifacts: LocalArtifactStore) -> None:
    assert list(artifacts.partial_writes()) == []
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(artifacts.root)], check=False, timeout=60)
    (partial,) = artifacts.partial_writes()
    assert partial.size == 3000 and abs(partial.modified - time.time()) < 60
    assert list(artifacts.stored()) == [] and not artifacts.holds_any()  # never an artifact
    assert artifacts.delete_partial_write(partial.name)
    assert not artifacts.delete_partial_write(partial.name)  # gone already
    assert _all_files(artifacts.root) == []


@pytest.mark.parametrize("name", ["../registry.db", "ab", "", ".", "/etc/passwd"])
def test_only_partial_writes_are_removed_as_such(artifacts: LocalArtifactStore, name: str) -> None:
    with pytest.raises(StoreError) as error:
        artifacts.delete_partial_write(name)
    assert error.value.code == "INVALID_ARGUMENT"


def test_reclaim_removes_what_nothing_names_when_asked_again(artifacts: LocalArtifactStore) -> None:
    sha = artifacts.put_bytes(b"freed by a deletion")
    assert not artifacts.reclaim(sha, lambda: True) and artifacts.exists(sha)  # named again meanwhile
    assert artifacts.reclaim(sha, lambda: False) and not artifacts.exists(sha)
    assert not artifacts.reclaim(sha, lambda: False)  # gone already


def _in_another_directory(artifacts: LocalArtifactStore, sha: str) -> str:
    """An artifact whose lock is not `sha`'s (a lock is an artifact directory's, ROOT/ab)."""
    return next(s for n in range(100) if (s := artifacts.put_bytes(b"other %d" % n))[:2] != sha[:2])


@pytest.mark.parametrize("put", ["bytes", "file"])
def test_a_writer_holds_what_it_stores_until_its_block_ends(
    artifacts: LocalArtifactStore, tmp_path: Path, put: str
) -> None:
    data = b"the same bytes as an artifact being deleted"
    sha = artifacts.put_bytes(data)
    other = _in_another_directory(artifacts, sha)
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    asked: list[str] = []

    def never_named() -> bool:
        asked.append("asked")
        return False

    with artifacts.writing() as writer:
        assert (writer.put_bytes(data) if put == "bytes" else writer.put_file(source)) == sha  # found, kept
        assert not artifacts.reclaim(sha, never_named) and artifacts.exists(sha)
        assert asked == [], "a held file is kept without asking the registry"
        assert artifacts.reclaim(other, never_named), "what no writer holds goes"
        assert artifacts.get_bytes(sha) == data  # the writer names it now
    assert artifacts.reclaim(sha, never_named) and not artifacts.exists(sha), "released with the block"


def test_content_deleted_between_its_find_and_its_redating_is_written_anew(
    artifacts: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = artifacts.put_bytes(b"raced")
    redate = os.utime

    def deleted_first(path: Path, *args: object) -> None:
        artifacts.delete(sha)  # a deletion's removal lands between the find and the re-dating
        redate(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "utime", deleted_first)
    assert artifacts.put_bytes(b"raced") == sha
    monkeypatch.undo()
    assert artifacts.get_bytes(sha) == b"raced", "put answered the sha of a file that was gone"


def test_ping(artifacts: LocalArtifactStore) -> None:
    artifacts.ping()
    artifacts.root.rmdir()
    with pytest.raises(OSError):
        artifacts.ping()


def test_open_artifact_store_by_url(tmp_path: Path) -> None:
    from_url = open_artifact_store(f"file://{tmp_path}/a")
    from_path = open_artifact_store(str(tmp_path / "b"))
    assert isinstance(from_url, LocalArtifactStore) and from_url.root == tmp_path / "a"
    assert isinstance(from_path, LocalArtifactStore) and from_path.root == tmp_path / "b"
    assert (tmp_path / "a").is_dir()


@pytest.mark.parametrize(
    ("url", "mentions"),
    [
        ("s3://bucket/prefix", "'s3'"),
        ("gs://bucket", "'gs'"),
        ("file://relative/dir", "host"),
        ("", "empty"),
    ],
)
def test_unsupported_artifact_urls(url: str, mentions: str) -> None:
    with pytest.raises(StoreError) as error:
        open_artifact_store(url)
    assert error.value.code == "INVALID_ARGUMENT"
    assert mentions in error.value.message
    assert url == "" or "file://" in error.value.message  # says what is supported


def test_delete_removes_the_file_and_its_verification(artifacts: LocalArtifactStore) -> None:
    sha = artifacts.put_bytes(b"a reclaimed graph")
    artifacts.local_path(sha)  # verified once: the deletion must not leave that behind
    assert artifacts.delete(sha) is True
    assert not artifacts.exists(sha) and not artifacts.path_for(sha).exists()
    with pytest.raises(StoreError) as error:
        artifacts.local_path(sha)
    assert error.value.code == "NOT_FOUND"
    assert artifacts.delete(sha) is False
    assert artifacts.put_bytes(b"a reclaimed graph") == sha and artifacts.get_bytes(sha) == b"a reclaimed graph"
