"""What every ``framecast`` command shares: the data-directory options, settings from the
environment with the options given, logging, and the key file ``serve`` writes.

Settings come from ``FRAMECAST_*`` environment variables; command-line options override them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from framecast.api.settings import Settings

KEY_FILE = "api-key.txt"

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory "
                                              "(SQLite file, stored files, keys).")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL; "
                                                 "default: SQLite in the data directory.")]
ConfigPath = Annotated[Path | None, typer.Option("--config", help="framecast.toml model registry.")]


def settings_from(**overrides: Any) -> Settings:
    """Environment settings with the command-line options that were given."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)


def configure_logging() -> None:
    """INFO for Framecast; HTTP client libraries stay at WARNING because they would log every
    fetched URL, query strings (signatures, presigned credentials) included."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def keystore(settings: Settings) -> Any:
    """The API keys (``db.keys.KeyStore``) of the settings' database, the data directory
    made if needed (imported here: the client commands need no database)."""
    from framecast.db.database import open_database
    from framecast.db.keys import KeyStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return KeyStore(open_database(settings.resolved_database_url))


def ensure_first_key(settings: Settings) -> str | None:
    """When no key exists (and no static key is set), create one, keep it in the data dir
    (mode 600) and return it so ``serve`` can print it once."""
    if settings.api_key:
        return None
    keys = keystore(settings)
    if keys.count_active() > 0:
        return None
    _, plaintext = keys.create("default")
    path = settings.data_dir / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(plaintext + "\n")
    return plaintext


def key_file(settings: Settings) -> Path:
    """Where ``serve`` keeps the first key of a data directory."""
    return settings.data_dir / KEY_FILE
