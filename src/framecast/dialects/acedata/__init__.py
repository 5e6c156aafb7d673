"""The AceData dialect: the API ``mcp-seedance`` (AceData's MCP server) calls,
``/seedance/videos`` and ``/seedance/tasks``. See ``docs/mcp.md``.

Owns: ``wire.py``, ``translate.py``, ``router.py`` and ``envelope.py`` of this vendor's API.
May import: ``edge``, ``service`` and the layers below; never another dialect.
"""

from framecast.dialects.acedata import translate
from framecast.dialects.acedata.envelope import ENVELOPE
from framecast.dialects.acedata.router import router
from framecast.edge.dialect import Dialect

DIALECT = Dialect(name=translate.DIALECT, router=router, envelope=ENVELOPE,
                  webhook_body=translate.webhook_body)

__all__ = ["DIALECT"]
