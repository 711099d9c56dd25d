"""Per-model inference statistics, as Triton reports them (`GET /v2/models/{name}/stats`).

Counters only: each V2 inference adds its phase durations under a lock held for a few additions,
never across parsing or inference, so statistics cost the hot path well under a microsecond.
They are kept per API process (each of `moda serve`'s processes reports the requests it answered)
and start at zero when the process starts, as Triton's do.

Triton's phases map onto one request here: `compute_input` parses and decodes the body,
`compute_infer` runs ONNX Runtime, `compute_output` computes and encodes the outputs; `success`
spans all three. `queue` is reported with zero time: a request is admitted or refused at once (429),
never queued for a model. `inference_count` counts samples, `execution_count` model runs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

PHASES = ("compute_input", "compute_infer", "compute_output")


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass
class _BatchStats:
    phases: dict[str, Duration] = field(default_factory=lambda: {phase: Duration() for phase in PHASES})


class ModelStats:
    """One model's counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.success = Duration()
        self.fail = Duration()
        self.phases = {phase: Duration() for phase in PHASES}
        self.batches: dict[int, _BatchStats] = {}
        self.inference_count = 0
        self.execution_count = 0
        self.last_inference_ms = 0

    def record_success(self, batch_size: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        durations = dict(zip(PHASES, (input_ns, infer_ns, output_ns), strict=True))
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            self.success.add(input_ns + infer_ns + output_ns)
            by_size = self.batches.get(batch_size)
            if by_size is None:
                by_size = self.batches[batch_size] = _BatchStats()
            for phase, ns in durations.items():
                self.phases[phase].add(ns)
                by_size.phases[phase].add(ns)
            self.inference_count += batch_size
            self.execution_count += 1
            self.last_inference_ms = now_ms

    def record_failure(self, ns: int) -> None:
        with self._lock:
            self.fail.add(ns)

    def report(self, name: str, version: str) -> dict[str, Any]:
        """Triton's `model_stats` entry for this model."""
        with self._lock:
            inference_stats = {
                "success": self.success.as_dict(),
                "fail": self.fail.as_dict(),
                "queue": {"count": self.success.count, "ns": 0},
                **{phase: duration.as_dict() for phase, duration in self.phases.items()},
                "cache_hit": {"count": 0, "ns": 0},  # Triton's response cache: not implemented here
                "cache_miss": {"count": 0, "ns": 0},
            }
            batch_stats = [
                {"batch_size": size, **{phase: d.as_dict() for phase, d in stats.phases.items()}}
                for size, stats in sorted(self.batches.items())
            ]
            return {
                "name": name,
                "version": version,
                "last_inference": self.last_inference_ms,
                "inference_count": self.inference_count,
                "execution_count": self.execution_count,
                "inference_stats": inference_stats,
                "batch_stats": batch_stats,
            }


class InferenceStatistics:
    """Every model's counters in this process, created on a model's first inference."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, ModelStats] = {}

    def of(self, name: str) -> ModelStats:
        stats = self._models.get(name)
        if stats is None:
            with self._lock:
                stats = self._models.setdefault(name, ModelStats())
        return stats

    def report(self, name: str, version: str) -> dict[str, Any]:
        """Triton's `model_stats` entry of `name`: zeros for a model without inferences here yet."""
        return self._models.get(name, ModelStats()).report(name, version)

    def names(self) -> list[str]:
        """The models that have statistics in this process, sorted."""
        with self._lock:
            return sorted(self._models)
