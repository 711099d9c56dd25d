"""Artifacts that nothing names any more: found, then removed, by `moda gc`.

Deletions reclaim the files they free at once; what is left for here is what a crash or a failed
job wrote before any row named it. A file is only garbage once it is older than a grace period:
writers store a file before the row that names it (and re-date content they write again), so a
young unnamed file may be one a writer is about to name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from modules_store import ArtifactStore, RegistryStore, StoredArtifact

DEFAULT_MIN_AGE_S = 3600.0


@dataclass(frozen=True)
class Collected:
    removed: list[StoredArtifact]
    kept: list[StoredArtifact]  # named by a row since they were listed: not garbage after all

    @property
    def bytes(self) -> int:
        return sum(artifact.size for artifact in self.removed)


def find_garbage(
    store: RegistryStore,
    artifacts: ArtifactStore,
    min_age_s: float = DEFAULT_MIN_AGE_S,
    now: Callable[[], float] = time.time,
) -> list[StoredArtifact]:
    """Stored artifacts older than `min_age_s` that no row nor unfinished job names, largest first."""
    if min_age_s < 0:
        raise ValueError(f"min_age_s must be >= 0, got {min_age_s}")
    cutoff = now() - min_age_s
    old = {artifact.sha256: artifact for artifact in artifacts.stored() if artifact.modified <= cutoff}
    named = store.named_artifacts(old)
    return sorted((a for sha, a in old.items() if sha not in named), key=lambda a: (-a.size, a.sha256))


def collect(store: RegistryStore, artifacts: ArtifactStore, garbage: list[StoredArtifact]) -> Collected:
    """Remove `garbage` (as find_garbage listed it), asking the registry once more right before:
    a row made since the listing keeps its file, and so does a file written again since (re-dated)."""
    named = store.named_artifacts([artifact.sha256 for artifact in garbage])
    dated = {artifact.sha256: artifact.modified for artifact in artifacts.stored()}
    removed, kept = [], []
    for artifact in garbage:
        if artifact.sha256 in named or dated.get(artifact.sha256) != artifact.modified:
            kept.append(artifact)
        elif artifacts.delete(artifact.sha256):
            removed.append(artifact)
    return Collected(removed, kept)
