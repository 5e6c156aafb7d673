"""The webhook outbox against real databases (a SQLite file, and PostgreSQL when
``FRAMECAST_TEST_POSTGRES_URL`` is set): every terminal path writes its delivery row in the
same transaction as the final status; deliverers claim under a lease and never double-claim;
one in-process ``WebhookDeliverer`` pass against a loopback receiver; nonces and per-task
dialect data.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import insert, select, table
from standardwebhooks import Webhook

from framecast.api.dialects import webhook_renderers
from framecast.blobs import LocalStore
from framecast.core.errors import InvalidInput
from framecast.core.task import TaskStatus
from framecast.db import queries as q
from framecast.db.keys import KeyStore, new_signing_secret
from framecast.db.outbox import AttemptResult, Outbox
from framecast.db.queue import NewTask, TaskQueue
from framecast.db.tables import webhook_deliveries
from framecast.db.task_extras import TaskExtrasStore
from framecast.service.registry import Registry
from framecast.service.tasks import TaskService
from framecast.service.webhooks import WebhookDeliverer, WebhookPolicy

if TYPE_CHECKING:
    from conftest import FakeClock

HOOK = "http://hooks.example/h"


def new(task_id: str, *, callback: str | None = HOOK, expires_after: int = 3600) -> NewTask:
    """A task with a callback URL (unless told otherwise)."""
    return NewTask(id=task_id, owner_id="alice", kind="video", model="seedance-1-0-pro",
                   engine="motion", spec={"kind": "video", "prompt": task_id},
                   callback_url=callback, execution_expires_after=expires_after)


def rows(queue: TaskQueue) -> list[Any]:
    """Every outbox row, by task id."""
    with queue.engine.connect() as conn:
        return conn.execute(select(webhook_deliveries)
                            .order_by(webhook_deliveries.c.task_id)).all()


def events(queue: TaskQueue) -> dict[str, str]:
    """task id → event of its outbox row."""
    return {r.task_id: r.event for r in rows(queue)}


def token_of(queue: TaskQueue, task_id: str) -> str:
    """Claim ``task_id`` (the only queued task) and return its lease token."""
    [claim] = queue.claim("w1")
    assert claim.task.id == task_id
    return claim.lease_token


# ---- every terminal path writes one row ---------------------------------------------------

def _finish(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    queue.finish("t", token_of(queue, "t"), outputs=[], seed=1, usage_tokens=1,
                 engine_seconds=0.1)
    return "task.succeeded"


def _fail(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    queue.fail("t", token_of(queue, "t"), code="X", message="broken")
    return "task.failed"


def _fail_rerun_when_killed(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    token = token_of(queue, "t")
    queue.cancel("t", "alice")                     # kill requested: a re-run becomes a stop
    assert queue.fail("t", token, code="X", message="x", rerun=True).status is \
        TaskStatus.CANCELLED
    return "task.cancelled"


def _stop(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    token = token_of(queue, "t")
    queue.cancel("t", "alice")
    queue.stop("t", token)
    return "task.cancelled"


def _stop_expired(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t", expires_after=60))
    token = token_of(queue, "t")
    clock.advance(61)
    queue.expire_due()                             # running: a kill request for expiry
    queue.stop("t", token)
    return "task.expired"


def _release_killed(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    token = token_of(queue, "t")
    queue.cancel("t", "alice")
    queue.release("t", token)
    return "task.cancelled"


def _cancel_queued_via_cancel(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    queue.cancel("t", "alice")
    return "task.cancelled"


def _cancel_queued(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    queue.cancel_queued("t", "alice")
    return "task.cancelled"


def _reaper_fails(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    for _ in range(queue.max_reruns + 1):
        token_of(queue, "t")
        clock.advance(queue.lease_s + 1)
        queue.requeue_lapsed()
    return "task.failed"


def _reaper_stops_killed(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t"))
    token_of(queue, "t")
    queue.cancel("t", "alice")
    clock.advance(queue.lease_s + 1)
    queue.requeue_lapsed()
    return "task.cancelled"


def _expire_queued(queue: TaskQueue, clock: Any) -> str:
    queue.enqueue(new("t", expires_after=60))
    clock.advance(61)
    queue.expire_due()
    return "task.expired"


TERMINAL_PATHS: dict[str, Callable[[TaskQueue, Any], str]] = {
    "finish": _finish, "fail": _fail, "fail-rerun-killed": _fail_rerun_when_killed,
    "stop": _stop, "stop-expired": _stop_expired, "release-killed": _release_killed,
    "cancel-queued-via-cancel": _cancel_queued_via_cancel, "cancel_queued": _cancel_queued,
    "reaper-failed": _reaper_fails, "reaper-cancelled": _reaper_stops_killed,
    "expire-queued": _expire_queued,
}


@pytest.mark.parametrize("path", list(TERMINAL_PATHS))
def test_every_terminal_path_writes_one_outbox_row(queue: TaskQueue, clock: FakeClock,
                                                   path: str) -> None:
    event = TERMINAL_PATHS[path](queue, clock)
    [row] = rows(queue)
    task = queue.get("t")
    assert task.terminal and event == f"task.{task.status.value}"
    assert (row.task_id, row.owner_id, row.url, row.event) == ("t", "alice", HOOK, event)
    assert (row.status, row.attempts, row.series, row.payload) == ("pending", 0, 1, None)
    assert row.msg_id.startswith("msg_") and "." not in row.msg_id
    assert row.next_attempt_at == clock.now
    assert queue.webhooks_pending.is_set()


def test_no_row_without_a_callback_or_before_the_end(queue: TaskQueue) -> None:
    queue.enqueue(new("plain", callback=None))
    queue.cancel("plain", "alice")
    queue.enqueue(new("t"))
    token = token_of(queue, "t")
    queue.progress("t", token, 1, 2)
    queue.fail("t", token, code="X", message="x", rerun=True)     # re-queued: not final
    assert rows(queue) == [] and queue.get("t").status is TaskStatus.QUEUED


class _Boom(Exception):
    pass


@pytest.mark.parametrize("path", ["finish", "cancel_queued", "expire-queued", "reaper-failed"])
def test_the_row_is_written_in_the_same_transaction_as_the_final_status(
        queue: TaskQueue, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    # an outbox insert that fails must take the final status down with it
    monkeypatch.setattr(q, "INSERT_DELIVERY", insert(table("no_such_table")))
    with pytest.raises(Exception):  # noqa: B017 - the database's own error
        TERMINAL_PATHS[path](queue, clock)
    assert not queue.get("t").terminal
    assert rows(queue) == []


# ---- claiming ------------------------------------------------------------------------------

@pytest.fixture
def outbox(queue: TaskQueue, clock: FakeClock) -> Outbox:
    """An outbox on the queue's database and clock."""
    return Outbox(queue.engine, clock=clock)


def _finished(queue: TaskQueue, count: int) -> None:
    for n in range(count):
        queue.enqueue(new(f"t{n:03d}"))
        queue.cancel_queued(f"t{n:03d}", "alice")


def test_concurrent_claimers_never_claim_one_delivery_twice(queue: TaskQueue,
                                                            db_url: str) -> None:
    _finished(queue, 120)
    claimed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claimer() -> None:
        box = Outbox(queue.engine)
        try:
            while batch := box.claim(3, lease_s=60):
                with lock:
                    claimed.extend(d.id for d in batch)
        except BaseException as exc:   # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    counts = Counter(claimed)
    assert len(counts) == 120 and max(counts.values()) == 1
    assert {r.status for r in rows(queue)} == {"delivering"}
    assert Outbox(queue.engine).backlog() == 120


def test_a_lease_fences_completion_and_a_lapsed_lease_is_reclaimed(
        queue: TaskQueue, outbox: Outbox, clock: FakeClock) -> None:
    _finished(queue, 1)
    [first] = outbox.claim(5, lease_s=30)
    assert outbox.claim(5, lease_s=30) == []                   # held
    clock.advance(31)
    [second] = outbox.claim(5, lease_s=30)                     # the holder died
    assert second.id == first.id and second.lease_token != first.lease_token
    assert outbox.set_payload(first, "{}") is False
    late = AttemptResult("delivered", None, status_code=200, latency_ms=5)
    assert outbox.complete(first, late) is False               # logged, but fenced out
    assert outbox.complete(second, AttemptResult("retry", clock.now + 5, status_code=500,
                                                 error="HTTP 500")) is True
    [delivery], attempts = outbox.for_task("t000")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == \
        ("pending", 1, 500)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, "lease_lost"), (1, "retry")]
    assert outbox.claim(5, lease_s=30) == []                   # not due yet
    clock.advance(5)
    [third] = outbox.claim(5, lease_s=30)
    outbox.release(third)                                      # a stopping deliverer
    assert [d.status for d in outbox.for_task("t000")[0]] == ["pending"]


def test_replay_starts_a_new_series_with_the_same_msg_id(queue: TaskQueue,
                                                         outbox: Outbox) -> None:
    _finished(queue, 1)
    [claimed] = outbox.claim(1, lease_s=30)
    assert outbox.replay("t000", "alice") == []                # in flight: not now
    outbox.set_payload(claimed, '{"a":1}')
    outbox.complete(claimed, AttemptResult("delivered", None, status_code=200))
    assert outbox.replay("t000", "mallory") == []              # owner-scoped
    assert outbox.replay("t000", "alice") == [claimed.id]
    [again] = outbox.claim(1, lease_s=30)
    assert (again.msg_id, again.series, again.attempts, again.payload) == \
        (claimed.msg_id, 2, 0, None)


# ---- one delivery pass against a loopback receiver ----------------------------------------

@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """An HTTP server answering ``/<code>`` with that status (``/302`` redirects to
    ``/target``); every request is recorded as (path, headers, body)."""
    seen: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            code = int(self.path.strip("/")) if self.path.strip("/").isdigit() else 200
            self.send_response(code)
            if code == 302:
                self.send_header("Location", "/target")
            if code == 500:
                self.send_header("Retry-After", "120")
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"done")

        do_GET = do_POST  # noqa: N815 - the name http.server calls

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def test_a_delivery_pass_signs_judges_and_schedules(queue: TaskQueue, clock: FakeClock,
                                                    tmp_path: Path, receiver: Any) -> None:
    base, seen = receiver
    for name, code in (("ok", 200), ("gone", 410), ("moved", 302), ("broken", 500)):
        queue.enqueue(new(name, callback=f"{base}/{code}"))
        queue.cancel_queued(name, "alice")
    secret = new_signing_secret()
    storage = LocalStore(tmp_path / "files", secret=b"k" * 32, base_url="http://files")
    service = TaskService(queue, storage, Registry.load(None))
    policy = WebhookPolicy(schedule_s=(0.0, 10.0), max_attempts=3, jitter=0.0,
                           allow_private=True, timeout_s=5.0)
    deliverer = WebhookDeliverer(Outbox(queue.engine, clock=clock), queue, service,
                                 lambda owner: secret, policy, renderers=webhook_renderers(),
                                 clock=clock)
    assert deliverer.run_once() == 4
    assert deliverer.run_once() == 0                           # retries are not due yet
    by_path = {path: (headers, body) for path, headers, body in seen}
    assert "/target" not in by_path                            # a redirect is not followed
    for headers, body in by_path.values():
        assert Webhook(secret).verify(body, headers)["status"] == "cancelled"
    status = {d.task_id: (d.status, d.attempts, d.next_attempt_at)
              for t in ("ok", "gone", "moved", "broken") for d in deliverer.outbox.for_task(t)[0]}
    assert status["ok"] == ("delivered", 1, None)
    assert status["gone"] == ("disabled", 1, None)
    assert status["moved"] == ("pending", 1, clock.now + 10.0)
    assert status["broken"] == ("pending", 1, clock.now + 120.0)   # Retry-After wins
    clock.advance(120)
    assert deliverer.run_once() == 2
    clock.advance(120)
    assert deliverer.run_once() == 2                           # the third and last attempts
    final = {t: deliverer.outbox.for_task(t)[0][0].status for t in ("moved", "broken")}
    assert final == {"moved": "failed", "broken": "failed"}
    ids = {headers["webhook-id"] for path, headers, _ in seen if path == "/500"}
    assert len(ids) == 1 and Counter(path for path, _, _ in seen)["/500"] == 3


# ---- keys, nonces and dialect data ---------------------------------------------------------

def test_nonces_are_single_use_per_key_and_wiro_secrets_are_recoverable(
        queue: TaskQueue) -> None:
    keys = KeyStore(queue.engine)
    key_id, _ = keys.create("signed", wiro_signature=True)
    other, _ = keys.create("plain")
    auth = keys.wiro_auth(key_id)
    assert auth is not None and auth.signature_required and len(auth.secret or "") >= 24
    assert keys.wiro_auth(other) == type(auth)(None, False)
    assert keys.use_nonce(key_id, "1700000000") is True
    assert keys.use_nonce(key_id, "1700000000") is False
    assert keys.use_nonce(other, "1700000000") is True        # per key
    assert keys.signing_secret(key_id).startswith("whsec_")
    keys.revoke(key_id)
    assert keys.signing_secret(key_id) is None
    assert keys.signing_secret(key_id, include_revoked=True).startswith("whsec_")
    assert keys.find("signed").id == key_id and not keys.find("signed").active
    assert [k.wiro_signature for k in keys.list()] == [True, False]


def test_task_extras_by_id_and_token(queue: TaskQueue) -> None:
    store = TaskExtrasStore(queue.engine)
    store.put("t1", "wiro", access_token="tok1", data={"slugowner": "ByteDance"})
    assert store.by_token("tok1").task_id == "t1"
    assert store.get("t1").data == {"slugowner": "ByteDance"}
    with pytest.raises(InvalidInput):
        store.put("t2", "wiro", access_token="tok1")
    store.update_data("t1", {"files_deleted": True})
    assert store.get("t1").data == {"files_deleted": True}
    assert store.get("nope") is None and store.by_token("nope") is None
