"""The API packages this server speaks, imported by name: the five vendor dialects and the
native API, each one ``Dialect`` (router, error envelope, webhook body renderer).

The order is the order their routers are mounted in. MCP (``framecast.mcp``) and the
playground (``framecast.web``) are mounted by ``app.py`` beside them.
"""

from __future__ import annotations

from collections.abc import Mapping

from framecast import native
from framecast.dialects import acedata, aiml, ark, openai, wiro
from framecast.edge.dialect import Dialect, WebhookBody

DIALECTS: tuple[Dialect, ...] = (ark.DIALECT, openai.DIALECT, aiml.DIALECT, acedata.DIALECT,
                                 wiro.DIALECT, native.DIALECT)


def webhook_renderers() -> Mapping[str, WebhookBody]:
    """Dialect name → its webhook body renderer, for the delivery loop."""
    return {d.name: d.webhook_body for d in DIALECTS if d.webhook_body is not None}
