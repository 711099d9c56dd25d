"""A bounded, thread-safe LRU of ONNX Runtime sessions keyed by artifact sha256.

Creating a session parses and optimises the graph (milliseconds to seconds for the larger
architectures); running one is microseconds for these models. So sessions are created once per
artifact and shared by every request thread: `InferenceSession.run` is thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.errors import ErrorCode, HubError

# The graph contract of service.moda.onnx_export, restated so that serving need not import torch.
INPUT_NAME = "input"
OUTPUT_NAME = "logits"

# One intra-op thread per run: concurrency comes from the many request threads sharing sessions,
# and the graphs (8x8 to 32x32 inputs) are too small to gain from splitting one run across cores.
# ORT's default (one thread per core, per session) would give 64 cached sessions x 16 cores of
# spinning threads fighting over 16 cores. Raise it for large batches on an otherwise idle machine.
DEFAULT_INTRA_OP_THREADS = 1


PROVIDERS = ["CPUExecutionProvider"]


def session_options(intra_op_num_threads: int = DEFAULT_INTRA_OP_THREADS) -> ort.SessionOptions:
    """The options every served session is created with (benchmarks compare against the same)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # ORT warns on every load about things that are not problems here
    options.intra_op_num_threads = intra_op_num_threads
    options.inter_op_num_threads = 1  # these graphs are chains: no independent branches to overlap
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


class SessionCache:
    """Sessions for artifacts, created on first use, least recently used evicted beyond `capacity`.

    `open_path(sha256)` returns a verified local file (ArtifactStore.local_path); CORRUPT_ARTIFACT
    propagates, a missing file becomes CORRUPT_ARTIFACT too (the registry named it, so the store lost
    it), and nothing is cached for that key.

    Counters for metrics: `misses` counts sessions created (one per artifact load, however many
    threads asked at once), `hits` every other request, `evictions` sessions dropped for room.
    """

    def __init__(
        self,
        open_path: Callable[[str], Path],
        capacity: int,
        *,
        intra_op_num_threads: int = DEFAULT_INTRA_OP_THREADS,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if intra_op_num_threads < 1:
            raise ValueError(f"intra_op_num_threads must be at least 1, got {intra_op_num_threads}")
        self._open_path = open_path
        self.capacity = capacity
        self._intra_op_num_threads = intra_op_num_threads
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, ort.InferenceSession] = OrderedDict()  # oldest first
        # Loads in progress: later askers wait on the first asker's future instead of loading again.
        self._loading: dict[str, Future[ort.InferenceSession]] = {}
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            return sha256 in self._sessions

    def get(self, sha256: str) -> ort.InferenceSession:
        """The session for artifact `sha256`, created (once) if not cached."""
        with self._lock:
            session = self._sessions.get(sha256)
            if session is not None:
                self._sessions.move_to_end(sha256)
                self.hits += 1
                return session
            pending = self._loading.get(sha256)
            if pending is None:
                future: Future[ort.InferenceSession] = Future()
                self._loading[sha256] = future
                self.misses += 1
            else:
                self.hits += 1
        if pending is not None:
            return pending.result()  # re-raises the loader's error, so waiters fail like the loader

        # Loaded outside the lock: other keys stay servable while this graph is parsed.
        try:
            session = self._load(sha256)
        except BaseException as exc:
            with self._lock:
                del self._loading[sha256]
            future.set_exception(exc)
            raise
        with self._lock:
            del self._loading[sha256]
            self._sessions[sha256] = session
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)  # in-flight runs keep their own reference
                self.evictions += 1
        future.set_result(session)
        return session

    def discard(self, sha256: str) -> bool:
        """Drop the session of `sha256` (its artifact was deleted); False when none was cached.
        Runs in flight keep their own reference and finish."""
        with self._lock:
            return self._sessions.pop(sha256, None) is not None

    def run(self, sha256: str, x: np.ndarray) -> np.ndarray:
        """logits (N, K) of artifact `sha256` on the float32 batch `x` (N, C, H, W)."""
        session = self.get(sha256)
        batch = np.ascontiguousarray(x, dtype=np.float32)
        try:
            (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        except Exception as exc:  # ORT raises its own pybind types; callers branch on HubError codes
            raise HubError(
                ErrorCode.INTERNAL,
                f"ONNX Runtime failed on artifact {sha256} with input {batch.shape}: {exc}",
            ) from exc
        return logits

    def _load(self, sha256: str) -> ort.InferenceSession:
        try:
            path = self._open_path(sha256)
        except Exception as error:  # the registry names it, so its file missing is the server's loss
            if str(getattr(error, "code", "")) != ErrorCode.NOT_FOUND:
                raise
            raise HubError(
                ErrorCode.CORRUPT_ARTIFACT, f"artifact {sha256}, named by the registry, is missing from the store"
            ) from error
        try:
            options = session_options(self._intra_op_num_threads)
            session = ort.InferenceSession(str(path), options, providers=PROVIDERS)
        except Exception as exc:  # a verified file that is not a loadable graph: a bug upstream, not the caller
            raise HubError(ErrorCode.INTERNAL, f"artifact {sha256} is not a loadable ONNX graph: {exc}") from exc
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
            raise HubError(
                ErrorCode.INTERNAL,
                f"artifact {sha256} has inputs {inputs} and outputs {outputs}; "
                f"serving needs {INPUT_NAME!r} -> {OUTPUT_NAME!r}",
            )
        return session
