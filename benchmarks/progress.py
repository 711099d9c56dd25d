"""Progress bars on stderr for benchmark runs."""

from __future__ import annotations

import sys

from tqdm import tqdm

from service.moda.training import EpochMetrics, TrainingHooks


class EpochBar(TrainingHooks):
    """One bar per training run: epoch count, loss terms and test accuracy."""

    def __init__(self, label: str, epochs: int) -> None:
        self.bar = tqdm(total=epochs, desc=label, unit="epoch", file=sys.stderr, leave=True)

    def on_epoch(self, m: EpochMetrics) -> None:
        self.bar.set_postfix(
            ce=f"{m.ce:.3f}", aff=f"{m.affinity:.3f}", dis=f"{m.dispersion:.3f}",
            comp=f"{m.compactness:.3f}", test=f"{m.test_acc:.2f}%", s=f"{m.seconds:.1f}",
        )  # fmt: skip
        self.bar.update(1)
        if m.epoch == m.epochs:
            self.bar.close()
