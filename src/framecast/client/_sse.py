"""Reading ``text/event-stream`` line by line, and following one task to its end.

``SSEDecoder`` turns lines into events (the WHATWG rules: ``data`` lines joined, ``id``
remembered across events, comments ignored). ``Follower`` holds what following a task needs
across reconnects, shared by the sync and async clients: the last event id (sent back as
``Last-Event-ID``), how many streams broke in a row, and whether ``done`` arrived.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from framecast.client._models import TaskEvent

ProgressCallback = Callable[[TaskEvent], Any]
RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)   # after a broken stream; the last repeats
MAX_STREAM_FAILURES = 5       # consecutive broken streams before falling back to polling
STREAM_READ_TIMEOUT_S = 45.0  # the server pings every 15 s: a silent minute means trouble


@dataclass
class ServerSentEvent:
    """One dispatched event."""

    event: str
    data: str
    id: str | None


@dataclass
class SSEDecoder:
    """Feed lines (without their line break); ``feed`` returns an event at each blank line."""

    last_event_id: str | None = None
    _data: list[str] = field(default_factory=list)
    _event: str = ""

    def feed(self, line: str) -> ServerSentEvent | None:
        """One line of the stream; the event it completes, if any."""
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = ServerSentEvent(self._event or "message", "\n".join(self._data),
                                    self.last_event_id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        return None


def parse_task_event(sse: ServerSentEvent) -> TaskEvent | None:
    """The ``TaskEvent`` of a server-sent event (None for what is not one)."""
    if sse.event not in ("status", "progress", "done"):
        return None
    try:
        data = json.loads(sse.data)
    except ValueError:
        return None
    event_id = int(sse.id) if sse.id and sse.id.isdigit() else None
    return TaskEvent(id=event_id, event=sse.event, **data)


@dataclass
class Follower:
    """The state of following one task across reconnects."""

    task_id: str
    last_event_id: str | None = None
    done: bool = False
    failures: int = 0

    def headers(self) -> dict[str, str]:
        """The request headers of the next connection."""
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def decoder(self) -> SSEDecoder:
        """A decoder for the next connection (it remembers the last id)."""
        return SSEDecoder(last_event_id=self.last_event_id)

    def handle(self, sse: ServerSentEvent) -> TaskEvent | None:
        """One event from the stream: remember its id and note ``done``; returns the task
        event to report (None for anything else)."""
        if sse.id is not None:
            self.last_event_id = sse.id
        event = parse_task_event(sse)
        if event is None:
            return None
        self.failures = 0
        self.done = self.done or event.event == "done"
        return event

    @staticmethod
    def changed(event: TaskEvent, previous: TaskEvent | None) -> bool:
        """Whether a polled update says something new (report only those)."""
        return previous is None or (event.status, event.step, event.progress) != \
            (previous.status, previous.step, previous.progress)

    def backoff_s(self) -> float:
        """How long to wait before reconnecting after the latest failure."""
        return RECONNECT_DELAYS_S[min(max(self.failures, 1), len(RECONNECT_DELAYS_S)) - 1]
