"""Bytes in and out of the ML core: checkpoints (safetensors + arch config) and class masks.

Uploaded weights are never unpickled: safetensors, or a PyTorch file read with weights_only=True.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import zipfile

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from service.moda.decompose import ClassMask
from service.moda.errors import InvalidWeights
from service.moda.nets import ArchConfig, ModularNet, build_model, config_of


def checkpoint_bytes(model: ModularNet) -> bytes:
    """The weights as safetensors, with the config that rebuilds the network in the header."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return st_save(state, metadata={"arch_config": json.dumps(config_of(model).to_dict())})


def load_checkpoint(data: bytes) -> ModularNet:
    """Rebuild a network saved by `checkpoint_bytes` (eval mode, on the CPU)."""
    config = ArchConfig.from_dict(json.loads(_metadata(data)["arch_config"]))
    return load_weights(config, read_state_dict(data))


def _metadata(data: bytes) -> dict[str, str]:
    """The string metadata of a safetensors blob (an 8-byte length, then a JSON header)."""
    header_len = int.from_bytes(data[:8], "little")
    metadata: dict[str, str] = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
    return metadata


# What to upload instead, said with every refusal of a file that is not weights we can read.
UPLOAD_ADVICE = 'upload a state dict, saved with torch.save(model.state_dict(), "weights.pt"), or a .safetensors file'
_PICKLED_NAME = re.compile(r"GLOBAL ([\w.]{1,120})")  # torch names the first object it refused to build
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DAMAGED = "it may be truncated or corrupt"
# A torch.save file is a zip archive, and its members may be compressed: a 1 MB upload can declare
# gigabytes of tensors. The largest state dict of any architecture here (VGG16, 100 classes) is
# about 60 MB; the bound leaves room for float64 and optimizer-free checkpoints.
MAX_INFLATED_BYTES = 1 << 30


def read_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """A state dict from safetensors bytes or a torch.save file, without unpickling code."""
    safetensors_error: Exception | None = None
    if data[:2] != b"PK" and len(data) > 8:
        try:
            return st_load(data)
        except (SafetensorError, ValueError, json.JSONDecodeError) as error:
            safetensors_error = error
    if data[:2] == b"PK":
        _check_inflated_size(data)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for arbitrary bytes
        # torch's own text is a page long, with ANSI codes and advice to load with weights_only=False:
        # the one thing a service must never do with an upload. Say what the file is instead.
        raise InvalidWeights(_unreadable(data, error, safetensors_error)) from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # common checkpoint layout {"state_dict": ..., "epoch": ...}
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InvalidWeights(f"the weights file does not hold a state dict of tensors: {UPLOAD_ADVICE}")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def _check_inflated_size(data: bytes) -> None:
    """InvalidWeights when the archive's members would inflate past MAX_INFLATED_BYTES (a zip bomb),
    read from its directory before anything is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError):
        return  # not a readable archive: torch.load's refusal says so
    if inflated > MAX_INFLATED_BYTES:
        raise InvalidWeights(
            f"the PyTorch file would inflate to {inflated} bytes, more than any model here holds "
            f"({MAX_INFLATED_BYTES}): {UPLOAD_ADVICE}",
        )


def _unreadable(data: bytes, error: Exception, safetensors_error: Exception | None) -> str:
    """Why `data` is not weights, in a sentence, and what to upload instead."""
    if not data:
        return f"the weights file is empty: {UPLOAD_ADVICE}"
    # A torch.save file is a zip archive around a pickle; a bare pickle starts with its PROTO opcode.
    if isinstance(error, pickle.UnpicklingError) and (data[:2] == b"PK" or data[:1] == b"\x80"):
        named = _PICKLED_NAME.search(str(error))
        what = f" ({named.group(1)})" if named else ""
        return (
            f"the weights file holds pickled Python objects{what}, such as a whole model saved with "
            f"torch.save(model), and the service never unpickles uploads: {UPLOAD_ADVICE}"
        )
    if safetensors_error is not None and data[8:9] == b"{":  # an 8-byte header length, then JSON
        return f"the .safetensors file does not read ({safetensors_error}); {_DAMAGED}: {UPLOAD_ADVICE}"
    if data[:2] == b"PK":
        first_sentence = _ANSI.sub("", str(error)).split(". ")[0][:200]
        return f"the PyTorch file does not read ({first_sentence}); {_DAMAGED}: {UPLOAD_ADVICE}"
    return f"not a weights file (neither .safetensors nor a PyTorch state dict): {UPLOAD_ADVICE}"


def load_weights(config: ArchConfig, state: dict[str, torch.Tensor]) -> ModularNet:
    """Build `config` and load `state` strictly; a mismatch names the keys and shapes at fault."""
    model = build_model(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k}: expected {tuple(expected[k].shape)}, got {tuple(state[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_preview(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_preview(unexpected)}")
    if wrong_shape:
        problems.append(f"wrong shapes {_preview(wrong_shape)}")
    if problems:
        raise InvalidWeights(
            f"weights do not fit architecture {config.arch!r} with {config.num_classes} classes: "
            + "; ".join(problems),
        )
    state = {k: v.to(expected[k].dtype) for k, v in state.items()}
    if any(not torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise InvalidWeights("the weights contain NaN or infinite values")
    model.load_state_dict(state, strict=True)
    return model.eval()


def _preview(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def mask_bytes(mask: ClassMask) -> bytes:
    tensors = {f"layer_{i}": m.to(torch.uint8).contiguous() for i, m in enumerate(mask.layers)}
    meta = {"class_index": str(mask.class_index), "fallback_layers": json.dumps(mask.fallback_layers)}
    return st_save(tensors, metadata=meta)


def load_mask(data: bytes) -> ClassMask:
    tensors = st_load(data)
    meta = _metadata(data)
    layers = [tensors[f"layer_{i}"].bool() for i in range(len(tensors))]
    return ClassMask(int(meta["class_index"]), layers, json.loads(meta["fallback_layers"]))
