"""Framecast: a self-hosted Seedance/Seedream-compatible generation server."""

__version__ = "0.1.0"
