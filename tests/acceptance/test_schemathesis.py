"""Property-based fuzzing of every HTTP API (Ark, OpenAI, AI/ML, AceData, Wiro, native) from
the server's own OpenAPI document, with schemathesis: valid and invalid requests generated
from each operation's declared schema, with a fixed seed, against a real ``framecast serve``
on SQLite and on PostgreSQL. Any 5xx, or a response whose body does not match the schema
declared for its status code, fails the test.

The server runs no worker (the creates queue up; fuzzing the engines is not the point) and
may reach private addresses, so a generated URL costs a refused connection, not a timeout.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from framecast.api.app import create_app
from framecast.api.settings import Settings
from tests.acceptance.support.server import API_KEY, Server, server_on

EXAMPLES = 40        # per operation and database: a few hundred cases per dialect

schema = schemathesis.openapi.from_dict(
    create_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="fc-openapi-")))).openapi())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                deterministic=True)
HEADERS = {"Authorization": f"Bearer {API_KEY}", "x-api-key": API_KEY}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``serve --no-worker`` on each database."""
    with server_on(request.param, tmp_path_factory.mktemp(f"fuzz-{request.param}") / "data",
                   extra_args=["--no-worker"],
                   extra_env={"FRAMECAST_WEBHOOK_DELIVER": "false"}) as server:
        yield server


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
@pytest.mark.timeout(600)
def test_no_request_gets_a_5xx_or_an_undeclared_body(case: schemathesis.Case,
                                                     server: Server) -> None:
    case.call_and_validate(base_url=server.root, headers=HEADERS,
                           checks=[not_a_server_error, response_schema_conformance])
