"""All settings of the service in one place, read from MODA_* environment variables.

MODA_HOME=./data                 where the embedded database and artifacts live
MODA_DATABASE_URL                default sqlite:///$MODA_HOME/registry.db; postgresql+psycopg://...
MODA_ARTIFACTS_URL               default file://$MODA_HOME/artifacts
MODA_DATASETS_DIR                default $MODA_HOME/datasets: data directories jobs may read
MODA_EXECUTOR=local|celery       local worker processes (default) or Celery on MODA_BROKER_URL
MODA_WORKERS=1                   local worker processes started with the server
MODA_API_KEY                     when set, mutating endpoints need "Authorization: Bearer <key>"
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODA_", extra="ignore")

    home: Path = Path("./data")
    database_url: str | None = None
    artifacts_url: str | None = None
    datasets_dir: Path | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    auth: Literal["mutations", "all"] = Field(
        default="mutations", description="what MODA_API_KEY guards: mutating endpoints, or every endpoint but probes"
    )
    max_upload_mb: float = Field(default=200.0, gt=0)
    min_free_mb: float = Field(default=100.0, ge=0, description="below this much free disk, /readyz says not ready")
    max_batch: int = Field(default=4096, gt=0, description="most samples one predict call may send")
    body_timeout_s: float = Field(default=30.0, gt=0, description="a request body silent this long mid-way: 408")
    session_cache_size: int = Field(default=64, gt=0, description="ONNX Runtime sessions kept warm")
    composition_cache_size: int = Field(default=4096, gt=0, description="composition records kept per process")
    inference_threads: int = Field(default=2, gt=0, description="threads running inferences, per API process")
    inline_budget_ms: float = Field(
        default=5.0,
        ge=0,
        description="small requests run on the event loop, not a thread, while they take at most this; 0 = never",
    )
    max_inflight: int = Field(default=32, gt=0, description="inferences one API process runs at once; then 429")
    batch_samples: int = Field(
        default=16,  # ORT's rate per sample stops growing about there: MobileNet b16 1154/s, b64 1140/s
        gt=0,
        description="requests for one composition that are ready together run as one batch of at most this "
        "many samples; a request of this many runs alone; 1 = each alone",
    )
    api_processes: int = Field(default=0, ge=0, description="API processes of `moda serve`; 0 = one per core")
    access_log: bool = Field(default=False, description="log every request (errors are always logged)")
    model_cache_size: int = Field(default=8, gt=0, description="decoded source models kept for composing")
    channel_align: int = Field(
        default=16, ge=1, description="pad composed widths to multiples of this (CPU kernel blocks); 1 = off"
    )

    executor: Literal["local", "celery"] = "local"
    workers: int = Field(default=1, ge=0)
    broker_url: str = "redis://127.0.0.1:6379/0"
    heartbeat_s: float = Field(default=1.0, gt=0, description="how often a running job reports")
    stale_after_s: float = Field(default=30.0, gt=0, description="a running job silent this long is dead")
    max_attempts: int = Field(default=2, ge=1, description="runs a job gets when its worker dies")
    poll_s: float = Field(default=0.5, gt=0, description="how often an idle local worker looks for jobs")

    @field_validator("api_key")
    @classmethod
    def _key_is_not_blank(cls, key: str | None) -> str | None:
        # An empty MODA_API_KEY reads like "auth on" to whoever set it, but would leave it off.
        if key is not None and not key.strip():
            raise ValueError("MODA_API_KEY is set but blank: set a key, or unset it to leave the API open")
        return key

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'registry.db').resolve()}"

    @property
    def resolved_artifacts_url(self) -> str:
        return self.artifacts_url or (self.home / "artifacts").resolve().as_uri()

    @property
    def resolved_datasets_dir(self) -> Path:
        return (self.datasets_dir or self.home / "datasets").resolve()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache
def get_settings() -> Settings:
    return Settings()
