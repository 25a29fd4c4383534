"""Service settings: one pydantic-settings class, environment prefix ``SPARSEHPC_``."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Per-user data folder: ``$XDG_DATA_HOME/sparsehpc`` or ``~/.local/share/sparsehpc``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sparsehpc"


class Settings(BaseSettings):
    """Every setting of the service, read from ``SPARSEHPC_*`` environment variables.

    Examples
    --------
    ``SPARSEHPC_DATABASE_URL=postgresql+psycopg://user@db/sparsehpc``
    ``SPARSEHPC_API_KEYS=key1,key2``
    """

    model_config = SettingsConfigDict(env_prefix="SPARSEHPC_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Arrays, inputs, results.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file sparsehpc.db in data_dir."
    )
    api_keys: str = Field("", description="Comma-separated API keys; empty = no auth.")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(2, ge=0, description="Local worker processes started with the API.")
    executor: Literal["local", "dask"] = "local"
    dask_scheduler: str | None = Field(
        None,
        description="Where the Dask executor sends jobs: 'local' (default: an in-process "
        "LocalCluster), a scheduler address (tcp://host:8786), a scheduler file "
        "(/path/scheduler.json), or 'python:module:function' returning a Dask cluster "
        "(e.g. a dask-jobqueue SLURMCluster) that the service owns.",
    )
    dask_workers: int = Field(2, ge=1, description="Workers of an in-process LocalCluster.")
    dask_gpu_workers: int | None = Field(
        None,
        ge=0,
        description="How many of the LocalCluster's workers declare a GPU=1 resource "
        "(default: one per visible GPU when CuPy sees one, else none).",
    )
    dask_dashboard: str | None = Field(
        None, description="Dashboard address of the LocalCluster's scheduler, e.g. ':8787'."
    )
    dask_gpu_wait: float = Field(
        30.0,
        ge=0,
        description="Seconds a queued GPU job waits for a GPU worker to join the cluster "
        "before it fails (submission already fails at once when the cluster has workers "
        "and none has a GPU).",
    )
    dask_dispatch_interval: float = Field(
        0.5, gt=0, description="How often the Dask executor looks for queued jobs."
    )
    dask_max_pending: int = Field(
        2000, ge=1, description="Most jobs handed to the Dask scheduler at once."
    )
    dask_connect_timeout: float = Field(
        30.0, gt=0, description="Seconds to wait for the Dask scheduler at start."
    )
    job_time_limit: float = Field(24 * 3600.0, gt=0, description="Seconds per job (default).")
    heartbeat_interval: float = Field(2.0, gt=0)
    heartbeat_timeout: float = Field(
        30.0,
        gt=0,
        description="A running job whose worker is silent this long is retried or failed.",
    )
    max_attempts: int = Field(2, ge=1, description="Attempts per job when workers die.")
    poll_interval: float = Field(0.2, gt=0, description="How often idle workers look for jobs.")
    progress_interval: float = Field(
        0.25, ge=0, description="Minimum seconds between progress writes."
    )
    cancel_grace: float = Field(
        10.0,
        gt=0,
        description="Seconds a job may ignore cancellation or its time limit "
        "before its worker process is stopped.",
    )
    max_request_bytes: int = Field(512 * 2**20, gt=0, description="Largest JSON request body.")
    max_upload_bytes: int = Field(8 * 2**30, gt=0, description="Largest uploaded array file.")
    max_input_bytes: int = Field(4 * 2**30, gt=0, description="Largest single input array.")
    worker_gpu: bool | None = Field(
        None, description="Force a worker's GPU capability (None: detect)."
    )
    log_level: str = "info"

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to the SQLite file in ``data_dir``."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'sparsehpc.db'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests call ``get_settings.cache_clear()``)."""
    return Settings()
