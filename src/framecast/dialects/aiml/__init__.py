"""The AI/ML API dialect (api.aimlapi.com): Seedance video generations under ``/v2``.
See ``docs/aiml.md``.

Owns: ``wire.py``, ``translate.py``, ``router.py`` and ``envelope.py`` of this vendor's API.
May import: ``edge``, ``service`` and the layers below; never another dialect.
"""

from framecast.dialects.aiml import translate
from framecast.dialects.aiml.envelope import ENVELOPE
from framecast.dialects.aiml.router import router
from framecast.edge.dialect import Dialect

DIALECT = Dialect(name=translate.DIALECT, router=router, envelope=ENVELOPE,
                  webhook_body=translate.webhook_body)

__all__ = ["DIALECT"]
