"""The whole API under generated input (schemathesis over the OpenAPI schema): never a server error, and every
documented answer matches its schema. Runs against a gateway of its own on a Redis database of its own with no
workers, so the jobs it submits never run."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from redis import Redis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.result import Ok

from tests.conftest import ApiKeys, bearer, service_env, wait_until_ready
from tests.support.otlp import OtlpReceiver
from tools.localredis import free_port
from tools.procs import ServiceProcess

FUZZ_DB = 13
ENDLESS = {"/jobs/stream"}
"""Operations whose valid requests never end (an event stream of every job): their bad input is tested in
tests/test_dashboard_api.py instead."""


@pytest.fixture(scope="module")
def fuzzed_gateway(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    url = redis_url.rsplit("/", 1)[0] + f"/{FUZZ_DB}"
    Redis.from_url(url).flushdb()
    folder = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = service_env(
        url, folder / "media", otlp, GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(folder))
    )
    env["MEDIAJOBS_TEST_HOOKS"] = "false"  # as deployed: echo's hooks are refused
    gateway = ServiceProcess("gateway", env)
    gateway.start()
    try:
        api_url = f"http://127.0.0.1:{port}"
        wait_until_ready(api_url, set(), api_keys.admin)
        yield api_url
    finally:
        gateway.stop()
        assert "Traceback" not in gateway.output(), gateway.output()[-4000:]
        Redis.from_url(url).flushdb()


@pytest.mark.timeout(300)  # ~24 s alone; 60 s seen in two test processes beside two busy loops
def test_no_input_makes_a_server_error(fuzzed_gateway: str, api_keys: ApiKeys) -> None:
    """Generated requests to every operation (25 valid and 25 invalid each, where invalid ones exist), as an
    admin: no 5xx, and every answer that the schema documents conforms to it."""
    schema = schemathesis.openapi.from_url(f"{fuzzed_gateway}/openapi.json", headers=bearer(api_keys.admin))
    operations = [
        operation
        for result in schema.get_all_operations()
        if isinstance(result, Ok) and (operation := result.ok()).path not in ENDLESS
    ]
    assert len(operations) >= 12
    for operation, mode in itertools.product(operations, GenerationMode):

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(
                headers=bearer(api_keys.admin), checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            call()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # no invalid request exists for it (e.g. no parameters)
