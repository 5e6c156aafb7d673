"""TaskService: the one door every API package uses to create, read, cancel and delete tasks.

A create resolves the spec against the registry once (``resolve.py``: the engine's
capabilities, model defaults, ``adaptive`` ratio, exact pixel size, frame count, seed),
fetches and checks every input image through the SSRF guard, keeps the checked copies in
storage, and enqueues the task with its engine and engine options frozen into the row (and a
dialect's own record, such as Wiro's socket token, in the same transaction). Once a task id
is returned nothing the client sent can be lost, no bad input reaches a worker, and a change
to ``framecast.toml`` does not change what an already-queued task runs with.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import anyio

from framecast.blobs import BlobStore, input_key, task_prefix
from framecast.core import sizes
from framecast.core.errors import (
    FramecastError,
    InvalidInput,
    InvalidState,
    NotFound,
    RateLimited,
)
from framecast.core.spec import ImageInput, ImageSpec, MediaInput, VideoSpec, check_new_request
from framecast.core.task import TIER_PRIORITY, Task, TaskStatus
from framecast.db.outbox import Attempt, Delivery, Outbox
from framecast.db.queue import NewTask, TaskQueue
from framecast.db.stats import StatsReader, UsageRow
from framecast.db.task_extras import TaskExtras, TaskExtrasStore
from framecast.media.clips import ClipLimits, probe_clip
from framecast.media.images import ImageLimits, probe_image
from framecast.net.fetch import FetchPolicy, check_url, fetch_image, fetch_media
from framecast.service.batching import Batcher
from framecast.service.registry import ModelEntry, Registry
from framecast.service.resolve import (
    check_clip_lengths,
    check_image_spec,
    check_video_spec,
    entry_capabilities,
    fill_image_spec,
    fill_video_spec,
    final_spec,
)

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_SUFFIX_LEN = 8
IMAGE_POLL_S = 0.05       # first pause of `wait` between reads of the task
QUOTA_RECOUNT_S = 1.0     # a key's queued count is re-read from the store at most this often
QUOTA_MARGIN = 0.1        # ... or at once when within this share of the limit
WAIT_POLL_MAX_S = 0.5     # longest pause of `wait`
DRAFT_TTL_S = 7 * 86400   # a draft can be rendered in full for 7 days (the vendor's)
CLIP_FETCHES_AT_ONCE = 4  # clips fetched and checked at once per API process (≤ 200 MiB held)


# media types of stored inputs whose extension is not their subtype
_COPIED_TYPES = {"jpg": "image/jpeg", "mp3": "audio/mpeg", "m4a": "audio/mp4", "mov": "video/mp4"}


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
    clips: ClipLimits = field(default_factory=ClipLimits)
    max_queued_per_key: int = 10_000
    image_wait_s: float = 600.0
    max_body_bytes: int = 64 * 1024 * 1024   # a request body (and each form field) at most


@dataclass(frozen=True)
class DialectRecord:
    """What a dialect keeps beside a new task, written in the task's own transaction: an
    access token a client may use instead of the id (Wiro's ``socketaccesstoken``) and
    free-form data (the request as the client wrote it, a price fixed at creation)."""

    access_token: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


# the record a dialect keeps, made from the resolved spec (its final duration, size ...)
RecordFor = Callable[[VideoSpec | ImageSpec], DialectRecord]


class TaskService:
    """Create, read, list, cancel and delete tasks; the dialects' only door to the core."""

    def __init__(self, queue: TaskQueue, storage: BlobStore, registry: Registry,
                 limits: ServiceLimits | None = None, *, file_url_ttl_s: int = 86400) -> None:
        self.queue = queue
        self.storage = storage
        self.registry = registry
        self.limits = limits or ServiceLimits()
        self.file_url_ttl_s = file_url_ttl_s
        self._extras = TaskExtrasStore(queue.engine)
        self._outbox = Outbox(queue.engine)
        # owner -> (queued tasks when last counted + enqueued since, when counted)
        self._queued: dict[str, tuple[int, float]] = {}
        # the request path's store calls, grouped (batching.py)
        self._enqueues: Batcher[NewTask, Task | InvalidInput] = Batcher(queue.enqueue_many)
        self._reads: Batcher[str, Task | None] = Batcher(self._read_many,
                                                         inline=queue.local_reads)
        # reference clips held in memory at once, all requests together (each ≤ 50 MiB)
        self._clip_fetches = asyncio.Semaphore(CLIP_FETCHES_AT_ONCE)

    # -- create -------------------------------------------------------------------------

    async def create_video(self, spec: VideoSpec, *, owner_id: str, dialect: str,
                           record: RecordFor | None = None) -> Task:
        """Resolve, check and enqueue a video task; returns it queued. ``record`` makes the
        dialect's own record of the task from the resolved spec."""
        entry = self.registry.resolve(spec.model, kind="video")
        draft = None
        if spec.draft_of is not None:         # a final: the draft's shot at a new resolution
            draft = await anyio.to_thread.run_sync(self._draft, spec.draft_of, owner_id, entry)
            spec = final_spec(spec, draft)
        caps = entry_capabilities(entry)
        check_new_request(spec)               # the rules every API shares (core/spec.py)
        check_video_spec(spec, entry, caps)   # refuse before fetching anything the client named
        await self._check_callback(spec.callback_url)
        await self._check_quota(owner_id)     # (before any input is fetched and kept)
        task_id = new_task_id("cgt")
        try:
            if draft is not None:
                await anyio.to_thread.run_sync(self._copy_inputs, task_id, spec)
            else:
                await self._store_inputs(task_id, spec, entry.rules.clip_seconds)
                check_clip_lengths(spec, entry.rules)
            resolved = fill_video_spec(spec, entry, caps)
            # with reference videos, the vendor's (input_s + output_s) formula; an extension's
            # output already holds its input, which is not counted twice
            input_s = 0.0 if resolved.task_type == "extend" else resolved.input_video_seconds
            return await self._enqueue(
                task_id, resolved, entry, owner_id=owner_id, dialect=dialect, record=record,
                usage=sizes.video_tokens(resolved.width or 0, resolved.height or 0,
                                         resolved.frames_total or 0, input_s))
        except Exception:     # refused after its inputs were kept: nothing may stay behind
            await anyio.to_thread.run_sync(self.storage.delete_prefix, task_prefix(task_id))
            raise

    async def create_image(self, spec: ImageSpec, *, owner_id: str, dialect: str,
                           record: RecordFor | None = None) -> Task:
        """Resolve, check and enqueue an image task; returns it queued."""
        entry = self.registry.resolve(spec.model, kind="image")
        check_new_request(spec)
        check_image_spec(spec, entry, entry_capabilities(entry))
        await self._check_callback(spec.callback_url)
        task_id = new_task_id("img")
        await self._store_inputs(task_id, spec)
        resolved = fill_image_spec(spec, entry)
        return await self._enqueue(task_id, resolved, entry, owner_id=owner_id, dialect=dialect,
                                   usage=sizes.image_tokens(resolved.width or 0,
                                                            resolved.height or 0)
                                   * resolved.count,
                                   record=record)

    async def generate_image(self, spec: ImageSpec, *, owner_id: str, dialect: str) -> Task:
        """The synchronous image API: create an image task and wait until it is terminal."""
        task = await self.create_image(spec, owner_id=owner_id, dialect=dialect)
        return await self.wait(task.id, owner_id=owner_id, timeout_s=self.limits.image_wait_s)

    async def _enqueue(self, task_id: str, spec: VideoSpec | ImageSpec, entry: ModelEntry, *,
                       owner_id: str, dialect: str, usage: int,
                       record: RecordFor | None) -> Task:
        await self._check_quota(owner_id)
        extras = record(spec) if record is not None else None
        new = NewTask(
            id=task_id, owner_id=owner_id, kind=spec.kind, model=spec.model, engine=entry.engine,
            engine_options=entry.engine_options(), spec=spec.model_dump(mode="json"),
            dialect=dialect, service_tier=spec.service_tier,
            priority=TIER_PRIORITY.get(spec.service_tier, 0), seed=spec.seed,
            callback_url=spec.callback_url, usage_tokens=usage,
            execution_expires_after=spec.execution_expires_after,
            access_token=extras.access_token if extras else None,
            extras=extras.data if extras else None)
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

    async def _store_inputs(self, task_id: str, spec: VideoSpec | ImageSpec,
                            clip_seconds: tuple[float, float] = (2.0, 30.0)) -> None:
        """Get every input image and reference clip (all in parallel), check each from its
        header, and keep the bytes as the client sent them. Nothing is decoded here:
        decoding, EXIF orientation and fitting happen in the worker, before the engine runs,
        so a create costs about the same for any input and one client's photos cannot stall
        the others. A clip must last ``clip_seconds`` (the model's range)."""
        media = spec.media if isinstance(spec, VideoSpec) else []
        if not spec.images and not media:
            return
        clip_limits = replace(self.limits.clips, min_seconds=clip_seconds[0],
                              max_seconds=clip_seconds[1])

        async def keep_clip(index: int) -> None:
            item = media[index]
            cap = (clip_limits.max_video_bytes if item.kind == "video"
                   else clip_limits.max_audio_bytes)
            async with self._clip_fetches:   # a clip is up to 50 MiB: a few at a time
                data = await fetch_media(item.url, param=item.param, max_bytes=cap,
                                         policy=self.limits.fetch)
                header = await anyio.to_thread.run_sync(
                    lambda: probe_clip(data, kind=item.kind, param=item.param,
                                       limits=clip_limits))
                key = input_key(task_id, index, item.role, header.extension)
                await anyio.to_thread.run_sync(self.storage.put_bytes, key, data,
                                               header.content_type)
            item.key, item.seconds = key, round(header.seconds, 3)
            item.width, item.height = header.width, header.height

        async def keep(index: int) -> None:
            item = spec.images[index]
            data = await self._input_bytes(item.url, item.param)
            header = probe_image(data, param=item.param, limits=self.limits.images)
            key = input_key(task_id, index, item.role, header.format)
            await anyio.to_thread.run_sync(self.storage.put_bytes, key, data,
                                           header.content_type)
            item.key, item.width, item.height = key, header.width, header.height
            if item.url.startswith("data:"):
                item.url = "data:"   # the bytes are kept under `key`; don't store megabytes twice

        try:
            async with asyncio.TaskGroup() as group:
                for index in range(len(spec.images)):
                    group.create_task(keep(index))
                for index in range(len(media)):
                    group.create_task(keep_clip(index))
        except* FramecastError as errors:
            await anyio.to_thread.run_sync(self.storage.delete_prefix, task_prefix(task_id))
            raise errors.exceptions[0] from None

    def _draft(self, draft_id: str, owner_id: str, entry: ModelEntry) -> Task:
        """The caller's succeeded draft task of the same model, at most ``DRAFT_TTL_S`` old
        (``InvalidInput`` naming ``draft_task.id`` otherwise)."""
        param = "draft_task.id"
        try:
            draft = self.queue.get(draft_id, owner_id=owner_id)
        except NotFound:
            raise InvalidInput(f"draft task {draft_id} does not exist", param=param) from None
        if draft.kind != "video" or not draft.spec.get("draft"):
            raise InvalidInput(f"task {draft_id} is not a draft (create one with "
                               "`draft: true`)", param=param)
        if draft.status != TaskStatus.SUCCEEDED:
            raise InvalidInput(f"draft task {draft_id} is {draft.status.value}; only a "
                               "succeeded draft can be rendered in full", param=param)
        if time.time() - draft.created_at > DRAFT_TTL_S:
            raise InvalidInput(f"draft task {draft_id} has expired (a draft can be rendered "
                               f"for {DRAFT_TTL_S // 86400} days)", param=param)
        if self.registry.resolve(draft.model, kind="video").id != entry.id:
            raise InvalidInput(f"draft task {draft_id} was made with model `{draft.model}`; "
                               "render it with the same model", param="model")
        return draft

    def _copy_inputs(self, task_id: str, spec: VideoSpec) -> None:
        """Give a final its own copy of its draft's input images and clips (the draft may be
        deleted before the final runs)."""
        items: list[ImageInput] | list[MediaInput]
        for items in (spec.images, spec.media):   # (numbered per kind, as when first kept)
            for index, item in enumerate(items):
                assert item.key is not None
                ext = item.key.rsplit(".", 1)[-1]
                kind = item.kind if isinstance(item, MediaInput) else "image"
                key = input_key(task_id, index, item.role, ext)
                self.storage.put_bytes(key, self.storage.get_bytes(item.key),
                                       _COPIED_TYPES.get(ext, f"{kind}/{ext}"))
                item.key = key

    async def _check_callback(self, url: str | None) -> None:
        """A webhook URL is checked at create with the input URLs' rules (scheme, literal
        addresses, names that resolve to forbidden ranges): a 400 naming ``callback_url``,
        not a delivery refused 8 times over a day. Each delivery checks again."""
        if url:
            await check_url(url, param="callback_url", policy=self.limits.fetch)

    async def _input_bytes(self, url: str, param: str) -> bytes:
        """The bytes of one input: one of this server's own signed file URLs (an output used
        as the next task's input) read from storage, else a ``data:`` URI or a URL fetched
        through the guard (off the event loop's way: the fetch is I/O)."""
        key = None
        if not url.startswith("data:"):   # (an object store may ask itself: off the loop)
            key = await anyio.to_thread.run_sync(self.storage.key_for_url, url)
        if key is not None:
            return await anyio.to_thread.run_sync(self.storage.get_bytes, key)
        return (await fetch_image(url, param=param, policy=self.limits.fetch)).data

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
            raise InvalidState(f"a {task.status.value} task cannot be cancelled or deleted",
                               param="id", task_id=task_id)
        return self.delete(task_id, owner_id=owner_id)

    def delete_files(self, task_id: str, *, owner_id: str) -> Task:
        """Delete every file of a finished task (inputs and outputs); the record stays.
        ``InvalidState`` while the task has not ended."""
        task = self.queue.get(task_id, owner_id=owner_id)
        if not task.terminal:
            raise InvalidState(f"task {task_id} has not ended ({task.status.value})",
                               param="id", task_id=task_id)
        self.storage.delete_prefix(task_prefix(task.id))
        return task

    # -- a dialect's own records --------------------------------------------------------

    def record_of(self, task_id: str) -> TaskExtras | None:
        """The dialect's record of a task, if its dialect keeps one."""
        return self._extras.get(task_id)

    def record_by_token(self, access_token: str) -> TaskExtras | None:
        """The dialect's record whose access token is ``access_token``."""
        return self._extras.by_token(access_token)

    def task_of_record(self, record: TaskExtras) -> Task:
        """The task a dialect record belongs to. The record was found by its access token,
        which is the client's proof of access (``NotFound`` once the task is deleted)."""
        return self.queue.get(record.task_id)

    def update_record(self, task_id: str, dialect: str, data: dict[str, Any]) -> None:
        """Replace the data of a task's dialect record (made when it has none)."""
        if self._extras.get(task_id) is None:
            self._extras.put(task_id, dialect, data=data)
        else:
            self._extras.update_data(task_id, data)

    # -- usage and webhooks -------------------------------------------------------------

    def usage(self, owner_id: str, since: float, until: float) -> list[UsageRow]:
        """The owner's tasks in ``[since, until)`` by kind, model and status."""
        return StatsReader(self.queue.engine).usage(owner_id, since, until)

    def webhook_deliveries(self, task_id: str, *, owner_id: str
                           ) -> tuple[list[Delivery], list[Attempt]]:
        """The task's webhook deliveries and every attempt (``NotFound`` for another owner's
        task)."""
        self.queue.get(task_id, owner_id=owner_id)
        return self._outbox.for_task(task_id)

    def replay_webhooks(self, task_id: str, *, owner_id: str) -> Sequence[str]:
        """Deliver the task's webhooks again: a new attempt series for every delivery not
        being attempted right now (same ``webhook-id``); returns the ids replayed and wakes
        this process's delivery loop."""
        self.queue.get(task_id, owner_id=owner_id)
        replayed = self._outbox.replay(task_id, owner_id)
        if replayed:
            self.queue.webhooks_pending.set()
        return replayed
