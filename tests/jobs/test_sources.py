"""Decoded source networks are kept per builder, as many as MODA_MODEL_CACHE_SIZE says."""

from __future__ import annotations

from pathlib import Path

import torch

from modules_store import open_artifact_store, open_store
from service.config import Settings
from service.jobs.compositions import CompositionBuilder
from service.jobs.sources import SourceNetworks
from service.moda.data.digits import load_digits
from service.moda.nets import ArchConfig, build_model
from service.moda.serialization import checkpoint_bytes


def test_the_least_recently_used_network_is_decoded_again(tmp_path: Path) -> None:
    artifacts = open_artifact_store(str(tmp_path))
    config = ArchConfig("mlp", load_digits().input_spec, 10)
    digests = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        digests.append(artifacts.put_bytes(checkpoint_bytes(build_model(config))))
    sources = SourceNetworks(artifacts, networks_kept=1)

    first = sources.network(digests[0])
    assert sources.network(digests[0]) is first  # kept: not decoded again
    sources.network(digests[1])
    assert sources.network(digests[0]) is not first  # pushed out by the second, decoded anew
    assert torch.equal(sources.network(digests[0]).head.weight, first.head.weight)


def test_a_builder_keeps_as_many_networks_as_the_settings_say(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, model_cache_size=3)
    store = open_store(f"sqlite:///{tmp_path / 'registry.db'}")
    builder = CompositionBuilder(store, open_artifact_store(str(tmp_path / "artifacts")), settings)
    assert builder.sources.network.cache_info().maxsize == 3
