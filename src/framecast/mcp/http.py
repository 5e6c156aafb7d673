"""Streamable HTTP at ``/mcp`` on the API server, behind the same API keys as the dialects.

``mount_mcp(app)`` adds two things to the FastAPI app, and nothing else:

* the route ``/mcp``: ``BearerMCP`` checks ``Authorization: Bearer <API key>`` (401 with
  ``WWW-Authenticate: Bearer`` otherwise), puts the caller (service and the key's owner) into
  the ASGI scope, and hands the request to the SDK's session manager. Each tool call reads its
  caller from the HTTP request that carried it, so every task it touches is the key's owner's.
* a lifespan (an included router's, which FastAPI nests inside the app's own, after the
  runtime exists) that runs the session manager for as long as the app runs. A fresh manager
  is made per run, because one can run only once.

The transport is stateless (no ``Mcp-Session-Id``; any worker process can answer any request)
and answers with SSE, so progress notifications stream while a tool waits. The SDK's DNS
rebinding protection is off: a browser page cannot present the API key that every request
needs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from framecast.core.errors import RateLimited, Unauthorized
from framecast.edge.auth import admit
from framecast.mcp.results import Caller
from framecast.mcp.tools import build_server

MCP_PATH = "/mcp"
CALLER_SCOPE_KEY = "framecast.mcp.caller"
# stateless mode logs "Terminating session: None" at INFO after every request
_SDK_TRANSPORT_LOGGER = "mcp.server.streamable_http"


def mount_mcp(app: FastAPI, path: str = MCP_PATH) -> MCPServer[Any]:
    """Serve Framecast's MCP tools over streamable HTTP at ``path`` of ``app``."""
    logging.getLogger(_SDK_TRANSPORT_LOGGER).setLevel(logging.WARNING)
    server = build_server(caller_from_request)
    endpoint = BearerMCP(app, server)
    app.add_route(path, endpoint, include_in_schema=False)
    app.include_router(APIRouter(lifespan=endpoint.lifespan))
    return server


def caller_from_request(ctx: Context) -> Caller:
    """The caller ``BearerMCP`` put into the scope of the HTTP request carrying this call."""
    request = ctx.request_context.request
    caller = getattr(request, "scope", {}).get(CALLER_SCOPE_KEY)
    if not isinstance(caller, Caller):    # only reachable if the route is wired without auth
        raise Unauthorized("this MCP request carries no authenticated caller")
    return caller


class BearerMCP:
    """The ``/mcp`` ASGI endpoint: API-key auth in front of the SDK's session manager."""

    def __init__(self, app: FastAPI, server: MCPServer[Any]) -> None:
        self.app = app
        self.server = server

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Run a fresh session manager while the app runs."""
        self.server.streamable_http_app(
            stateless_http=True, json_response=False,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        async with self.server.session_manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, then let the SDK answer."""
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else None
        try:
            owner = await anyio.to_thread.run_sync(
                self.app.state.authenticator.owner_for_key, presented)
            await admit(HTTPConnection(scope), owner)
        except Unauthorized as exc:
            response = JSONResponse(
                status_code=401, headers={"WWW-Authenticate": 'Bearer realm="framecast"'},
                content={"error": {"code": exc.code, "message": exc.message}})
            await response(scope, receive, send)
            return
        except RateLimited as exc:
            response = JSONResponse(
                status_code=429, headers={"Retry-After": exc.retry_after},
                content={"error": {"code": exc.code, "message": exc.message}})
            await response(scope, receive, send)
            return
        scope[CALLER_SCOPE_KEY] = Caller(service=self.app.state.service,
                                         owner_id=owner.id)
        await self.server.session_manager.handle_request(scope, receive, send)
