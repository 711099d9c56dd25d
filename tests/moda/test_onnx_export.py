"""ONNX export: the graph contract, metadata, and agreement with PyTorch on every architecture."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from service.moda import onnx_export
from service.moda.compose import compose, keep_plan
from service.moda.decompose import activation_rates, class_masks
from service.moda.errors import ExportMismatch
from service.moda.nets import ARCHITECTURES
from service.moda.onnx_export import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, onnx_session
from tests.moda.helpers import SHAPES, random_model, random_pixels


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_full_model_and_composition_export(arch: str) -> None:
    shape = SHAPES["digits"]
    model = random_model(arch, shape)
    labels = [f"class-{i}" for i in range(10)]
    full = export_onnx(model, labels, range(10))
    assert full.max_abs_diff <= 1e-4

    x = random_pixels(24, shape, seed=2)
    masks = class_masks(activation_rates(model, x, torch.arange(24) % 10), 0.5)
    composed = compose(model, keep_plan(model, [masks[6], masks[2]]))
    art = export_onnx(composed, ["class-2", "class-6"], [2, 6])

    proto = onnx.load_from_string(art.data)
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= OPSET
    assert [i.name for i in proto.graph.input] == [INPUT_NAME]
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["labels"]) == ["class-2", "class-6"]
    assert json.loads(meta["class_indices"]) == [2, 6]

    session = onnx_session(art.data)
    for batch in (1, 7):  # the batch axis is dynamic
        xb = random_pixels(batch, shape, seed=batch)
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: xb.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(got, composed(xb).numpy(), atol=1e-4, rtol=0)


def test_labels_must_match_outputs() -> None:
    model = random_model("mlp", SHAPES["digits"], num_classes=3)
    with pytest.raises(ValueError, match="one label"):
        export_onnx(model, ["a", "b"], [0, 1])


def test_a_model_with_huge_logits_exports_within_their_scale() -> None:
    # Weights of a diverged run (or an upload from elsewhere): logits around 1e12, where float32
    # rounding alone differs by far more than 1e-4 between PyTorch and ONNX Runtime.
    model = random_model("lenet5", SHAPES["cifar"], num_classes=3)
    with torch.no_grad():
        model.conv1.weight.mul_(1e6)
        model.fc1.weight.mul_(1e6)
    artifact = export_onnx(model, ["a", "b", "c"], [0, 1, 2])
    with torch.no_grad():
        scale = model(random_pixels(4, SHAPES["cifar"])).abs().max().item()
    assert scale > 1e8 and artifact.max_abs_diff <= 1e-4 * scale


def test_an_export_that_disagrees_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    model = random_model("mlp", SHAPES["digits"], num_classes=3)
    real_session = onnx_session

    class Off:  # an ONNX Runtime that answers 1 off
        def __init__(self, data: bytes) -> None:
            self.session = real_session(data)

        def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            return [out + 1.0 for out in self.session.run(outputs, feeds)]

    monkeypatch.setattr(onnx_export, "onnx_session", Off)
    with pytest.raises(ExportMismatch, match="diverges"):
        export_onnx(model, ["a", "b", "c"], [0, 1, 2])
