"""Activation rates, masks at τ, and the empty-mask rule, on a network with weights set by hand."""

from __future__ import annotations

import pytest
import torch

from service.moda.decompose import activation_rates, class_masks
from service.moda.nets import ArchConfig, build_model
from tests.moda.helpers import spec_for


def hand_made_mlp() -> torch.nn.Module:
    """Input (1, 1, 2) -> 3 hidden units: unit 0 fires on x0, unit 1 on x1, unit 2 never."""
    spec = spec_for((1, 1, 2))
    spec = type(spec)(1, 1, 2, (0.0,), (1.0,), 255.0)  # identity normalisation
    model = build_model(ArchConfig("mlp", spec, 2, {"h0": 3, "h1": 3, "h2": 3}))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.hidden[0].weight[0, 0] = 1.0
        model.hidden[0].weight[1, 1] = 1.0
        model.hidden[0].bias[2] = -1.0
        for layer in (model.hidden[1], model.hidden[2]):
            layer.weight.copy_(torch.eye(3))
    return model.eval()


def test_rates_are_the_fraction_of_class_samples_with_a_non_zero_activation() -> None:
    model = hand_made_mlp()
    # class 0: x0 > 0 always, x1 > 0 in 1 of 4; class 1: x1 > 0 always, x0 never
    x = torch.tensor([[5, 0], [3, 0], [2, 7], [1, 0], [0, 4], [0, 1], [0, 2]], dtype=torch.float32)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    rates = activation_rates(model, x.view(7, 1, 1, 2), y, batch_size=3)
    assert len(rates) == 3
    for layer_rates in rates:
        torch.testing.assert_close(layer_rates, torch.tensor([[1.0, 0.25, 0.0], [0.0, 1.0, 0.0]]))


def test_masks_keep_rates_at_or_above_tau() -> None:
    rates = [torch.tensor([[0.95, 0.9, 0.89], [0.1, 0.2, 1.0]])]
    masks = class_masks(rates, tau=0.9)
    assert masks[0].layers[0].tolist() == [True, True, False]
    assert masks[1].layers[0].tolist() == [False, False, True]
    assert not masks[0].used_fallback


def test_an_empty_mask_keeps_its_highest_rate_neuron_and_says_so() -> None:
    rates = [torch.tensor([[1.0, 1.0]]), torch.tensor([[0.3, 0.6, 0.1]])]
    (mask,) = class_masks(rates, tau=0.9)
    assert mask.layers[1].tolist() == [False, True, False]
    assert mask.fallback_layers == [1]
    assert mask.used_fallback


@pytest.mark.parametrize("tau", [0.0, -0.1, 1.5])
def test_tau_outside_its_range_is_rejected(tau: float) -> None:
    with pytest.raises(ValueError, match="tau"):
        class_masks([torch.ones(1, 2)], tau)
