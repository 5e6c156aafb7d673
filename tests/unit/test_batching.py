"""The request path's group commit (``core/batching.Batcher``): what arrives together goes to
the store together, a lone call goes at once, and each caller gets its own result or error."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from framecast.service.batching import Batcher


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Yield to the loop until ``condition`` holds (a batch reached the store), however
    slow the machine is; no fixed sleep."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the store was never reached"
        await asyncio.sleep(0.005)


class Recorder:
    """A store call that records its batches; it can be held to let callers pile up."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered: list[list[int]] = []   # batches as they reached the store (held or not)
        self.release = threading.Event()
        self.release.set()

    def run(self, items: list[int]) -> list[int | BaseException]:
        self.entered.append(list(items))
        self.release.wait(5)
        self.batches.append(list(items))
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


def test_a_lone_call_goes_at_once() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run)
    assert asyncio.run(batcher.submit(4)) == 40
    assert recorder.batches == [[4]]


def test_calls_made_while_a_batch_runs_go_as_the_next_batch() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run, concurrency=1)

    async def main() -> list[int | BaseException]:
        recorder.release.clear()
        first = asyncio.create_task(batcher.submit(0))
        await until(lambda: len(recorder.entered) == 1)  # batch [0] is in the store, held
        rest = [asyncio.create_task(batcher.submit(i)) for i in range(2, 12, 2)]
        await asyncio.sleep(0.05)
        recorder.release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    assert asyncio.run(main()) == [0, 20, 40, 60, 80, 100]
    assert recorder.batches == [[0], [2, 4, 6, 8, 10]]


def test_the_next_batch_gathers_while_two_are_in_the_store() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run, concurrency=2)

    async def main() -> list[int | BaseException]:
        recorder.release.clear()
        first = []
        for n, i in enumerate((0, 2), 1):
            first.append(asyncio.create_task(batcher.submit(i)))
            await until(lambda n=n: len(recorder.entered) == n)   # [0], then [2] too, in the store
        rest = [asyncio.create_task(batcher.submit(i)) for i in (4, 6, 8)]
        await asyncio.sleep(0.05)
        recorder.release.set()
        return await asyncio.gather(*first, *rest)

    assert asyncio.run(main()) == [0, 20, 40, 60, 80]
    assert recorder.entered == [[0], [2], [4, 6, 8]]   # [4, 6, 8] gathered while held


def test_each_caller_gets_its_own_error() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run)

    async def main() -> list[int | BaseException]:
        return await asyncio.gather(*(batcher.submit(i) for i in range(4)),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd 1"
    assert isinstance(results[3], ValueError) and str(results[3]) == "odd 3"


def test_a_failing_store_call_fails_every_caller_of_that_batch_only() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("database is gone")
        return items

    batcher = Batcher(run)

    async def main() -> None:
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2),
                                       return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        assert await batcher.submit(3) == 3         # the next batch goes through

    asyncio.run(main())


def test_batches_are_capped() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run, max_items=3, concurrency=1)

    async def main() -> None:
        await asyncio.gather(*(batcher.submit(i * 2) for i in range(7)))

    asyncio.run(main())
    assert [len(b) for b in recorder.batches] == [3, 3, 1]


def test_a_caller_that_goes_away_does_not_stop_the_others() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run, concurrency=1)

    async def main() -> int:
        recorder.release.clear()
        gone = asyncio.create_task(batcher.submit(2))
        stays = asyncio.create_task(batcher.submit(4))
        await asyncio.sleep(0.05)
        gone.cancel()
        recorder.release.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await stays

    assert asyncio.run(main()) == 40
    assert recorder.batches == [[2, 4]]             # its item was still stored


def test_each_event_loop_has_its_own_batches() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.run)
    assert asyncio.run(batcher.submit(2)) == 20
    assert asyncio.run(batcher.submit(4)) == 40     # a second loop, after the first closed
    results: list[int] = []
    threads = [threading.Thread(target=lambda i=i: results.append(asyncio.run(
        batcher.submit(i)))) for i in (6, 8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(results) == [60, 80]


@pytest.mark.parametrize("inline", [False, True])
def test_no_caller_is_left_waiting_when_a_drain_ends(inline: bool) -> None:
    """Callers arriving as the last drain finishes start a new one (a drain that had ended
    but was not yet forgotten once left them waiting for ever)."""
    batcher = Batcher(lambda items: [i + 1 for i in items], concurrency=2, inline=inline)

    async def client(n: int) -> list[int]:
        results = []
        for i in range(100):
            results.append(await batcher.submit(n * 1000 + i))
            if i % 7 == 0:
                await asyncio.sleep(0)
        return results

    async def main() -> list[list[int]]:
        return await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(50))), 20)

    results = asyncio.run(main())
    assert [r[-1] for r in results] == [n * 1000 + 100 for n in range(50)]
