"""TaskService: the one core API every dialect calls.

It resolves a spec against the registry (model defaults, ``adaptive`` ratio, exact pixel size,
frame count, seed), fetches and checks every input image through the SSRF guard, keeps the
checked copies in storage, and enqueues the task, so that once a task id is returned nothing
the client sent can be lost and no bad input reaches a worker.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio

from framecast.core import sizes
from framecast.core.batching import Batcher
from framecast.core.errors import FramecastError, InvalidInput, NotFound, RateLimited
from framecast.core.spec import ImageSpec, VideoSpec
from framecast.core.task import TIER_PRIORITY, Task, TaskStatus
from framecast.engines.base import Capabilities, check_capabilities, engine_class
from framecast.media.fetch import FetchPolicy, fetch_image
from framecast.media.images import ImageLimits, decode_image, encode_png
from framecast.registry import ModelEntry, Registry
from framecast.storage import BlobStore, input_key, task_prefix
from framecast.store.queue import NewTask, TaskQueue

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_SUFFIX_LEN = 8
IMAGE_POLL_S = 0.05       # first pause of `wait` between reads of the task
QUOTA_RECOUNT_S = 1.0     # a key's queued count is re-read from the store at most this often
QUOTA_MARGIN = 0.1        # ... or at once when within this share of the limit
WAIT_POLL_MAX_S = 0.5     # longest pause of `wait`


def new_task_id(prefix: str = "cgt", now: float | None = None) -> str:
    """An id in the vendor's shape: ``cgt-YYYYMMDDHHMMSS-xxxxxxxx`` (random suffix)."""
    stamp = datetime.fromtimestamp(now or time.time(), UTC).strftime("%Y%m%d%H%M%S")
    # one draw for the 8 base-36 digits (eight `secrets.choice` calls cost 10x more)
    number, digits = secrets.randbelow(len(_ID_ALPHABET) ** _ID_SUFFIX_LEN), []
    for _ in range(_ID_SUFFIX_LEN):
        number, digit = divmod(number, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return f"{prefix}-{stamp}-{''.join(digits)}"


@dataclass
class ServiceLimits:
    """Operator limits applied at create time."""

    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    images: ImageLimits = field(default_factory=ImageLimits)
    max_queued_per_key: int = 10_000
    image_wait_s: float = 600.0


class TaskService:
    """Create, read, list, cancel and delete tasks; the dialects' only door to the core."""

    def __init__(self, queue: TaskQueue, storage: BlobStore, registry: Registry,
                 limits: ServiceLimits | None = None, *, file_url_ttl_s: int = 86400) -> None:
        self.queue = queue
        self.storage = storage
        self.registry = registry
        self.limits = limits or ServiceLimits()
        self.file_url_ttl_s = file_url_ttl_s
        # owner -> (queued tasks when last counted + enqueued since, when counted)
        self._queued: dict[str, tuple[int, float]] = {}
        # the request path's store calls, grouped (core/batching.py)
        self._enqueues: Batcher[NewTask, Task | InvalidInput] = Batcher(queue.enqueue_many)
        self._reads: Batcher[str, Task | None] = Batcher(self._read_many,
                                                         inline=queue.local_reads)

    # -- create -------------------------------------------------------------------------

    async def create_video(self, spec: VideoSpec, *, owner_id: str, dialect: str) -> Task:
        """Resolve, check and enqueue a video task; returns it queued."""
        entry = self.registry.resolve(spec.model, kind="video")
        check_video_spec(spec, entry)   # refuse before fetching anything the client named
        task_id = new_task_id("cgt")
        await self._store_inputs(task_id, spec)
        resolved = resolve_video_spec(spec, entry)
        return await self._enqueue(task_id, resolved, entry, owner_id=owner_id, dialect=dialect,
                                   usage=sizes.video_tokens(resolved.width or 0,
                                                            resolved.height or 0,
                                                            resolved.frames_total or 0))

    async def create_image(self, spec: ImageSpec, *, owner_id: str, dialect: str) -> Task:
        """Resolve, check and enqueue an image task; returns it queued."""
        entry = self.registry.resolve(spec.model, kind="image")
        check_capabilities(entry_capabilities(entry), spec, engine=entry.engine)
        task_id = new_task_id("img")
        await self._store_inputs(task_id, spec)
        resolved = resolve_image_spec(spec, entry)
        return await self._enqueue(task_id, resolved, entry, owner_id=owner_id, dialect=dialect,
                                   usage=sizes.image_tokens(resolved.width or 0,
                                                            resolved.height or 0))

    async def generate_image(self, spec: ImageSpec, *, owner_id: str, dialect: str) -> Task:
        """The synchronous image API: create an image task and wait until it is terminal."""
        task = await self.create_image(spec, owner_id=owner_id, dialect=dialect)
        return await self.wait(task.id, owner_id=owner_id, timeout_s=self.limits.image_wait_s)

    async def _enqueue(self, task_id: str, spec: VideoSpec | ImageSpec, entry: ModelEntry, *,
                       owner_id: str, dialect: str, usage: int) -> Task:
        await self._check_quota(owner_id)
        new = NewTask(
            id=task_id, owner_id=owner_id, kind=spec.kind, model=spec.model, engine=entry.engine,
            spec=spec.model_dump(mode="json"), dialect=dialect, service_tier=spec.service_tier,
            priority=TIER_PRIORITY.get(spec.service_tier, 0), seed=spec.seed,
            callback_url=spec.callback_url, usage_tokens=usage,
            execution_expires_after=spec.execution_expires_after)
        task = await self._enqueues.submit(new)
        if isinstance(task, InvalidInput):
            raise task
        counted = self._queued.get(owner_id)
        if counted is not None:
            self._queued[owner_id] = (counted[0] + 1, counted[1])
        return task

    async def _check_quota(self, owner_id: str) -> None:
        """``RateLimited`` when the key has ``max_queued_per_key`` queued tasks. The count is
        read from the store at most once per ``QUOTA_RECOUNT_S`` (this process's own enqueues
        are added in between), and on every request once it is near the limit: a busy client
        costs no count per create, and the limit is still exact where it matters."""
        limit = self.limits.max_queued_per_key
        counted = self._queued.get(owner_id)
        now = time.monotonic()
        far = counted is not None and counted[0] < limit * (1 - QUOTA_MARGIN)
        if far and now - counted[1] < QUOTA_RECOUNT_S:
            return
        if far:
            # this request recounts; those arriving meanwhile go on with the estimate (a
            # count per waiting request stalled every create once a second)
            self._queued[owner_id] = (counted[0], now)
        queued = await anyio.to_thread.run_sync(self.queue.count_queued, owner_id)
        self._queued[owner_id] = (queued, now)
        if queued >= limit:
            raise RateLimited(f"this key already has {queued} queued tasks (limit "
                              f"{limit})", retry_after_s=5.0)

    async def _store_inputs(self, task_id: str, spec: VideoSpec | ImageSpec) -> None:
        """Fetch, decode, check and keep every input image (all in parallel)."""
        if not spec.images:
            return

        async def keep(index: int) -> None:
            item = spec.images[index]
            data = await anyio.to_thread.run_sync(self._own_file, item.url)
            if data is None:
                data = (await fetch_image(item.url, param=item.param,
                                          policy=self.limits.fetch)).data
            image = await anyio.to_thread.run_sync(
                lambda: decode_image(data, param=item.param, limits=self.limits.images))
            png = await anyio.to_thread.run_sync(encode_png, image)
            key = input_key(task_id, index, item.role)
            await anyio.to_thread.run_sync(self.storage.put_bytes, key, png, "image/png")
            item.key, item.width, item.height = key, image.width, image.height
            if item.url.startswith("data:"):
                item.url = "data:"   # the bytes are kept under `key`; don't store megabytes twice

        try:
            async with asyncio.TaskGroup() as group:
                for index in range(len(spec.images)):
                    group.create_task(keep(index))
        except* FramecastError as errors:
            await anyio.to_thread.run_sync(self.storage.delete_prefix, task_prefix(task_id))
            raise errors.exceptions[0] from None

    def _own_file(self, url: str) -> bytes | None:
        """The bytes behind one of this server's own signed file URLs (an output used as the
        next task's input), read from storage instead of fetched over the network."""
        key = self.storage.key_for_url(url)
        return self.storage.get_bytes(key) if key is not None else None

    # -- read ---------------------------------------------------------------------------

    def get(self, task_id: str, *, owner_id: str) -> Task:
        """The task, or ``NotFound`` (also for another owner's task)."""
        return self.queue.get(task_id, owner_id=owner_id)

    async def aget(self, task_id: str, *, owner_id: str) -> Task:
        """``get`` from the event loop: reads made at the same time go to the store as one."""
        task = await self._reads.submit(task_id)
        if task is None or task.owner_id != owner_id:
            raise NotFound(f"task {task_id} not found", task_id=task_id)
        return task

    def _read_many(self, task_ids: list[str]) -> list[Task | None]:
        found = self.queue.get_many(task_ids)
        return [found.get(task_id) for task_id in task_ids]

    def list(self, owner_id: str, *, statuses: Sequence[str] | None = None,
             task_ids: Sequence[str] | None = None, model: str | None = None,
             service_tier: str | None = None, kind: str | None = None, offset: int = 0,
             limit: int = 10) -> tuple[int, list[Task]]:
        """(total, page) of the owner's tasks, newest first."""
        return self.queue.list(owner_id, statuses=statuses, task_ids=task_ids, model=model,
                               service_tier=service_tier, kind=kind, offset=offset, limit=limit)

    async def wait(self, task_id: str, *, owner_id: str, timeout_s: float) -> Task:
        """Poll until the task is terminal or ``timeout_s`` passes; returns the last read."""
        deadline = time.monotonic() + timeout_s
        pause = IMAGE_POLL_S
        while True:
            task = await self.aget(task_id, owner_id=owner_id)
            if task.terminal or time.monotonic() >= deadline:
                return task
            await asyncio.sleep(pause)
            # quick answers for quick tasks, few reads for long ones
            pause = min(pause * 1.5, WAIT_POLL_MAX_S)

    def file_url(self, task: Task, name: str) -> str | None:
        """A signed URL for the task's output ``name`` (``video.mp4``, ``last_frame.png``…)."""
        out = task.output(name)
        return self.storage.signed_url(out.key, ttl_s=self.file_url_ttl_s) if out else None

    def file_bytes(self, task: Task, name: str) -> bytes | None:
        """The bytes of output ``name`` (for ``b64_json`` responses and content downloads)."""
        out = task.output(name)
        return self.storage.get_bytes(out.key) if out else None

    # -- cancel / delete ----------------------------------------------------------------

    def cancel(self, task_id: str, *, owner_id: str) -> Task:
        """Queued → cancelled at once; running → killed by its worker (cancelled within
        seconds); a terminal task raises ``InvalidState``."""
        return self.queue.cancel(task_id, owner_id)

    def cancel_queued(self, task_id: str, *, owner_id: str) -> Task:
        """Cancel only a queued task (``InvalidState`` otherwise)."""
        return self.queue.cancel_queued(task_id, owner_id)

    def delete(self, task_id: str, *, owner_id: str) -> Task:
        """Delete a terminal task's record and every file it has (``InvalidState`` if not
        terminal)."""
        task = self.queue.delete(task_id, owner_id)
        self.storage.delete_prefix(task_prefix(task.id))
        return task

    def cancel_or_delete(self, task_id: str, *, owner_id: str) -> Task:
        """The vendor's DELETE: queued → cancelled; succeeded/failed/expired → deleted;
        running or cancelled → ``InvalidState``."""
        task = self.queue.get(task_id, owner_id=owner_id)
        if task.status == TaskStatus.QUEUED:
            return self.queue.cancel_queued(task_id, owner_id)
        if task.status in (TaskStatus.RUNNING, TaskStatus.CANCELLED):
            from framecast.core.errors import InvalidState

            raise InvalidState(f"a {task.status.value} task cannot be cancelled or deleted",
                               param="id", task_id=task_id)
        return self.delete(task_id, owner_id=owner_id)


# -- spec resolution (pure functions) ------------------------------------------------------

def entry_capabilities(entry: ModelEntry) -> Capabilities:
    """What the engine of ``entry``, configured with its options, accepts."""
    return engine_class(entry.engine).capabilities_for(entry.options)


def check_video_spec(spec: VideoSpec, entry: ModelEntry) -> None:
    """What can be refused before any input is fetched: engine capabilities and the
    model's resolutions."""
    check_capabilities(entry_capabilities(entry), spec, engine=entry.engine)
    resolution = spec.resolution or entry.default_resolution
    if resolution not in entry.resolutions:
        raise InvalidInput(f"model `{spec.model}` supports resolutions "
                           f"{', '.join(entry.resolutions)}, got {resolution}",
                           param="resolution")


def resolve_video_spec(spec: VideoSpec, entry: ModelEntry) -> VideoSpec:
    """Fill every default from the model entry and fix the exact output: resolution, ratio
    (``adaptive`` → the listed ratio nearest the first frame), pixel size, frame count,
    seed. Input images must already carry their ``width``/``height``."""
    check_video_spec(spec, entry)
    out = spec.model_copy()   # shallow: only top-level fields are set below
    out.resolution = out.resolution or entry.default_resolution  # type: ignore[assignment]
    first = out.first_frame or (out.reference_images[0] if out.reference_images else None)
    if out.ratio is None:
        out.ratio = "adaptive" if out.first_frame else "16:9"
    if out.ratio == "adaptive":
        if first is not None and first.width and first.height:
            out.ratio = sizes.nearest_ratio(first.width, first.height)  # type: ignore[assignment]
        else:
            out.ratio = "16:9"
    out.width, out.height = sizes.video_size(entry.size_family, out.resolution, out.ratio)
    if out.frames is None and out.duration is None:
        out.duration = 5
    out.frames_total = sizes.frame_count(duration=out.duration, frames=out.frames, fps=out.fps)
    if out.seed is None or out.seed == -1:
        out.seed = secrets.randbelow(2**31)
    caps = entry_capabilities(entry)
    if out.generate_audio and not caps.audio:
        out.generate_audio = False    # the vendor: models without audio ignore the flag
    return out


def resolve_image_spec(spec: ImageSpec, entry: ModelEntry) -> ImageSpec:
    """Fill defaults (size from the model entry) and the seed; parse the size."""
    out = spec.model_copy()   # shallow: only top-level fields are set below
    check_capabilities(entry_capabilities(entry), out, engine=entry.engine)
    out.width, out.height = sizes.parse_image_size(out.size, default=entry.default_size)
    out.size = f"{out.width}x{out.height}"
    if out.seed is None or out.seed == -1:
        out.seed = secrets.randbelow(2**31)
    return out
