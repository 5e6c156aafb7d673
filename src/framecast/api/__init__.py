"""The composition root: builds the runtime from settings, the ASGI app (every API package
mounted, the middleware list once, the front door) and the operations endpoints.

Owns: wiring, settings, middleware, ``/healthz`` ``/readyz`` ``/metrics`` ``/files``. May
import: the API packages (``dialects``, ``native``, ``mcp``, ``web``) and every layer below.
"""
