"""The Wiro dialect: Wiro's API (``https://api.wiro.ai/v1``) for the Seedance and Seedream
models it lists — Run, Task/Detail, Cancel, Kill, InputOutputDelete, List — and its task
WebSocket.

``wire.py`` holds the vendor's response shapes, ``params.py`` reads parameters (JSON,
multipart, url-encoded) with Wiro's error wording, ``translate.py`` parameters ⇄ core and a
task ⇄ Wiro's task item, ``auth.py`` ``x-api-key`` and HMAC signatures with single-use
nonces, ``socket.py`` the WebSocket, ``router.py`` the thin handlers and ``errors.py`` the
one mapping of every error to ``{"result": false, "errors": [...]}``. See ``docs/wiro.md``.
"""
