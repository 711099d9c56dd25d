"""What routes depend on, as typed aliases so signatures read like types."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from modules_store import MAX_OFFSET, ArtifactStore, RegistryStore
from service.app.compositions import Compositions
from service.config import Settings
from service.errors import ErrorCode, HubError
from service.jobs.deletion import Deleter
from service.jobs.executor import Executor
from service.serving.admission import Admission
from service.serving.batching import Batcher
from service.serving.predictor import Predictor
from service.serving.sessions import SessionCache
from service.serving.threads import InferenceThreads


@dataclass
class Services:
    """Everything the app opens at start-up and closes at shutdown."""

    settings: Settings
    store: RegistryStore
    artifacts: ArtifactStore
    executor: Executor
    compositions: Compositions
    deleter: Deleter
    sessions: SessionCache
    predictor: Predictor
    admission: Admission
    inference: InferenceThreads
    batcher: Batcher


def services_of(request: Request) -> Services:
    return request.app.state.services


# Coroutines, not functions: FastAPI runs a plain-function dependency in the thread pool, one
# hand-off per dependency per request, where these only read an attribute.
async def get_services(request: Request) -> Services:
    return services_of(request)


async def get_settings(request: Request) -> Settings:
    return services_of(request).settings


async def get_store(request: Request) -> RegistryStore:
    return services_of(request).store


async def get_artifacts(request: Request) -> ArtifactStore:
    return services_of(request).artifacts


async def get_compositions(request: Request) -> Compositions:
    return services_of(request).compositions


async def get_sessions(request: Request) -> SessionCache:
    return services_of(request).sessions


async def get_executor(request: Request) -> Executor:
    return services_of(request).executor


async def get_deleter(request: Request) -> Deleter:
    return services_of(request).deleter


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[RegistryStore, Depends(get_store)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
CompositionsDep = Annotated[Compositions, Depends(get_compositions)]
SessionsDep = Annotated[SessionCache, Depends(get_sessions)]
ExecutorDep = Annotated[Executor, Depends(get_executor)]
DeleterDep = Annotated[Deleter, Depends(get_deleter)]
Cascade = Annotated[bool, Query(description="also delete the compositions that use it (otherwise they refuse it: 409)")]

# SQL takes OFFSET as a signed 64-bit integer (SQLite and PostgreSQL alike); beyond it the driver
# raises OverflowError, so a larger offset is a 422 here rather than a 500 there.
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="how many items to skip")]


def check_api_key(authorization: str, api_key: str) -> None:
    """UNAUTHENTICATED unless the `Authorization` header value is `Bearer <api_key>`."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise HubError(ErrorCode.UNAUTHENTICATED, "this endpoint needs 'Authorization: Bearer <MODA_API_KEY>'")


async def require_api_key(request: Request, settings: SettingsDep) -> None:
    """When MODA_API_KEY is set, mutating endpoints need `Authorization: Bearer <key>`.

    service.api.guards.ApiKeyGate enforces this before the body is read, for every route that
    declares this dependency; the dependency itself checks again wherever the gate is not mounted.
    """
    if settings.api_key:
        check_api_key(request.headers.get("authorization", ""), settings.api_key)


Authorized = Depends(require_api_key)
