"""Webhook signing, retry schedule and body rendering, without a database or a network."""

from __future__ import annotations

import json
import random
from email.utils import formatdate
from types import SimpleNamespace

import pytest
from standardwebhooks import Webhook

from framecast.api.dialects import webhook_renderers
from framecast.api.runtime import static_signing_secret, webhook_policy
from framecast.api.settings import Settings
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.db.keys import new_signing_secret
from framecast.service import webhooks
from framecast.service.webhooks import (
    WebhookPolicy,
    encode_body,
    judge,
    parse_retry_after,
    render_body,
    retry_delay,
    sign,
)

NOW = 1_800_000_000.0
RENDERERS = webhook_renderers()


def task(status: TaskStatus = TaskStatus.SUCCEEDED, dialect: str = "ark") -> Task:
    """A finished Ark-style video task."""
    outputs = [OutputFile("video.mp4", "tasks/t/1/video.mp4", "video/mp4", 100)] \
        if status == TaskStatus.SUCCEEDED else []
    return Task(id="cgt-1", owner_id="o", kind="video", model="seedance-1-0-pro",
                engine="motion", status=status, dialect=dialect,
                spec={"resolution": "480p", "ratio": "16:9", "duration": 5, "fps": 24},
                outputs=outputs, created_at=NOW, updated_at=NOW + 5, finished_at=NOW + 5,
                error_code="X" if status == TaskStatus.FAILED else None,
                error_message="boom" if status == TaskStatus.FAILED else None)


SERVICE = SimpleNamespace(file_url=lambda t, name: f"https://files/{t.id}/{name}"
                          if t.output(name) else None)


# ---- signing ----------------------------------------------------------------------------

def test_the_signature_verifies_with_the_standardwebhooks_package() -> None:
    secret = new_signing_secret()
    body = encode_body({"id": "cgt-1", "status": "succeeded", "note": "é"})
    timestamp = int(__import__("time").time())
    headers = {"webhook-id": "msg_abc", "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(secret, "msg_abc", timestamp, body.encode())}
    assert Webhook(secret).verify(body.encode(), headers)["note"] == "é"
    tampered = body.replace("succeeded", "failed").encode()
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(tampered, headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(new_signing_secret()).verify(body.encode(), headers)


def test_sign_matches_the_reference_implementation() -> None:
    from datetime import UTC, datetime

    secret = new_signing_secret()
    ours = sign(secret, "msg_1", 1_700_000_000, b'{"a":1}')
    theirs = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1_700_000_000, UTC),
                                  '{"a":1}')
    assert ours == theirs and ours.startswith("v1,")


def test_the_static_secret_lives_in_the_data_dir(tmp_path: object) -> None:
    settings = Settings(data_dir=tmp_path)   # type: ignore[arg-type]
    first = static_signing_secret(settings)
    assert first.startswith("whsec_") and static_signing_secret(settings) == first
    assert len(webhooks.secret_bytes(first)) == 32


# ---- schedule -----------------------------------------------------------------------------

def test_the_default_policy_retries_at_least_8_times_over_6_hours() -> None:
    policy = webhook_policy(Settings())
    assert policy.max_attempts >= 8 and policy.timeout_s == 15.0
    total = sum(retry_delay(n, WebhookPolicy(jitter=0.0)) for n in range(1, policy.max_attempts))
    assert total >= 6 * 3600
    assert retry_delay(0, WebhookPolicy(jitter=0.0)) == 0.0           # the first: at once
    assert policy.lease_s > policy.timeout_s


def test_retry_delay_follows_the_schedule_with_jitter_and_retry_after() -> None:
    policy = WebhookPolicy(schedule_s=(0.0, 5.0, 300.0), jitter=0.2, max_retry_after_s=600)
    rng = random.Random(7)
    delays = [retry_delay(2, policy, rng=rng) for _ in range(200)]
    assert 240 <= min(delays) < max(delays) <= 360                   # ± 20 %
    assert retry_delay(9, WebhookPolicy(schedule_s=(0.0, 5.0), jitter=0.0)) == 5.0  # repeats
    assert retry_delay(1, WebhookPolicy(schedule_s=(0.0, 5.0), jitter=0.0), 90.0) == 90.0
    assert retry_delay(1, policy, 10_000.0) == 600.0                  # capped


def test_parse_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(formatdate(NOW + 30, usegmt=True), NOW) == pytest.approx(30.0)
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(("code", "done", "outcome"), [
    (200, 1, "delivered"), (204, 8, "delivered"), (410, 1, "disabled"), (302, 1, "retry"),
    (429, 1, "retry"), (500, 7, "retry"), (500, 8, "failed"), (None, 3, "retry"),
    (404, 8, "failed"),
])
def test_judge(code: int | None, done: int, outcome: str) -> None:
    assert judge(code, done, WebhookPolicy(max_attempts=8)) == outcome


def test_the_schedule_setting_takes_a_list_or_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMECAST_WEBHOOK_SCHEDULE_S", "0, 0.5,2")
    assert Settings().webhook_schedule_s == [0.0, 0.5, 2.0]
    monkeypatch.setenv("FRAMECAST_WEBHOOK_SCHEDULE_S", "[1, 2]")
    assert Settings().webhook_schedule_s == [1.0, 2.0]
    monkeypatch.setenv("FRAMECAST_WEBHOOK_SCHEDULE_S", "-1")
    with pytest.raises(ValueError):
        Settings()


# ---- rendering ----------------------------------------------------------------------------

def test_an_ark_task_is_rendered_as_the_get_task_object() -> None:
    body = render_body(task(), SERVICE, RENDERERS)   # type: ignore[arg-type]
    assert body["id"] == "cgt-1" and body["status"] == "succeeded"
    assert body["content"] == {"video_url": "https://files/cgt-1/video.mp4"}
    assert "error" in body and body["error"] is None
    failed = render_body(task(TaskStatus.FAILED), SERVICE, RENDERERS)   # type: ignore[arg-type]
    assert failed["error"] == {"code": "X", "message": "boom"}


def test_a_dialect_without_webhook_body_falls_back_to_the_ark_shape(
        caplog: pytest.LogCaptureFixture) -> None:
    body = render_body(task(dialect="nosuchdialect"), SERVICE, RENDERERS)   # type: ignore[arg-type]
    assert body["status"] == "succeeded" and "content" in body
    assert "has no webhook_body" in caplog.text
    assert render_body(task(dialect="../etc"), SERVICE, RENDERERS)["id"] == "cgt-1"   # type: ignore


def test_encode_body_is_compact_utf8_json() -> None:
    text = encode_body({"a": [1, 2], "b": "ü"})
    assert text == '{"a":[1,2],"b":"ü"}' and json.loads(text)["b"] == "ü"
