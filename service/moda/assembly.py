"""Building a composition's network from source networks and masks: pure code, no registry.

    pruned_part   the union of some classes' masks sliced out of a network, padded to the alignment
    full_part     a network kept whole (the weak model of a replacement)
    footprint     what a classifier made of parts costs, against its sources

The service (service/jobs/compositions.py) reads the networks and masks from the registry, hands
them here, and stores what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from service.moda.combine import CombinedClassifier
from service.moda.compose import compose_served, keep_plan, param_count
from service.moda.decompose import ClassMask
from service.moda.metrics import count_macs
from service.moda.nets import ModularNet


@dataclass(frozen=True)
class Part:
    """One source network of a composition, as it is served, with its costs."""

    net: ModularNet  # what is served: the pruned part padded to the channel alignment, or the full network
    size: int  # parameters of the neurons it keeps (pruned part or full network), padding excluded
    macs: int  # multiply-accumulates of those neurons, per sample
    full_size: int  # parameters of its source network
    full_macs: int  # multiply-accumulates of its source network, per sample


@dataclass(frozen=True)
class Footprint:
    """A classifier's cost: kept neurons (`params`, `macs`), sources, and what actually runs."""

    params: int
    macs: int
    source_params: int
    source_macs: int
    served_params: int  # the kept neurons plus the zero channels padding each width to the alignment
    served_macs: int

    @property
    def size_ratio(self) -> float:
        return self.params / self.source_params


def macs_per_sample(net: ModularNet | CombinedClassifier) -> int:
    return count_macs(net, torch.zeros(1, *net.spec.shape))  # one (1, C, H, W) sample


def pruned_part(net: ModularNet, masks: Sequence[ClassMask], channel_align: int) -> Part:
    served, kept = compose_served(net, keep_plan(net, masks), channel_align)
    return Part(served, param_count(kept), macs_per_sample(kept), param_count(net), macs_per_sample(net))


def full_part(net: ModularNet) -> Part:
    size, macs = param_count(net), macs_per_sample(net)
    return Part(net, size, macs, size, macs)


def footprint(served: ModularNet | CombinedClassifier, parts: Sequence[Part]) -> Footprint:
    return Footprint(
        params=sum(p.size for p in parts),
        macs=sum(p.macs for p in parts),
        source_params=sum(p.full_size for p in parts),
        source_macs=sum(p.full_macs for p in parts),
        served_params=sum(p.numel() for p in served.parameters()),
        served_macs=macs_per_sample(served),
    )
