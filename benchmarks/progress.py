"""Progress bars on stderr for benchmark runs, and the training run every benchmark model comes from."""

from __future__ import annotations

import sys

import torch
from tqdm import tqdm

from service.moda.data import ImageDataset
from service.moda.nets import ArchConfig, ModularNet, build_model
from service.moda.training import EpochMetrics, TrainConfig, TrainingHooks, TrainResult, train


class EpochBar(TrainingHooks):
    """One bar per training run: epoch count, loss terms and test accuracy."""

    def __init__(self, label: str, epochs: int) -> None:
        self.bar = tqdm(total=epochs, desc=label, unit="epoch", file=sys.stderr, leave=True)

    def on_epoch(self, m: EpochMetrics) -> None:
        self.bar.set_postfix(
            ce=f"{m.ce:.3f}",
            aff=f"{m.affinity:.3f}",
            dis=f"{m.dispersion:.3f}",
            comp=f"{m.compactness:.3f}",
            test=f"{m.test_acc:.2f}%",
            s=f"{m.seconds:.1f}",
        )
        self.bar.update(1)
        if m.epoch == m.epochs:
            self.bar.close()


def train_model(data: ImageDataset, arch: str, config: TrainConfig, label: str) -> tuple[ModularNet, TrainResult]:
    """A fresh `arch` trained on `data` (eval mode afterwards), its progress shown as `label`.

    The weights are initialised from config.seed, so a standard and a MODA run of one seed start equal.
    """
    torch.manual_seed(config.seed)
    model = build_model(ArchConfig(arch, data.input_spec, data.num_classes))
    result = train(model, data, config, EpochBar(label, config.epochs))
    return model, result
