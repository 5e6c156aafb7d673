"""The CLI's in-process mode: a whole Framecast server inside the ``framecast`` command.

When ``framecast video`` (or ``image``, ``tasks ...``) is given no server, it starts the same
app ``framecast serve`` runs (``app.create_app``: database, storage, registry, and an
in-process worker when the command runs tasks) on a free loopback port, in a thread, with the
embedded defaults or ``--data-dir``/``--config``, and talks to it through the SDK like to any
server. One code path for both modes: progress events, signed file URLs, errors and exit
codes are exactly those of a remote server. Nothing is exposed beyond 127.0.0.1, and the
server stops when the command ends (a running task gets the worker's drain time).

The command acts as ``FRAMECAST_API_KEY`` when it is set, else as the key ``framecast serve``
keeps in the data directory (``api-key.txt``, created on first use), so that tasks made here
are visible to ``framecast serve`` with the same data directory and key.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

from framecast.api.settings import Settings
from framecast.cli.common import KEY_FILE, ensure_first_key, key_file

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class LocalSetupError(Exception):
    """The in-process server cannot start (no key, a bad data directory, a port)."""


def local_api_key(settings: Settings) -> str:
    """The key the command acts as: ``FRAMECAST_API_KEY``, else the data directory's key
    file (created, like ``serve`` does, when the directory has no key yet)."""
    if settings.api_key:
        return settings.api_key
    created = ensure_first_key(settings)
    if created:
        return created
    path = key_file(settings)
    key = path.read_text().strip() if path.is_file() else ""
    if not key:
        raise LocalSetupError(f"no API key for {settings.data_dir}: set FRAMECAST_API_KEY "
                              f"(the data directory has keys but no {KEY_FILE})")
    return key


class EmbeddedServer:
    """``with EmbeddedServer(settings, run_worker=True) as server: server.base_url``."""

    def __init__(self, settings: Settings, *, run_worker: bool) -> None:
        self.settings = settings
        self.run_worker = run_worker
        self.base_url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EmbeddedServer:
        import uvicorn

        from framecast.api.app import create_app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # signed file URLs must point at this server
        self.settings.host, self.settings.port = "127.0.0.1", port
        self.settings.public_url = None
        # warnings and errors only (before the app exists: the MCP SDK would otherwise set
        # up INFO logging of every request on stderr, over the progress bar)
        logging.basicConfig(level=logging.WARNING, format="framecast: %(levelname)s "
                                                          "%(name)s: %(message)s")
        app = create_app(self.settings, run_worker=self.run_worker)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="framecast-embedded", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._stop()
                raise LocalSetupError(f"the in-process server did not start (data directory "
                                      f"{self.settings.data_dir})")
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
