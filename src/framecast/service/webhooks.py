"""Webhooks: the task, in the shape of the dialect that created it, POSTed to its
``callback_url`` once it is final — signed, retried for hours, every attempt logged.

Durability comes from the outbox (``db/outbox.py``): the delivery row is written in the
transaction that makes the task terminal, so a ``kill -9`` at any moment loses nothing; a
restarted process (or any other one on the same database) delivers it.

* **Body**: the renderer of the dialect that created the task (``renderers[task.dialect]``,
  handed over by the composition root from each dialect's ``Dialect.webhook_body``),
  rendered at the first attempt of a series and kept, so retries send the same bytes
  (a replay renders afresh: its file URLs are new). A task of a dialect without a renderer
  is sent in the fallback dialect's shape (logged).
* **Signature** (Standard Webhooks): ``webhook-id`` (the row's ``msg_id``, the same on every
  attempt and replay), ``webhook-timestamp`` (unix seconds of the attempt),
  ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed by the
  API key's ``whsec_`` secret (``framecast keys secret KEY``); tasks of the static
  ``FRAMECAST_API_KEY`` use a secret kept in the data directory (``webhook.secret``).
* **Door**: every POST goes through ``net.fetch.guarded_request`` (the SSRF guard; private
  targets only with ``FRAMECAST_ALLOW_PRIVATE_URLS=1``); redirects are never followed.
* **Outcome**: 2xx delivered; 410 disables the delivery; 3xx, 429, 5xx, timeouts, refusals
  and anything else are retried after ``webhook_schedule_s[n]`` (± jitter, at least the
  receiver's ``Retry-After``) until ``webhook_max_attempts``, then ``failed``.

``WebhookDeliverer`` is the loop: a thread with its own event loop, started by the app's
lifespan and by ``framecast worker`` (``api/runtime.start_webhooks``), claiming due rows
under a lease so that several processes deliver without double sends. The native endpoints
that list attempts and replay a delivery are in ``native/webhooks.py``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from framecast.core.errors import FramecastError, NotFound
from framecast.core.task import Task
from framecast.db.outbox import AttemptResult, Delivery, Outbox
from framecast.db.queue import TaskQueue
from framecast.net.fetch import FetchPolicy, guarded_request
from framecast.service.tasks import TaskService

log = logging.getLogger("framecast.service.webhooks")

USER_AGENT = "Framecast-Webhooks"
RESPONSE_MAX_BYTES = 1024 * 1024     # a receiver's answer is read up to this, then refused
EXCERPT_BYTES = 1024                 # and this much of it is logged with the attempt
STOP_GRACE_S = 2.0                   # a stopping loop lets in-flight POSTs finish this long
FALLBACK_DIALECT = "ark"

Renderer = Callable[[Task, TaskService], dict[str, Any]]


@dataclass(frozen=True)
class WebhookPolicy:
    """How deliveries are attempted and retried (``api/runtime.webhook_policy`` builds it from
    settings; tests shorten it)."""

    schedule_s: tuple[float, ...] = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0,
                                     50400.0)
    max_attempts: int = 8
    timeout_s: float = 15.0
    jitter: float = 0.1
    max_retry_after_s: float = 86400.0
    lease_s: float = 60.0
    poll_s: float = 1.0
    concurrency: int = 8
    allow_private: bool = False

    @property
    def fetch(self) -> FetchPolicy:
        """The guard's policy for one POST (its deadline is the attempt's timeout)."""
        return FetchPolicy(allow_private=self.allow_private, max_bytes=RESPONSE_MAX_BYTES,
                           deadline_s=self.timeout_s)


# -- signing ------------------------------------------------------------------------------


def secret_bytes(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret."""
    text = secret.removeprefix("whsec_")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# -- retry schedule -----------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def retry_delay(attempts_done: int, policy: WebhookPolicy, retry_after_s: float | None = None,
                rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempts_done + 1``: the schedule's entry (the last
    one repeats), ± ``jitter``, and never less than the receiver's ``Retry-After``
    (capped at ``max_retry_after_s``)."""
    schedule = policy.schedule_s
    base = schedule[min(attempts_done, len(schedule) - 1)]
    spread = (rng or random).uniform(-policy.jitter, policy.jitter) if policy.jitter else 0.0
    delay = max(0.0, base * (1.0 + spread))
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.max_retry_after_s))
    return delay


def judge(status_code: int | None, attempts_done: int, policy: WebhookPolicy) -> str:
    """The outcome of an attempt: ``delivered`` (2xx), ``disabled`` (410), else ``retry``
    while attempts remain and ``failed`` when they are spent."""
    if status_code is not None and 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "disabled"
    return "retry" if attempts_done < policy.max_attempts else "failed"


# -- rendering ----------------------------------------------------------------------------


def render_body(task: Task, service: TaskService, renderers: Mapping[str, Renderer],
                fallback: str = FALLBACK_DIALECT) -> dict[str, Any]:
    """The webhook body of ``task``: its dialect's renderer (the fallback dialect's when its
    own has none)."""
    renderer = renderers.get(task.dialect)
    if renderer is None:
        log.warning("dialect %r has no webhook_body; task %s is sent in the %s shape",
                    task.dialect, task.id, fallback)
        renderer = renderers[fallback]
    return renderer(task, service)


def encode_body(body: dict[str, Any]) -> str:
    """The exact text sent (and signed): compact JSON, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# -- the delivery loop --------------------------------------------------------------------


class WebhookDeliverer:
    """Claims due deliveries and attempts them; one per process (a thread with its own event
    loop). ``run_once`` does one pass synchronously (tests)."""

    def __init__(self, outbox: Outbox, queue: TaskQueue, service: TaskService,
                 secret_for: Callable[[str], str], policy: WebhookPolicy, *,
                 renderers: Mapping[str, Renderer],
                 clock: Callable[[], float] = time.time) -> None:
        self.outbox = outbox
        self.queue = queue
        self.service = service
        self.renderers = renderers
        self.secret_for = secret_for
        self.policy = policy
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop in a daemon thread."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True,
                                        name="framecast-webhooks")
        self._thread.start()

    def stop(self, timeout_s: float = STOP_GRACE_S) -> None:
        """Stop claiming; give in-flight attempts ``timeout_s``, then cancel them (their
        rows are handed back, due at once, for the next process to deliver)."""
        self._stop.set()
        self.queue.webhooks_pending.set()
        if self._thread is None:
            return
        self._thread.join(timeout_s)
        loop = self._loop
        if self._thread.is_alive() and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lambda: [t.cancel() for t in self._inflight])
            self._thread.join(10.0)
        self._thread = None

    def run_once(self) -> int:
        """One pass: claim what is due, attempt it all, return how many were attempted."""
        return asyncio.run(self._pass())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                attempted = await self._pass()
            except Exception:
                log.exception("webhook delivery pass failed")
                attempted = 0
            if not attempted and not self._stop.is_set():
                await asyncio.to_thread(self.queue.webhooks_pending.wait, self.policy.poll_s)
                self.queue.webhooks_pending.clear()

    async def _pass(self) -> int:
        claimed = await asyncio.to_thread(self.outbox.claim, self.policy.concurrency,
                                          self.policy.lease_s)
        if not claimed:
            return 0
        tasks = [asyncio.create_task(self._attempt(d)) for d in claimed]
        self._inflight.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._inflight.difference_update(tasks)
        return len(claimed)

    # ---- one attempt -------------------------------------------------------------------

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            result = await self._send(delivery)
        except asyncio.CancelledError:
            await asyncio.to_thread(self.outbox.release, delivery)
            raise
        except Exception as exc:   # a bug, never a receiver's fault: retry on schedule
            log.exception("webhook %s of task %s: unexpected error", delivery.msg_id,
                          delivery.task_id)
            result = self._result(delivery, None, 0, f"internal error: {type(exc).__name__}")
        held = await asyncio.to_thread(self.outbox.complete, delivery, result)
        log.info("webhook %s of task %s, attempt %d: %s%s%s", delivery.msg_id,
                 delivery.task_id, delivery.attempts, result.outcome,
                 f" (HTTP {result.status_code})" if result.status_code else "",
                 f" — {result.error}" if result.error and result.outcome != "delivered"
                 else "")
        if not held:
            log.warning("webhook %s: the lease lapsed during the attempt", delivery.msg_id)

    async def _send(self, delivery: Delivery) -> AttemptResult:
        payload = delivery.payload
        if payload is None:
            try:
                payload = await asyncio.to_thread(self._render, delivery)
            except NotFound:
                return AttemptResult("failed", None, error="the task was deleted before its "
                                     "webhook could be sent")
            await asyncio.to_thread(self.outbox.set_payload, delivery, payload)
        body = payload.encode()
        secret = await asyncio.to_thread(self.secret_for, delivery.owner_id)
        timestamp = int(self.clock())
        headers = {"content-type": "application/json", "user-agent": USER_AGENT,
                   "webhook-id": delivery.msg_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(secret, delivery.msg_id, timestamp, body)}
        started = time.monotonic()
        try:
            response = await guarded_request("POST", delivery.url, policy=self.policy.fetch,
                                             param="callback_url", content=body,
                                             headers=headers)
        except FramecastError as exc:
            latency = _ms_since(started)
            return self._result(delivery, None, latency, exc.message)
        latency = _ms_since(started)
        code = response.status_code
        error = None if 200 <= code < 300 else f"HTTP {code}"
        if 300 <= code < 400:
            error = f"HTTP {code}: redirects are not followed"
        excerpt = response.content[:EXCERPT_BYTES].decode("utf-8", "replace")
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock())
        return self._result(delivery, code, latency, error, excerpt, retry_after)

    def _render(self, delivery: Delivery) -> str:
        task = self.queue.get(delivery.task_id)
        return encode_body(render_body(task, self.service, self.renderers))

    def _result(self, delivery: Delivery, code: int | None, latency_ms: int,
                error: str | None, excerpt: str | None = None,
                retry_after_s: float | None = None) -> AttemptResult:
        done = delivery.attempts + 1
        outcome = judge(code, done, self.policy)
        next_at = (self.clock() + retry_delay(done, self.policy, retry_after_s)
                   if outcome == "retry" else None)
        return AttemptResult(outcome, next_at, status_code=code, latency_ms=latency_ms,
                             error=error, response_excerpt=excerpt)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# -- wiring -------------------------------------------------------------------------------


@dataclass
class Webhooks:
    """What one process holds for webhooks: the outbox and, when it delivers, the loop."""

    outbox: Outbox
    deliverer: WebhookDeliverer | None

    def stop(self) -> None:
        """Stop the delivery loop, if any."""
        if self.deliverer is not None:
            self.deliverer.stop()
