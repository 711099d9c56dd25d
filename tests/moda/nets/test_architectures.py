"""Every architecture: shapes, taps, and a complete neuron-space map."""

from __future__ import annotations

import pytest
import torch

from service.moda.errors import InvalidInput
from service.moda.nets import ARCHITECTURES, OUTPUT_SPACE, ArchConfig, Tap, build_model, config_of
from tests.moda.helpers import SHAPES, random_model, random_pixels, spec_for

CASES = [(arch, name) for arch in ARCHITECTURES for name in SHAPES]


@pytest.mark.parametrize(("arch", "shape_name"), CASES)
def test_forward_and_taps(arch: str, shape_name: str) -> None:
    shape = SHAPES[shape_name]
    model = random_model(arch, shape, num_classes=7)
    x = random_pixels(3, shape)
    logits, acts = model.forward_with_activations(x)
    assert logits.shape == (3, 7)
    assert [a.shape for a in acts] == [(3, w) for w in model.layer_widths()]
    assert all((a >= 0).all() for a in acts)  # post-ReLU
    torch.testing.assert_close(model(x), logits)  # the tap does not change the function


@pytest.mark.parametrize(("arch", "shape_name"), CASES)
def test_param_spaces_cover_every_tensor_with_matching_sizes(arch: str, shape_name: str) -> None:
    model = random_model(arch, SHAPES[shape_name], num_classes=7)
    spaces = model.param_spaces()
    state = model.state_dict()
    unmapped = {k for k in state if k not in spaces and not k.endswith("num_batches_tracked")}
    assert unmapped == set()
    assert set(spaces) <= set(state)
    for name, dims in spaces.items():
        assert len(dims) == state[name].dim(), name
        for axis, dim in enumerate(dims):
            if dim is not None:
                width = 7 if dim.space == OUTPUT_SPACE else model.widths[dim.space]
                assert state[name].shape[axis] == width * dim.repeat, (name, axis)


def test_tap_forces_neurons_to_zero() -> None:
    model = random_model("lenet5", SHAPES["mnist"])
    keep = [torch.ones(w, dtype=torch.bool) for w in model.layer_widths()]
    keep[2][:60] = False
    tap = Tap(keep=keep)
    model(random_pixels(4, SHAPES["mnist"]), tap)
    assert (tap.activations[2][:, :60] == 0).all()
    assert (tap.activations[2][:, 60:] > 0).any()


def test_config_round_trip_rebuilds_the_same_network() -> None:
    model = build_model(ArchConfig("resnet18", spec_for((3, 32, 32)), 4, {"s1": 17, "i3": 5}))
    config = config_of(model)
    assert config.widths == {"s1": 17, "i3": 5}
    rebuilt = build_model(ArchConfig.from_dict(config.to_dict()))
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_unknown_architecture_and_space_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="unknown architecture 'alexnet'"):
        build_model(ArchConfig("alexnet", spec_for((1, 8, 8)), 10))
    with pytest.raises(ValueError, match="unknown neuron spaces"):
        build_model(ArchConfig("mlp", spec_for((1, 8, 8)), 10, {"nope": 3}))


def test_normalisation_is_inside_the_network() -> None:
    model = random_model("mlp", SHAPES["digits"])
    x = random_pixels(2, SHAPES["digits"])
    spec = model.spec
    manual = model.features((x - spec.mean[0]) / spec.std[0], None)
    torch.testing.assert_close(model(x), manual)
