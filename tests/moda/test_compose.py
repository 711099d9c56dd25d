"""Structural composition: the exact property on every architecture, and what a plan counts."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
import torch

from service.moda.compose import compose, keep_plan, param_count, shared_param_count
from service.moda.decompose import ClassMask, activation_rates, class_masks
from service.moda.nets import ARCHITECTURES, ModularNet, Tap
from tests.moda.helpers import SHAPES, random_model, random_pixels

CASES = [(arch, name) for arch in ARCHITECTURES for name in ("digits", "cifar")]


def keep_everything(model: ModularNet, classes: Iterable[int]) -> list[ClassMask]:
    return [ClassMask(c, [torch.ones(w, dtype=torch.bool) for w in model.layer_widths()], []) for c in classes]


def masks_of(model: ModularNet, shape: tuple[int, int, int], tau: float = 0.6) -> list[ClassMask]:
    x = random_pixels(40, shape, seed=3)
    y = torch.arange(40) % model.num_classes
    return class_masks(activation_rates(model, x, y), tau)


@pytest.mark.parametrize(("arch", "shape_name"), CASES)
def test_composed_logits_equal_original_with_pruned_neurons_forced_to_zero(arch: str, shape_name: str) -> None:
    shape = SHAPES[shape_name]
    model = random_model(arch, shape)
    masks = masks_of(model, shape)
    x = random_pixels(16, shape, seed=9)
    for classes in [(2,), (0, 5), (7, 3, 4)]:
        plan = keep_plan(model, [masks[c] for c in classes])
        composed = compose(model, plan)
        with torch.no_grad():
            reference = model(x, Tap(record=False, keep=plan.layer_keep(model)))[:, sorted(classes)]
            got = composed(x)
        assert got.shape == (16, len(classes))
        torch.testing.assert_close(got, reference, atol=1e-4, rtol=0)
        assert param_count(composed) == param_count(model, plan)
        assert param_count(composed) < param_count(model)  # physically smaller


@pytest.mark.parametrize(("arch", "shape_name"), CASES)
def test_aligned_composition_is_exact_and_only_pads_up_to_the_block(arch: str, shape_name: str) -> None:
    shape = SHAPES[shape_name]
    model = random_model(arch, shape)
    masks = masks_of(model, shape)
    x = random_pixels(16, shape, seed=9)
    full = model.default_widths()
    for classes in [(2,), (0, 5), (7, 3, 4)]:
        plan = keep_plan(model, [masks[c] for c in classes])
        aligned = compose(model, plan, align=16)
        with torch.no_grad():
            reference = model(x, Tap(record=False, keep=plan.layer_keep(model)))[:, sorted(classes)]
            torch.testing.assert_close(aligned(x), reference, atol=1e-4, rtol=0)
        for space, kept in plan.widths().items():
            width = aligned.widths[space]
            assert kept <= width <= full[space]
            assert width % 16 == 0 or width == full[space], (space, kept, width)
            assert width - kept < 16
        assert param_count(model, plan) <= param_count(aligned) <= param_count(model)


def test_alignment_pads_a_pruned_width_with_channels_that_output_zero() -> None:
    model = random_model("mlp", SHAPES["digits"])
    layers = [torch.zeros(w, dtype=torch.bool) for w in model.layer_widths()]
    for layer in layers:
        layer[:5] = True
    plan = keep_plan(model, [ClassMask(1, layers, [])])
    aligned = compose(model, plan, align=16)
    assert set(aligned.widths.values()) == {16}
    tap = Tap()
    with torch.no_grad():
        aligned(random_pixels(4, SHAPES["digits"]), tap)
    for activation in tap.activations:  # (N, 16): the 11 padding units are exactly 0
        assert activation[:, 5:].abs().max() == 0


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_keeping_every_neuron_reproduces_the_model(arch: str) -> None:
    model = random_model(arch, SHAPES["digits"])
    composed = compose(model, keep_plan(model, keep_everything(model, range(10))))
    x = random_pixels(8, SHAPES["digits"])
    with torch.no_grad():
        torch.testing.assert_close(composed(x), model(x), atol=1e-5, rtol=0)
    assert param_count(composed) == param_count(model)


def test_residual_spaces_take_the_union_of_their_layers() -> None:
    model = random_model("resnet18", SHAPES["digits"])
    spaces = model.layer_spaces()
    layers = [torch.zeros(w, dtype=torch.bool) for w in model.layer_widths()]
    for layer in layers:
        layer[0] = True
    layers[2][5] = True  # block 0's output is added to the stem's (layer 0): both live in space s0
    plan = keep_plan(model, [ClassMask(0, layers, [])])
    assert spaces[0] == spaces[2] == "s0"
    assert plan.spaces["s0"].nonzero().flatten().tolist() == [0, 5]
    assert plan.layer_keep(model)[0].nonzero().flatten().tolist() == [0, 5]


def test_depthwise_spaces_keep_what_both_layers_keep_and_fold_the_rest() -> None:
    model = random_model("mobilenet", SHAPES["digits"])
    layers = [torch.zeros(w, dtype=torch.bool) for w in model.layer_widths()]
    for layer in layers:
        layer[0] = True
    layers[0][[1, 2]] = True  # the stem keeps 0, 1, 2
    layers[1][[2, 3]] = True  # block 0's depthwise conv keeps 0, 2, 3: channel 3 reads a pruned input
    layers[4][:] = False
    layers[4][7] = True  # block 1's pointwise keeps 7 only, block 2's depthwise (reading it) keeps 0
    plan = keep_plan(model, [ClassMask(0, layers, [])])
    assert plan.spaces["p0"].nonzero().flatten().tolist() == [0, 2]
    assert plan.folded["p0"].nonzero().flatten().tolist() == [3]
    keep = plan.layer_keep(model)
    assert keep[0].nonzero().flatten().tolist() == [0, 2]  # stem channel 1 feeds a pruned depthwise channel
    assert keep[1].nonzero().flatten().tolist() == [0, 2, 3]
    assert plan.spaces["p2"].nonzero().flatten().tolist() == [0]  # one channel for width, its input zeroed
    assert plan.zeroed["p2"].nonzero().flatten().tolist() == [0]
    assert keep[4].sum() == 0
    x = random_pixels(6, SHAPES["digits"], seed=3)
    with torch.no_grad():
        reference = model(x, Tap(record=False, keep=keep))[:, [0]]
        torch.testing.assert_close(compose(model, plan)(x), reference, atol=1e-4, rtol=0)


def test_output_rows_are_the_selected_classes_in_sorted_order() -> None:
    model = random_model("mlp", SHAPES["digits"])
    plan = keep_plan(model, keep_everything(model, [8, 1, 4]))  # only the output rows differ
    assert plan.classes == [1, 4, 8]
    x = random_pixels(5, SHAPES["digits"])
    with torch.no_grad():
        torch.testing.assert_close(compose(model, plan)(x), model(x)[:, [1, 4, 8]], atol=1e-5, rtol=0)


def test_shared_parameters_of_two_modules() -> None:
    model = random_model("mlp", SHAPES["digits"])
    masks = masks_of(model, SHAPES["digits"])
    a, b = keep_plan(model, [masks[0]]), keep_plan(model, [masks[1]])
    shared = shared_param_count(model, a, b)
    assert shared == shared_param_count(model, b, a)
    assert 0 < shared < min(param_count(model, a), param_count(model, b))
    # By hand: the product of shared neurons per dimension, summed over tensors; no shared head row.
    keep = [a.spaces[s] & b.spaces[s] for s in ("h0", "h1", "h2")]
    n = [int(k.sum()) for k in keep]
    expected = n[0] * 64 + n[0] + n[1] * n[0] + n[1] + n[2] * n[1] + n[2]
    assert shared == expected
    assert shared_param_count(model, a, a) == param_count(model, a)


def test_an_empty_selection_is_rejected() -> None:
    model = random_model("mlp", SHAPES["digits"])
    with pytest.raises(ValueError, match="at least one class"):
        keep_plan(model, [])
