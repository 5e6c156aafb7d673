"""Blob storage for task inputs and outputs: per-task, per-attempt keys, signed URLs
(``base.py``: the interface and key layout; ``local.py``: a directory; ``objects.py``: S3 and
other object stores through obstore; ``factory.py``: a storage URL to a store).

Owns: where files live. May import: ``core`` only.
"""

from framecast.blobs.base import BlobStore, input_key, output_key, task_prefix
from framecast.blobs.factory import open_store
from framecast.blobs.local import LocalStore

__all__ = ["BlobStore", "LocalStore", "input_key", "open_store", "output_key", "task_prefix"]
