"""``framecast mcp``: the MCP tools over stdio, with an in-process runtime and worker.

The process is what an MCP client's config starts. It uses the same settings and data
directory as ``framecast serve`` (SQLite, local files, CPU engines by default) and acts as one
API key: ``FRAMECAST_API_KEY``, else the key file ``serve`` writes into the data directory.
Tasks it creates are that key's, visible over HTTP with the same key.

stdout is the MCP wire: logs go to stderr, and the worker is started inside the SDK's stdio
transport, which points fds 0 and 1 elsewhere while it serves, so engine child processes
(spawned later, inheriting those descriptors) cannot write into the wire. Webhooks of the
tasks it makes are delivered from this process too, as from ``serve``. Answers include
local file paths (``video_path`` …): the client runs on this machine. The signed URLs work
while a ``framecast serve`` with the same data directory and public URL is running.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer

from framecast.api.runtime import (
    Runtime,
    build_runtime,
    start_retention,
    start_supervisor,
    start_webhooks,
)
from framecast.api.settings import Settings
from framecast.core.errors import FramecastError
from framecast.edge.auth import Authenticator
from framecast.mcp.results import Caller
from framecast.mcp.tools import build_server

log = logging.getLogger("framecast.mcp")


class StdioSetupError(Exception):
    """``framecast mcp`` cannot start: no usable API key, or the runtime failed."""


def api_key_for(settings: Settings, key_file: Path) -> str:
    """The key to act as: ``FRAMECAST_API_KEY``, else the data directory's key file."""
    if settings.api_key:
        return settings.api_key
    if key_file.is_file():
        key = key_file.read_text().strip()
        if key:
            return key
    raise StdioSetupError(f"no API key: set FRAMECAST_API_KEY, or run `framecast serve` once "
                          f"with this data directory so that it writes {key_file}")


def prepare(settings: Settings, key_file: Path) -> tuple[Runtime, Caller]:
    """Open the runtime and authenticate the key (``StdioSetupError`` in plain words)."""
    key = api_key_for(settings, key_file)
    runtime = build_runtime(settings)
    try:
        owner = Authenticator(runtime.keys, settings.api_key).owner_for_key(key)
    except FramecastError as exc:
        runtime.close()
        source = "FRAMECAST_API_KEY" if settings.api_key else str(key_file)
        raise StdioSetupError(f"the API key from {source} is not valid: {exc.message}") from None
    return runtime, Caller(service=runtime.service, owner_id=owner.id, local_paths=True)


def stdio_server_for(runtime: Runtime, caller: Caller, *, run_worker: bool = True
                     ) -> MCPServer[Any]:
    """The MCP server of ``framecast mcp``: every call acts as ``caller``; the worker runs
    for as long as the server does (started once the stdio transport holds fds 0 and 1)."""

    @asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        if run_worker:
            start_supervisor(runtime, serving=False)
        webhooks = start_webhooks(runtime)   # callbacks of tasks made here are sent from here
        start_retention(runtime)
        log.info("framecast mcp ready (data: %s)", runtime.settings.data_dir.resolve())
        try:
            yield {}
        finally:
            webhooks.stop()
            runtime.close()

    def caller_of(_ctx: Context) -> Caller:
        return caller

    return build_server(caller_of, lifespan=lifespan)


def run_stdio(settings: Settings, key_file: Path) -> None:
    """Serve the tools over stdin/stdout until the client closes stdin."""
    runtime, caller = prepare(settings, key_file)
    stdio_server_for(runtime, caller, run_worker=settings.run_worker).run("stdio")
