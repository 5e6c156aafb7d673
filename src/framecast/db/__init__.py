"""The database: tables, named statements (``queries.py``), migrations, the task queue, the
API key store, the webhook outbox, dialect records and statistics, on SQLite or PostgreSQL.

``open_database(url)`` creates the engine and migrates the schema; ``TaskQueue`` holds one
method per task transition; ``KeyStore`` keeps API keys as SHA-256 hashes; ``Outbox`` holds
the webhook deliveries; ``TaskExtrasStore`` what a dialect keeps about its tasks.

Owns: every SQL statement and connection. May import: ``core`` only.
"""

from framecast.db.database import open_database
from framecast.db.keys import ApiKey, KeyStore
from framecast.db.outbox import Outbox
from framecast.db.queue import Claim, HeartbeatReply, NewTask, TaskQueue
from framecast.db.task_extras import TaskExtras, TaskExtrasStore

__all__ = ["ApiKey", "Claim", "HeartbeatReply", "KeyStore", "NewTask", "Outbox", "TaskExtras",
           "TaskExtrasStore", "TaskQueue", "open_database"]
