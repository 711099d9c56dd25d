"""Artifacts that nothing names any more, and writes that never finished: found, then removed, by
`moda gc`.

Deletions reclaim the files they free at once; what is left for here is what a crash or a failed
job wrote before any row named it, and the temporary file of a write whose writer crashed before
moving it to its content address. A file is only garbage once it is older than a grace period:
writers store a file before the row that names it (and re-date content they write again), so a
young unnamed file may be one a writer is about to name; and every chunk a write adds re-dates its
temporary file, so a young one may be a write in progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from modules_store import ArtifactStore, PartialWrite, RegistryStore, StoredArtifact
from service.jobs.deletion import still_named

DEFAULT_MIN_AGE_S = 3600.0


@dataclass(frozen=True)
class Collected:
    removed: list[StoredArtifact]
    kept: list[StoredArtifact]  # named, re-stored or held by a writer (ArtifactStore.reclaim) since listed

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
    cutoff = _cutoff(min_age_s, now)
    old = {artifact.sha256: artifact for artifact in artifacts.stored() if artifact.modified <= cutoff}
    named = store.named_artifacts(old)
    return sorted((a for sha, a in old.items() if sha not in named), key=lambda a: (-a.size, a.sha256))


def collect(store: RegistryStore, artifacts: ArtifactStore, garbage: list[StoredArtifact]) -> Collected:
    """Remove `garbage` (as find_garbage listed it), asking the registry once more right before:
    a row made since the listing keeps its file, and so does a file written again since (re-dated)
    or held by a writer now (ArtifactStore.reclaim)."""
    named = store.named_artifacts([artifact.sha256 for artifact in garbage])
    dated = {artifact.sha256: artifact.modified for artifact in artifacts.stored()}
    removed, kept = [], []
    for artifact in garbage:
        sha256 = artifact.sha256
        if sha256 in named or dated.get(sha256) != artifact.modified:
            kept.append(artifact)
        elif artifacts.reclaim(sha256, partial(still_named, store, sha256)):
            removed.append(artifact)
        elif artifacts.exists(sha256):
            kept.append(artifact)
    return Collected(removed, kept)


def find_partial_writes(
    artifacts: ArtifactStore, min_age_s: float = DEFAULT_MIN_AGE_S, now: Callable[[], float] = time.time
) -> list[PartialWrite]:
    """Temporary files of writes not written to for `min_age_s` (their writers crashed), largest first."""
    cutoff = _cutoff(min_age_s, now)
    old = (partial for partial in artifacts.partial_writes() if partial.modified <= cutoff)
    return sorted(old, key=lambda p: (-p.size, p.name))


def remove_partial_writes(artifacts: ArtifactStore, found: list[PartialWrite]) -> list[PartialWrite]:
    """Remove `found` (as find_partial_writes listed them) but those written to since; the removed."""
    dated = {partial.name: partial.modified for partial in artifacts.partial_writes()}
    return [p for p in found if dated.get(p.name) == p.modified and artifacts.delete_partial_write(p.name)]


def _cutoff(min_age_s: float, now: Callable[[], float]) -> float:
    if min_age_s < 0:
        raise ValueError(f"min_age_s must be >= 0, got {min_age_s}")
    return now() - min_age_s
