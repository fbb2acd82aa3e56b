"""The gateway's baseline: a bare FastAPI app that accepts a job the thinnest sensible way.

    python -m bench.bare_app PORT REDIS_URL

`POST /jobs/submit` validates the body with a pydantic model, writes a small job record and its stream
entry with one Lua script (one round trip) and answers 202 with the record; `GET /jobs/{id}/status` reads the
record's status back (one HGET). No authentication, no rate limit, no tracing, no index: the floor any
Python HTTP front of a Redis queue pays (uvicorn, httptools, uvloop, FastAPI, pydantic, redis-py), served
exactly as the gateway is, so `bench.gateway` can put the gateway's figures beside it.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Annotated, Any, Literal

import uvicorn
from fastapi import Body, FastAPI, HTTPException
from pydantic import BaseModel, Field
from redis.asyncio import Redis

WRITE = """
redis.call('HSET', KEYS[1], 'task_id', ARGV[1], 'job_type', ARGV[2], 'status', 'queued', 'request', ARGV[3],
  'created_at', ARGV[4])
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('XADD', KEYS[2], '*', 'task_id', ARGV[1], 'request', ARGV[3])
return 1
"""


class BareRequest(BaseModel):
    job_type: Literal["echo"]
    payload: dict[str, Any] = Field(default_factory=dict)
    sleep_s: float = Field(default=0.0, ge=0.0, le=3600.0)


class BareJob(BaseModel):
    task_id: str
    job_type: str
    status: str
    created_at: float
    request: BareRequest


def create_app(redis_url: str) -> FastAPI:
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})  # bare: none of it
    redis = Redis.from_url(redis_url, decode_responses=True)
    write = redis.register_script(WRITE)

    @app.post("/jobs/submit", status_code=202)
    async def submit(job: Annotated[BareRequest, Body()]) -> BareJob:
        task_id, now = uuid.uuid4().hex, time.time()
        keys = [f"bare:job:{task_id}", "bare:queue"]
        await write(keys=keys, args=[task_id, job.job_type, job.model_dump_json(), now])
        return BareJob(task_id=task_id, job_type=job.job_type, status="queued", created_at=now, request=job)

    @app.get("/jobs/{task_id}/status")
    async def status(task_id: str) -> dict[str, str]:
        found = await redis.hget(f"bare:job:{task_id}", "status")
        if found is None:
            raise HTTPException(404, "no such job")
        return {"task_id": task_id, "status": str(found)}

    return app


def main() -> None:
    port, redis_url = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(
        create_app(redis_url),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
