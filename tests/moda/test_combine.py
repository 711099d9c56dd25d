"""Combined classifiers: output picking, calibration fitted with frozen parts, ONNX export."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from service.moda.combine import CombinedClassifier, Pick, fit_calibration
from service.moda.onnx_export import export_onnx
from tests.moda.helpers import SHAPES, random_model, random_pixels


def two_part_classifier() -> tuple[CombinedClassifier, torch.nn.Module, torch.nn.Module]:
    a = random_model("mlp", SHAPES["digits"], num_classes=4, seed=1)
    b = random_model("lenet5", SHAPES["digits"], num_classes=3, seed=2)
    combined = CombinedClassifier([a, b], [Pick(1, 2), Pick(0, 0), Pick(0, 3)], a.spec)
    return combined, a, b


def test_outputs_are_the_picked_columns_in_order() -> None:
    combined, a, b = two_part_classifier()
    x = random_pixels(5, SHAPES["digits"])
    with torch.no_grad():
        expected = torch.stack([b(x)[:, 2], a(x)[:, 0], a(x)[:, 3]], dim=1)
        torch.testing.assert_close(combined(x), expected)


def test_calibration_lowers_the_loss_and_leaves_the_parts_untouched() -> None:
    combined, a, b = two_part_classifier()
    before = {k: v.clone() for k, v in {**a.state_dict(), **{f"b.{k}": v for k, v in b.state_dict().items()}}.items()}
    x = random_pixels(300, SHAPES["digits"], seed=4)
    with torch.no_grad():
        raw = combined(x)
    # Targets a fixed linear rule of the raw logits can reach, but the identity does not.
    y = (raw @ torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 3.0]])).argmax(dim=1)
    calibration = fit_calibration(combined, x, y)
    combined.calibration = calibration.layer
    with torch.no_grad():
        assert F.cross_entropy(combined(x), y) < F.cross_entropy(raw, y) - 0.1
    assert calibration.train_accuracy > 100.0 * (raw.argmax(1) == y).float().mean().item()
    after = {**a.state_dict(), **{f"b.{k}": v for k, v in b.state_dict().items()}}
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_calibration_is_deterministic() -> None:
    combined, _, _ = two_part_classifier()
    x = random_pixels(100, SHAPES["digits"], seed=5)
    y = torch.arange(100) % 3
    first, second = fit_calibration(combined, x, y).layer, fit_calibration(combined, x, y).layer
    assert torch.equal(first.weight, second.weight) and torch.equal(first.bias, second.bias)


def test_a_calibrated_combination_exports_to_one_onnx_graph() -> None:
    combined, _, _ = two_part_classifier()
    x = random_pixels(60, SHAPES["digits"], seed=6)
    combined.calibration = fit_calibration(combined, x, torch.arange(60) % 3).layer
    artifact = export_onnx(combined, ["x", "y", "z"], [2, 0, 3])
    assert artifact.max_abs_diff <= 1e-4
