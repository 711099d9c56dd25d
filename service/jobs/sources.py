"""Source networks and class masks of compositions, decoded from their artifacts and kept in memory:
decoding a checkpoint costs far more than pruning it, and one model feeds many compositions."""

from __future__ import annotations

from functools import lru_cache

from modules_store import ArtifactStore
from service.moda.decompose import ClassMask
from service.moda.nets import ModularNet
from service.moda.serialization import load_checkpoint, load_mask

MASKS_KEPT = 256  # a mask is a few kilobytes: enough for every class of many models


class SourceNetworks:
    """Networks and masks by sha256, the `networks_kept` most recently used networks kept.

    Content-addressed artifacts never change, so a cached one never goes stale."""

    def __init__(self, artifacts: ArtifactStore, networks_kept: int) -> None:
        self.network = lru_cache(maxsize=networks_kept)(self._load_network)
        self.mask = lru_cache(maxsize=MASKS_KEPT)(self._load_mask)
        self._artifacts = artifacts

    def _load_network(self, weights_sha256: str) -> ModularNet:
        return load_checkpoint(self._artifacts.get_bytes(weights_sha256))

    def _load_mask(self, mask_sha256: str) -> ClassMask:
        return load_mask(self._artifacts.get_bytes(mask_sha256))
