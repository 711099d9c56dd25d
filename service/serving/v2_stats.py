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
from typing import Any

PHASES = ("compute_input", "compute_infer", "compute_output")


def _duration(count: int, ns: int) -> dict[str, int]:
    return {"count": count, "ns": ns}


class ModelStats:
    """One model's counters, as plain ints: recording one inference is a few additions (~1 µs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.success_count = self.success_ns = 0
        self.fail_count = self.fail_ns = 0
        self.phase_ns = [0, 0, 0]  # cumulative ns of each of PHASES; each counts success_count
        self.batches: dict[int, list[int]] = {}  # batch size -> [count, *phase ns]
        self.inference_count = 0
        self.last_inference_ns = 0

    def record_success(self, batch_size: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        now = time.time_ns()
        with self._lock:
            self.success_count += 1
            self.success_ns += input_ns + infer_ns + output_ns
            phases = self.phase_ns
            phases[0] += input_ns
            phases[1] += infer_ns
            phases[2] += output_ns
            by_size = self.batches.get(batch_size)
            if by_size is None:
                by_size = self.batches[batch_size] = [0, 0, 0, 0]
            by_size[0] += 1
            by_size[1] += input_ns
            by_size[2] += infer_ns
            by_size[3] += output_ns
            self.inference_count += batch_size
            self.last_inference_ns = now

    def record_failure(self, ns: int) -> None:
        with self._lock:
            self.fail_count += 1
            self.fail_ns += ns

    def report(self, name: str, version: str) -> dict[str, Any]:
        """Triton's `model_stats` entry for this model."""
        with self._lock:
            successes = self.success_count
            inference_stats = {
                "success": _duration(successes, self.success_ns),
                "fail": _duration(self.fail_count, self.fail_ns),
                "queue": _duration(successes, 0),
                **{phase: _duration(successes, ns) for phase, ns in zip(PHASES, self.phase_ns, strict=True)},
                "cache_hit": _duration(0, 0),  # Triton's response cache: not implemented here
                "cache_miss": _duration(0, 0),
            }
            batch_stats = [
                {
                    "batch_size": size,
                    **{phase: _duration(count, ns) for phase, ns in zip(PHASES, phase_ns, strict=True)},
                }
                for size, (count, *phase_ns) in sorted(self.batches.items())
            ]
            return {
                "name": name,
                "version": version,
                "last_inference": self.last_inference_ns // 1_000_000,  # ms since the epoch, as Triton
                "inference_count": self.inference_count,
                "execution_count": successes,
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
