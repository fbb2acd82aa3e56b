"""The API docs' examples of POST /jobs/submit's body: one per job type, named after it, each a request the
gateway takes (202), none showing echo's test hooks; a plugin's job type gets the examples its model declares
that validate, and none otherwise (not one made up from its schema)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
import pytest
from pydantic import ConfigDict, Field

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.submit_examples import BUILT_IN, HIDDEN_FIELDS, submit_examples
from jobcommon import JOB_TYPES, JobPolicy, JobRequestBase, QueueSpec
from jobcommon.job_types import JobTypes
from jobcommon.requests.echo import TEST_HOOKS
from tests.conftest import ApiKeys, bearer
from tests.support.lone_gateway import LoneGateway, lone_gateway
from tests.support.otlp import OtlpReceiver

EXAMPLES_DB = 10
POLICY = JobPolicy(max_attempts=1, backoff_base_s=1, backoff_cap_s=1, soft_limit_s=10, hard_limit_s=20)
PLUGIN_QUEUE = QueueSpec("transcoding", group="transcoder")


def examples_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    body = doc["paths"]["/jobs/submit"]["post"]["requestBody"]["content"]["application/json"]
    examples: dict[str, dict[str, Any]] = body["examples"]
    return examples


@pytest.fixture(scope="module")
async def gateway(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LoneGateway]:
    folder = tmp_path_factory.mktemp("examples")
    async with lone_gateway(redis_url, EXAMPLES_DB, otlp, api_keys, folder) as gateway:
        yield gateway


async def test_every_documented_example_is_accepted(gateway: LoneGateway) -> None:
    """Each example in the served document, posted as it stands by a submit key, queues a job of its type
    (202); every job type has one, named after it, the video download first (what "Try it out" shows)."""
    async with httpx.AsyncClient(
        base_url=gateway.url, timeout=30, headers=bearer(gateway.keys.alice_submit)
    ) as api:
        doc = (await api.get("/openapi.json")).json()
        examples = examples_of(doc)
        body = doc["paths"]["/jobs/submit"]["post"]["requestBody"]["content"]["application/json"]
        assert sorted(examples) == sorted(body["schema"]["discriminator"]["mapping"])  # the gateway's types
        assert set(examples) == set(BUILT_IN)
        assert next(iter(examples)) == "video_download"
        for name, example in examples.items():
            assert example["value"]["job_type"] == name
            assert example["summary"]
            answer = await api.post("/jobs/submit", json=example["value"])
            assert answer.status_code == 202, (name, answer.text)
            assert answer.json()["job_type"] == name


def test_no_example_shows_a_test_hook_or_picks_two_start_times() -> None:
    """What the review found in Swagger UI's made-up body: echo's test hooks, `run_at` with `delay_s`, a
    follow-up `{"additionalProp1": {}}`. The examples are minimal: none of these, no follow-ups."""
    examples = examples_of(create_app(GatewaySettings()).openapi())
    assert set(TEST_HOOKS) <= HIDDEN_FIELDS
    for name, example in examples.items():
        value = example["value"]
        assert not HIDDEN_FIELDS & value.keys(), name
        assert not {"run_at", "delay_s", "then", "retry", "time_limit"} & value.keys(), name
        assert JOB_TYPES.parse(value).job_type == name


# -- job types of plugins ------------------------------------------------------------------------------------


class ShoutRequest(JobRequestBase):
    """Say `text` louder (declares no example)."""

    job_type: Literal["shout"] = "shout"
    text: str = Field(max_length=100)


class TranscodeRequest(JobRequestBase):
    """Transcode a clip to another codec. Slow."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"job_type": "transcode", "source": "clips/a.mp4"},
                {"job_type": "transcode", "source": "clips/a.mp4", "codec": "vp9"},
                {"job_type": "transcode", "source": "clips/a.mp4", "codec": "mpeg2"},  # not a codec it takes
                {"job_type": "shout", "text": "a shout is no transcode"},
            ]
        }
    )

    job_type: Literal["transcode"] = "transcode"
    source: str
    codec: Literal["h264", "vp9"] = Field(default="h264")


def plugin_registry() -> JobTypes:
    """The built-in job types plus two plugins' (registered here only, not in JOB_TYPES): `shout` declares no
    example, `transcode` four."""
    registry = JobTypes()
    for declared in JOB_TYPES.all():
        registry.register(declared.request, declared.queue, declared.policy, declared.priority)
    registry.register(ShoutRequest, PLUGIN_QUEUE, POLICY)
    registry.register(TranscodeRequest, PLUGIN_QUEUE, POLICY)
    return registry


def test_a_plugin_job_type_gets_only_the_valid_examples_it_declares(caplog: pytest.LogCaptureFixture) -> None:
    """`shout` declares none and gets none; of `transcode`'s four, the two that validate as a transcode are
    shown (after the built-ins', summed up by its docstring's first sentence) and the others are left out
    with a warning naming why."""
    with caplog.at_level(logging.WARNING, logger="mediajobs.gateway"):
        examples = submit_examples(plugin_registry())
    assert list(examples) == [*BUILT_IN, "transcode", "transcode_2"]
    assert examples["transcode"] == {
        "summary": "Transcode a clip to another codec",
        "value": {"job_type": "transcode", "source": "clips/a.mp4"},
    }
    assert examples["transcode_2"]["value"]["codec"] == "vp9"
    assert not any(name.startswith("shout") for name in examples)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2, warnings
    assert "transcode: it is refused" in warnings[0]
    assert "transcode: it is a shout job" in warnings[1]


def test_a_built_in_example_that_stopped_validating_is_left_out(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Should a model change under an example (here: echo's test hooks), the docs drop that example rather
    than offer a body the API refuses."""
    echo = BUILT_IN["echo"]
    hooked = type(echo)(echo.summary, {**echo.value, "fail_with": "boom"})
    monkeypatch.setitem(BUILT_IN, "echo", hooked)
    monkeypatch.setenv("MEDIAJOBS_TEST_HOOKS", "true")  # valid here, yet never in a public example
    with caplog.at_level(logging.WARNING, logger="mediajobs.gateway"):
        examples = submit_examples(plugin_registry())
    assert "echo" not in examples
    assert "test hooks (fail_with)" in caplog.text
    monkeypatch.setenv("MEDIAJOBS_TEST_HOOKS", "false")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mediajobs.gateway"):
        assert "echo" not in submit_examples(plugin_registry())
    assert "echo: it is refused" in caplog.text
