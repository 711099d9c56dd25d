"""ONNX export of a full model, a module or a composition, verified before it is returned.

Graph contract: input `input` (batch, C, H, W) float32 raw pixels, dynamic batch axis; output
`logits` (batch, classes); opset 17; class labels and indices in the model metadata. The graph
is checked with `onnx.checker` and run in ONNX Runtime against PyTorch on a random batch.
"""

from __future__ import annotations

import copy
import io
import json
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import torch

from service.moda.combine import CombinedClassifier
from service.moda.errors import ExportMismatch
from service.moda.nets import ModularNet, config_of

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
TOLERANCE = 1e-4
# The TorchScript exporter keeps global state: one export at a time per process.
_EXPORT_LOCK = threading.Lock()


@dataclass(frozen=True)
class OnnxArtifact:
    data: bytes
    max_abs_diff: float  # ONNX Runtime vs PyTorch on the check batch


def _to_bytes(model: torch.nn.Module, example: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    with _EXPORT_LOCK, warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export, but it is ~20× faster
        # for these plain conv/linear graphs and exports them exactly.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object works; torch annotates a path only
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


def onnx_session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def export_onnx(
    model: ModularNet | CombinedClassifier,
    labels: Sequence[str],
    class_indices: Sequence[int],
    metadata: Mapping[str, str] | None = None,
    check_batch: torch.Tensor | None = None,
) -> OnnxArtifact:
    """Export `model` (whose outputs are the classes `class_indices` named `labels`)."""
    # Only a single network has an architecture config to record; a combination records its parts
    # through the registry (module ids), not in the graph.
    if len(labels) != model.num_classes or len(class_indices) != model.num_classes:
        raise ValueError("one label and one class index per output is required")
    cpu_model = copy.deepcopy(model).cpu().eval()
    spec = model.spec
    if check_batch is None:
        generator = torch.Generator().manual_seed(0)
        check_batch = torch.rand(4, *spec.shape, generator=generator) * spec.pixel_max  # (4, C, H, W)
    check_batch = check_batch.float().cpu()

    proto = onnx.load_from_string(_to_bytes(cpu_model, check_batch[:1]))
    props = {
        "labels": json.dumps(list(labels)),
        "class_indices": json.dumps([int(i) for i in class_indices]),
        "input_spec": json.dumps(spec.to_dict()),
        **({"arch_config": json.dumps(config_of(model).to_dict())} if isinstance(model, ModularNet) else {}),
        **(metadata or {}),
    }
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()

    with torch.no_grad():
        expected = cpu_model(check_batch).numpy()
    (got,) = onnx_session(data).run([OUTPUT_NAME], {INPUT_NAME: check_batch.numpy()})
    diff = float(np.abs(got - expected).max())
    # float32 rounding grows with the logits: a model whose logits reach 1e8 (diverged training, an
    # upload from elsewhere) is exported faithfully when ONNX Runtime agrees to 1e-4 of their scale.
    allowed = TOLERANCE * max(1.0, float(np.abs(expected).max()))
    if not diff <= allowed:  # also refuses NaN
        raise ExportMismatch(f"ONNX export diverges from PyTorch by {diff:.3g} > {allowed:.3g} (1e-4 of the logits)")
    return OnnxArtifact(data, diff)
