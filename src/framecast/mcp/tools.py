"""Framecast's MCP server: its tools, implemented over ``TaskService`` in-process.

    seedance_generate_video_from_image   start a video (mcp-seedance's exact schema; seedance.py)
    seedream_generate_image              make an image (waits for it by default)
    get_task                             a task's status, progress and output URLs
    wait_for_task                        wait until a task finishes, with progress notifications
    cancel_task                          queued → cancelled at once; running → killed
    list_models                          the registry: ids, aliases, kind, engine

Every task answer is a ``TaskResult`` as structured content plus a text rendering; failures
are ``isError`` answers. ``build_server(caller_of)`` is shared by both transports; only how a
call finds its ``Caller`` differs (stdio: fixed; HTTP: the request's Bearer key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import Field, ValidationError

from framecast import __version__
from framecast.core.errors import FramecastError
from framecast.core.spec import IMAGE_SEED_MAX, ImageSpec
from framecast.core.task import Task
from framecast.mcp import seedance
from framecast.mcp.results import (
    Caller,
    CallerOf,
    ModelList,
    TaskResult,
    error_answer,
    models_answer,
    task_answer,
    task_progress,
)

WAIT_POLL_S = 0.25          # how often a waiting tool looks at its task
WAIT_DEFAULT_S = 300        # wait_for_task's default timeout
WAIT_MAX_S = 3600
CANCEL_WAIT_S = 10.0        # cancel_task waits this long for a running task to be killed
IMAGE_MODEL = "doubao-seedream-3-0-t2i-250415"
DIALECT = seedance.DIALECT
INSTRUCTIONS = (
    "Framecast generates videos (Seedance-compatible) and images (Seedream-compatible) on the "
    "operator's own machines. Start a video with seedance_generate_video_from_image; it answers "
    "at once with a task_id. Call wait_for_task to wait for it (progress notifications) or "
    "get_task to look at it; output URLs appear once the status is succeeded. "
    "seedream_generate_image waits for its image by default. list_models lists every model id."
)

TaskId = Annotated[str, Field(description="The task id returned by a generate tool.")]
Lifespan = Callable[[MCPServer[Any]], AbstractAsyncContextManager[Any]]


def build_server(caller_of: CallerOf, *, lifespan: Lifespan | None = None) -> MCPServer[Any]:
    """The MCP server with every tool; ``caller_of`` tells each call whom it acts for."""
    # log_level WARNING: the SDK configures root logging at construction, and INFO would put
    # httpx lines (signed file URLs included) on stderr of every process that builds the app
    server: MCPServer[Any] = MCPServer("framecast", version=__version__,
                                       instructions=INSTRUCTIONS, lifespan=lifespan,
                                       log_level="WARNING")
    server.add_tool(seedance.make_tool(caller_of), name="seedance_generate_video_from_image",
                    description=seedance.DESCRIPTION)
    for tool in make_tools(caller_of):
        server.add_tool(tool)
    return server


async def wait_with_progress(caller: Caller, task_id: str, ctx: Context | None,
                             timeout_s: float) -> Task:
    """Poll a task until it is finished or ``timeout_s`` passes, sending a progress
    notification (percent of 100, status as the message) each time the percentage grows:
    notifications only ever increase, as MCP requires, even if a task is re-run."""
    deadline = time.monotonic() + timeout_s
    reported = -1
    while True:
        task = await _get(caller, task_id)
        percent = task_progress(task)
        if ctx is not None and percent > reported:
            reported = percent
            await ctx.report_progress(percent, 100, message=task.status.value)
        if task.terminal or time.monotonic() >= deadline:
            return task
        await anyio.sleep(WAIT_POLL_S)


async def _get(caller: Caller, task_id: str) -> Task:
    return await anyio.to_thread.run_sync(
        lambda: caller.service.get(task_id, owner_id=caller.owner_id))


def make_tools(caller_of: CallerOf) -> list[Callable[..., Any]]:
    """The tools other than the Seedance one, bound to ``caller_of``."""

    async def seedream_generate_image(
        prompt: Annotated[str, Field(description="What the image should show.")],
        model: Annotated[str, Field(description="A Seedream model id (see list_models).")
                         ] = IMAGE_MODEL,
        size: Annotated[str | None, Field(description="WxH (e.g. 1024x1024) or 1K/2K/4K. "
                                                      "Default: the model's size.")] = None,
        seed: Annotated[int, Field(description="Random seed. -1 for random.", ge=-1,
                                   le=IMAGE_SEED_MAX)] = -1,
        guidance_scale: Annotated[float | None, Field(
            description="How closely to follow the prompt, 1-10 (Seedream 3.0).", ge=1,
            le=10)] = None,
        watermark: Annotated[bool, Field(description="Add an 'AI generated' mark "
                                                     "bottom-right.")] = True,
        response_format: Annotated[Literal["url", "b64_json"], Field(
            description="'url' (a signed link) or 'b64_json' (the PNG inline).")] = "url",
        wait: Annotated[bool, Field(description="Wait for the image (with progress "
                                                "notifications) before answering.")] = True,
        *,
        ctx: Context,
    ) -> Annotated[CallToolResult, TaskResult]:
        """Generate an image from a text prompt with a Seedream-compatible model.

        Answers with the finished image (a signed URL, or base64 with response_format
        b64_json); with wait=false, at once with the queued task (see wait_for_task).
        """
        if not prompt.strip():
            return error_answer("`prompt` must not be empty.")
        caller = caller_of(ctx)
        try:
            spec = ImageSpec(model=model, prompt=prompt, size=size,
                             seed=None if seed == -1 else seed, guidance_scale=guidance_scale,
                             watermark=watermark, response_format=response_format)
            task = await caller.service.create_image(spec, owner_id=caller.owner_id,
                                                     dialect=DIALECT)
            if wait:
                task = await wait_with_progress(caller, task.id, ctx,
                                                caller.service.limits.image_wait_s)
        except ValidationError as exc:
            return error_answer(exc.errors()[0]["msg"])
        except FramecastError as exc:
            return error_answer(exc.message)
        if response_format == "b64_json":   # reads the image from the store: off the loop
            return await anyio.to_thread.run_sync(
                lambda: task_answer(task, caller, b64=True))
        return task_answer(task, caller)

    async def get_task(task_id: TaskId, *, ctx: Context) -> Annotated[CallToolResult,
                                                                          TaskResult]:
        """Look at a task: status, progress (0-100), and output URLs once it succeeded."""
        caller = caller_of(ctx)
        try:
            return task_answer(await _get(caller, task_id), caller)
        except FramecastError:
            return error_answer(f"task `{task_id}` was not found.")

    async def wait_for_task(
        task_id: TaskId,
        timeout_seconds: Annotated[int, Field(
            description="Give up waiting after this many seconds (the task goes on).",
            ge=1, le=WAIT_MAX_S)] = WAIT_DEFAULT_S,
        *,
        ctx: Context,
    ) -> Annotated[CallToolResult, TaskResult]:
        """Wait until a task finishes, sending progress notifications as it runs.

        Answers with the task once it is succeeded, failed, cancelled or expired, or as it is
        when timeout_seconds have passed.
        """
        caller = caller_of(ctx)
        try:
            task = await wait_with_progress(caller, task_id, ctx, timeout_seconds)
        except FramecastError:
            return error_answer(f"task `{task_id}` was not found.")
        return task_answer(task, caller)

    async def cancel_task(task_id: TaskId, *, ctx: Context) -> Annotated[CallToolResult,
                                                                             TaskResult]:
        """Cancel a task: a queued one is cancelled at once, a running one is killed (within
        seconds). A finished task cannot be cancelled."""
        caller = caller_of(ctx)
        try:
            await _get(caller, task_id)
        except FramecastError:
            return error_answer(f"task `{task_id}` was not found.")
        try:
            task = await anyio.to_thread.run_sync(
                lambda: caller.service.cancel(task_id, owner_id=caller.owner_id))
        except FramecastError as exc:
            return error_answer(exc.message)
        if not task.terminal:
            task = await wait_with_progress(caller, task_id, None, CANCEL_WAIT_S)
        return task_answer(task, caller)

    async def list_models(
        kind: Annotated[Literal["video", "image"] | None, Field(
            description="Only video or only image models.")] = None,
        *,
        ctx: Context,
    ) -> Annotated[CallToolResult, ModelList]:
        """List the models this server accepts: each id, its aliases (every Seedance and
        Seedream id the vendors' APIs use), its kind and the engine that serves it."""
        registry = caller_of(ctx).service.registry
        entries = [e for e in registry.entries if registry.resolve(e.id) is e
                   and (kind is None or e.kind == kind)]
        return models_answer(entries)

    return [seedream_generate_image, get_task, wait_for_task, cancel_task, list_models]


__all__ = ["build_server", "make_tools", "wait_with_progress"]
