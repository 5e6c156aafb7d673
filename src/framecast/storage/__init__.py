"""Blob storage for task inputs and outputs: per-task, per-attempt keys, signed URLs."""

from framecast.storage.base import BlobStore, input_key, output_key, task_prefix
from framecast.storage.local import LocalStore

__all__ = ["BlobStore", "LocalStore", "input_key", "output_key", "task_prefix"]
