"""Artifacts as files on a local (or network-mounted) file system: ROOT/ab/cdef... for sha abcdef..."""

from __future__ import annotations

import copy
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from modules_store.artifacts import (
    ArtifactStore,
    PartialWrite,
    StoredArtifact,
    check_sha256,
    is_sha256,
    read_chunks,
    sha256_of_chunks,
)
from modules_store.errors import DISK_FULL_ERRNOS, CorruptArtifact, InvalidArgument, NotFound, StorageFull

_TEMP_PREFIX = ".incoming-"
# Identity of a file's current content as far as the OS tells it without reading the file.
_StatKey = tuple[int, int, int, int]


log = logging.getLogger(__name__)


class LocalArtifactStore(ArtifactStore):
    """Files under `root`, written atomically and durably.

    A write goes to a temporary file in `root` (same file system), is fsynced, renamed into place
    with os.replace, and the directory is fsynced: a crash leaves either no artifact or a complete
    one, never a partial file under an artifact's name. Several processes may write the same
    artifact at once; they write identical bytes, so whichever rename lands last is as good.

    local_path() rehashes a file only when its (inode, size, mtime, ctime) changed since this
    process last verified it, so serving does not rehash a large graph per request. The price:
    bit rot that leaves those untouched goes unnoticed by local_path() until the process restarts;
    get_bytes() always rehashes.

    writing() and reclaim() share flock(2) locks on the artifacts' directories (ROOT/ab for shas
    ab...; no lock files): a writer's puts take them shared until its block ends, a reclaim takes
    one exclusive without waiting, and keeps the file when a writer holds it (one of 256: an
    artifact beside one a writer holds is left to `moda gc`). flock locks belong to an open file,
    so threads of one process exclude each other too. Linux's NFS client emulates flock with POSIX
    locks, which cannot lock a directory: there reclaim() removes nothing (a warning says so), unless
    the share is mounted with `local_lock=flock` (one host).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self._verified: dict[str, _StatKey] = {}
        self._lock = threading.Lock()
        self._holds: _Holds | None = None  # a writing() view's

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def holds_any(self) -> bool:
        return any(path.is_file() for path in self.root.glob("??/*"))

    def stored(self) -> Iterator[StoredArtifact]:
        for path in self.root.glob("??/*"):
            sha256 = path.parent.name + path.name
            if not is_sha256(sha256):
                continue  # not an artifact's name: nothing of ours
            with suppress(FileNotFoundError):  # deleted since it was listed
                stat = path.stat()
                yield StoredArtifact(sha256, stat.st_size, stat.st_mtime)

    def partial_writes(self) -> Iterator[PartialWrite]:
        for path in self.root.glob(f"{_TEMP_PREFIX}*"):
            with suppress(FileNotFoundError):  # renamed into place, or removed, since it was listed
                stat = path.stat()
                yield PartialWrite(path.name, stat.st_size, stat.st_mtime)

    def delete_partial_write(self, name: str) -> bool:
        path = self.root / name
        if path.name != name or not name.startswith(_TEMP_PREFIX):
            raise InvalidArgument(f"not the name of a partial write: {name!r}")
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def path_for(self, sha256: str) -> Path:
        """Where the artifact lives (whether or not it exists)."""
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:]

    def put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        self._hold(sha256)
        if not (self._stored_intact(sha256) and self._rewritten(sha256)):
            self._ingest([data])
        return sha256

    def put_file(self, path: str | os.PathLike[str]) -> str:
        return self._ingest(read_chunks(path))

    def get_bytes(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"artifact {sha256} not found") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise _corrupted(sha256, path, actual)
        return data

    def local_path(self, sha256: str) -> Path:
        path = self.path_for(sha256)
        key = _stat_key(path)
        if key is None:
            raise NotFound(f"artifact {sha256} not found")
        with self._lock:
            if self._verified.get(sha256) == key:
                return path
        actual = sha256_of_chunks(read_chunks(path))
        with self._lock:
            if actual != sha256:
                self._verified.pop(sha256, None)
                raise _corrupted(sha256, path, actual)
            self._verified[sha256] = key
        return path

    def delete(self, sha256: str) -> bool:
        path = self.path_for(sha256)
        with self._lock:
            self._verified.pop(sha256, None)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_directory(path.parent)
        return True

    @contextmanager
    def writing(self) -> Iterator[LocalArtifactStore]:
        view = copy.copy(self)  # the same root and verification cache, its own holds
        view._holds = _Holds()
        try:
            yield view
        finally:
            view._holds.release()

    def reclaim(self, sha256: str, still_named: Callable[[], bool]) -> bool:
        try:
            fd = os.open(self.path_for(sha256).parent, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return False  # never stored here
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a writer holds it (or one beside it): gc takes it later if nothing names it
            except OSError:
                # No lock to be had (NFS emulates flock with POSIX locks, which cannot lock a directory):
                # without one, a writer could be naming the file right now, so it stays.
                log.warning("cannot lock %s: artifact %s is kept", self.path_for(sha256).parent, sha256, exc_info=True)
                return False
            # No writer holds it, and none can take hold before this is released: a writer that
            # held it has ended its block, so its row is in the registry for still_named().
            return not still_named() and self.delete(sha256)
        finally:
            os.close(fd)

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def ping(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"artifact root {self.root} is not a directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"artifact root {self.root} is not writable")

    def _hold(self, sha256: str) -> None:
        if self._holds is not None:
            try:
                self._holds.hold(self._directory(sha256))
            except OSError as error:
                if error.errno in DISK_FULL_ERRNOS:
                    raise _storage_full(self.root) from error
                raise

    def _directory(self, sha256: str) -> Path:
        """The artifact's directory, made (durably) when it is the first there."""
        directory = self.path_for(sha256).parent
        if not directory.is_dir():
            directory.mkdir(exist_ok=True)
            _fsync_directory(self.root)
        return directory

    def _rewritten(self, sha256: str) -> bool:
        """Content written again that was already stored: dated now, as a new file would be, so that
        garbage collection (which spares recent files) cannot take it before its writer names it.
        False when the file is gone since it was found (deleted): it must be written anew."""
        try:
            os.utime(self.path_for(sha256))
        except FileNotFoundError:
            return False
        return True

    def _stored_intact(self, sha256: str) -> bool:
        try:
            self.local_path(sha256)
        except (NotFound, CorruptArtifact):
            return False
        return True

    def _ingest(self, chunks: Iterable[bytes]) -> str:
        """Write `chunks` to a temporary file while hashing, then move it to its content address."""
        fd, temp_name = tempfile.mkstemp(dir=self.root, prefix=_TEMP_PREFIX)
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fchmod(out.fileno(), 0o644)  # mkstemp makes 0600; other readers (serving) need it
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            self._hold(sha256)
            if self._stored_intact(sha256) and self._rewritten(sha256):
                temp.unlink()
                return sha256
            target = self.path_for(sha256)
            self._directory(sha256)
            os.replace(temp, target)
            _fsync_directory(target.parent)
            return sha256
        except BaseException as error:
            with suppress(FileNotFoundError):
                temp.unlink()
            if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
                raise _storage_full(self.root) from error
            raise


def _storage_full(root: Path) -> StorageFull:
    return StorageFull(f"the artifact store {root} is full: nothing was stored")


class _Holds:
    """One writer's shared locks on artifact directories, all released together (closing them)."""

    def __init__(self) -> None:
        self._fds: dict[Path, int] = {}

    def hold(self, directory: Path) -> None:
        if directory not in self._fds:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)  # waits out a reclaim in this directory: a moment
            except BaseException:
                os.close(fd)
                raise
            self._fds[directory] = fd

    def release(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _stat_key(path: Path) -> _StatKey | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _corrupted(sha256: str, path: Path, actual: str) -> CorruptArtifact:
    return CorruptArtifact(
        f"artifact {sha256} is corrupted: the file {path} now hashes to {actual}; "
        "restore it from a backup or store the artifact again"
    )


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable: without it a crash can forget that the new name exists.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
