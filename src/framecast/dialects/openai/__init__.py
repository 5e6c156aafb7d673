"""The OpenAI dialect: the videos API (``/v1/videos``) served by Seedance models, and the one
image endpoint (``/v1/images/generations``) that OpenAI and AI/ML API clients share.
See ``docs/openai.md``.

Owns: ``wire.py``, ``body.py`` (JSON or multipart), ``translate.py`` (videos), ``images.py``
(images), ``paging.py``, ``router.py``, ``envelope.py``. May import: ``edge``, ``service``
and the layers below; never another dialect.
"""

from typing import Any

from framecast.core.task import Task
from framecast.dialects.openai import images, translate
from framecast.dialects.openai.envelope import ENVELOPE
from framecast.dialects.openai.router import router
from framecast.edge.dialect import Dialect
from framecast.service.tasks import TaskService


def webhook_body(task: Task, service: TaskService) -> dict[str, Any]:
    """A task as its webhook carries it: the ``Video`` object, or the images reply."""
    if task.kind == "image":
        return images.webhook_body(task, service)
    return translate.webhook_body(task, service)


DIALECT = Dialect(name=translate.DIALECT, router=router, envelope=ENVELOPE,
                  webhook_body=webhook_body)

__all__ = ["DIALECT"]
