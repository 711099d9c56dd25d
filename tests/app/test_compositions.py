"""Requesting compositions: the strategy each request gets, found or made, and what is refused."""

from __future__ import annotations

import pytest

from modules_store import JobStatus, Module, Strategy
from service.app.compositions import Compositions, Pending, Ready
from service.errors import ErrorCode, HubError
from tests.app.conftest import Hub


@pytest.fixture(scope="module")
def compositions(hub: Hub) -> Compositions:
    return Compositions(hub.store, hub.artifacts, hub.executor, hub.settings)


def test_modules_of_one_model_are_pruned_now_and_found_in_any_order(
    compositions: Compositions, first_modules: list[Module]
) -> None:
    chosen = [first_modules[8].id, first_modules[0].id, first_modules[3].id]
    made = compositions.request(chosen)
    assert isinstance(made, Ready) and made.created
    composition = made.composition
    assert composition.strategy == Strategy.PRUNE
    assert [c.label for c in composition.classes] == ["0", "3", "8"]  # by class, not by request order
    assert composition.accuracy is not None  # digits is bundled: measured on its test split
    assert composition.params < composition.metrics["source_params"]

    again = compositions.request(list(reversed(chosen)))
    assert again == Ready(composition, created=False)
    assert compositions.pruned(chosen) == Ready(composition, created=False)  # /v1/predict finds it


def test_pruned_modules_name_no_calibration_data(compositions: Compositions, first_modules: list[Module]) -> None:
    with pytest.raises(HubError) as refused:
        compositions.request([first_modules[1].id, first_modules[2].id], dataset="digits")
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert "modules of one model are pruned, not calibrated" in refused.value.message


def test_modules_of_several_models_are_calibrated_by_one_job(
    compositions: Compositions, first_modules: list[Module], second_modules: list[Module]
) -> None:
    chosen = [first_modules[1].id, second_modules[2].id]
    pending = compositions.request(chosen)
    assert isinstance(pending, Pending)
    assert (pending.job.kind, pending.job.status) == ("calibrate", JobStatus.QUEUED)
    assert pending.job.params["module_ids"] == chosen

    asked_again = compositions.request(list(reversed(chosen)))
    assert isinstance(asked_again, Pending) and asked_again.job.id == pending.job.id


def test_modules_of_several_models_side_by_side_without_calibration(
    compositions: Compositions, first_modules: list[Module], second_modules: list[Module]
) -> None:
    made = compositions.request([second_modules[5].id, first_modules[4].id], calibration="none")
    assert isinstance(made, Ready) and made.created
    assert made.composition.strategy == Strategy.CONCAT
    assert made.composition.accuracy is None  # raw logits of several models: not comparable
    outputs = [(c.model_id, c.class_index) for c in made.composition.classes]
    assert outputs == sorted([(second_modules[5].model_id, 5), (first_modules[4].model_id, 4)])


def test_calibration_none_names_no_calibration_data(
    compositions: Compositions, first_modules: list[Module], second_modules: list[Module]
) -> None:
    with pytest.raises(HubError) as refused:
        compositions.request([first_modules[6].id, second_modules[7].id], calibration="none", data_dir="x")
    assert "calibration 'none' fits nothing" in refused.value.message


def test_predicting_with_modules_of_several_models_is_refused(
    compositions: Compositions, first_modules: list[Module], second_modules: list[Module]
) -> None:
    with pytest.raises(HubError) as refused:
        compositions.pruned([first_modules[6].id, second_modules[7].id])
    assert refused.value.code == ErrorCode.INCOMPATIBLE_MODULES
