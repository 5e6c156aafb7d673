"""Settings, read once at the edge (CLI / app factory) from ``FRAMECAST_*`` and passed down.

Embedded defaults: data directory ``./framecast-data`` (SQLite file, stored files, keys),
bind 127.0.0.1:8000, one engine slot, CPU engines.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("framecast-data")
FILE_URL_TTL_S = 24 * 3600          # signed output URLs are valid 24 h, like the vendor's
MAX_BODY_BYTES = 64 * 1024 * 1024   # a JSON body with a few 30 MB base64 images fits
# Webhook retry delays in seconds: attempt n waits WEBHOOK_SCHEDULE_S[n-1] after the previous
# one (the Standard Webhooks example: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h;
# 8 attempts over about 31.6 hours).
WEBHOOK_SCHEDULE_S = [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0]
# Sample Wiro prices are 0 (documented in docs/wiro.md): USD per second of video by resolution.
WIRO_VIDEO_PRICE_PER_S = {"480p": 0.0, "720p": 0.0, "1080p": 0.0}


class Settings(BaseSettings):
    """Every knob of a Framecast process. Environment: ``FRAMECAST_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FRAMECAST_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None          # default: sqlite:///{data_dir}/framecast.db
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None            # base of file URLs; default http://host:port
    # blob storage (blobs/): file://… (default {data_dir}/files) | s3://bucket/prefix | memory://
    storage_url: str | None = None
    storage_presign: bool = True             # object stores: hand out their presigned URLs
    files_secret: str | None = None          # signs /files URLs; every API replica the same
    retention_s: float = Field(default=7 * 86400.0, ge=0)   # finished tasks kept (0: for ever)
    purge_interval_s: float = Field(default=300.0, gt=0)    # how often retention is applied
    config: Path | None = None               # framecast.toml (model registry)
    slots: int = 1                           # engine child processes
    api_key: str | None = None               # a static key accepted besides stored keys
    allow_private_urls: bool = False         # let the fetcher reach private addresses (LAN, tests)
    max_body_bytes: int = MAX_BODY_BYTES
    max_large_bodies: int = Field(default=2, ge=0)   # per API process at once (0: no limit)
    large_body_bytes: int = 256 * 1024       # a body over this is "large" (a photo, say)
    large_body_deadline_s: float = Field(default=60.0, gt=0)   # for an admitted one to arrive
    file_url_ttl_s: int = FILE_URL_TTL_S
    fetch_max_bytes: int = 30 * 1024 * 1024
    fetch_deadline_s: float = 20.0
    image_min_side: int = 300
    image_max_side: int = 6000
    image_min_aspect: float = 0.4
    image_max_aspect: float = 2.5
    image_max_pixels: int = 40_000_000
    max_queued_per_key: int = 10_000
    rate_limit: str | None = None            # every key's requests per window, unless its own
    rate_limit_storage: str = "memory://"    # memory:// (one process) | redis://host:port/db
    image_wait_s: float = 600.0              # how long the synchronous image API waits
    run_worker: bool = True                  # serve runs a worker supervisor
    api_processes: int = Field(default=1, ge=1, le=64)   # serve: API processes on one port
    single_process: bool = False             # serve: API and worker in one process
    worker_status_file: Path | None = None   # set by serve for its API processes
    worker_nice: int | None = Field(default=None, ge=0, le=19)  # slot threads' CPU priority
    worker_id: str = Field(default_factory=lambda: f"w-{secrets.token_hex(4)}")
    heartbeat_s: float = 10.0
    lease_s: float = 45.0
    poll_s: float = 1.0
    kill_grace_s: float = 2.0                # a cancel's least wait; engines may ask more
    gpu_slots_per_device: int = Field(default=1, ge=1)   # slots of GPU engines sharing a GPU
    drain_s: float = Field(default=25.0, ge=0)   # SIGTERM: running tasks may finish this long
    worker_engines: str | None = None        # the engines this worker serves (a pool; "a,b")
    # webhooks (webhooks.py): delivery loop, retry schedule
    webhook_deliver: bool = True             # run a delivery loop in this process
    webhook_schedule_s: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(WEBHOOK_SCHEDULE_S))   # "0,5,300" or a JSON list
    webhook_max_attempts: int = 8            # past the schedule's end, its last delay repeats
    webhook_timeout_s: float = 15.0          # per attempt, connect to last byte
    webhook_jitter: float = 0.1              # ± this fraction of each retry delay
    webhook_max_retry_after_s: float = 86400.0   # a receiver's Retry-After is capped here
    webhook_lease_s: float = 60.0            # a claimed delivery is held this long
    webhook_poll_s: float = 1.0              # how often the loop looks for due deliveries
    webhook_concurrency: int = 8             # deliveries attempted at once per process
    webhook_static_secret: str | None = None  # "whsec_...": the static key's; default: a file
    # Wiro dialect (dialects/wiro)
    wiro_api_secret: str | None = None       # makes the static key require Wiro signatures
    wiro_price_video_per_s: dict[str, float] = Field(
        default_factory=lambda: dict(WIRO_VIDEO_PRICE_PER_S))  # USD per video second
    wiro_price_per_image: float = 0.0        # USD per generated image

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        """``10/second`` or ``10/second;300/minute`` (``none`` or empty: no default)."""
        from framecast.edge.ratelimit import normalized_rate

        try:
            return normalized_rate(value)
        except ValueError as exc:
            raise ValueError(f"rate_limit must look like 10/second or 10/second;300/minute "
                             f"({exc})") from None

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_storage(cls, value: str) -> str:
        if value.partition("://")[0] not in ("memory", "redis", "rediss"):
            raise ValueError("rate_limit_storage must be memory:// or redis://host:port/db")
        return value

    @field_validator("webhook_schedule_s", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        """Accept ``0,5,300`` as well as ``[0, 5, 300]`` from the environment."""
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else \
                [float(part) for part in text.split(",") if part.strip()]
        return value

    @field_validator("webhook_schedule_s")
    @classmethod
    def _schedule_sane(cls, value: list[float]) -> list[float]:
        if not value or any(delay < 0 for delay in value):
            raise ValueError("webhook_schedule_s needs at least one delay, none negative")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'framecast.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        """Base URL clients use to reach this server (for signed file URLs)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def storage_dir(self) -> Path:
        """Where the local blob store keeps files (when no ``storage_url`` is set)."""
        return self.data_dir / "files"

    @property
    def resolved_storage_url(self) -> str:
        """The blob store's URL: ``storage_url``, else the data directory's ``files``."""
        return self.storage_url or f"file://{self.storage_dir.resolve()}"

    def files_secret_bytes(self) -> bytes:
        """The key of the API's ``/files`` URLs: ``FRAMECAST_FILES_SECRET`` when set (API
        replicas that share a store need the same one), else the data directory's."""
        return self.files_secret.encode() if self.files_secret else self.secret("files")

    @property
    def pool_engines(self) -> set[str] | None:
        """The engines named in ``worker_engines`` (None: every configured engine)."""
        if not self.worker_engines:
            return None
        return {name.strip() for name in self.worker_engines.split(",") if name.strip()}

    @property
    def work_dir(self) -> Path:
        """Scratch space for engine children (per task and attempt)."""
        return self.data_dir / "work"

    def secret(self, name: str) -> bytes:
        """A persistent random secret kept in the data dir (mode 600), created on first use."""
        path = self.data_dir / f"{name}.secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()
