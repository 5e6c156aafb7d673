"""Group commit for the request path: store calls that arrive together go together.

Every create is one insert and every poll one read by id. Made one by one, each costs a
worker-thread hop (and, on PostgreSQL, a round trip and a commit); under load those hops
and the interpreter lock they contend for cost more than the SQL. A ``Batcher`` sends every
item submitted while its batches were in the store as the next batch: one thread hop, one
statement and one commit for all of them. Up to ``concurrency`` batches are in the store at
once, so the next one gathers while the last one commits (on PostgreSQL, a commit is a disk
flush). A lone request still goes at once (a batch of one), so nothing waits for a batch to
fill.

Results come back per item: one item's error (a duplicate id) fails that item's request
only.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")
R = TypeVar("R")

BATCH_MAX_ITEMS = 200   # the most items one call of the store receives
BATCH_CONCURRENCY = 2   # batches in the store at once


@dataclass
class _Lane(Generic[T, R]):
    """What one event loop has waiting, and its drains (each sends one batch at a time)."""

    waiting: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    drains: set[asyncio.Task[None]] = field(default_factory=set)


class Batcher(Generic[T, R]):
    """Runs ``run(items)`` in a worker thread for the items submitted while the previous
    batch was running. ``run`` returns one result per item, in order: a value, or the
    exception that item's ``submit`` raises. With ``inline``, ``run`` is called on the event
    loop itself, for calls that never wait (SQLite reads by id: no thread hop, and no wait
    for the interpreter lock to come back from a busy loop); a batch is then what arrived
    in one turn of the loop."""

    def __init__(self, run: Callable[[list[T]], Sequence[R | BaseException]], *,
                 max_items: int = BATCH_MAX_ITEMS, concurrency: int = BATCH_CONCURRENCY,
                 inline: bool = False) -> None:
        self._run = run
        self._max_items = max_items
        self._concurrency = concurrency
        self._inline = inline
        # per event loop: the API has one, but tests and embedders may run several
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane[T, R]] = \
            weakref.WeakKeyDictionary()

    async def submit(self, item: T) -> R:
        """``item``'s result, from the batch it goes in."""
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane()
        future: asyncio.Future[R] = loop.create_future()
        lane.waiting.append((item, future))
        if len(lane.drains) < self._concurrency:
            lane.drains.add(loop.create_task(self._drain(lane)))
        return await future

    async def _drain(self, lane: _Lane[T, R]) -> None:
        """Send batches until nothing is waiting."""
        try:
            await self._send_batches(lane)
        finally:
            # at once, with no await since the last look at `waiting`: a done-callback runs
            # a turn later, and a caller arriving in between would find no drain to start
            lane.drains.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _send_batches(self, lane: _Lane[T, R]) -> None:
        while lane.waiting:
            batch = lane.waiting[:self._max_items]
            del lane.waiting[:self._max_items]
            items = [item for item, _ in batch]
            try:
                results: Sequence[R | BaseException] = self._run(items) if self._inline \
                    else await anyio.to_thread.run_sync(self._run, items)
            except Exception as exc:   # the whole batch failed: every item says why
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():      # its request went away; the work is done anyway
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
