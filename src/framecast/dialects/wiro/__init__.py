"""The Wiro dialect: Wiro's API (``https://api.wiro.ai/v1``) for the Seedance and Seedream
models it lists — Run, Task/Detail, Cancel, Kill, InputOutputDelete, List — and its task
WebSocket. See ``docs/wiro.md``.

Owns: ``wire.py`` (response shapes), ``params.py`` (JSON, multipart, url-encoded parameters),
``translate.py`` (parameters ⇄ core), ``auth.py`` (``x-api-key`` and HMAC signatures),
``socket.py`` (the WebSocket), ``router.py``, ``envelope.py`` (``{"result": false, ...}``)
and ``config.py`` (keys, prices). May import: ``edge``, ``service`` and the layers below;
never another dialect.
"""

from fastapi import FastAPI

from framecast.dialects.wiro import translate
from framecast.dialects.wiro.config import WiroSettings
from framecast.dialects.wiro.envelope import ENVELOPE
from framecast.dialects.wiro.router import router
from framecast.dialects.wiro.socket import socket_endpoint
from framecast.edge.dialect import Dialect


def mount(app: FastAPI) -> None:
    """What a router cannot carry: the WebSocket at ``/v1``."""
    app.add_api_websocket_route("/v1", socket_endpoint, name="wiro_socket")


DIALECT = Dialect(name=translate.DIALECT, router=router, envelope=ENVELOPE,
                  webhook_body=translate.webhook_body, mount=mount)

__all__ = ["DIALECT", "WiroSettings"]
