"""Framecast's own MCP server (``mcp`` SDK): Seedance/Seedream tools over ``TaskService``.

Two transports share one tool set (``tools.build_server``):

* stdio — ``framecast mcp`` runs the tools with an in-process runtime and worker on the
  embedded defaults, acting as the API key in ``FRAMECAST_API_KEY`` or the data directory's
  key file (``stdio.py``);
* streamable HTTP at ``/mcp`` on the API server, behind the same Bearer API keys as the
  HTTP dialects; each call is scoped to its key's owner (``http.py``).

This package is not a dialect: it calls the core directly, as a dialect does, and imports none.
See ``docs/mcp.md``.
"""
