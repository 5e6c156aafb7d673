"""Webhooks against real ``framecast serve`` processes and a loopback receiver that checks
every signature with the ``standardwebhooks`` package: one delivery per finished task, in
the shape of the dialect that created it; retries after 5xx with the same ``webhook-id``;
410 disables; redirects are not followed; attempts listed and replayed through the native
endpoints; and a ``kill -9`` between the final status and the delivery loses nothing.

The servers run a fast retry schedule (``FRAMECAST_WEBHOOK_SCHEDULE_S``) and allow private
URLs (the receiver is on 127.0.0.1).
"""

from __future__ import annotations

import base64
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.acceptance.support.server import (
    API_KEY,
    Server,
    assert_clean_log,
    start_server,
    stop_server,
)
from tests.acceptance.support.webhooks import (
    HOLD,
    REDIRECT_TARGET,
    Hit,
    Receiver,
    create_key,
    receiving,
    static_secret,
)

INSTANT = "fc-wh-instant"
FAILS = "fc-wh-fails"
HOLDS = "fc-wh-holds"
MODELS_TOML = f"""
[[models]]
id = "{INSTANT}"
kind = "video"
engine = "instant"
default_resolution = "480p"

[[models]]
id = "{FAILS}"
kind = "video"
engine = "tests.acceptance.support.ark_engines:FailsEngine"
default_resolution = "480p"

[[models]]
id = "{HOLDS}"
kind = "video"
engine = "sleeps"
default_resolution = "480p"
[models.options]
seconds = 60
"""
FAST = {"FRAMECAST_WEBHOOK_SCHEDULE_S": "0,0.3,0.3,0.3", "FRAMECAST_WEBHOOK_MAX_ATTEMPTS": "4",
        "FRAMECAST_WEBHOOK_JITTER": "0", "FRAMECAST_WEBHOOK_POLL_S": "0.1"}
WAIT_S = 30.0


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    """The webhook receiver."""
    with receiving() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def wh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with the fast retry schedule."""
    running = start_server(tmp_path_factory.mktemp("webhooks"), extra_env=FAST,
                           models_toml=MODELS_TOML)
    yield running
    stop_server(running)
    assert_clean_log(running)


@pytest.fixture(scope="module")
def ark(wh_server: Server) -> Iterator[httpx.Client]:
    """HTTP with the static key."""
    with httpx.Client(base_url=wh_server.root, timeout=30.0,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


@pytest.fixture(scope="module")
def secret(wh_server: Server) -> str:
    """The static key's webhook signing secret."""
    return static_secret(wh_server)


def create(ark: httpx.Client, model: str, callback: str | None) -> str:
    """An Ark video task with a callback URL (None: without); its id."""
    response = ark.post("/api/v3/contents/generations/tasks", json={
        "model": model, "callback_url": callback,
        "content": [{"type": "text", "text": "a lighthouse --rs 480p --frames 29"}]})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def listing(client: httpx.Client, task_id: str) -> dict[str, Any]:
    """``GET /framecast/v1/tasks/{id}/webhooks``."""
    response = client.get(f"/framecast/v1/tasks/{task_id}/webhooks")
    assert response.status_code == 200, response.text
    return response.json()


def verified(hit: Hit, secret: str) -> dict[str, Any]:
    """The body of a delivery whose signature the reference library accepts."""
    return Webhook(secret).verify(hit.body, hit.headers)


def ok_hits(hooks: Receiver, path: str) -> list[Hit]:
    """Deliveries to ``path`` that were answered 2xx."""
    return [h for h in hooks.at(path) if h.ok]


def settled(hooks: Receiver, path: str, count: int, quiet_s: float = 1.0) -> list[Hit]:
    """Wait for ``count`` requests to ``path``, then make sure no more arrive."""
    hooks.wait_for(lambda: len(hooks.at(path)) >= count, WAIT_S, f"{count} hits on {path}")
    time.sleep(quiet_s)
    hits = hooks.at(path)
    assert len(hits) == count, [(h.answered, h.headers.get("webhook-id")) for h in hits]
    return hits


# ---- delivery -----------------------------------------------------------------------------

def test_a_finished_task_is_delivered_once_signed_in_its_dialect_shape(
        ark: httpx.Client, hooks: Receiver, secret: str) -> None:
    task_id = create(ark, INSTANT, hooks.url("/ok"))
    [hit] = settled(hooks, "/ok", 1)
    body = verified(hit, secret)
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["webhook-id"].startswith("msg_")
    got = ark.get(f"/api/v3/contents/generations/tasks/{task_id}").json()
    assert body["status"] == "succeeded" and body["id"] == task_id
    assert {k: v for k, v in body.items() if k != "content"} == \
        {k: v for k, v in got.items() if k != "content"}
    assert body["content"]["video_url"].split("?")[0] == got["content"]["video_url"].split("?")[0]
    [delivery] = listing(ark, task_id)["deliveries"]
    assert (delivery["event"], delivery["status"], delivery["msg_id"]) == \
        ("task.succeeded", "delivered", hit.headers["webhook-id"])
    assert [a["status_code"] for a in delivery["attempts_log"]] == [200]


def test_server_errors_are_retried_with_the_same_webhook_id(
        ark: httpx.Client, hooks: Receiver, secret: str) -> None:
    hooks.script("/flaky", 500, 503)
    task_id = create(ark, INSTANT, hooks.url("/flaky"))
    hits = settled(hooks, "/flaky", 3)
    assert [h.answered for h in hits] == [500, 503, 200]
    assert len({h.headers["webhook-id"] for h in hits}) == 1
    assert len({h.body for h in hits}) == 1                    # the same bytes every time
    for hit in hits:
        assert verified(hit, secret)["id"] == task_id
    [delivery] = listing(ark, task_id)["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in delivery["attempts_log"]] \
        == [(1, 500, "retry"), (2, 503, "retry"), (3, 200, "delivered")]


def test_410_disables_and_redirects_are_not_followed(ark: httpx.Client,
                                                     hooks: Receiver) -> None:
    hooks.script("/gone", 410)
    hooks.script("/moved", 302, 302, 302, 302)
    gone = create(ark, INSTANT, hooks.url("/gone"))
    moved = create(ark, INSTANT, hooks.url("/moved"))
    settled(hooks, "/gone", 1)
    settled(hooks, "/moved", 4)                                 # every attempt, then no more
    assert hooks.at(REDIRECT_TARGET) == []
    [disabled] = listing(ark, gone)["deliveries"]
    assert (disabled["status"], disabled["attempts"]) == ("disabled", 1)
    [failed] = listing(ark, moved)["deliveries"]
    assert (failed["status"], failed["attempts"], failed["last_status_code"]) == \
        ("failed", 4, 302)
    assert "redirects are not followed" in failed["last_error"]


def test_a_failed_ark_task_and_a_killed_wiro_task(ark: httpx.Client, hooks: Receiver,
                                                  wh_server: Server, secret: str) -> None:
    failed_id = create(ark, FAILS, hooks.url("/failed"))
    [hit] = settled(hooks, "/failed", 1, quiet_s=0.2)
    body = verified(hit, secret)
    assert (body["id"], body["status"]) == (failed_id, "failed") and body["error"]["message"]

    key = create_key(wh_server, "wiro-hooks")          # a key-only Wiro project
    wiro = httpx.Client(base_url=f"{wh_server.root}/v1", timeout=30.0,
                        headers={"x-api-key": key.key})
    run = wiro.post(f"/Run/framecast/{HOLDS}", json={"prompt": "wait",
                                                     "callbackUrl": hooks.url("/killed")}).json()
    assert run["result"] is True, run
    hooks.wait_for(lambda: wiro.post("/Task/Detail", json={"taskid": run["taskid"]}).json()
                   ["tasklist"][0]["status"] in ("task_start", "task_output"), WAIT_S,
                   "the Wiro task to run")
    assert wiro.post("/Task/Kill", json={"taskid": run["taskid"]}).json()["result"] is True
    [hit] = settled(hooks, "/killed", 1, quiet_s=0.2)
    body = verified(hit, key.signing_secret)           # the key's own secret
    assert body["result"] is True and body["tasklist"][0]["status"] == "task_cancel"
    assert body["tasklist"][0]["socketaccesstoken"] == run["socketaccesstoken"]
    with pytest.raises(Exception, match="signature"):
        verified(hit, secret)                          # not the static key's
    wiro.close()
    with httpx.Client(base_url=wh_server.root, headers={"x-api-key": key.key}) as native:
        [delivery] = listing(native, run["taskid"])["deliveries"]   # x-api-key works too
    assert delivery["event"] == "task.cancelled"


def test_replay_redelivers_with_the_same_webhook_id_and_is_owner_scoped(
        ark: httpx.Client, hooks: Receiver, wh_server: Server, secret: str) -> None:
    task_id = create(ark, INSTANT, hooks.url("/replayed"))
    [first] = settled(hooks, "/replayed", 1, quiet_s=0.2)
    replay = ark.post(f"/framecast/v1/tasks/{task_id}/webhooks/replay")
    assert replay.status_code == 200, replay.text
    _, second = settled(hooks, "/replayed", 2)
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert verified(second, secret)["id"] == task_id
    [delivery] = listing(ark, task_id)["deliveries"]
    assert (delivery["series"], delivery["status"]) == (2, "delivered")
    assert [(a["series"], a["attempt"]) for a in delivery["attempts_log"]] == [(1, 1), (2, 1)]

    other = create_key(wh_server, "someone-else")
    headers = {"Authorization": f"Bearer {other.key}"}
    assert ark.get(f"/framecast/v1/tasks/{task_id}/webhooks", headers=headers).status_code \
        == 404
    assert ark.post(f"/framecast/v1/tasks/{task_id}/webhooks/replay",
                    headers=headers).status_code == 404
    assert httpx.get(f"{wh_server.root}/framecast/v1/tasks/{task_id}/webhooks").status_code \
        == 401
    plain = create(ark, INSTANT, None)   # no callback: nothing to list or replay
    assert listing(ark, plain)["deliveries"] == []
    assert ark.post(f"/framecast/v1/tasks/{plain}/webhooks/replay").status_code == 404


# ---- kill -9 -------------------------------------------------------------------------------

def _kill_9(server: Server) -> None:
    """SIGKILL the server and its whole process group (engine children included)."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_kill_9_between_the_final_status_and_the_delivery_loses_nothing(
        tmp_path: Path, hooks: Receiver) -> None:
    env = {"FRAMECAST_WEBHOOK_SCHEDULE_S": "0,4", "FRAMECAST_WEBHOOK_MAX_ATTEMPTS": "8",
           "FRAMECAST_WEBHOOK_JITTER": "0", "FRAMECAST_WEBHOOK_POLL_S": "0.1",
           "FRAMECAST_WEBHOOK_TIMEOUT_S": "2", "FRAMECAST_WEBHOOK_LEASE_S": "1"}
    data = tmp_path / "data"
    hooks.script("/in-flight", HOLD)      # the server dies while this attempt is open
    hooks.script("/down", 503)            # this one failed once; its retry is due in 4 s
    first = start_server(data, slots=1, extra_env=env, models_toml=MODELS_TOML)
    servers = [first]
    try:
        with httpx.Client(base_url=first.root, timeout=30.0,
                          headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            in_flight = create(client, INSTANT, hooks.url("/in-flight"))
            down = create(client, INSTANT, hooks.url("/down"))
            hooks.wait_for(lambda: hooks.at("/in-flight") and hooks.at("/down"), WAIT_S,
                           "both first attempts")
        _kill_9(first)

        second = start_server(data, slots=1, extra_env=env, models_toml=MODELS_TOML)
        servers.append(second)
        # the static key's secret is kept in the data directory, so it survives the restart
        secret = "whsec_" + base64.b64encode((data / "webhook.secret").read_bytes()).decode()
        # the held attempt's lease (timeout + 5 s) lapses, then it is sent again
        for path in ("/in-flight", "/down"):
            hooks.wait_for(lambda p=path: ok_hits(hooks, p), WAIT_S, f"a delivery to {path}")
        time.sleep(1.0)
        with httpx.Client(base_url=second.root, timeout=30.0,
                          headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            for path, task_id in (("/in-flight", in_flight), ("/down", down)):
                hits = hooks.at(path)
                assert [h.answered for h in hits] == [None if path == "/in-flight" else 503,
                                                      200]
                assert len({h.headers["webhook-id"] for h in hits}) == 1
                assert verified(hits[-1], secret)["id"] == task_id
                [delivery] = listing(client, task_id)["deliveries"]
                assert delivery["status"] == "delivered"
                assert delivery["msg_id"] == hits[0].headers["webhook-id"]
    finally:
        for server in servers:
            stop_server(server)
    assert_clean_log(servers[-1])
