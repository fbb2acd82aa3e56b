"""Follow-up jobs (`then`): made when the parent succeeds, linked both ways, one trace, cancelled with it."""

from __future__ import annotations

import httpx

from tests.jobs import status, submit, wait_for, wait_terminal


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
    child = await status(api, done["children"][0])
    assert child["request"]["sources"] == [parent["task_id"]]
    assert child["queue"] == "image_processing"
    await api.post(f"/jobs/{child['task_id']}/cancel")
