"""Task lifecycle over the Ark API with the official SDKs: listing with every filter and
paging, DELETE by status (queued → cancelled, finished → gone, running/cancelled → 400), a
failed task's error, and owner isolation between two API keys.

Slots are held on purpose by the ``sleeps`` engine (model ``fc-test-sleeps``, configured by the
acceptance server), failures come from ``support.ark_engines.FailsEngine`` (``fc-test-fails``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from volcenginesdkarkruntime import Ark
from volcenginesdkarkruntime._exceptions import ArkBadRequestError, ArkNotFoundError

from tests.acceptance.support.ark_engines import FAILURE_MESSAGE
from tests.acceptance.support.server import (
    FAILS_MODEL,
    SLEEPS_MODEL,
    VIDEO_MODEL,
    VIDEO_MODEL_BP,
    Server,
    wait_task,
)

SHORT = "a quiet harbour --rs 480p --frames 29"


def text(prompt: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": prompt}]


@pytest.fixture(scope="module")
def lister(server: Server) -> tuple[Ark, str]:
    """A second API key (made with ``framecast keys create``) whose tasks are only this
    module's, so totals are exact."""
    key = server.create_key("lister")
    assert key and " " not in key
    return Ark(base_url=server.base_url, api_key=key), key


@pytest.fixture(scope="module")
def listed(lister: tuple[Ark, str]) -> dict[str, str]:
    """Four tasks of the lister: three succeed (one BytePlus-spelled, one flex), one fails."""
    client, _ = lister
    create = client.content_generation.tasks.create
    ids = {
        "t1": create(model=VIDEO_MODEL, content=text(SHORT)).id,
        "t2": create(model=VIDEO_MODEL_BP, content=text(SHORT), service_tier="flex").id,
        "t3": create(model=VIDEO_MODEL, content=text(SHORT)).id,
        "t4": create(model=FAILS_MODEL, content=text("fails")).id,
    }
    for name, task_id in ids.items():
        task = wait_task(client, task_id)
        assert task.status == ("failed" if name == "t4" else "succeeded"), task.error
    return ids


def ids_of(page: Any) -> list[str]:
    return [item.id for item in page.items]


# -- list -----------------------------------------------------------------------------------


def test_list_is_newest_first_with_total(lister: tuple[Ark, str], listed: dict[str, str]) -> None:
    page = lister[0].content_generation.tasks.list()
    assert page.total == 4
    assert ids_of(page) == [listed["t4"], listed["t3"], listed["t2"], listed["t1"]]
    assert page.items[1].content.video_url and page.items[1].usage.completion_tokens > 0


@pytest.mark.parametrize(("filters", "expected"), [
    ({"status": "succeeded"}, ["t3", "t2", "t1"]),
    ({"status": "failed"}, ["t4"]),
    ({"status": "queued"}, []),
    ({"task_ids": ["t1", "t3"]}, ["t3", "t1"]),
    ({"task_ids": "t2"}, ["t2"]),
    ({"model": VIDEO_MODEL_BP}, ["t2"]),
    ({"model": VIDEO_MODEL}, ["t3", "t1"]),
    ({"service_tier": "flex"}, ["t2"]),
    ({"service_tier": "default", "status": "succeeded"}, ["t3", "t1"]),
])
def test_list_filters(lister: tuple[Ark, str], listed: dict[str, str], filters: dict[str, Any],
                      expected: list[str]) -> None:
    if "task_ids" in filters:
        ids = filters["task_ids"]
        filters = {**filters, "task_ids": [listed[i] for i in ids] if isinstance(ids, list)
                   else listed[ids]}
    page = lister[0].content_generation.tasks.list(**filters)
    assert ids_of(page) == [listed[n] for n in expected]
    assert page.total == len(expected)


def test_list_paging(lister: tuple[Ark, str], listed: dict[str, str]) -> None:
    tasks = lister[0].content_generation.tasks
    newest_first = [listed[n] for n in ("t4", "t3", "t2", "t1")]
    pages = [tasks.list(page_num=n, page_size=3) for n in (1, 2, 3)]
    assert [p.total for p in pages] == [4, 4, 4]
    assert ids_of(pages[0]) == newest_first[:3] and ids_of(pages[1]) == newest_first[3:]
    assert ids_of(pages[2]) == []
    assert len(tasks.list(page_size=500).items) == 4


@pytest.mark.parametrize(("params", "param"), [
    ({"page_num": 0}, "page_num"), ({"page_num": 501}, "page_num"),
    ({"page_size": 0}, "page_size"), ({"page_size": 501}, "page_size"),
    ({"page_num": "two"}, "page_num"), ({"filter.status": "done"}, "filter.status"),
    ({"filter.service_tier": "gold"}, "filter.service_tier"),
])
def test_bad_list_parameters_are_400(http: httpx.Client, params: dict[str, Any],
                                     param: str) -> None:
    response = http.get("/contents/generations/tasks", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["type"], error["code"]) == (param, "BadRequest",
                                                               "InvalidParameter")


def test_failed_task_has_an_error_and_no_content(lister: tuple[Ark, str],
                                                 listed: dict[str, str]) -> None:
    task = lister[0].content_generation.tasks.get(task_id=listed["t4"])
    assert task.status == "failed" and task.content is None and task.usage is None
    assert task.error.code and FAILURE_MESSAGE in task.error.message


# -- owners ---------------------------------------------------------------------------------


def test_another_keys_task_is_not_found(volc: Ark, lister: tuple[Ark, str],
                                        listed: dict[str, str]) -> None:
    other_id = listed["t1"]
    with pytest.raises(ArkNotFoundError) as caught:
        volc.content_generation.tasks.get(task_id=other_id)
    assert caught.value.code == "ResourceNotFound"
    with pytest.raises(ArkNotFoundError):
        volc.content_generation.tasks.delete(other_id)
    assert volc.content_generation.tasks.list(task_ids=[other_id]).total == 0
    # ... and the owner still has it
    assert lister[0].content_generation.tasks.get(task_id=other_id).status == "succeeded"


# -- DELETE by status ------------------------------------------------------------------------


def test_delete_by_status(volc: Ark) -> None:
    tasks = volc.content_generation.tasks
    # two sleepers hold both slots, so a third task waits in the queue
    sleepers = [tasks.create(model=SLEEPS_MODEL, content=text(f"hold {n}")).id for n in (1, 2)]
    for task_id in sleepers:
        wait_task(volc, task_id, until=("running",))
    queued = tasks.create(model=VIDEO_MODEL, content=text(SHORT)).id
    assert tasks.get(task_id=queued).status == "queued"

    # queued → cancelled
    assert tasks.delete(queued) is not None
    cancelled = tasks.get(task_id=queued)
    assert cancelled.status == "cancelled" and cancelled.error is None
    # cancelled → 400 (not 409: the SDKs would retry a 409)
    with pytest.raises(ArkBadRequestError) as caught:
        tasks.delete(queued)
    assert caught.value.status_code == 400 and caught.value.type == "BadRequest"

    # running → 400
    with pytest.raises(ArkBadRequestError) as caught:
        tasks.delete(sleepers[0])
    assert caught.value.param == "id" and "running" in caught.value.message

    # succeeded → deleted: record and files are gone
    done = wait_task(volc, sleepers[0])
    assert done.status == "succeeded"
    tasks.delete(sleepers[0])
    with pytest.raises(ArkNotFoundError):
        tasks.get(task_id=sleepers[0])
    assert httpx.get(done.content.video_url, timeout=30).status_code == 404
    assert tasks.list(task_ids=[sleepers[0]]).total == 0
    wait_task(volc, sleepers[1])

    # failed → deleted
    failed = tasks.create(model=FAILS_MODEL, content=text("fails")).id
    assert wait_task(volc, failed).status == "failed"
    tasks.delete(failed)
    with pytest.raises(ArkNotFoundError):
        tasks.get(task_id=failed)


def test_delete_unknown_task_is_404(http: httpx.Client) -> None:
    response = http.delete("/contents/generations/tasks/cgt-20200101000000-nothere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"
