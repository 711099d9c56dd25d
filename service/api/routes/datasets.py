"""/v1/datasets: the data models were trained on, as the registry records it (read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import Offset, SettingsDep, StoreDep
from service.api.openapi_contract import errors
from service.api.schemas import DatasetPublic, PagePublic, SamplePublic, page_of
from service.jobs.inspection import MAX_SAMPLES, Sample, dataset_samples

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.get("", response_model=PagePublic[DatasetPublic])
def list_datasets(store: StoreDep, offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict:
    return page_of(store.list_datasets(offset=offset, limit=limit), DatasetPublic.of)


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=errors(404))
def get_dataset(dataset_id: str, store: StoreDep) -> DatasetPublic:
    return DatasetPublic.of(store.get_dataset(dataset_id))


@router.get("/{dataset_id}/samples", response_model=list[SamplePublic], responses=errors(400, 404))
def samples(
    dataset_id: str,
    store: StoreDep,
    settings: SettingsDep,
    labels: Annotated[list[str] | None, Query(description="only these classes (default: all)")] = None,
    n: Annotated[int, Query(ge=1, le=MAX_SAMPLES)] = 8,
) -> list[Sample]:
    """Images of the test split, in turn from each class: ready to send to a predict endpoint."""
    return dataset_samples(store, settings, dataset_id, labels or [], n)
