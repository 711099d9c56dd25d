"""Predicting with a selection of modules and V2 inference: the composition that answers, what it
answers, and what is refused. A real registry and real ONNX Runtime sessions."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from modules_store import Composition, Module, Strategy, composition_id
from service.app.compositions import Compositions
from service.app.predictions import infer, predict_with_modules
from service.errors import CodedError, ErrorCode, HubError
from service.serving.predictor import CompositionCache, Predictor
from service.serving.sessions import SessionCache
from tests.api.helpers import digits
from tests.app.conftest import Hub

MAX_BATCH = 8


@pytest.fixture
def predictor(hub: Hub) -> Predictor:
    cache = CompositionCache(hub.store.get_composition, capacity=4)
    return Predictor(cache, SessionCache(hub.artifacts.local_path, capacity=2), max_batch=MAX_BATCH)


@pytest.fixture(scope="module")
def compositions(hub: Hub) -> Compositions:
    return Compositions(hub.store, hub.artifacts, hub.executor, hub.settings)


class NoBuilds:
    """Compositions that must not be asked (neither read nor built): the composition is cached by then."""

    def pruned(self, module_ids: Any) -> Any:
        raise AssertionError(f"asked to find or build {module_ids} again")


def samples(classes: tuple[int, ...], n: int = 4) -> list[Any]:
    x, _ = digits().of_classes(classes)
    return x[:n].tolist()


def test_modules_of_one_model_are_composed_once_then_served_from_the_cache(
    predictor: Predictor, compositions: Compositions, first_modules: list[Module]
) -> None:
    chosen = [first_modules[7].id, first_modules[1].id]
    cid = composition_id(chosen, Strategy.PRUNE)
    inputs = samples((1, 7))

    answer = orjson.loads(predict_with_modules(predictor, compositions, chosen, inputs))
    assert answer["composition_id"] == cid
    assert compositions.store.get_composition(cid).strategy == Strategy.PRUNE  # built and stored
    assert len(answer["predictions"]) == len(inputs)
    assert {p["label"] for p in answer["predictions"]} <= {"1", "7"}
    for prediction in answer["predictions"]:
        assert set(prediction["probabilities"]) == {"1", "7"}
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)

    # Asked again, in any order: from the cache, the same answer as the stored composition gives.
    again = predict_with_modules(predictor, NoBuilds(), list(reversed(chosen)), inputs)  # type: ignore[arg-type]
    assert again == predictor.complete(predictor.predict_json(cid, orjson.dumps({"inputs": inputs})))
    assert orjson.loads(again) == answer


def test_a_stored_composition_is_found_not_built_again(
    predictor: Predictor, compositions: Compositions, first_modules: list[Module]
) -> None:
    chosen = [first_modules[2].id, first_modules[5].id]
    made = compositions.pruned(chosen)  # stored by an earlier request (another process, say)
    assert made.created
    stored = compositions.store.list_compositions().total
    answer = orjson.loads(predict_with_modules(predictor, compositions, chosen, samples((2, 5), n=1)))
    assert answer["composition_id"] == made.composition.id
    assert compositions.store.list_compositions().total == stored


def test_modules_of_several_models_are_refused_and_nothing_is_stored(
    predictor: Predictor, compositions: Compositions, first_modules: list[Module], second_modules: list[Module]
) -> None:
    chosen = [first_modules[0].id, second_modules[6].id]
    before = compositions.store.list_compositions().total
    with pytest.raises(HubError) as refused:
        predict_with_modules(predictor, compositions, chosen, samples((0, 6)))
    assert refused.value.code == ErrorCode.INCOMPATIBLE_MODULES
    assert "calibration" in refused.value.message
    assert compositions.store.list_compositions().total == before
    assert predictor.compositions.cached(composition_id(chosen, Strategy.PRUNE)) is None


def test_inputs_are_checked_against_the_composition(
    predictor: Predictor, compositions: Compositions, first_modules: list[Module]
) -> None:
    chosen = [first_modules[3].id, first_modules[4].id]
    with pytest.raises(HubError) as too_many:
        predict_with_modules(predictor, compositions, chosen, samples((3, 4), n=MAX_BATCH + 1))
    assert too_many.value.code == ErrorCode.INVALID_ARGUMENT and str(MAX_BATCH) in too_many.value.message
    with pytest.raises(HubError) as wrong_shape:
        predict_with_modules(predictor, compositions, chosen, [[0.0] * 10])
    assert wrong_shape.value.code == ErrorCode.INVALID_ARGUMENT


def v2_request(x: np.ndarray) -> bytes:
    tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}
    return orjson.dumps({"id": "r1", "inputs": [tensor]})


@pytest.fixture(scope="module")
def stored(compositions: Compositions, first_modules: list[Module]) -> Composition:
    return compositions.pruned([first_modules[0].id, first_modules[8].id]).composition


def test_v2_inference_answers_the_composition_at_its_version(predictor: Predictor, stored: Composition) -> None:
    x = np.asarray(samples((0, 8), n=3), dtype=np.float32)
    body, headers = predictor.complete(infer(predictor, stored.id, "1", v2_request(x), None))
    answer = orjson.loads(body)
    assert (answer["model_name"], answer["model_version"], answer["id"]) == (stored.id, "1", "r1")
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["logits"]["shape"] == [3, 2]
    assert headers["Content-Type"].startswith("application/json")

    # The V2 logits are those /v1 turns into probabilities: one session, one composition.
    v1 = orjson.loads(predictor.complete(predictor.predict_json(stored.id, orjson.dumps({"inputs": x.tolist()}))))
    logits = np.asarray(outputs["logits"]["data"]).reshape(3, 2)
    v2_best = [stored.classes[k].label for k in logits.argmax(axis=1)]
    assert v2_best == [p["label"] for p in v1["predictions"]]


def test_v2_names_an_unknown_model_or_version_before_anything_in_the_request(
    predictor: Predictor, stored: Composition
) -> None:
    for name, version in (("no-such-composition", "1"), (stored.id, "2")):
        with pytest.raises(CodedError) as missing:
            predictor.complete(infer(predictor, name, version, b"not json", "not a length"))
        assert missing.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(HubError) as bad_header:
        predictor.complete(infer(predictor, stored.id, "1", b"{}", "not a length"))
    assert bad_header.value.code == ErrorCode.INVALID_ARGUMENT
    assert "Inference-Header-Content-Length" in bad_header.value.message
