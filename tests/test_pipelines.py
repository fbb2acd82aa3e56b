"""Follow-up jobs (`then`): made when the parent succeeds, linked both ways, one trace, cancelled with it."""

from __future__ import annotations

import uuid

import httpx

from jobcommon import EchoRequest, Job, JobClient, JobStatus
from jobcommon.models import utcnow
from jobcommon.submission import enqueue
from tests.cluster import Cluster
from tests.jobs import submit, wait_for, wait_terminal
from tests.support.httpserver import MediaServer
from tests.support.otlp import OtlpReceiver
from tests.support.stack_jobs import download_with_follow_ups


async def test_follow_ups_run_after_parent_in_its_trace(api: httpx.AsyncClient) -> None:
    parent = await submit(
        api,
        {
            "job_type": "echo",
            "payload": {"step": 1},
            "then": [
                {"job_type": "echo", "payload": {"step": 2}},
                {
                    "job_type": "echo",
                    "payload": {"step": 3},
                    "then": [{"job_type": "echo", "payload": {"step": 4}}],
                },
            ],
        },
    )
    done = await wait_terminal(api, parent["task_id"])
    assert done["status"] == "succeeded"
    assert len(done["children"]) == 2
    children = [await wait_terminal(api, child) for child in done["children"]]
    assert [c["result"] for c in children] == [{"payload": {"step": 2}}, {"payload": {"step": 3}}]
    assert all(c["parent_id"] == parent["task_id"] for c in children)
    grandchild = await wait_terminal(api, children[1]["children"][0])
    assert grandchild["result"] == {"payload": {"step": 4}}
    traces = {parent["trace_id"], *(c["trace_id"] for c in children), grandchild["trace_id"]}
    assert traces == {parent["trace_id"]}  # one trace from the HTTP request through every follow-up


async def test_failed_parent_creates_no_follow_ups(api: httpx.AsyncClient) -> None:
    parent = await submit(api, {"job_type": "echo", "fail_with": "nope", "then": [{"job_type": "echo"}]})
    done = await wait_terminal(api, parent["task_id"])
    assert done["status"] == "failed"
    assert done["children"] == []


async def test_cancelling_a_finished_parent_cancels_its_running_follow_ups(api: httpx.AsyncClient) -> None:
    parent = await submit(api, {"job_type": "echo", "then": [{"job_type": "echo", "sleep_s": 30}]})
    done = await wait_terminal(api, parent["task_id"])
    child_id = done["children"][0]
    await wait_for(api, child_id, lambda j: j["status"] == "running")
    response = await api.post(f"/jobs/{parent['task_id']}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "succeeded"  # the parent itself had finished
    child = await wait_terminal(api, child_id, timeout=5)
    assert child["status"] == "cancelled"
    again = await api.post(f"/jobs/{parent['task_id']}/cancel")
    assert again.status_code == 409  # nothing left to cancel


async def test_invalid_follow_up_is_rejected_at_submission(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/jobs/submit",
        json={
            "job_type": "echo",
            "then": [{"job_type": "thumbnail", "candidates": 0}],
        },
    )
    assert response.status_code == 422
    assert "candidates" in response.text
    unknown = await api.post("/jobs/submit", json={"job_type": "echo", "then": [{"job_type": "nope"}]})
    assert unknown.status_code == 422


async def test_follow_up_gets_parent_output_as_source(api: httpx.AsyncClient) -> None:
    parent = await submit(api, {"job_type": "echo", "then": [{"job_type": "thumbnail"}]})
    done = await wait_terminal(api, parent["task_id"])
    child = await wait_terminal(api, done["children"][0])
    assert child["request"]["sources"] == [parent["task_id"]]
    assert child["queue"] == "image_processing"
    assert child["status"] == "failed"  # an echo has no output file to make a thumbnail of
    assert child["error"]["type"] == "SourceError"


async def test_download_then_thumbnail_and_metadata_across_three_services(
    api: httpx.AsyncClient, media_server: MediaServer, otlp: OtlpReceiver
) -> None:
    parent = await submit(api, download_with_follow_ups(media_server.url("clip.mp4")))
    done = await wait_terminal(api, parent["task_id"], timeout=60)
    assert done["status"] == "succeeded", done
    thumb_id, meta_id = done["children"]
    thumb = await wait_terminal(api, thumb_id, timeout=60)
    meta = await wait_terminal(api, meta_id, timeout=60)
    assert (thumb["status"], thumb["queue"]) == ("succeeded", "image_processing"), thumb
    assert (meta["status"], meta["queue"]) == ("succeeded", "metadata"), meta
    assert [t["width"] for t in thumb["result"]["thumbnails"]] == [160, 320]
    assert meta["result"]["succeeded"] == 1
    item = (await api.get(f"/jobs/{meta_id}/items")).json()["items"][0]
    assert item["result"]["file"]["width"] == 320
    assert item["result"]["file"]["frame_count"] == 75
    trace = parent["trace_id"]
    assert {thumb["trace_id"], meta["trace_id"]} == {trace}
    seen = {
        s.service_name for s in otlp.wait_for(lambda s: s.trace_id == trace and s.service_name == "metadata")
    }
    seen |= {
        s.service_name for s in otlp.wait_for(lambda s: s.trace_id == trace and s.service_name == "imaging")
    }
    seen |= {s.service_name for s in otlp.spans if s.trace_id == trace}
    assert {"gateway", "downloader", "imaging", "metadata"} <= seen


async def test_follow_up_cannot_start_before_its_parent_is_recorded_as_succeeded(cluster: Cluster) -> None:
    """The `then` race, made deterministic: the parent's final write is delayed 2 s while two janitors (each
    able to run the follow-up at once) watch the queue; the follow-up starts only after the parent ended."""
    cluster.start("tests.support.slow_finish", "janitor", SLOW_FINISH_S="2", CONCURRENCY="2")
    cluster.start("janitor", CONCURRENCY="2")
    async with JobClient(cluster.settings) as client:
        parent = (await client.submit({"job_type": "echo", "then": [{"job_type": "echo"}]})).job
        done = await client.wait(parent.task_id, timeout=30)
        assert done.status == JobStatus.SUCCEEDED, cluster.logs()[-3000:]
        (child_id,) = done.children
        child = await client.wait(child_id, timeout=30)
    assert child.status == JobStatus.SUCCEEDED
    assert done.finished_at is not None
    assert child.started_at is not None
    assert child.started_at > done.finished_at, (child.started_at, done.finished_at)


async def test_a_follow_up_that_cannot_be_created_fails_its_parent(cluster: Cluster) -> None:
    """A follow-up that no longer validates when its parent succeeds (its job type gone between submission and
    run; simulated by enqueuing a request that skipped the submission checks, which answer 422 for it): the
    parent ends `failed` (FollowUpError, one attempt, no children) instead of staying `running` and being run
    again until WorkerLost."""
    cluster.start("janitor")
    async with JobClient(cluster.settings) as client:
        request = EchoRequest(then=[{"job_type": "no_such_type"}])
        job = Job(
            task_id=uuid.uuid4().hex,
            job_type="echo",
            queue="default",
            status=JobStatus.QUEUED,
            max_attempts=3,
            created_at=utcnow(),
            request=request.model_dump(mode="json"),
        )
        await client.store.create(job)
        await enqueue(client.redis, request, job.task_id)
        done = await client.wait(job.task_id, timeout=20)
    assert done.status == JobStatus.FAILED, cluster.logs()[-3000:]
    assert done.error is not None
    assert done.error.type == "FollowUpError"
    assert "no_such_type" in done.error.message
    assert done.attempts == 1
    assert done.children == []
