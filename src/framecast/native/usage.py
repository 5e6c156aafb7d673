"""``GET /framecast/v1/usage``: what the calling key used in a time range.

Tasks count by the time they were created, in ``[since, until)``. ``tokens`` are the usage
tokens of succeeded tasks only (what the vendors bill); ``engine_seconds`` is the engine time
recorded on the tasks. Groups: every status and ``total`` per model (as the client named it)
and kind, and the same summed per kind and overall.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

from framecast.core.errors import InvalidInput
from framecast.core.task import TaskStatus
from framecast.db.stats import UsageRow
from framecast.native import wire

STATUSES = [s.value for s in TaskStatus]


def parse_time(value: str | None, param: str, default: float) -> float:
    """Unix seconds from ``value``: a number, or an ISO 8601 date or time (UTC unless it
    says otherwise); ``default`` when absent."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"`{param}` must be unix seconds or an ISO 8601 time, got "
                           f"{value!r}", param=param) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def time_range(since: str | None, until: str | None, now: float | None = None
               ) -> tuple[float, float]:
    """The ``[since, until)`` range of a request (all time up to now by default)."""
    start = parse_time(since, "since", 0.0)
    end = parse_time(until, "until", (now if now is not None else time.time()) + 1.0)
    if end < start:
        raise InvalidInput("`until` must not be before `since`", param="until")
    return start, end


class _Group:
    def __init__(self) -> None:
        self.tasks = dict.fromkeys(STATUSES, 0)
        self.tokens = 0
        self.engine_seconds = 0.0

    def add(self, row: UsageRow) -> None:
        self.tasks[row.status] = self.tasks.get(row.status, 0) + row.tasks
        if row.status == TaskStatus.SUCCEEDED:
            self.tokens += row.tokens
        self.engine_seconds += row.engine_seconds

    def fields(self) -> dict[str, object]:
        return {"tasks": {**self.tasks, "total": sum(self.tasks.values())},
                "tokens": self.tokens, "engine_seconds": round(self.engine_seconds, 3)}


def summarize(key_id: str, rows: Iterable[UsageRow], since: float, until: float) -> wire.Usage:
    """The usage document of one key from its grouped rows."""
    overall = _Group()
    by_model: dict[tuple[str, str], _Group] = {}
    by_kind: dict[str, _Group] = {}
    for row in rows:
        overall.add(row)
        by_model.setdefault((row.model, row.kind), _Group()).add(row)
        by_kind.setdefault(row.kind, _Group()).add(row)
    return wire.Usage(
        key_id=key_id, since=since, until=until, **overall.fields(),  # type: ignore[arg-type]
        by_model=[wire.ModelUsage(model=m, kind=k, **g.fields())  # type: ignore[arg-type]
                  for (m, k), g in sorted(by_model.items())],
        by_kind=[wire.KindUsage(kind=k, **g.fields())  # type: ignore[arg-type]
                 for k, g in sorted(by_kind.items())])
