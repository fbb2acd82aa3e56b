"""The job-type registry: one declaration per job type, checked, and extensible from outside jobcommon."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import ValidationError

from jobcommon import (
    JOB_TYPES,
    QUEUES,
    ConfigurationError,
    JobClient,
    JobRequestBase,
    JobService,
    JobStatus,
    Queue,
    WorkerSettings,
    job_type,
)
from jobcommon.policies import DEFAULT, policy_for
from jobcommon.requests import EchoRequest, ThumbnailRequest, VideoDownloadRequest
from jobcommon.submission import follow_up_request, parse_request
from tests.cluster import Cluster
from tests.conftest import ApiKeys, bearer, wait_until_ready
from tools.localredis import free_port


def test_built_in_job_types_carry_their_queue_and_policy() -> None:
    """Each built-in request model is registered with the queue and policy declared on it, once."""
    assert JOB_TYPES.get("video_download").request is VideoDownloadRequest
    assert JOB_TYPES.get("video_download").queue == QUEUES[Queue.VIDEO_DOWNLOADS]
    assert JOB_TYPES.get("thumbnail").queue == QUEUES[Queue.IMAGE_PROCESSING]
    assert JOB_TYPES.of(EchoRequest()).policy == DEFAULT
    assert policy_for("video_download").max_attempts == 5
    assert set(JOB_TYPES.names()) >= {
        "echo",
        "video_info",
        "metadata_enrich",
        "storyboard",
        "playlist_download",
    }
    assert {q.queue for q in JOB_TYPES.queues()} >= {q.value for q in Queue}


def test_a_request_validates_into_its_own_model() -> None:
    """The registry's union picks the model by `job_type` and names the bad field of an invalid one."""
    assert isinstance(JOB_TYPES.parse({"job_type": "thumbnail", "sources": ["a.jpg"]}), ThumbnailRequest)
    with pytest.raises(ValueError, match="job_type"):
        JOB_TYPES.parse({"job_type": "no_such_type"})


def test_only_a_follow_up_may_leave_its_input_to_its_parent() -> None:
    """Imaging `sources` and `metadata_enrich` `items` are refused empty at the top (nothing would fill them:
    the job could only fail, NoSources / NoItems), yet a follow-up in `then` names none: it is fed its
    parent's output."""
    for bare in ({"job_type": "thumbnail"}, {"job_type": "image_optimize", "sources": []}):
        with pytest.raises(ValidationError, match="sources"):
            parse_request(bare)
    with pytest.raises(ValidationError, match="items"):
        parse_request({"job_type": "metadata_enrich", "items": []})
    follow_ups = [
        {"job_type": "thumbnail"},
        {"job_type": "storyboard", "sources": []},
        {"job_type": "image_resize", "specs": [{"width": 10, "height": 10}]},
        {"job_type": "metadata_enrich"},
        {"job_type": "music_lookup"},
    ]
    parent = parse_request(
        {"job_type": "video_download", "url": "https://example.org/a.mp4", "then": follow_ups}
    )
    parent_id = "f" * 32
    for spec in parent.then:
        fed = follow_up_request(spec, parent_id).model_dump()
        assert fed.get("sources", fed.get("items")) == [parent_id], spec
    named = follow_up_request({"job_type": "thumbnail", "sources": ["in/a.jpg"]}, parent_id)
    assert named.model_dump()["sources"] == ["in/a.jpg"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"job_type": "playlist_download", "url": "https://example.org/p", "items": "1-10"}, "items"),
        (
            {"job_type": "playlist_download", "url": "https://example.org/p", "items": " 1, 3, 5 - 7 "},
            "items",
        ),
        ({"job_type": "playlist_download", "url": "https://example.org/p", "items": "0-3"}, "items"),
        ({"job_type": "playlist_download", "url": "https://example.org/p", "items": "4-4"}, "items"),
        ({"job_type": "video_download", "url": "http://127.0.0.1:65535/x.mp4"}, "url"),
        ({"job_type": "video_download", "url": "https://[2001:db8::1]:8443/x.mp4"}, "url"),
        ({"job_type": "video_download", "url": "https://b\u00fccher.example/x.mp4"}, "url"),
        ({"job_type": "video_download", "url": "https://example.org./a b.mp4"}, "url"),
        ({"job_type": "video_download", "url": "https://user:pw@my_host.example:/x.mp4"}, "url"),
        ({"job_type": "echo", "time_limit": {"soft_limit_s": 1, "hard_limit_s": 1}}, "time_limit"),
        ({"job_type": "thumbnail", "sources": ["in/" + "a" * 251 + ".jpg"]}, "sources"),
        ({"job_type": "thumbnail", "sources": ["a/" * 2045 + "b.jpg"]}, "sources"),
        # 120 "é" are 240 bytes composed but 360 decomposed, as a macOS client sends them: counted composed
        ({"job_type": "thumbnail", "sources": ["in/" + "e\u0301" * 120 + ".jpg"]}, "sources"),
    ],
)
def test_requests_at_the_edge_of_the_rules_are_accepted(request_: dict[str, object], field: str) -> None:
    """What the submission-time checks still let through: selections that select something, valid ports,
    IPv6 and international hosts, 1 s time limits, the longest names and paths a file system holds."""
    parsed = parse_request(request_)
    assert getattr(parsed, field)


def test_declaring_a_job_type_wrongly_is_refused() -> None:
    """No `job_type` literal, or a name declared twice: ConfigurationError at declaration."""
    with pytest.raises(ConfigurationError, match="Literal"):

        @job_type(queue=QUEUES[Queue.DEFAULT], policy=DEFAULT)
        class Nameless(JobRequestBase):
            job_type: str = "nameless"

    with pytest.raises(ConfigurationError, match="declared twice"):

        @job_type(queue=QUEUES[Queue.DEFAULT], policy=DEFAULT)
        class EchoAgain(JobRequestBase):
            job_type: Literal["echo"] = "echo"


def test_a_handler_on_the_wrong_queue_is_refused(redis_url: str) -> None:
    """A service cannot register a handler for a job type routed to another queue."""
    service = JobService("janitor", Queue.DEFAULT, WorkerSettings(redis_url=redis_url))
    with pytest.raises(ConfigurationError, match="image_processing"):
        service.handler(ThumbnailRequest)


def _plugin_dist(site: Path) -> Path:
    """A minimal installed distribution whose entry point names the test's job-type module."""
    info = site / "mediajobs_shout-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mediajobs-shout\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mediajobs.job_types]\nshout = tests.support.shout\n")
    return site


async def test_a_job_type_from_outside_jobcommon_runs_end_to_end(
    cluster: Cluster, tmp_path: Path, api_keys: ApiKeys
) -> None:
    """A plugin's job type, found through the `mediajobs.job_types` entry point by every process: the
    gateway accepts and documents it, its own service runs it, the janitor and health watch its queue."""
    plugin = {"PYTHONPATH": str(_plugin_dist(tmp_path / "site")) + ":" + str(Path.cwd())}
    port = free_port()
    cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)), **plugin)
    cluster.start("tests.support.shout_service", **plugin)
    cluster.start("janitor", **plugin)
    api_url = f"http://127.0.0.1:{port}"
    wait_until_ready(api_url, {"shouter", "janitor"}, api_keys.admin)
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=bearer(api_keys.admin)) as api:
        schema = (await api.get("/openapi.json")).json()
        assert "ShoutRequest" in schema["components"]["schemas"]
        bad = await api.post("/jobs/submit", json={"job_type": "shout", "text": "x" * 101})
        assert bad.status_code == 422
        submitted = await api.post("/jobs/submit", json={"job_type": "shout", "text": "hello"})
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["queue"] == "shouting"
        async with JobClient(cluster.settings) as client:
            final = await client.wait(submitted.json()["task_id"], timeout=20)
        assert final.status == JobStatus.SUCCEEDED, cluster.logs()[-3000:]
        assert final.result == {"text": "HELLO!"}
        health = (await api.get("/jobs/health")).json()
        assert "shouting" in health["queues"]
