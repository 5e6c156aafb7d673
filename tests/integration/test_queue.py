"""The task queue and key store against real databases: every test runs on a SQLite file and,
when ``FRAMECAST_TEST_POSTGRES_URL`` is set, on PostgreSQL (a fresh schema per test).

Leases and expiry are tested with a fake clock (the River/pgqueuer style: no sleeps, no
real crashes); concurrency with real threads on real connections.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from framecast.core.errors import InvalidInput, InvalidTransition, LeaseLost, NotFound
from framecast.core.task import OutputFile, TaskStatus
from framecast.db.database import alembic_config, open_database
from framecast.db.keys import KeyStore, hash_key
from framecast.db.queue import NewTask, TaskQueue
from framecast.db.tables import api_keys, metadata

if TYPE_CHECKING:
    from conftest import FakeClock


def new(task_id: str, *, owner: str = "alice", engine: str = "motion", tier: str = "default",
        priority: int = 0, kind: str = "video", model: str = "seedance-1-0-pro",
        expires_after: int = 3600) -> NewTask:
    """A minimal task to enqueue."""
    return NewTask(id=task_id, owner_id=owner, kind=kind, model=model, engine=engine,
                   spec={"kind": kind, "model": model, "prompt": task_id},
                   service_tier=tier, priority=priority, usage_tokens=108900,
                   execution_expires_after=expires_after)


def claim_one(queue: TaskQueue, worker: str = "w1", engines: list[str] | None = None):
    """Claim exactly one task."""
    claims = queue.claim(worker, engines)
    assert len(claims) == 1, claims
    return claims[0]


def fenced_writes(queue: TaskQueue, task_id: str, token: str) -> list[Callable[[], object]]:
    """Every write a worker makes with a lease token, ready to call."""
    return [partial(queue.heartbeat, task_id, token),
            partial(queue.progress, task_id, token, 1, 2),
            partial(queue.publish, task_id, token, []),
            partial(queue.kill_requested, task_id, token),
            partial(queue.finish, task_id, token, outputs=[], seed=1, usage_tokens=1,
                    engine_seconds=1.0),
            partial(queue.fail, task_id, token, code="X", message="x", rerun=True),
            partial(queue.stop, task_id, token),
            partial(queue.release, task_id, token)]


# ---- enqueue, get, list -----------------------------------------------------------------------

def test_enqueue_and_get_are_owner_scoped(queue: TaskQueue, clock: FakeClock) -> None:
    stored = queue.enqueue(new("t1", expires_after=600))
    assert stored.status is TaskStatus.QUEUED
    got = queue.get("t1", owner_id="alice")
    assert got == stored
    assert got.spec == {"kind": "video", "model": "seedance-1-0-pro", "prompt": "t1"}
    assert got.created_at == clock.now and got.expires_at == clock.now + 600
    assert got.usage_tokens == 108900 and got.outputs == []
    with pytest.raises(NotFound):
        queue.get("t1", owner_id="mallory")
    with pytest.raises(NotFound):
        queue.get("nope")
    with pytest.raises(NotFound):
        queue.cancel("t1", "mallory")
    with pytest.raises(NotFound):
        queue.delete("t1", "mallory")
    assert queue.get("t1").status is TaskStatus.QUEUED   # untouched by the foreign owner
    with pytest.raises(InvalidInput):
        queue.enqueue(new("t1"))                          # ids are unique


def test_enqueue_many_commits_together_and_fails_only_a_duplicate(queue: TaskQueue) -> None:
    results = queue.enqueue_many([new("b1"), new("b2", owner="bob"), new("b3")])
    assert [r.id for r in results if not isinstance(r, InvalidInput)] == ["b1", "b2", "b3"]
    assert all(r.status is TaskStatus.QUEUED for r in results if not isinstance(r, InvalidInput))

    # a batch holding an id that exists: that one fails, the rest are stored
    results = queue.enqueue_many([new("b4"), new("b2"), new("b5")])
    assert isinstance(results[1], InvalidInput) and results[1].param == "id"
    assert "b2" in results[1].message
    assert [r.id for r in (results[0], results[2]) if not isinstance(r, InvalidInput)] == \
        ["b4", "b5"]
    assert queue.get("b2").owner_id == "bob"          # the stored one is untouched
    assert queue.list("alice", limit=10)[0] == 4      # b1 b3 b4 b5


def test_get_many_reads_every_existing_id_at_once(queue: TaskQueue) -> None:
    for task_id in ("g1", "g2", "g3"):
        queue.enqueue(new(task_id, owner="bob" if task_id == "g2" else "alice"))
    found = queue.get_many(["g1", "g2", "missing", "g1"])
    assert sorted(found) == ["g1", "g2"]
    assert found["g2"].owner_id == "bob"              # any owner: the service scopes it
    assert found["g1"] == queue.get("g1")
    assert queue.get_many([]) == {}


def test_list_filters_paging_and_total(queue: TaskQueue, clock: FakeClock) -> None:
    for n in range(7):
        queue.enqueue(new(f"v{n}", tier="flex" if n % 2 else "default"))
        clock.advance(1)
    queue.enqueue(new("i0", kind="image", model="seedream-4-0", engine="testcard"))
    queue.enqueue(new("other", owner="bob"))
    queue.cancel("v0", "alice")

    total, page = queue.list("alice", limit=3)
    assert total == 8
    assert [t.id for t in page] == ["i0", "v6", "v5"]            # newest first
    total, page = queue.list("alice", offset=3, limit=3)
    assert total == 8 and [t.id for t in page] == ["v4", "v3", "v2"]
    assert queue.list("alice", kind="image")[0] == 1
    assert queue.list("alice", model="seedance-1-0-pro")[0] == 7
    assert queue.list("alice", model="seedance-1-0")[0] == 0     # exact match only
    assert queue.list("alice", service_tier="flex")[0] == 3
    assert [t.id for t in queue.list("alice", statuses=["cancelled"])[1]] == ["v0"]
    total, page = queue.list("alice", task_ids=["v1", "v2", "other"])
    assert total == 2 and {t.id for t in page} == {"v1", "v2"}
    assert queue.list("bob")[0] == 1

    counts = queue.counts_by_status()
    assert counts["queued"] == 8 and counts["cancelled"] == 1 and counts["running"] == 0
    assert queue.counts_by_status("bob") == {**{s.value: 0 for s in TaskStatus}, "queued": 1}
    assert queue.queue_depth() == 8
    assert queue.count_queued("alice") == 7 and queue.count_queued("nobody") == 0


# ---- claim ------------------------------------------------------------------------------------

def test_claim_order_default_tier_then_priority_then_oldest(queue: TaskQueue,
                                                            clock: FakeClock) -> None:
    for task_id, tier, priority in [("flex-old", "flex", 0), ("def-p5", "default", 5),
                                    ("def-old", "default", 0), ("def-new", "default", 0),
                                    ("flex-p-1", "flex", -1)]:
        queue.enqueue(new(task_id, tier=tier, priority=priority))
        clock.advance(1)
    order = [claim_one(queue).task.id for _ in range(5)]
    assert order == ["def-old", "def-new", "def-p5", "flex-p-1", "flex-old"]
    assert queue.claim("w1") == []


def test_claim_sets_lease_and_filters_by_engine(queue: TaskQueue, clock: FakeClock) -> None:
    queue.enqueue(new("m", engine="motion"))
    queue.enqueue(new("t", engine="testcard"))
    assert queue.claim("w1", ["wan"]) == []
    assert queue.claim("w1", []) == []
    claim = claim_one(queue, "w1", ["testcard", "wan"])
    assert claim.task.id == "t" and claim.task.status is TaskStatus.RUNNING
    assert claim.task.attempt == 1 and claim.task.worker_id == "w1"
    assert claim.task.started_at == clock.now
    assert claim_one(queue, "w2").task.id == "m"                 # None serves any engine


def test_claim_batch_respects_limit(queue: TaskQueue) -> None:
    for n in range(5):
        queue.enqueue(new(f"t{n}"))
    claims = queue.claim("w1", limit=3)
    assert len(claims) == 3 and len({c.task.id for c in claims}) == 3
    assert len(queue.claim("w1", limit=10)) == 2


def claim_plan(queue: TaskQueue) -> str:
    """The database's plan for the claim statement of a worker with two engines: the
    statement the queue sends, exactly, with EXPLAIN in front."""
    from sqlalchemy import event

    from framecast.db import queries as q

    sqlite = queue.engine.dialect.name == "sqlite"
    params = {"p_now": time.time(), "p_limit": 1, "p_token": "t", "p_worker": "w",
              "p_lease_until": time.time() + 45, "p_engines": ["motion", "testcard"]}
    with queue.engine.connect() as conn:
        @event.listens_for(conn, "before_cursor_execute", retval=True)
        def explain(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore
            return ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters

        result = conn.execute(q.CLAIM_NEXT[conn.dialect.name], params)
        rows = result.cursor.fetchall()
        conn.rollback()
    return "\n".join(str(r[-1] if sqlite else r[0]) for r in rows)


def test_a_claim_walks_the_queue_index_and_sorts_nothing(queue: TaskQueue) -> None:
    """However long the backlog, a claim reads the first entries of ``ix_tasks_queued``:
    neither database may pick the expiry index and sort every queued task per claim (what
    both did, drained a 20,000-task backlog in quadratic time)."""
    for start in range(0, 3000, 500):
        queue.enqueue_many([new(f"q{n:05d}") for n in range(start, start + 500)])
    for _ in range(300):   # dead index entries at the head, as a drain leaves them
        claimed = claim_one(queue)
        queue.finish(claimed.task.id, claimed.lease_token, outputs=[], seed=1,
                     usage_tokens=1, engine_seconds=0.0)
    if queue.engine.dialect.name == "postgresql":
        # the reaper's refresh: statistics once enough changed (the counts reach the view
        # once the writing connections flush them, within a second or so of going idle)
        deadline = time.monotonic() + 15
        while not queue.refresh_statistics():
            assert time.monotonic() < deadline, "the statistics never caught up"
            time.sleep(0.2)
        assert not queue.refresh_statistics()   # nothing changed since
    plan = claim_plan(queue)
    assert "ix_tasks_queued" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
    assert claim_one(queue).task.id == "q00300"    # and still in claim order


def test_concurrent_claimers_never_share_a_task(queue: TaskQueue) -> None:
    for n in range(200):
        queue.enqueue(new(f"t{n:03d}"))
    claimed: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        try:
            while True:
                claims = queue.claim(name, limit=2)
                if not claims:
                    return
                with lock:
                    claimed.extend(c.task.id for c in claims)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    counts = Counter(claimed)
    assert len(counts) == 200 and max(counts.values()) == 1
    assert queue.counts_by_status()["running"] == 200


# ---- leases -----------------------------------------------------------------------------------

def test_a_stale_lease_token_is_fenced_out(queue: TaskQueue, clock: FakeClock) -> None:
    queue.enqueue(new("t"))
    first = claim_one(queue, "w1")
    clock.advance(46)
    assert queue.requeue_lapsed() == ["t"]
    second = claim_one(queue, "w2")
    assert second.task.attempt == 2 and second.lease_token != first.lease_token
    for write in fenced_writes(queue, "t", first.lease_token):
        with pytest.raises(LeaseLost):
            write()
    task = queue.get("t")
    assert task.status is TaskStatus.RUNNING and task.worker_id == "w2"
    queue.heartbeat("t", second.lease_token)                     # the holder is unaffected


def test_published_files_show_while_running_and_go_with_a_requeue(
        queue: TaskQueue, clock: FakeClock) -> None:
    queue.enqueue(new("t", kind="image"))
    claim = claim_one(queue)
    first = {"name": "image-1.jpeg", "key": "tasks/t/1/image-1.jpeg",
             "content_type": "image/jpeg", "width": 64, "height": 64}
    clock.advance(40)
    assert queue.publish("t", claim.lease_token, [first]).cancel_requested is False
    task = queue.get("t")
    assert task.status.value == "running" and [o.name for o in task.outputs] == ["image-1.jpeg"]
    clock.advance(40)
    assert queue.requeue_lapsed() == []                 # publishing renewed the lease
    clock.advance(46)
    assert queue.requeue_lapsed() == ["t"]
    task = queue.get("t")
    assert task.status.value == "queued" and task.outputs == []   # attempt 1's files went


def test_heartbeat_and_progress_extend_the_lease(queue: TaskQueue, clock: FakeClock) -> None:
    queue.enqueue(new("t"))
    claim = claim_one(queue)
    clock.advance(40)
    assert queue.heartbeat("t", claim.lease_token).cancel_requested is False
    clock.advance(40)
    reply = queue.progress("t", claim.lease_token, 3, 12)
    assert reply.cancel_requested is False
    clock.advance(40)
    assert queue.requeue_lapsed() == []                          # 120 s, renewed twice
    task = queue.get("t")
    assert (task.step, task.total_steps, task.progress) == (3, 12, 0.25)
    clock.advance(6)
    assert queue.requeue_lapsed() == ["t"]


def test_finish_records_outputs_and_usage(queue: TaskQueue) -> None:
    queue.enqueue(new("t"))
    claim = claim_one(queue)
    queue.progress("t", claim.lease_token, 5, 10)
    video = OutputFile(name="video.mp4", key="tasks/t/1/video.mp4", content_type="video/mp4",
                       size_bytes=1234, width=1248, height=704, frames=121, fps=24)
    done = queue.finish("t", claim.lease_token, outputs=[video], seed=42, usage_tokens=99,
                        engine_seconds=3.5)
    assert done.status is TaskStatus.SUCCEEDED and done.progress == 1.0 and done.step == 10
    again = queue.get("t")
    assert again.outputs == [video] and again.seed == 42 and again.usage_tokens == 99
    assert again.engine_seconds == 3.5 and again.finished_at is not None


def test_fail_with_rerun_requeues_within_the_budget(queue: TaskQueue) -> None:
    queue.enqueue(new("t"))
    for expected_reruns in (1, 2):
        claim = claim_one(queue)
        task = queue.fail("t", claim.lease_token, code="InternalServiceError",
                          message="engine process exited with -9", rerun=True)
        assert task.status is TaskStatus.QUEUED and task.reruns == expected_reruns
    claim = claim_one(queue)
    assert claim.task.attempt == 3
    task = queue.fail("t", claim.lease_token, code="InternalServiceError",
                      message="engine process exited with -9", rerun=True)
    assert task.status is TaskStatus.FAILED and task.reruns == 2
    assert task.error_message == "engine process exited with -9"

    queue.enqueue(new("u"))
    claim = claim_one(queue)
    task = queue.fail("u", claim.lease_token, code="InvalidParameter", message="bad")
    assert task.status is TaskStatus.FAILED and task.error_code == "InvalidParameter"


def test_release_hands_back_without_counting_a_rerun(queue: TaskQueue) -> None:
    queue.enqueue(new("t"))
    claim = claim_one(queue)
    task = queue.release("t", claim.lease_token)
    assert task.status is TaskStatus.QUEUED and task.reruns == 0
    assert claim_one(queue).task.attempt == 2


# ---- reaper -----------------------------------------------------------------------------------

def test_reaper_requeues_lapsed_leases_then_fails_with_worker_lost(queue: TaskQueue,
                                                                   clock: FakeClock) -> None:
    queue.enqueue(new("t"))
    for lapse in (1, 2):
        claim_one(queue)
        clock.advance(44)
        assert queue.requeue_lapsed() == []                      # not yet lapsed
        clock.advance(2)
        assert queue.requeue_lapsed() == ["t"]
        task = queue.get("t")
        assert task.status is TaskStatus.QUEUED and task.reruns == lapse
    claim_one(queue)
    clock.advance(46)
    assert queue.requeue_lapsed() == ["t"]
    task = queue.get("t")
    assert task.status is TaskStatus.FAILED and task.error_code == "WorkerLost"
    assert "2 re-runs" in task.error_message and task.attempt == 3
    assert queue.requeue_lapsed() == []


@pytest.mark.parametrize("expired", [False, True])
def test_reaper_never_reruns_a_task_whose_kill_was_requested(queue: TaskQueue, clock: FakeClock,
                                                             expired: bool) -> None:
    queue.enqueue(new("t", expires_after=100))
    claim_one(queue)
    if expired:
        clock.advance(101)
        assert queue.expire_due() == ["t"]
    else:
        queue.cancel("t", "alice")
    clock.advance(46)
    assert queue.requeue_lapsed() == ["t"]
    status = queue.get("t").status
    assert status is (TaskStatus.EXPIRED if expired else TaskStatus.CANCELLED)


# ---- expiry -----------------------------------------------------------------------------------

def test_a_queued_task_past_its_deadline_expires_and_is_never_claimed(queue: TaskQueue,
                                                                      clock: FakeClock) -> None:
    queue.enqueue(new("t", expires_after=3600))
    queue.enqueue(new("later", expires_after=7200))
    clock.advance(3600)
    assert [c.task.id for c in queue.claim("w1", limit=5)] == ["later"]   # never past expiry
    assert queue.expire_due() == ["t"]
    task = queue.get("t")
    assert task.status is TaskStatus.EXPIRED and task.finished_at == clock.now
    assert queue.expire_due() == []


def test_a_running_task_past_its_deadline_is_killed_then_stopped_as_expired(
        queue: TaskQueue, clock: FakeClock) -> None:
    queue.enqueue(new("t", expires_after=60))
    claim = claim_one(queue)
    clock.advance(61)
    assert queue.expire_due() == ["t"]
    assert queue.expire_due() == []                               # asked once
    reply = queue.heartbeat("t", claim.lease_token)
    assert reply.cancel_requested and reply.cancel_reason == "expired"
    assert queue.kill_requested("t", claim.lease_token).cancel_reason == "expired"
    assert queue.stop("t", claim.lease_token).status is TaskStatus.EXPIRED


# ---- cancel, delete, terminal states ----------------------------------------------------------

def test_cancel_queued_running_and_terminal(queue: TaskQueue) -> None:
    queue.enqueue(new("q"))
    task = queue.cancel("q", "alice")
    assert task.status is TaskStatus.CANCELLED and task.finished_at is not None
    assert queue.claim("w1") == []                                # a cancelled task never runs

    queue.enqueue(new("r"))
    claim = claim_one(queue)
    with pytest.raises(InvalidTransition):
        queue.cancel_queued("r", "alice")
    task = queue.cancel("r", "alice")
    assert task.status is TaskStatus.RUNNING and task.cancel_requested
    assert task.cancel_reason == "cancel"
    assert queue.heartbeat("r", claim.lease_token).cancel_requested
    assert queue.stop("r", claim.lease_token).status is TaskStatus.CANCELLED

    for task_id in ("q", "r"):
        with pytest.raises(InvalidTransition):
            queue.cancel(task_id, "alice")


def test_a_kill_request_reaches_cancel_listeners(queue: TaskQueue) -> None:
    heard: list[str] = []
    queue.add_cancel_listener(heard.append)
    queue.enqueue(new("r"))
    claim_one(queue)
    queue.cancel("r", "alice")
    deadline = time.monotonic() + 5
    while "r" not in heard and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "r" in heard


def test_delete_only_terminal_tasks(queue: TaskQueue) -> None:
    queue.enqueue(new("q"))
    with pytest.raises(InvalidTransition):
        queue.delete("q", "alice")
    claim = claim_one(queue)
    with pytest.raises(InvalidTransition):
        queue.delete("q", "alice")
    queue.finish("q", claim.lease_token, outputs=[], seed=1, usage_tokens=1, engine_seconds=0)
    deleted = queue.delete("q", "alice")
    assert deleted.id == "q" and deleted.status is TaskStatus.SUCCEEDED
    with pytest.raises(NotFound):
        queue.get("q")
    with pytest.raises(NotFound):
        queue.delete("q", "alice")


def test_terminal_states_never_change(queue: TaskQueue, clock: FakeClock) -> None:
    tokens = {}
    for task_id in ("ok", "bad", "stopped", "timedout"):
        queue.enqueue(new(task_id, expires_after=100))
    for _ in range(3):
        claim = claim_one(queue)
        tokens[claim.task.id] = claim.lease_token
    queue.finish("ok", tokens["ok"], outputs=[], seed=1, usage_tokens=1, engine_seconds=0)
    queue.fail("bad", tokens["bad"], code="X", message="x")
    queue.cancel("stopped", "alice")
    queue.stop("stopped", tokens["stopped"])
    clock.advance(101)
    queue.expire_due()
    before = {t.id: t for t in queue.list("alice", limit=10)[1]}
    assert {t.status for t in before.values()} == {TaskStatus.SUCCEEDED, TaskStatus.FAILED,
                                                   TaskStatus.CANCELLED, TaskStatus.EXPIRED}
    clock.advance(1000)
    assert queue.requeue_lapsed() == [] and queue.expire_due() == []
    assert queue.claim("w1") == []
    for task_id, token in tokens.items():
        for write in fenced_writes(queue, task_id, token):
            with pytest.raises(LeaseLost):
                write()
    for task_id in before:
        for transition in (queue.cancel, queue.cancel_queued):
            with pytest.raises(InvalidTransition):
                transition(task_id, "alice")
    assert {t.id: t for t in queue.list("alice", limit=10)[1]} == before


# ---- wake-ups ---------------------------------------------------------------------------------

ENQUEUE_IN_A_SUBPROCESS = (
    "import sys; from framecast.db.database import open_database; "
    "from framecast.db.queue import TaskQueue, NewTask; "
    "q = TaskQueue(open_database(sys.argv[1])); "
    "q.enqueue(NewTask(id=sys.argv[2], owner_id='alice', kind='video', model='m', "
    "engine='motion', spec={})); q.close()")


def test_enqueue_wakes_a_waiting_worker(queue: TaskQueue, db_url: str) -> None:
    """Woken by an enqueue in its own queue, in another queue of this process, and in
    another process: NOTIFY on PostgreSQL, the wake-up bus on a SQLite file."""
    other = TaskQueue(open_database(db_url))

    def in_a_subprocess(task: NewTask) -> None:
        subprocess.run([sys.executable, "-c", ENQUEUE_IN_A_SUBPROCESS, db_url, task.id],
                       check=True, timeout=60)

    try:
        queue.wait_for_work(5)     # starts the listener; it wakes us once it listens
        for n, produce in enumerate((queue.enqueue, other.enqueue, in_a_subprocess)):
            queue.wait_for_work(0)     # clear a pending wake-up
            waited: list[float] = []
            waiter = threading.Thread(target=_timed_wait, args=(queue, 30, waited))
            waiter.start()
            time.sleep(0.2)
            started = time.monotonic()
            produce(new(f"t{n}"))
            produced_in = time.monotonic() - started   # a subprocess takes a second or two
            waiter.join(35)
            assert waited and waited[0] < 0.2 + produced_in + 1.0, f"not woken by producer {n}"
    finally:
        other.close()
        other.engine.dispose()


def test_a_waiter_is_woken_only_by_tasks_for_its_engines(queue: TaskQueue, db_url: str) -> None:
    other = TaskQueue(open_database(db_url))
    try:
        queue.wait_for_work(5, ["motion"])   # starts the listener; it wakes us once it listens
        for engine, woken in (("testcard", False), ("motion", True)):
            queue.wait_for_work(0, ["motion"])   # clear a pending wake-up
            waited: list[float] = []
            waiter = threading.Thread(target=_timed_wait, args=(queue, 2, waited),
                                      kwargs={"engines": ["motion"]})
            waiter.start()
            time.sleep(0.2)
            other.enqueue(new(f"for-{engine}", engine=engine))
            waiter.join(10)
            assert waited and (waited[0] < 1.5) is woken, (engine, waited)
    finally:
        other.close()
        other.engine.dispose()


def test_a_kill_request_in_another_queue_reaches_cancel_listeners(queue: TaskQueue,
                                                                   db_url: str) -> None:
    heard: list[str] = []
    queue.add_cancel_listener(heard.append)
    queue.enqueue(new("r"))
    claim_one(queue)
    other = TaskQueue(open_database(db_url))
    try:
        time.sleep(0.5)   # PostgreSQL: the LISTEN connection is open
        other.cancel("r", "alice")
        deadline = time.monotonic() + 5
        while "r" not in heard and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "r" in heard
    finally:
        other.close()
        other.engine.dispose()


def _timed_wait(queue: TaskQueue, timeout_s: float, waited: list[float],
                engines: list[str] | None = None) -> None:
    started = time.monotonic()
    queue.wait_for_work(timeout_s, engines)
    waited.append(time.monotonic() - started)


# ---- schema and keys --------------------------------------------------------------------------

def test_migration_is_idempotent_and_matches_the_tables(db_url: str) -> None:
    first = open_database(db_url)
    second = open_database(db_url)
    with second.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() \
            == ScriptDirectory.from_config(alembic_config()).get_current_head()
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []
    first.dispose()
    second.dispose()


def test_two_processes_migrating_at_once(db_url: str) -> None:
    code = ("import sys; from framecast.db.database import open_database; "
            "from framecast.db.queue import TaskQueue, NewTask; "
            "q = TaskQueue(open_database(sys.argv[1])); "
            "q.enqueue(NewTask(id=sys.argv[2], owner_id='o', kind='video', model='m', "
            "engine='motion', spec={}))")
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url, f"p{n}"],
                              stderr=subprocess.PIPE) for n in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    engine = open_database(db_url)
    assert TaskQueue(engine).list("o")[0] == 2
    engine.dispose()


def test_keys_are_stored_hashed_and_can_be_revoked(db_url: str, clock: FakeClock) -> None:
    engine = open_database(db_url)
    keys = KeyStore(engine, clock=clock)
    key_id, plaintext = keys.create("ci")
    clock.advance(1)
    other_id, other = keys.create("laptop")
    assert plaintext.startswith("fc-") and len(plaintext) > 40
    assert keys.authenticate(plaintext) == key_id
    assert keys.authenticate(plaintext + "x") is None
    assert keys.authenticate("") is None
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    assert row.key_hash == hash_key(plaintext) and plaintext not in tuple(map(str, row))
    assert row.prefix == plaintext[:8] and row.signing_secret.startswith("whsec_")
    assert keys.signing_secret(key_id) == row.signing_secret

    listed = keys.list()
    assert [k.name for k in listed] == ["ci", "laptop"] and all(k.active for k in listed)
    assert keys.count_active() == 2
    assert keys.revoke("laptop") == other_id                     # by name
    assert keys.authenticate(other) is None and keys.count_active() == 1
    assert keys.revoke(plaintext[:8]) == key_id                  # by display prefix
    assert keys.authenticate(plaintext) is None
    with pytest.raises(NotFound):
        keys.revoke(key_id)                                      # already revoked
    keys.create("dup")
    keys.create("dup")
    with pytest.raises(InvalidInput):
        keys.revoke("dup")
    engine.dispose()


# ---- PostgreSQL connections: ping only after idle ---------------------------------------------


@pytest.mark.postgres
def test_postgres_pings_only_an_idle_connection_and_replaces_a_dead_one(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from framecast.db import database as db

    engine = db.create_database_engine(postgres_url, pool_size=1)
    pings: list[int] = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping",
                        lambda conn: pings.append(1) or real_ping(conn))
    try:
        def backend_pid() -> int:
            with engine.connect() as conn:
                return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()

        first = backend_pid()
        assert backend_pid() == first and pings == []   # fresh, then just used: no round trip

        admin = db.create_database_engine(postgres_url)
        with admin.begin() as conn:   # the server drops the pooled connection
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        admin.dispose()
        monkeypatch.setattr(db, "PING_IDLE_S", 0.0)   # every connection counts as idle now
        second = backend_pid()
        assert second != first and len(pings) >= 1   # the ping failed: a new connection
    finally:
        engine.dispose()
