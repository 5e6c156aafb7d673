"""Wake-ups for idle workers and running-task kills: an in-process event, plus PostgreSQL
LISTEN/NOTIFY when the database is PostgreSQL, or datagrams between the processes of one
SQLite file (``db/wakebus.py``).

A wake-up only shortens a wait; the database is always the source of truth, and workers
poll it every second or two whether or not a notification arrives (notifications are lost
while a listener is disconnected).

* ``framecast_tasks`` (payload: engine name) is sent by ``enqueue`` and by transitions that
  put a task back in the queue; it wakes ``wait_for_work``.
* ``framecast_cancel`` (payload: task id) is sent when a kill is requested; it calls the
  registered cancel listeners so a supervisor can check that task at once.

The same events are always raised in the process itself too, so an in-process enqueue wakes
that process's workers immediately. On SQLite, ``announce`` sends them to the other
processes of the database file (the API and worker processes of ``framecast serve``).

Enqueues announce themselves through a :class:`Notifier`: one background thread that sends
a ``framecast_tasks`` NOTIFY per engine for each burst of enqueues (at most one per
``NOTIFY_COALESCE_S``), instead of one round trip per created task on the request path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from framecast.db.queries import CANCEL_CHANNEL, NOTIFY, TASK_CHANNEL
from framecast.db.wakebus import WakeBus

log = logging.getLogger("framecast.db")

LISTEN_RECONNECT_S = 1.0   # pause before re-opening a dropped LISTEN connection
LISTEN_POLL_S = 0.5        # how often the listener checks whether it should stop

NOTIFY_COALESCE_S = 0.002  # enqueues within this window share one NOTIFY per engine

CancelListener = Callable[[str], None]


class Notifier:
    """Sends NOTIFYs for committed enqueues from a background thread, one per (channel,
    payload) per burst. A notification is never dropped, only delayed by at most
    ``window_s`` plus one round trip; and a notification lost anyway (a crash) costs the
    workers one poll interval."""

    def __init__(self, engine: Engine, window_s: float = NOTIFY_COALESCE_S) -> None:
        self._engine = engine
        self._window_s = window_s
        self._pending: set[tuple[str, str]] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def notify(self, channel: str, payload: str) -> None:
        """Queue a NOTIFY (sent within ``window_s``)."""
        with self._cond:
            if self._closed:
                return
            self._pending.add((channel, payload))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="framecast-notify")
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Send what is pending and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
            if not self._closed:
                time.sleep(self._window_s)   # let the burst gather
            with self._cond:
                batch, self._pending = self._pending, set()
            try:
                with self._engine.connect() as conn:
                    for channel, payload in sorted(batch):
                        conn.execute(NOTIFY, {"p_channel": channel, "p_payload": payload})
            except Exception as exc:   # the workers' polling covers a lost notification
                log.warning("NOTIFY failed (%s: %s); workers will find the tasks by polling",
                            type(exc).__name__, exc)


class Wakeups:
    """The wake-up hub of one ``TaskQueue``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._work = threading.Event()
        self._cancel_listeners: list[CancelListener] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener: threading.Thread | None = None
        self._bus = WakeBus.for_engine(engine)
        self._serves: frozenset[str] | None = None   # engines this process's waiters claim

    # ---- raising -------------------------------------------------------------------------

    def announce(self, channel: str, payload: str) -> None:
        """Send an event to the other processes of this SQLite file (a no-op elsewhere:
        PostgreSQL's NOTIFY is sent by the queue, inside or after its transaction)."""
        if self._bus is not None:
            self._bus.send(channel, payload)

    def work_available(self, engine: str = "") -> None:
        """Wake every thread in ``wait_for_work`` of this process, unless they wait only
        for other engines than ``engine`` ("": any, e.g. on shutdown)."""
        serves = self._serves
        if not engine or serves is None or engine in serves:
            self._work.set()

    def cancel_requested(self, task_id: str) -> None:
        """Tell this process's cancel listeners that ``task_id`` should be killed."""
        with self._lock:
            listeners = list(self._cancel_listeners)
        for listener in listeners:
            try:
                listener(task_id)
            except Exception:
                log.exception("cancel listener failed for task %s", task_id)

    # ---- waiting -------------------------------------------------------------------------

    def wait_for_work(self, timeout_s: float, engines: Sequence[str] | None = None) -> bool:
        """Block until a wake-up for one of ``engines`` (None: any) or ``timeout_s``; True
        when woken. A wake-up for an engine nobody here claims is dropped, so a worker is
        not sent to the database by tasks another worker serves."""
        self._serves = None if engines is None else frozenset(engines)
        self._ensure_listener()
        woken = self._work.wait(timeout_s)
        self._work.clear()
        return woken

    def add_cancel_listener(self, listener: CancelListener) -> None:
        """Call ``listener(task_id)`` whenever a kill is requested, in any process of the
        database."""
        with self._lock:
            self._cancel_listeners.append(listener)
        self._ensure_listener()

    def remove_cancel_listener(self, listener: CancelListener) -> None:
        """Undo ``add_cancel_listener``."""
        with self._lock:
            if listener in self._cancel_listeners:
                self._cancel_listeners.remove(listener)

    def close(self) -> None:
        """Stop the LISTEN thread or the bus (if any) and wake every waiter."""
        self._closed.set()
        self._work.set()
        if self._listener is not None:
            self._listener.join(timeout=LISTEN_POLL_S * 4)
        if self._bus is not None:
            self._bus.close()

    # ---- receiving: PostgreSQL LISTEN, or the SQLite bus ---------------------------------

    def _ensure_listener(self) -> None:
        if self._closed.is_set():
            return
        if self._bus is not None:
            self._bus.listen(self._received)
            return
        if self._engine.dialect.name != "postgresql":
            return
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, daemon=True,
                                                  name="framecast-listen")
                self._listener.start()

    def _received(self, channel: str, payload: str) -> None:
        """An event from another process."""
        if channel == CANCEL_CHANNEL:
            self.cancel_requested(payload)
        else:
            self.work_available(payload)

    def _listen(self) -> None:
        """Hold one dedicated connection (outside the pool) that LISTENs on both channels."""
        import psycopg  # only needed on PostgreSQL

        cargs, cparams = self._engine.dialect.create_connect_args(self._engine.url)
        while not self._closed.is_set():
            try:
                with psycopg.connect(*cargs, **cparams, autocommit=True) as conn:
                    conn.execute(f"LISTEN {TASK_CHANNEL}")
                    conn.execute(f"LISTEN {CANCEL_CHANNEL}")
                    # whatever was sent while we were not listening is lost: look once
                    self.work_available()
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=LISTEN_POLL_S):
                            self._received(note.channel, note.payload)
            except Exception as exc:  # a dropped connection must not end the thread
                if self._closed.is_set():
                    break
                log.warning("LISTEN connection failed (%s: %s); retrying in %.0f s",
                            type(exc).__name__, exc, LISTEN_RECONNECT_S)
                self._closed.wait(LISTEN_RECONNECT_S)
