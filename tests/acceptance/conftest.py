"""Acceptance fixtures: a real ``framecast serve`` process (once per session), a loopback image
server, and the two official Ark SDKs pointed at the server.

The server runs with ``--slots 2``, ``FRAMECAST_ALLOW_PRIVATE_URLS=1`` (so it may fetch from
the loopback image server) and a static ``FRAMECAST_API_KEY``. Its log is kept in the
session's temporary directory and printed when it fails to start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.acceptance.support.server import (
    API_KEY,
    GUARDED_IMAGE_WAIT_S,
    ImageHost,
    Server,
    assert_clean_log,
    pictures,
    serve_files,
    start_server,
    stop_server,
)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The Framecast server every acceptance test talks to."""
    running = start_server(tmp_path_factory.mktemp("framecast"))
    yield running
    stop_server(running)
    assert_clean_log(running)


@pytest.fixture(scope="session")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second server with the SSRF guard on (private URLs refused), API only (so nothing it
    queues ever runs), and a 1 s wait for synchronous images."""
    running = start_server(tmp_path_factory.mktemp("guarded"), slots=1, allow_private=False,
                           extra_args=["--no-worker"],
                           extra_env={"FRAMECAST_IMAGE_WAIT_S": str(GUARDED_IMAGE_WAIT_S)})
    yield running
    stop_server(running)
    assert_clean_log(running)


@pytest.fixture(scope="session")
def images() -> Iterator[ImageHost]:
    """Generated PNG/JPEG pictures (≥ 300 px a side) and a few bad files over loopback HTTP."""
    with serve_files(pictures()) as host:
        yield host


@pytest.fixture(scope="session")
def volc(server: Server) -> Any:
    """The Volcengine SDK's ``Ark`` client, pointed at the server."""
    from volcenginesdkarkruntime import Ark

    return Ark(base_url=server.base_url, api_key=API_KEY)


@pytest.fixture(scope="session")
def byteplus(server: Server) -> Any:
    """The BytePlus SDK's ``Ark`` client, pointed at the server."""
    try:
        from byteplussdkarkruntime import Ark
    except ModuleNotFoundError as exc:   # its runtime needs sniffio, which it does not declare
        pytest.fail(f"the BytePlus SDK cannot be imported ({exc}); install the package it "
                    "names (the test extra must list it)")

    return Ark(base_url=server.base_url, api_key=API_KEY)


@pytest.fixture(scope="session")
def http(server: Server) -> Iterator[httpx.Client]:
    """A plain HTTP client with the static key (for headers and raw bodies the SDKs hide)."""
    with httpx.Client(base_url=server.base_url, timeout=60.0,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client
