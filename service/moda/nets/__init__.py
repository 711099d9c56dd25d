"""The five architectures, registered by name, and the config that rebuilds any of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.moda.errors import InvalidInput
from service.moda.nets.base import OUTPUT_SPACE, Dim, ModularNet, ParamSpaces, Tap
from service.moda.nets.lenet import LeNet5
from service.moda.nets.mlp import MLP
from service.moda.nets.mobilenet import MobileNetV1
from service.moda.nets.resnet import ResNet18
from service.moda.nets.vgg import VGG16BN
from service.moda.spec import InputSpec

ARCHITECTURES: dict[str, type[ModularNet]] = {
    "mlp": MLP,
    "lenet5": LeNet5,
    "vgg16": VGG16BN,
    "resnet18": ResNet18,
    "mobilenet": MobileNetV1,
}


@dataclass(frozen=True)
class ArchConfig:
    """Everything needed to rebuild a network; checkpoints and registry rows carry it."""

    arch: str
    input_spec: InputSpec
    num_classes: int
    widths: dict[str, int] = field(default_factory=dict)  # only the spaces that differ from full width

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "input_spec": self.input_spec.to_dict(),
            "num_classes": self.num_classes,
            "widths": dict(self.widths),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchConfig:
        return cls(
            arch=str(data["arch"]),
            input_spec=InputSpec.from_dict(data["input_spec"]),
            num_classes=int(data["num_classes"]),
            widths={str(k): int(v) for k, v in data.get("widths", {}).items()},
        )


def build_model(config: ArchConfig) -> ModularNet:
    try:
        cls = ARCHITECTURES[config.arch]
    except KeyError:
        raise InvalidInput(
            f"unknown architecture {config.arch!r}; choose one of {', '.join(ARCHITECTURES)}",
        ) from None
    return cls(config.input_spec, config.num_classes, config.widths or None)


def config_of(model: ModularNet) -> ArchConfig:
    name = next(n for n, cls in ARCHITECTURES.items() if type(model) is cls)
    full = model.default_widths()
    widths = {s: w for s, w in model.widths.items() if w != full[s]}
    return ArchConfig(name, model.spec, model.num_classes, widths)


__all__ = [
    "ARCHITECTURES",
    "OUTPUT_SPACE",
    "ArchConfig",
    "Dim",
    "ModularNet",
    "ParamSpaces",
    "Tap",
    "build_model",
    "config_of",
]
