"""Cursor pagination of ``GET /v1/videos`` over ``TaskService.list`` (which pages by offset,
newest first).

The cursor is a video id (``after=last_id``, as the SDK sends it). Its position is found by
binary search on the sort key ``(created_at, id)`` — ``log2(n)`` one-row reads — and the page
is then filtered by that key, so tasks created or deleted between two pages never shift it.
A cursor that no longer exists (the caller deleted it while iterating, a common clean-up
loop) is placed by the creation time embedded in its id (``cgt-YYYYMMDDHHMMSS-…``), rounded
so that the next page may repeat an item of that same second but never skips one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from framecast.core.errors import InvalidInput, NotFound
from framecast.core.task import Task
from framecast.service.tasks import TaskService

Key = tuple[float, str]

LIMIT_DEFAULT = 20
LIMIT_MAX = 100
ORDERS: tuple[str, ...] = ("asc", "desc")
_ID_STAMP = re.compile(r"^[a-z]+-(\d{14})-")


def check_params(limit: int, order: str) -> None:
    """``limit`` within [0, 100]; ``order`` asc or desc."""
    if not 0 <= limit <= LIMIT_MAX:
        raise InvalidInput(f"Invalid value for 'limit': must be within [0, {LIMIT_MAX}], got "
                           f"{limit}.", param="limit")
    if order not in ORDERS:
        raise InvalidInput(f"Invalid value for 'order': must be 'asc' or 'desc', got "
                           f"{order[:20]!r}.", param="order")


def page_videos(service: TaskService, owner_id: str, *, after: str | None, limit: int,
                order: str) -> tuple[list[Task], bool]:
    """One page of the owner's video tasks (every dialect's) and whether more follow."""
    check_params(limit, order)

    def window(offset: int, count: int) -> list[Task]:
        return service.list(owner_id, kind="video", offset=offset, limit=count)[1] \
            if count > 0 else []

    total = service.list(owner_id, kind="video", offset=0, limit=1)[0]
    cursor = cursor_key(service, owner_id, after, order) if after else None
    if order == "desc":
        start = 0 if cursor is None else first_index(window, total, lambda k: k < cursor)
        tasks = [t for t in window(start, limit + 1) if cursor is None or key(t) < cursor]
        return tasks[:limit], len(tasks) > limit
    end = total if cursor is None else first_index(window, total, lambda k: k <= cursor)
    start = max(0, end - limit)
    tasks = [t for t in window(start, end - start) if cursor is None or key(t) > cursor]
    return list(reversed(tasks)), start > 0


def key(task: Task) -> Key:
    """The list's sort key (newest first = descending)."""
    return (task.created_at, task.id)


def first_index(window: Callable[[int, int], list[Task]], total: int,
                holds: Callable[[Key], bool]) -> int:
    """The first offset in ``[0, total]`` whose task's key ``holds`` (the predicate turns
    from false to true once along the newest-first order)."""
    low, high = 0, total
    while low < high:
        middle = (low + high) // 2
        found = window(middle, 1)
        if not found or holds(key(found[0])):
            high = middle
        else:
            low = middle + 1
    return low


def cursor_key(service: TaskService, owner_id: str, after: str, order: str) -> Key:
    """The sort key of the ``after`` video; for a deleted one, a bound from its id's time."""
    try:
        return key(service.get(after, owner_id=owner_id))
    except NotFound:
        pass
    match = _ID_STAMP.match(after)
    if match is None:
        raise InvalidInput(f"Invalid value for 'after': no video with id {after[:64]!r}.",
                           param="after")
    second = datetime.strptime(match[1], "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
    # desc continues below the cursor: start at the end of its second; asc at its start
    return (second + 1.0, after) if order == "desc" else (second, after)
