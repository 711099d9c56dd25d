"""The in-memory dataset every loader returns, and the class/fraction subsetting benchmarks use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from service.moda.data.stats import input_spec_from
from service.moda.errors import InvalidInput
from service.moda.spec import InputSpec


# eq=False: the generated __eq__ would compare tensors element-wise and raise; identity is what callers need.
@dataclass(frozen=True, eq=False)
class ImageDataset:
    name: str
    x_train: torch.Tensor  # (N, C, H, W) float32, raw pixel scale
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor  # (M, C, H, W) float32, raw pixel scale
    y_test: torch.Tensor  # (M,) int64
    labels: list[str]  # index = class index
    input_spec: InputSpec  # mean/std from x_train, raw units

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def subset(
        self,
        classes: Sequence[int] | None = None,
        train_fraction: float | Mapping[int, float] = 1.0,
        seed: int = 0,
    ) -> ImageDataset:
        """A smaller dataset that keeps the original class indices and labels.

        classes: keep only samples of these classes, in both splits (None = all classes).
        train_fraction: the fraction of each kept class's TRAINING samples to keep, either one float for
            every class or a mapping class -> fraction (classes missing from it keep all samples).
            Each fraction lies in (0, 1]; a class keeps max(1, round(fraction * count)) samples, drawn
            at random with `seed`. The test split is never thinned, so accuracies stay comparable.

        Samples keep their original relative order. input_spec is recomputed from the kept training
        samples, so the invariant "input_spec describes x_train" holds for subsets too.
        """
        kept = self._check_classes(classes)
        fractions = self._check_fractions(kept, train_fraction)
        rng = np.random.default_rng(seed)
        y_train = self.y_train.numpy()
        train_idx: list[np.ndarray] = []
        for c in kept:
            idx = np.flatnonzero(y_train == c)
            fraction = fractions.get(c, 1.0)
            if fraction < 1.0 and idx.size > 0:
                n_keep = max(1, round(fraction * idx.size))
                idx = rng.choice(idx, size=n_keep, replace=False)
            train_idx.append(idx)
        train_sel = torch.from_numpy(np.sort(np.concatenate(train_idx)))
        test_sel = torch.from_numpy(np.flatnonzero(np.isin(self.y_test.numpy(), kept)))
        x_train = self.x_train[train_sel]
        return ImageDataset(
            name=self.name,
            x_train=x_train,
            y_train=self.y_train[train_sel],
            x_test=self.x_test[test_sel],
            y_test=self.y_test[test_sel],
            labels=list(self.labels),
            input_spec=input_spec_from(x_train, self.input_spec.pixel_max),
        )

    def restrict(self, classes: Sequence[int]) -> ImageDataset:
        """Only `classes`, renumbered 0..k-1 in sorted order with their labels: a k-class dataset.

        For training a model on part of the classes (it then has k outputs, not one per original class).
        """
        kept = self._check_classes(classes)
        part = self.subset(kept)
        renumber = torch.full((self.num_classes,), -1, dtype=torch.int64)
        renumber[kept] = torch.arange(len(kept))
        return ImageDataset(
            name=self.name,
            x_train=part.x_train,
            y_train=renumber[part.y_train],
            x_test=part.x_test,
            y_test=renumber[part.y_test],
            labels=[self.labels[c] for c in kept],
            input_spec=part.input_spec,
        )

    def _check_classes(self, classes: Sequence[int] | None) -> list[int]:
        if classes is None:
            return list(range(self.num_classes))
        kept = [int(c) for c in classes]
        bad = [c for c in kept if not 0 <= c < self.num_classes]
        if bad:
            raise InvalidInput(
                f"classes {bad} out of range for dataset {self.name!r} with {self.num_classes} classes",
            )
        if len(set(kept)) != len(kept):
            raise InvalidInput(f"classes {kept} contain duplicates")
        if not kept:
            raise InvalidInput("classes must not be empty")
        return sorted(kept)

    @staticmethod
    def _check_fractions(kept: list[int], train_fraction: float | Mapping[int, float]) -> dict[int, float]:
        if isinstance(train_fraction, Mapping):
            fractions = {int(c): float(f) for c, f in train_fraction.items()}
            # A fraction for a class that is filtered out is almost certainly a caller's mistake.
            stray = sorted(set(fractions) - set(kept))
            if stray:
                raise InvalidInput(f"train_fraction names classes {stray} that are not kept")
        else:
            fractions = dict.fromkeys(kept, float(train_fraction))
        bad = {c: f for c, f in fractions.items() if not 0.0 < f <= 1.0}
        if bad:
            raise InvalidInput(f"train fractions must lie in (0, 1], got {bad}")
        return fractions
