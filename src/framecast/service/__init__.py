"""The service layer: ``TaskService`` (create, read, cancel, delete; ``tasks.py``), spec
resolution (``resolve.py``), the model registry (``registry.py``), group commit
(``batching.py``) and webhook delivery (``webhooks.py``).

Owns: what a request does, whichever API it came through. May import: ``worker``,
``engines``, ``media``, ``net``, ``db``, ``blobs``, ``core``.
"""
