"""A composition's parts and what they cost: kept neurons against the source, and what is served."""

from __future__ import annotations

import torch

from service.moda.assembly import footprint, full_part, macs_per_sample, pruned_part
from service.moda.combine import CombinedClassifier, Pick
from service.moda.compose import param_count
from tests.moda.helpers import SHAPES, random_model
from tests.moda.test_compose import keep_everything, masks_of


def test_a_pruned_part_keeps_fewer_neurons_and_serves_them_padded() -> None:
    model = random_model("mlp", SHAPES["digits"])
    part = pruned_part(model, [masks_of(model, SHAPES["digits"])[c] for c in (1, 4)], channel_align=16)
    assert (part.full_size, part.full_macs) == (param_count(model), macs_per_sample(model))
    assert part.size < part.full_size and part.macs < part.full_macs
    assert param_count(part.net) >= part.size  # the served net adds zero channels up to the block
    assert part.net(torch.zeros(2, *SHAPES["digits"])).shape == (2, 2)


def test_keeping_every_neuron_of_every_class_costs_what_the_model_costs() -> None:
    model = random_model("mlp", SHAPES["digits"])
    part = pruned_part(model, keep_everything(model, range(model.num_classes)), channel_align=1)
    assert (part.size, part.macs) == (part.full_size, part.full_macs)


def test_a_footprint_adds_up_its_parts_and_measures_what_is_served() -> None:
    model = random_model("mlp", SHAPES["digits"])
    whole = full_part(model)
    pruned = pruned_part(model, [masks_of(model, SHAPES["digits"])[3]], channel_align=16)
    served = CombinedClassifier([whole.net, pruned.net], [Pick(0, 0), Pick(1, 0)], model.spec)
    cost = footprint(served, [whole, pruned])
    assert cost.params == whole.size + pruned.size and cost.macs == whole.macs + pruned.macs
    assert cost.source_params == 2 * param_count(model)
    assert cost.size_ratio == cost.params / cost.source_params < 1
    assert cost.served_params == sum(p.numel() for p in served.parameters())
    assert cost.served_macs == macs_per_sample(served)
