"""Metrics: restricted accuracy, overlap and MACs on cases computed by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from service.moda.compose import KeepPlan, keep_plan
from service.moda.decompose import ClassMask
from service.moda.metrics import count_macs, mean_overlap, module_sizes, overlap_matrix, restricted_accuracy
from tests.moda.helpers import SHAPES, random_model


def test_restricted_accuracy_uses_only_the_selected_classes() -> None:
    y = torch.tensor([0, 1, 2, 2, 1])
    full = torch.tensor(
        [
            [9.0, 0.0, 5.0],  # class 0: not selected, ignored
            [0.0, 1.0, 3.0],  # class 1: wrong among {1, 2}
            [0.0, 0.0, 1.0],  # class 2: right
            [8.0, 0.0, 1.0],  # class 2: right among {1, 2} although class 0 wins overall
            [0.0, 4.0, 1.0],  # class 1: right
        ]
    )
    assert restricted_accuracy(full, y, [1, 2]) == pytest.approx(75.0)
    assert restricted_accuracy(full[:, 1:], y, [2, 1]) == pytest.approx(75.0)  # composed columns


def test_overlap_and_sizes_on_an_mlp() -> None:
    model = random_model("mlp", SHAPES["digits"], num_classes=2)

    def module(class_index: int, h: list[int]) -> KeepPlan:
        layers = []
        for width, kept in zip(model.layer_widths(), h, strict=True):
            layer = torch.zeros(width, dtype=torch.bool)
            layer[:kept] = True
            layers.append(layer)
        return keep_plan(model, [ClassMask(class_index, layers, [])])

    a, b = module(0, [10, 10, 10]), module(1, [20, 5, 10])
    total = 64 * 300 + 300 + 300 * 200 + 200 + 200 * 100 + 100 + 100 * 2 + 2
    size_a = 64 * 10 + 10 + 10 * 10 + 10 + 10 * 10 + 10 + 10 + 1
    size_b = 64 * 20 + 20 + 5 * 20 + 5 + 10 * 5 + 10 + 10 + 1
    shared = 64 * 10 + 10 + 5 * 10 + 5 + 10 * 5 + 10  # no head row in common
    assert module_sizes(model, [a, b]) == pytest.approx([size_a / total, size_b / total])
    overlap = mean_overlap(model, [a, b])
    assert overlap.shared == pytest.approx(shared / total)
    assert overlap.jaccard == pytest.approx(shared / (size_a + size_b - shared))
    matrix = overlap_matrix(model, [a, b])
    assert [o.shared for row in matrix for o in row] == pytest.approx(
        [size_a / total, shared / total, shared / total, size_b / total]
    )
    assert [o.jaccard for row in matrix for o in row] == pytest.approx([1.0, overlap.jaccard, overlap.jaccard, 1.0])


def test_macs_of_conv_and_linear_layers() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Flatten(), nn.Linear(8 * 5 * 5, 4)
    )
    expected = 8 * 5 * 5 * 3 * 9 + 8 * 5 * 5 * 9 + 200 * 4
    assert count_macs(net, torch.zeros(2, 3, 5, 5)) == expected
