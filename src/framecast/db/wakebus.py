"""Wake-ups between processes that share one SQLite file: datagrams on Linux sockets.

PostgreSQL carries wake-ups in LISTEN/NOTIFY. SQLite has nothing of the kind, yet several
processes share one database file: ``framecast serve`` (its API process and the worker
process that started it), ``serve --api-processes N``, and a ``framecast worker`` next to
them. Each process that waits (a worker's slots, its cancel listeners) binds one datagram
socket and leaves a marker file named after it in ``<database file>-wake/``. A process that
enqueues a task or asks for a kill sends one datagram to every socket listed there.

A datagram is a hint, like a NOTIFY: it is lost when nobody listens or the listener's queue
is full (then it has wake-ups waiting already), and workers poll the database anyway.

The sockets live in Linux's abstract namespace: no file, no path-length limit, and they go
with their process. The first sender to find a marker's socket gone removes the marker.
Where there is no abstract namespace (not Linux), there is no bus, and workers rely on
their poll.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from framecast.db.database import sqlite_file

log = logging.getLogger("framecast.db")

WAKE_DIR_SUFFIX = "-wake"     # next to the database file, as SQLite's own -wal and -shm
LISTING_TTL_S = 1.0           # a sender re-reads the marker directory at most this often
RECEIVE_POLL_S = 0.5          # how often the receiving thread checks whether to stop
MAX_DATAGRAM_BYTES = 512
_NAME_PREFIX = "framecast-wake-"

Handler = Callable[[str, str], None]


def _address(marker: str) -> str:
    """The abstract socket address of a marker (a leading NUL: no file behind it)."""
    return f"\0{_NAME_PREFIX}{marker}"


class WakeBus:
    """Datagram wake-ups among the processes of one SQLite database file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._sender: socket.socket | None = None
        self._peers: list[str] = []
        self._listed_at = -LISTING_TTL_S
        self._marker: str | None = None
        self._receiver: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    @classmethod
    def for_engine(cls, engine: Engine) -> WakeBus | None:
        """The bus of ``engine``'s SQLite file; None for PostgreSQL, an in-memory database,
        or a system without Linux's abstract socket namespace."""
        path = sqlite_file(engine.url)
        if path is None or not sys.platform.startswith("linux"):
            return None
        return cls(path.with_name(path.name + WAKE_DIR_SUFFIX))

    # ---- sending -------------------------------------------------------------------------

    def send(self, channel: str, payload: str) -> None:
        """Send ``channel``/``payload`` to every other listening process (never blocks)."""
        message = f"{channel}\n{payload}".encode()[:MAX_DATAGRAM_BYTES]
        sender = self._sending_socket()
        stale = False
        for marker in self._listing():
            if marker == self._marker:
                continue   # this process raised the event locally already
            try:
                sender.sendto(message, _address(marker))
            except BlockingIOError:
                pass       # its queue is full: it has wake-ups waiting already
            except (ConnectionRefusedError, FileNotFoundError):
                stale = True   # its process is gone
                self._remove_marker(marker)
            except OSError as exc:
                log.debug("wake-up to %s failed: %s", marker, exc)
        if stale:
            self._listed_at = -LISTING_TTL_S

    def _sending_socket(self) -> socket.socket:
        sender = self._sender
        if sender is None:
            with self._lock:
                if self._sender is None:
                    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    sender.setblocking(False)
                    self._sender = sender
                sender = self._sender
        return sender

    def _listing(self) -> list[str]:
        now = time.monotonic()
        if now - self._listed_at >= LISTING_TTL_S:
            try:
                self._peers = [e.name for e in os.scandir(self.directory) if e.is_file()]
            except FileNotFoundError:
                self._peers = []
            self._listed_at = now
        return self._peers

    def _remove_marker(self, marker: str) -> None:
        try:
            (self.directory / marker).unlink()
        except FileNotFoundError:
            pass

    # ---- receiving -----------------------------------------------------------------------

    def listen(self, handler: Handler) -> None:
        """Bind this process's socket, list it, and call ``handler(channel, payload)`` from
        a background thread for every datagram; once per bus (later calls do nothing)."""
        with self._lock:
            if self._thread is not None or self._closed.is_set():
                return
            marker = f"{os.getpid()}-{secrets.token_hex(6)}"
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            receiver.bind(_address(marker))
            receiver.settimeout(RECEIVE_POLL_S)
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / marker).touch()
            self._marker, self._receiver = marker, receiver
            self._thread = threading.Thread(target=self._receive, args=(receiver, handler),
                                            daemon=True, name="framecast-wakebus")
            self._thread.start()

    def _receive(self, receiver: socket.socket, handler: Handler) -> None:
        while not self._closed.is_set():
            try:
                data = receiver.recv(MAX_DATAGRAM_BYTES)
            except TimeoutError:
                continue
            except OSError:
                return     # closed
            channel, _, payload = data.decode(errors="replace").partition("\n")
            try:
                handler(channel, payload)
            except Exception:
                log.exception("wake-up handler failed for %s %s", channel, payload)

    def close(self) -> None:
        """Stop receiving, remove this process's marker, and close the sockets."""
        self._closed.set()
        with self._lock:
            marker, self._marker = self._marker, None
            thread, receiver = self._thread, self._receiver
        if marker is not None:
            self._remove_marker(marker)
        if thread is not None:
            thread.join(timeout=RECEIVE_POLL_S * 4)
        for sock in (receiver, self._sender):
            if sock is not None:
                sock.close()
