"""Downloads: any label (the user's text) makes a safe, exact attachment name; a deletion that
lands between a download's read of its row and of its file answers 404, as a moment later."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from modules_store import CompositionClass, NewComposition, NewModel, NewModule, Strategy, composition_id
from service.api.app import create_app
from service.api.deps import Services
from service.api.downloads import content_disposition
from service.config import Settings
from service.jobs.deletion import Deleter
from tests.api.helpers import assert_error


@pytest.mark.parametrize("label", ["零", 'a"b', "c\r\nX: y", "d;filename=evil.sh", "plain"])
def test_any_label_gives_one_well_formed_header(label: str) -> None:
    name = f"module-{label}-0123.onnx"
    header = content_disposition(name)
    header.encode("latin-1")  # what an HTTP header must be; a raw 零 made the server fail (500)
    match = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+)', header)
    assert match is not None, header
    assert unquote(match.group(2)) == name  # the exact name survives for clients that read filename*


# -- a download racing a deletion ---------------------------------------------------------------

SPEC = {"channels": 1, "height": 8, "width": 8, "mean": [4.9], "std": [6.0], "pixel_max": 16.0}


@dataclass(frozen=True)
class Stored:
    model: str
    module: str
    composition: str


def stored_rows(services: Services) -> Stored:
    """A model, one module and a composition of it, each naming its own (made-up) ONNX bytes."""
    put = services.artifacts.put_bytes
    model = services.store.create_model(
        NewModel(
            name="m",
            arch="mlp",
            arch_config={},
            input_spec=SPEC,
            labels=["zero"],
            alpha=1.0,
            beta=1.0,
            gamma=0.3,
            weights_sha256=put(b"weights"),
            metrics={"onnx_sha256": put(b"model onnx")},
        ),
        modules=[],
    )
    (module,) = services.store.create_modules(
        [
            NewModule(
                model_id=model.id,
                class_index=0,
                label="zero",
                tau=0.9,
                mask_sha256=put(b"mask"),
                params=1,
                size=0.5,
                onnx_sha256=put(b"module onnx"),
                empty_mask_fallback=False,
            )
        ]
    )
    composition, _ = services.store.create_composition(
        NewComposition(
            id=composition_id([module.id], Strategy.PRUNE),
            strategy=Strategy.PRUNE,
            module_ids=[module.id],
            classes=[CompositionClass(index=0, label="zero", module_id=module.id, model_id=model.id, class_index=0)],
            input_spec=SPEC,
            onnx_sha256=put(b"composition onnx"),
            params=1,
            size_ratio=0.5,
            macs=1,
        )
    )
    return Stored(model.id, module.id, composition.id)


RACES: dict[str, tuple[str, Callable[[Deleter, Stored], object]]] = {
    "composition": ("/v1/compositions/{s.composition}/onnx", lambda d, s: d.composition(s.composition)),
    "export": ("/v1/compositions/{s.composition}/export", lambda d, s: d.composition(s.composition)),
    "module": ("/v1/modules/{s.module}/onnx", lambda d, s: d.module(s.module, cascade=True)),
    "model": ("/v1/models/{s.model}/onnx", lambda d, s: d.model(s.model, cascade=True)),
}


async def download(home: Path, url: str, meanwhile: Callable[[Services, Stored], object]) -> httpx.Response:
    """GET `url` (formatted with the stored rows) with `meanwhile` run between the route's read of its
    row and its read of the file."""
    app = create_app(Settings(home=home, workers=0), run_jobs=False)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        stored = stored_rows(services)
        read_file = services.artifacts.get_bytes

        def racing(sha256: str) -> bytes:
            meanwhile(services, stored)
            return read_file(sha256)

        services.artifacts.get_bytes = racing  # type: ignore[method-assign]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.get(url.format(s=stored))


@pytest.mark.parametrize("race", RACES)
def test_a_download_that_a_deletion_overtakes_is_not_found(tmp_path: Path, race: str) -> None:
    url, delete = RACES[race]
    response = asyncio.run(download(tmp_path, url, lambda services, stored: delete(services.deleter, stored)))
    assert_error(response, 404, "NOT_FOUND", "not found")


def test_a_file_lost_under_a_row_still_there_is_the_servers_fault(tmp_path: Path) -> None:
    def lose_file(services: Services, stored: Stored) -> None:
        services.artifacts.delete(services.store.get_composition(stored.composition).onnx_sha256)

    response = asyncio.run(download(tmp_path, RACES["composition"][0], lose_file))
    assert_error(response, 500, "CORRUPT_ARTIFACT", "damaged or missing")
