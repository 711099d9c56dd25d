"""Logits -> what a person reads: the winning class and every class's probability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modules_store import CompositionClass


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in the dtype of `logits`.

    Subtracting the row maximum first keeps exp() from overflowing on large logits (exp(89) is
    already infinite in float32) without changing the result.
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def to_predictions(logits: np.ndarray, classes: Sequence[CompositionClass]) -> list[dict[str, Any]]:
    """logits (N, K) and the composition's K output classes, in order -> one prediction per sample.

    Each class gives its `label` and `class_index` (its index in its source model). Labels must be
    unique: they key the probabilities, and a composition whose classes
    share a label could not say which one it predicted.
    """
    if logits.ndim != 2 or logits.shape[1] != len(classes):
        raise ValueError(f"logits of shape {logits.shape} do not match {len(classes)} output classes")
    labels = [c.label for c in classes]
    if len(set(labels)) != len(labels):
        raise ValueError(f"output classes must have unique labels, got {labels}")
    indices = [c.class_index for c in classes]
    probabilities = softmax(logits.astype(np.float64))  # float64: the values end up as Python floats
    winners = probabilities.argmax(axis=1)
    return [
        {
            "label": labels[k],
            "class_index": indices[k],
            "probabilities": dict(zip(labels, row.tolist(), strict=True)),
        }
        for k, row in zip(winners.tolist(), probabilities, strict=True)
    ]
