"""Training: determinism, hooks, stopping within one batch, and MODA on real (digits) data."""

from __future__ import annotations

import pytest
import torch

from service.moda.data import load_dataset
from service.moda.errors import InvalidInput
from service.moda.nets import ArchConfig, build_model
from service.moda.training import EpochMetrics, TrainConfig, TrainingHooks, default_batch_size, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def fresh_mlp(data, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(ArchConfig("mlp", data.input_spec, data.num_classes))


class Recorder(TrainingHooks):
    def __init__(self, stop_after_checks: int | None = None) -> None:
        self.epochs: list[EpochMetrics] = []
        self.checks = 0
        self.stop_after_checks = stop_after_checks

    def on_epoch(self, metrics: EpochMetrics) -> None:
        self.epochs.append(metrics)

    def should_stop(self) -> bool:
        self.checks += 1
        return self.stop_after_checks is not None and self.checks > self.stop_after_checks


def test_same_seed_gives_identical_weights(digits) -> None:
    config = TrainConfig(epochs=2, seed=3)
    a, b = fresh_mlp(digits), fresh_mlp(digits)
    train(a, digits, config)
    train(b, digits, config)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_different_seeds_shuffle_differently(digits) -> None:
    a, b = fresh_mlp(digits), fresh_mlp(digits)
    train(a, digits, TrainConfig(epochs=1, seed=1))
    train(b, digits, TrainConfig(epochs=1, seed=2))
    assert not torch.equal(a.head.weight, b.head.weight)


def test_hooks_receive_every_epoch_with_its_loss_terms(digits) -> None:
    hooks = Recorder()
    result = train(fresh_mlp(digits), digits, TrainConfig(epochs=3), hooks)
    assert [m.epoch for m in hooks.epochs] == [1, 2, 3]
    assert result.history == hooks.epochs
    for m in hooks.epochs:
        assert m.loss == pytest.approx(m.ce + 1.0 * m.affinity + 1.0 * m.dispersion + 0.3 * m.compactness, rel=1e-4)
        assert 0 < m.affinity < 1 and 0 < m.dispersion < 1 and m.compactness > 0
        assert m.seconds > 0
    assert hooks.epochs[-1].lr == pytest.approx(0.0, abs=1e-9)  # cosine schedule ends at zero


def test_standard_training_has_no_modular_terms(digits) -> None:
    hooks = Recorder()
    train(fresh_mlp(digits), digits, TrainConfig(epochs=1).standard(), hooks)
    (m,) = hooks.epochs
    assert m.affinity == m.dispersion == m.compactness == 0.0
    assert m.loss == pytest.approx(m.ce)


def test_stop_request_ends_the_run_within_one_batch(digits) -> None:
    model = fresh_mlp(digits)
    before = model.head.weight.detach().clone()
    hooks = Recorder(stop_after_checks=3)  # three batches run, the fourth check stops
    result = train(model, digits, TrainConfig(epochs=5), hooks)
    assert result.stopped
    assert hooks.checks == 4
    assert hooks.epochs == []
    assert not torch.equal(before, model.head.weight)  # the three batches did train


def test_a_diverging_run_stops_with_a_clear_error_instead_of_nan_weights(digits) -> None:
    hooks = Recorder()
    with pytest.raises(InvalidInput, match=r"training diverged in epoch 1 .*: try a lower lr than 1e\+12"):
        train(fresh_mlp(digits), digits, TrainConfig(epochs=3, lr=1e12), hooks)
    assert hooks.epochs == []  # no epoch of NaN metrics reported as if it were progress


def test_batch_size_adapts_to_small_datasets() -> None:
    assert default_batch_size(1437) == 32  # digits: ~45 steps an epoch
    assert default_batch_size(8000) == 128
    assert default_batch_size(50000) == 128
    assert default_batch_size(100) == 16


def test_moda_on_digits_learns_and_concentrates_activations(digits) -> None:
    std, moda = fresh_mlp(digits), fresh_mlp(digits)
    std_run = train(std, digits, TrainConfig(epochs=8).standard())
    moda_run = train(moda, digits, TrainConfig(epochs=8))
    assert std_run.test_acc > 93.0
    assert moda_run.test_acc > std_run.test_acc - 3.0
    # MODA's point: far fewer active neurons per sample than standard training
    _, std_acts = std.forward_with_activations(digits.x_test)
    _, moda_acts = moda.forward_with_activations(digits.x_test)
    std_active = torch.cat([(a > 0).float().mean(0) for a in std_acts]).mean()
    moda_active = torch.cat([(a > 0).float().mean(0) for a in moda_acts]).mean()
    assert moda_active < 0.5 * std_active
