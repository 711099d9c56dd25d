"""Checkpoints and uploaded weights: round trips, and nothing is ever unpickled."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

from service.moda.decompose import ClassMask
from service.moda.errors import InvalidWeights
from service.moda.nets import ArchConfig, config_of
from service.moda.serialization import (
    UPLOAD_ADVICE,
    checkpoint_bytes,
    load_checkpoint,
    load_mask,
    load_weights,
    mask_bytes,
    read_state_dict,
)
from tests.moda.helpers import SHAPES, random_model, random_pixels


def test_checkpoint_round_trip_rebuilds_architecture_and_weights() -> None:
    model = random_model("resnet18", SHAPES["digits"], num_classes=4)
    restored = load_checkpoint(checkpoint_bytes(model))
    assert config_of(restored) == config_of(model)
    x = random_pixels(3, SHAPES["digits"])
    with torch.no_grad():
        torch.testing.assert_close(restored(x), model(x))


def test_torch_save_state_dict_is_read_with_weights_only() -> None:
    model = random_model("lenet5", SHAPES["mnist"])
    buffer = io.BytesIO()
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, buffer)
    state = read_state_dict(buffer.getvalue())
    assert set(state) == set(model.state_dict())  # wrapper and DataParallel prefix removed


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"weight": _Exploit(marker)}, buffer)
    with pytest.raises(InvalidWeights):
        read_state_dict(buffer.getvalue())
    assert not marker.exists()


@pytest.mark.parametrize("data", [b"", b"not weights at all", b"PK\x03\x04garbage", bytes(range(256))])
def test_bytes_that_are_not_weights_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidWeights):
        read_state_dict(data)


class _Custom:
    """A plain class of the uploader's: weights_only refuses to build it."""


def _saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (_saved(torch.nn.Linear(3, 2)), "torch.nn.modules.linear.Linear"),  # torch.save(model)
        (_saved({"weight": torch.zeros(2), "meta": _Custom()}), f"{__name__}._Custom"),
        (pickle.dumps({"weight": torch.zeros(2)}, protocol=2), ""),  # a bare pickle, not torch.save's
    ],
)
def test_pickled_objects_are_refused_in_a_sentence_that_says_what_to_upload(data: bytes, named: str) -> None:
    with pytest.raises(InvalidWeights) as error:
        read_state_dict(data)
    message = str(error.value)
    assert message.startswith("the weights file holds pickled Python objects")
    assert named in message and "never unpickles" in message
    assert 'torch.save(model.state_dict(), "weights.pt"), or a .safetensors file' in message
    # Not torch's own text: ANSI codes, and advice to load it with weights_only=False.
    assert len(message) < 400 and "\x1b" not in message and "weights_only" not in message


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "the weights file is empty"),
        (b"not weights at all", "not a weights file (neither .safetensors nor a PyTorch state dict)"),
        (b"PK\x03\x04garbage", "the PyTorch file does not read (PytorchStreamReader failed reading zip archive"),
        (st_save({"w": torch.zeros(50, 50)})[:500], "the .safetensors file does not read (Error while deserializing"),
        (_saved([torch.zeros(3)]), "the weights file does not hold a state dict of tensors"),
    ],
)
def test_files_that_are_not_weights_say_why_and_what_to_upload(data: bytes, says: str) -> None:
    with pytest.raises(InvalidWeights) as error:
        read_state_dict(data)
    message = str(error.value)
    assert message.startswith(says) and message.endswith(UPLOAD_ADVICE), message
    assert "None" not in message and "\x1b" not in message and "weights_only" not in message


def test_weights_that_do_not_fit_name_the_keys_and_shapes() -> None:
    model = random_model("mlp", SHAPES["digits"])
    state = dict(model.state_dict())
    state["head.weight"] = torch.zeros(3, 100)
    del state["hidden.0.bias"]
    state["extra.weight"] = torch.zeros(1)
    config = ArchConfig("mlp", model.spec, 10)
    with pytest.raises(InvalidWeights) as error:
        load_weights(config, read_state_dict(st_save(state)))
    message = str(error.value)
    assert "missing keys hidden.0.bias" in message
    assert "unexpected keys extra.weight" in message
    assert "head.weight: expected (10, 100), got (3, 100)" in message


def test_non_finite_weights_are_refused() -> None:
    model = random_model("mlp", SHAPES["digits"])
    state = dict(model.state_dict())
    state["head.bias"] = torch.full((10,), float("nan"))
    with pytest.raises(InvalidWeights, match="NaN"):
        load_weights(ArchConfig("mlp", model.spec, 10), state)


def test_mask_round_trip() -> None:
    mask = ClassMask(7, [torch.tensor([True, False, True]), torch.tensor([False, True])], [1])
    restored = load_mask(mask_bytes(mask))
    assert restored.class_index == 7
    assert restored.fallback_layers == [1]
    assert [m.tolist() for m in restored.layers] == [m.tolist() for m in mask.layers]


def test_a_zip_bomb_is_refused_before_anything_inflates() -> None:
    """A torch.save file whose tensor member is deflated: a few MB that would inflate past 1 GiB."""
    saved = io.BytesIO()
    torch.save({"hidden.0.weight": torch.zeros(4)}, saved)
    bomb = io.BytesIO()
    with zipfile.ZipFile(saved) as original, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for member in original.infolist():
            if member.filename.endswith("/data/0"):  # the tensor's storage: 1.06 GiB of zeros
                with z.open(member.filename, "w", force_zip64=True) as out:
                    chunk = bytes(1 << 24)
                    for _ in range(68):
                        out.write(chunk)
            else:
                z.writestr(member.filename, original.read(member))
    data = bomb.getvalue()
    assert len(data) < 8 << 20
    with pytest.raises(InvalidWeights) as error:
        read_state_dict(data)
    assert "would inflate to 1140850" in str(error.value)
