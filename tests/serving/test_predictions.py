"""softmax and to_predictions: exact values, numerical stability, labels and source class indices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modules_store import CompositionClass
from service.serving.predictions import softmax, to_predictions


def output(index: int, label: str, class_index: int) -> CompositionClass:
    return CompositionClass(index=index, label=label, module_id=f"m{index}", model_id="m", class_index=class_index)


CLASSES = [output(0, "two", 2), output(1, "six", 6), output(2, "cat", 3)]


def test_softmax_values_and_dtype() -> None:
    logits = np.array([[0.0, math.log(2.0), math.log(5.0)], [1.0, 1.0, 1.0]], dtype=np.float32)
    got = softmax(logits)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [[1 / 8, 2 / 8, 5 / 8], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_softmax_is_stable_for_huge_logits() -> None:
    logits = np.array([[1000.0, 1000.0 + math.log(3.0)], [-1000.0, -1000.0]], dtype=np.float32)
    got = softmax(logits)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-3)


def test_predictions_carry_label_source_index_and_probabilities() -> None:
    logits = np.array([[0.0, math.log(5.0), math.log(2.0)], [3.0, 0.0, 0.0]], dtype=np.float32)
    first, second = to_predictions(logits, CLASSES)

    assert (first["label"], first["class_index"]) == ("six", 6)
    assert list(first["probabilities"]) == ["two", "six", "cat"]
    np.testing.assert_allclose(list(first["probabilities"].values()), [1 / 8, 5 / 8, 2 / 8], rtol=1e-6)
    assert all(type(p) is float for p in first["probabilities"].values())  # JSON-serialisable as is
    assert (second["label"], second["class_index"]) == ("two", 2)
    assert second["probabilities"]["two"] == pytest.approx(math.e**3 / (math.e**3 + 2))


def test_mismatched_or_ambiguous_classes_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="3 output classes"):
        to_predictions(np.zeros((1, 2), dtype=np.float32), CLASSES)
    twins = [output(0, "3", 3), output(1, "3", 3)]
    with pytest.raises(ValueError, match="unique labels"):
        to_predictions(np.zeros((1, 2), dtype=np.float32), twins)
