"""Re-exports ``framecast.native.translate.webhook_body`` where the webhook sender looks for
the renderer of tasks created through the native API (``dialect = "native"``)."""

from framecast.native.translate import webhook_body

__all__ = ["webhook_body"]
