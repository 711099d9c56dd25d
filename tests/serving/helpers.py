"""Small builders shared by the serving tests: input specs, real ONNX graphs, an artifact directory."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from service.moda.spec import InputSpec

DIGITS = InputSpec(1, 8, 8, mean=(4.9,), std=(6.0,), pixel_max=16.0)
# Not square, so that a height/width mix-up cannot pass unnoticed.
RGB = InputSpec(3, 4, 5, mean=(120.0,) * 3, std=(60.0,) * 3, pixel_max=255.0)


def linear_onnx(
    spec: InputSpec, num_classes: int, seed: int = 0, input_name: str = "input", output_name: str = "logits"
) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A real ONNX graph logits = flatten(x) @ W + b with a dynamic batch axis, and its W, b."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(spec.numel, num_classes)).astype(np.float32) / spec.pixel_max
    bias = rng.normal(size=num_classes).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", [input_name], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "b"], [output_name]),
        ],
        "linear",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", *spec.shape])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", num_classes])],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every ONNX Runtime of the last years reads
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(), weight, bias


def reference_logits(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float64) @ weight + bias  # (N, K)


def pixels(n: int, spec: InputSpec, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, *spec.shape)) * spec.pixel_max).astype(np.float32)  # (N, C, H, W)


class ArtifactDir:
    """Files named by their sha256, and an `open_path` that counts its calls (and can be slow or fail)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []
        self.delay_s = 0.0
        self.fail_with: Callable[[str], Exception] | None = None
        self._lock = threading.Lock()

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        (self.root / sha).write_bytes(data)
        return sha

    def open_path(self, sha: str) -> Path:
        with self._lock:
            self.calls.append(sha)
        time.sleep(self.delay_s)  # widens the window in which concurrent askers could double-load
        if self.fail_with is not None:
            raise self.fail_with(sha)
        return self.root / sha
