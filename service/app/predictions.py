"""Predicting with a selection of modules, and V2 inference: which composition answers, and what.

Predicting with a stored composition (`POST /v1/compositions/{id}/predict`) is serving's whole:
`Predictor.predict_json` and `.predict_images` look it up, check the inputs, run and encode, and
the data plane calls them as they are. The two use cases here add a lookup of their own before
serving runs, and read no SQL once their composition is cached. V2 inference is `Steps`, like
`predict_json`, so that its batch may be merged with other requests' (serving.batching).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modules_store import Strategy, composition_id
from service.app.compositions import Compositions
from service.serving.inputs import decode_tensor
from service.serving.predictor import Predictor, Steps
from service.serving.v2 import parse_header_length


def predict_with_modules(
    predictor: Predictor, compositions: Compositions, module_ids: Sequence[str], inputs: Sequence[Any]
) -> bytes:
    """The /v1 predictions of `inputs` by the pruned composition of `module_ids`: kept in the
    predictor's cache under the id those modules make, read or built on a miss (modules of several
    models are refused: their logits need calibration, which is no request-time work)."""
    served = predictor.compositions.get(
        composition_id(module_ids, Strategy.PRUNE),
        lambda _: compositions.pruned(module_ids).composition,
    )
    return predictor.predictions(served, decode_tensor(inputs, served.spec, predictor.max_batch))


def infer(
    predictor: Predictor, name: str, version: str, body: bytes, header_length: str | None
) -> Steps[tuple[bytes, dict[str, str]]]:
    """A V2 inference request for model `name` (a composition id) at `version` -> (body, headers).
    `header_length` is the binary extension's Inference-Header-Content-Length, as sent. NOT_FOUND
    for an unknown composition, then for any version but its one, comes before any complaint about
    the request."""
    served = predictor.model(name, version)
    return (yield from predictor.infer(served, body, parse_header_length(header_length)))
