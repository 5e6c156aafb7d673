"""Framecast's own MCP server (``mcp`` SDK): Seedance/Seedream tools over ``TaskService``.

Two transports share one tool set (``tools.build_server``):

* stdio — ``framecast mcp`` runs the tools with an in-process runtime and worker on the
  embedded defaults, acting as the API key in ``FRAMECAST_API_KEY`` or the data directory's
  key file (the command and its wiring are in ``cli/mcp_stdio.py``);
* streamable HTTP at ``/mcp`` on the API server, behind the same Bearer API keys as the
  HTTP dialects; each call is scoped to its key's owner (``http.py``).

See ``docs/mcp.md``.

Owns: the MCP tools (``tools.py``, ``seedance.py``), their answers (``results.py``) and the
HTTP mount (``http.py``). May import: ``edge``, ``service`` and the layers below; no dialect.
"""
