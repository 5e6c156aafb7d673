"""The Ark dialect: the BytePlus / Volcengine ModelArk API (Seedance video tasks, Seedream
images) under ``/api/v3``. See ``docs/ark.md``.

Owns: ``wire.py`` (the vendor's models), ``flags.py`` (``--flag value`` prompt parameters),
``translate.py`` (wire ⇄ core), ``router.py`` (thin handlers), ``envelope.py`` (its errors).
May import: ``edge``, ``service`` and the layers below; never another dialect.
"""

from framecast.dialects.ark import translate
from framecast.dialects.ark.envelope import ENVELOPE
from framecast.dialects.ark.router import router
from framecast.edge.dialect import Dialect

DIALECT = Dialect(name=translate.DIALECT, router=router, envelope=ENVELOPE,
                  webhook_body=translate.webhook_body)

__all__ = ["DIALECT"]
