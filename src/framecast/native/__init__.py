"""Framecast's native API under ``/framecast/v1``: tasks of every dialect, live events,
models, usage and webhook deliveries. See ``docs/native-api.md``.

Owns: ``wire.py``, ``translate.py``, ``events.py`` (resumable SSE), ``models.py``,
``usage.py``, ``webhooks.py``, ``router.py`` and ``envelope.py`` (``{"error": {code, message,
param}}``). May import: ``edge``, ``service`` and the layers below; never a vendor dialect.
"""

from framecast.edge.dialect import Dialect
from framecast.native import translate
from framecast.native.envelope import ENVELOPE
from framecast.native.router import router

DIALECT = Dialect(name=translate.DIALECT, router=router, envelope=ENVELOPE,
                  webhook_body=translate.webhook_body)

__all__ = ["DIALECT"]
