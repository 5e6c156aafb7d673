"""The AceData dialect: AceDataCloud's Seedance proxy API (``/seedance/videos`` and
``/seedance/tasks``), which the ``mcp-seedance`` MCP server calls.

A user who sets ``ACEDATACLOUD_API_BASE_URL`` to a Framecast server gets that MCP server
working unchanged. ``wire.py`` holds the vendor's models, ``translate.py`` wire ⇄ core (and
``webhook_body`` for callbacks), ``router.py`` the thin handlers and ``errors.py`` the one
mapping of every error to the vendor's envelope. See ``docs/mcp.md``.
"""
