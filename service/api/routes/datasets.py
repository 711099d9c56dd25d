"""/v1/datasets: the data models were trained on, as the registry records it (read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import Offset, StoreDep
from service.api.schemas import DatasetPublic, PagePublic, page_of

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.get("", response_model=PagePublic[DatasetPublic])
def list_datasets(store: StoreDep, offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict:
    return page_of(store.list_datasets(offset=offset, limit=limit), DatasetPublic.of)


@router.get("/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset_id: str, store: StoreDep) -> DatasetPublic:
    return DatasetPublic.of(store.get_dataset(dataset_id))
