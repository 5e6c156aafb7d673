"""The durable store: tables, named statements, the task queue and the API key store.

``open_database(url)`` creates the engine and migrates the schema; ``TaskQueue`` holds one
method per task transition; ``KeyStore`` keeps API keys as SHA-256 hashes; ``Outbox`` holds
the webhook deliveries; ``TaskExtrasStore`` what a dialect keeps about its tasks.
"""

from framecast.store.db import open_database
from framecast.store.extras import TaskExtras, TaskExtrasStore
from framecast.store.keys import ApiKey, KeyStore
from framecast.store.outbox import Outbox
from framecast.store.queue import Claim, HeartbeatReply, NewTask, TaskQueue

__all__ = ["ApiKey", "Claim", "HeartbeatReply", "KeyStore", "NewTask", "Outbox", "TaskExtras",
           "TaskExtrasStore", "TaskQueue", "open_database"]
