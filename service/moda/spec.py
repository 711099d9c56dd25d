"""What a model expects as input: shape and the raw-pixel statistics used to normalise it.

Inputs everywhere (training, ONNX graphs, the HTTP API) are raw pixels on the dataset's own scale
(digits 0–16, 8-bit images 0–255). Normalisation lives inside the network, so an exported ONNX
graph needs no preprocessing code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class InputSpec:
    channels: int
    height: int
    width: int
    mean: tuple[float, ...]  # per channel, in raw pixel units
    std: tuple[float, ...]  # per channel, in raw pixel units
    pixel_max: float  # 16 for digits, 255 for 8-bit images

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def numel(self) -> int:
        return self.channels * self.height * self.width

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(
            channels=int(data["channels"]),
            height=int(data["height"]),
            width=int(data["width"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            pixel_max=float(data["pixel_max"]),
        )

    def same_input(self, other: InputSpec) -> bool:
        """Two models can share an input tensor when shape and normalisation agree."""
        return self.shape == other.shape and self.pixel_max == other.pixel_max


def describe_input(spec: InputSpec) -> str:
    """The input in words, for messages that refuse data or models of another input."""
    c, h, w = spec.shape
    return f"{c}×{h}×{w} pixels on a 0..{spec.pixel_max:g} scale"
