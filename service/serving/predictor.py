"""Predictions of stored compositions, on the request path: no SQL, bytes in and out.

A composition never changes (its id is its content), so its metadata is read from the registry
once per process and kept; its ONNX Runtime session is kept by the SessionCache.

A request's work after its body is read (parse, check, run, encode) is written once, as `Steps`:
a generator that yields the batch it needs run, with the composition that runs it, is sent back
the logits, and returns the response. Whoever drives it chooses how the batch runs: alone, in the
same thread (`Predictor.complete`), or merged with other requests' batches (serving.batching).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from time import perf_counter_ns
from typing import NoReturn, TypeVar

import numpy as np
import orjson

from modules_store import CodedError, Composition
from service.errors import ErrorCode, HubError
from service.moda.spec import InputSpec
from service.serving.deletion_feed import DeletionFeed
from service.serving.inputs import check_value_count, decode_images, decode_json_body
from service.serving.predictions import to_predictions
from service.serving.sessions import SessionCache
from service.serving.v2 import compute_outputs, encode_infer_response, parse_infer_request
from service.serving.v2_stats import InferenceStatistics

T = TypeVar("T")

MODEL_VERSION = "1"  # a composition is its own only version: its id is its content


def check_version(name: str, version: str) -> None:
    """A composition has exactly one version; asking for another is asking for a model that is not here."""
    if version != MODEL_VERSION:
        raise HubError(
            ErrorCode.NOT_FOUND, f"model {name!r} has no version {version!r}; its only version is {MODEL_VERSION!r}"
        )


@dataclass(frozen=True)
class Served:
    """What serving needs of a composition, decoded once."""

    composition: Composition
    spec: InputSpec
    labels: tuple[str, ...] = ()  # the output classes' labels, in output order

    @property
    def id(self) -> str:
        return self.composition.id


# One request's work: yields (composition, float32 batch (N, C, H, W)) once, is sent the logits
# (N, K), returns the response.
Steps = Generator[tuple[Served, np.ndarray], np.ndarray, T]


class CompositionCache:
    """Compositions by the id they were asked by, read through `lookup` on a miss; the least recently
    used beyond `capacity` go.

    A lookup may answer a composition stored under another id than the one asked: the registry finds
    one stored before ids had 32 digits by its 32-digit id too (how /v1/predict asks). It is kept
    under both, so that either is answered again without SQL, and forgotten under both.
    Misses are not remembered: a composition made later by another process is found on its next ask.
    Deleted ones are dropped: at once by `forget`, and those deleted elsewhere when `deletions` tells
    (within a second); `on_forget` then drops what else is kept of them (their ONNX session).
    """

    def __init__(
        self,
        lookup: Callable[[str], Composition],
        capacity: int,
        deletions: DeletionFeed | None = None,
        on_forget: Callable[[Served], object] | None = None,
    ) -> None:
        self._lookup = lookup
        self.capacity = capacity
        self._deletions = deletions
        self._on_forget = on_forget
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Served] = OrderedDict()
        # forget() calls so far: a lookup that a forget overtook may have read a deleted row.
        self._forgets = 0

    def get(self, composition_id: str, lookup: Callable[[str], Composition] | None = None) -> Served:
        """The composition `composition_id`, read on a miss by `lookup` (default: the cache's own, whose
        NotFound propagates; /v1/predict passes one that builds it)."""
        if self._deletions is not None:
            self._deletions.poll(self.forget, self.forget_all)
        with self._lock:
            served = self._items.get(composition_id)
            if served is not None:
                self._items.move_to_end(composition_id)
                return served
            forgets = self._forgets
        composition = (lookup or self._lookup)(composition_id)
        with self._lock:
            if self._forgets != forgets:  # answered, but not kept: it may be deleted already
                return _served(composition)
        return self._keep(composition_id, composition)

    def cached(self, composition_id: str) -> Served | None:
        if self._deletions is not None:
            self._deletions.poll(self.forget, self.forget_all)
        with self._lock:
            return self._items.get(composition_id)

    def in_memory(self, composition_id: str) -> Served | None:
        """The composition kept under `composition_id` when reading it asks nothing of the registry
        now (no deletion poll is due), else None."""
        if self._deletions is not None and self._deletions.due():
            return None
        with self._lock:
            return self._items.get(composition_id)

    def confirm(self, composition_id: str) -> None:
        """Ask the registry whether `composition_id` still exists: NOT_FOUND (and forgotten) when a
        deletion got there before the feed reached this process."""
        try:
            self._lookup(composition_id)
        except CodedError as error:
            if error.code is ErrorCode.NOT_FOUND:
                self.forget([composition_id])
            raise

    def forget(self, composition_ids: Sequence[str]) -> None:
        """Drop these compositions (deleted): their next ask reads the registry, and finds none."""
        gone = set(composition_ids)
        self._drop(lambda served: served.id in gone)

    def forget_all(self) -> None:
        """Drop every composition kept (some may be deleted, which is not known): each is read again."""
        self._drop(lambda _: True)

    def _drop(self, which: Callable[[Served], bool]) -> None:
        with self._lock:
            self._forgets += 1
            keys = [key for key, served in self._items.items() if which(served)]  # ids and aliases
            dropped = {served.id: served for served in map(self._items.pop, keys)}
        if self._on_forget is not None:
            for served in dropped.values():
                self._on_forget(served)

    def _keep(self, asked: str, composition: Composition) -> Served:
        """Keep `composition` (read just now, no forget since) under its id and the id it was `asked` by."""
        served = _served(composition)
        with self._lock:
            for key in {composition.id, asked}:
                self._items[key] = served
                self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return served


def _served(composition: Composition) -> Served:
    return Served(composition, InputSpec.from_dict(composition.input_spec), tuple(c.label for c in composition.classes))


class Predictor:
    def __init__(self, compositions: CompositionCache, sessions: SessionCache, max_batch: int) -> None:
        self.compositions = compositions
        self.sessions = sessions
        self.max_batch = max_batch
        self.statistics = InferenceStatistics()

    def model(self, name: str, version: str) -> Served:
        """The V2 model `name` (a composition id) at `version`: NOT_FOUND for an unknown composition,
        then for any version but its one."""
        served = self.compositions.get(name)
        check_version(name, version)
        return served

    def in_memory(self, composition_id: str) -> bool:
        """Whether predicting with `composition_id` needs nothing but memory now: no SQL, no file,
        no graph to load (what running it on the event loop requires)."""
        served = self.compositions.in_memory(composition_id)
        return served is not None and served.composition.onnx_sha256 in self.sessions

    def logits(self, served: Served, batch: np.ndarray) -> np.ndarray:
        try:
            return self.sessions.run(served.composition.onnx_sha256, batch)  # (N, K)
        except CodedError as error:
            if error.code is ErrorCode.CORRUPT_ARTIFACT:
                # Its file gone: lost (the error stands), or the composition deleted in another process
                # a moment ago, before the deletion feed told this one (NOT_FOUND, as a moment later).
                self.compositions.confirm(served.id)
            raise

    def complete(self, steps: Steps[T]) -> T:
        """Drive `steps` to their answer here, running their batch alone."""
        served, batch = next(steps)
        try:
            logits = self.logits(served, batch)
        except Exception as error:
            fail(steps, error)
        return finish(steps, logits)

    def predictions(self, served: Served, batch: np.ndarray) -> bytes:
        """The /v1 response body for the float32 batch (N, C, H, W)."""
        return self.v1_body(served, self.logits(served, batch))

    def v1_body(self, served: Served, logits: np.ndarray) -> bytes:
        """The /v1 response body for the logits (N, K)."""
        predictions = to_predictions(logits, served.composition.classes)
        return orjson.dumps({"composition_id": served.id, "predictions": predictions})

    def predict_json(self, composition_id: str, body: bytes) -> Steps[bytes]:
        """/v1 predict on a JSON body `{"inputs": [...]}`."""
        served = self.compositions.get(composition_id)
        logits = yield served, decode_json_body(body, served.spec, self.max_batch)
        return self.v1_body(served, logits)

    def predict_images(self, composition_id: str, files: Sequence[tuple[str, bytes]]) -> bytes:
        """/v1 predict on image files, (filename, bytes) each."""
        served = self.compositions.get(composition_id)
        return self.predictions(served, decode_images(files, served.spec, self.max_batch))

    def infer(self, served: Served, body: bytes, header_length: int | None) -> Steps[tuple[bytes, dict[str, str]]]:
        """A V2 inference request (JSON, or JSON and binary tensors) -> (response body, headers).

        Its statistics count the time from the batch's hand-over to its logits as compute_infer:
        when the batch was merged with others, that is the merged run, waiting included."""
        stats = self.statistics.of(served.id)
        started = perf_counter_ns()
        try:
            check_value_count(body if header_length is None else body[:header_length], served.spec, self.max_batch)
            request = parse_infer_request(body, header_length)
            batch = request.batch(served.spec, self.max_batch)
            decoded = perf_counter_ns()
            logits = yield served, batch
            ran = perf_counter_ns()
            outputs = compute_outputs(logits, request.outputs, request.classifications, served.labels)
            answer = encode_infer_response(
                served.id, MODEL_VERSION, request.id, outputs, request.binary_outputs, served.labels
            )
        except Exception:
            stats.record_failure(perf_counter_ns() - started)
            raise
        stats.record_success(len(batch), decoded - started, ran - decoded, perf_counter_ns() - ran)
        return answer


def finish(steps: Steps[T], logits: np.ndarray) -> T:
    """Hand `steps` the logits of their batch; their answer."""
    try:
        steps.send(logits)
    except StopIteration as done:
        return done.value
    raise RuntimeError("inference steps yield one batch")


def fail(steps: Steps[object], error: Exception) -> NoReturn:
    """Raise the failure of their batch's run in `steps` (which may count it), and out of them."""
    steps.throw(error)
    raise RuntimeError("inference steps yield one batch")
