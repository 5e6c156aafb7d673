"""What one Framecast process holds, built once from ``Settings``: the database, the blob
store, the model registry, the task service, and (when this process runs them) the worker
supervisor and the webhook delivery loop.

``framecast serve``, ``framecast worker``, ``framecast mcp`` and the in-process CLI all start
here; every value is read from settings at this edge and passed down.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

from framecast.api.dialects import webhook_renderers
from framecast.api.settings import Settings
from framecast.blobs import BlobStore, open_store
from framecast.core.errors import ConfigError
from framecast.core.task import Task
from framecast.db.database import open_database
from framecast.db.keys import KeyStore
from framecast.db.outbox import Outbox
from framecast.db.queue import TaskQueue
from framecast.edge.auth import STATIC_OWNER_ID
from framecast.engines.base import engine_class
from framecast.media.images import ImageLimits
from framecast.net.fetch import FetchPolicy
from framecast.service.registry import Registry
from framecast.service.retention import Purger
from framecast.service.tasks import ServiceLimits, TaskService
from framecast.service.webhooks import WebhookDeliverer, WebhookPolicy, Webhooks
from framecast.worker.supervisor import Supervisor

log = logging.getLogger("framecast")

# serve's worker yields the CPU to its API: its slot threads and engine children run at this
# nice value (Linux), so requests stay quick while tasks run; idle cores still go to them.
WORKER_NICE = 5


@dataclass
class Runtime:
    """Everything one process holds, built once from settings."""

    settings: Settings
    queue: TaskQueue
    storage: BlobStore
    registry: Registry
    keys: KeyStore
    service: TaskService
    supervisor: Supervisor | None = None   # this process's worker supervisor, if it runs one
    reported_worker: Any = None   # serve's worker process, seen from an API process
    purger: Purger | None = None  # this process's retention purge, once started

    def worker_view(self) -> Any:
        """This server's worker as ``/readyz`` and ``/metrics`` see it (``slot_info()``,
        ``stopping``, ``pid``): the supervisor of this process, or the snapshot of serve's
        worker process (``worker/status.py``); None when the server runs no worker."""
        if self.supervisor is not None:
            return self.supervisor
        return self.reported_worker.read() if self.reported_worker is not None else None

    def close(self) -> None:
        """Stop the worker (running tasks get ``drain_s`` to finish) and release the
        database."""
        if self.purger is not None:
            self.purger.stop()
        if self.supervisor is not None:
            self.supervisor.stop(self.settings.drain_s)
        self.queue.close()


def build_runtime(settings: Settings) -> Runtime:
    """Open the database (migrations applied), storage, registry and the service."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_database(settings.resolved_database_url)
    queue = TaskQueue(engine, lease_s=settings.lease_s)
    storage = open_store(settings.resolved_storage_url, secret=settings.files_secret_bytes(),
                         base_url=settings.resolved_public_url, presign=settings.storage_presign)
    registry = Registry.load(settings.config)
    limits = ServiceLimits(
        fetch=FetchPolicy(allow_private=settings.allow_private_urls,
                          max_bytes=settings.fetch_max_bytes, deadline_s=settings.fetch_deadline_s),
        images=image_limits(settings),
        max_queued_per_key=settings.max_queued_per_key, image_wait_s=settings.image_wait_s,
        max_body_bytes=settings.max_body_bytes)
    service = TaskService(queue, storage, registry, limits, file_url_ttl_s=settings.file_url_ttl_s)
    return Runtime(settings=settings, queue=queue, storage=storage, registry=registry,
                   keys=KeyStore(engine), service=service)


def image_limits(settings: Settings) -> ImageLimits:
    """The operator's limits on input images: checked from the header at create, and again
    by the worker that decodes them."""
    return ImageLimits(max_bytes=settings.fetch_max_bytes, min_side=settings.image_min_side,
                       max_side=settings.image_max_side, min_aspect=settings.image_min_aspect,
                       max_aspect=settings.image_max_aspect, max_pixels=settings.image_max_pixels)


def gpu_engines(registry: Registry, engines: set[str]) -> set[str]:
    """The engines among ``engines`` that some registry entry runs on a GPU; an engine that
    cannot be imported counts as none (its tasks fail, naming it)."""
    found = set()
    for entry in registry.entries:
        if entry.engine not in engines or entry.engine in found:
            continue
        try:
            if engine_class(entry.engine).uses_gpu(entry.engine_options()):
                found.add(entry.engine)
        except ConfigError:
            pass
    return found


def start_supervisor(runtime: Runtime, *, start: bool = True, serving: bool = True) -> Supervisor:
    """Build the worker supervisor serving every engine of the registry and start it (with
    ``start=False`` the caller starts it, e.g. through ``Supervisor.run_forever``).
    ``serving``: the worker shares its machine with this server's API (``serve``), so it
    runs at ``WORKER_NICE`` unless ``worker_nice`` says otherwise.

    A task runs with the engine and options frozen into its row at create time; a row
    queued before revision 0004 has none frozen and is resolved through the registry."""
    s = runtime.settings
    registry = runtime.registry

    def engine_for(task: Task) -> tuple[str, dict[str, Any]]:
        if task.engine_options is not None:
            return task.engine, task.engine_options
        entry = registry.resolve(task.model)
        return entry.engine, entry.engine_options()

    engines = registry.engines()
    pool = s.pool_engines
    if pool is not None:
        unknown = pool - engines
        if unknown:
            raise ConfigError(f"FRAMECAST_WORKER_ENGINES names {', '.join(sorted(unknown))}, "
                              f"not configured here (engines: {', '.join(sorted(engines))})")
        engines = pool
    supervisor = Supervisor(
        runtime.queue, runtime.storage, engines=engines, resolve_engine=engine_for,
        slots=s.slots, work_root=s.work_dir, worker_id=s.worker_id, heartbeat_s=s.heartbeat_s,
        lease_s=s.lease_s, poll_s=s.poll_s, kill_grace_s=s.kill_grace_s,
        gpu_engines=gpu_engines(registry, engines) if s.slots > 1 else (),
        gpu_slots_per_device=s.gpu_slots_per_device,
        nice=s.worker_nice if s.worker_nice is not None else (WORKER_NICE if serving else 0),
        image_limits=image_limits(s))
    if start:
        supervisor.start()
    runtime.supervisor = supervisor
    return supervisor


# -- webhooks -----------------------------------------------------------------------------


def webhook_policy(settings: Settings) -> WebhookPolicy:
    """How deliveries are attempted and retried, as the operator configured it."""
    return WebhookPolicy(schedule_s=tuple(settings.webhook_schedule_s),
                         max_attempts=max(1, settings.webhook_max_attempts),
                         timeout_s=settings.webhook_timeout_s, jitter=settings.webhook_jitter,
                         max_retry_after_s=settings.webhook_max_retry_after_s,
                         lease_s=max(settings.webhook_lease_s, settings.webhook_timeout_s + 5.0),
                         poll_s=settings.webhook_poll_s,
                         concurrency=max(1, settings.webhook_concurrency),
                         allow_private=settings.allow_private_urls)


def static_signing_secret(settings: Settings) -> str:
    """The secret that signs webhooks of the static ``FRAMECAST_API_KEY``'s tasks:
    ``FRAMECAST_WEBHOOK_STATIC_SECRET`` when set (workers on other machines need the same
    one), else 32 random bytes kept in ``<data_dir>/webhook.secret`` (mode 600), as
    ``whsec_<base64>``."""
    if settings.webhook_static_secret:
        return settings.webhook_static_secret
    return "whsec_" + base64.b64encode(settings.secret("webhook")).decode()


def secret_resolver(keys: KeyStore, settings: Settings) -> Any:
    """Owner id → the ``whsec_`` secret that signs its webhooks (a revoked key's tasks are
    still signed with its secret; the static key's come from the data directory)."""
    static = static_signing_secret(settings)

    def secret_for(owner_id: str) -> str:
        if owner_id == STATIC_OWNER_ID:
            return static
        secret = keys.signing_secret(owner_id, include_revoked=True)
        if secret is None:
            log.warning("key %s has no signing secret; its webhooks use the static secret",
                        owner_id)
            return static
        return secret

    return secret_for


def start_retention(runtime: Runtime) -> Purger | None:
    """A started retention purge (``service/retention.py``) unless ``retention_s`` is 0."""
    settings = runtime.settings
    if settings.retention_s <= 0:
        return None
    purger = Purger(runtime.queue, runtime.storage, retention_s=settings.retention_s,
                    interval_s=settings.purge_interval_s)
    purger.start()
    runtime.purger = purger     # stopped by runtime.close()
    return purger


def start_webhooks(runtime: Runtime) -> Webhooks:
    """The outbox of ``runtime`` and, unless ``webhook_deliver`` is off, a started delivery
    loop that renders each task in the shape of the dialect that created it."""
    settings = runtime.settings
    outbox = Outbox(runtime.queue.engine)
    deliverer = None
    if settings.webhook_deliver:
        deliverer = WebhookDeliverer(outbox, runtime.queue, runtime.service,
                                     secret_resolver(runtime.keys, settings),
                                     webhook_policy(settings), renderers=webhook_renderers())
        deliverer.start()
    return Webhooks(outbox, deliverer)
