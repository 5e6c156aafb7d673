"""Support for the MCP acceptance tests: ``mcp`` SDK client sessions over stdio and streamable
HTTP, the ``mcp-seedance`` server as a subprocess, and progress recording.

``mcp-seedance`` 2026.4.30.0 imports ``mcp.server.fastmcp``, which mcp 2.x removed, so it
cannot share this project's environment (``mcp==2.3.0``): ``make test`` installs it, as
published, into ``.venv-seedance`` with ``mcp==1.30.0``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

SESSION_TIMEOUT_S = 120.0


def seedance_params(base_url: str, token: str, cwd: Path) -> StdioServerParameters:
    """``mcp-seedance`` over stdio, run as published from its own environment and pointed at
    Framecast by its own environment variables. It needs ``mcp<2`` (it imports
    ``mcp.server.fastmcp``, which mcp 2.x removed), so ``make test`` builds it a separate
    ``.venv-seedance`` and names its interpreter in ``FRAMECAST_TEST_SEEDANCE_PYTHON``."""
    python = os.environ.get("FRAMECAST_TEST_SEEDANCE_PYTHON")
    if not python:
        pytest.skip("mcp-seedance runs in its own environment (mcp<2): set "
                    "FRAMECAST_TEST_SEEDANCE_PYTHON, as `make test` does")
    script = Path(python).parent / "mcp-seedance"
    return StdioServerParameters(
        command=str(script), args=[], cwd=cwd,
        env={"ACEDATACLOUD_API_BASE_URL": base_url, "ACEDATACLOUD_API_TOKEN": token,
             "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})


def framecast_mcp_params(data_dir: Path, env: dict[str, str]) -> StdioServerParameters:
    """``framecast mcp`` over stdio with its own data directory."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "framecast", "mcp", "--data-dir", str(data_dir)],
        cwd=data_dir, env={"PYTHONUNBUFFERED": "1", **env})


@asynccontextmanager
async def stdio_session(params: StdioServerParameters, log_path: Path
                        ) -> AsyncIterator[ClientSession]:
    """An initialized client session with a server process (its stderr goes to ``log_path``)."""
    with log_path.open("a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), \
                ClientSession(read, write, read_timeout_seconds=SESSION_TIMEOUT_S) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def http_session(url: str, api_key: str | None) -> AsyncIterator[ClientSession]:
    """An initialized client session over streamable HTTP, with ``Authorization: Bearer``."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    async with client, streamable_http_client(url, http_client=client) as (read, write), \
            ClientSession(read, write, read_timeout_seconds=SESSION_TIMEOUT_S) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def modern_http_client(url: str, api_key: str) -> AsyncIterator[Client]:
    """The SDK's high-level ``Client`` over streamable HTTP: it negotiates the newest protocol
    (2026-07-28, no initialize handshake), which the SDK serves on another code path."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {api_key}"},
                              timeout=httpx2.Timeout(30.0, read=300.0))
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        yield client


@dataclass
class ProgressLog:
    """Records the progress notifications of one tool call."""

    events: list[tuple[float, float | None, str | None]] = field(default_factory=list)

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        """The SDK's progress callback."""
        self.events.append((progress, total, message))

    @property
    def values(self) -> list[float]:
        """The progress values, in arrival order."""
        return [p for p, _, _ in self.events]


def structured(result: CallToolResult) -> dict[str, Any]:
    """A successful tool result's structured content (fails the test with the text if not)."""
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert not result.is_error, f"tool failed: {text}"
    assert result.structured_content is not None, f"no structured content: {text}"
    return result.structured_content


def text_of(result: CallToolResult) -> str:
    """All text blocks of a tool result."""
    return "\n".join(getattr(block, "text", "") for block in result.content)


def seedance_json(result: CallToolResult) -> dict[str, Any]:
    """``mcp-seedance`` answers a JSON string (as text, or wrapped as ``{"result": ...}``)."""
    assert not result.is_error, f"mcp-seedance tool failed: {text_of(result)}"
    return json.loads(text_of(result))
