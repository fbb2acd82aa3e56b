"""`GET /metrics`: the gateway's Prometheus metrics, every queue's numbers read from Redis at scrape time.

It needs an admin API key unless `METRICS_PUBLIC=true` (a Prometheus on a private network that holds no
key). Either way it shows no secrets and no ids: label values are job types, queues, statuses and error
class names only (`jobcommon.metrics`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api_keys import Role
from gateway.auth import OptionalCaller
from jobcommon.errors import Forbidden, Unauthenticated
from jobcommon.metrics import record_queue_stats
from jobcommon.queue_stats import all_queue_stats

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, key: OptionalCaller) -> Response:
    if not request.app.state.settings.metrics_public:
        if key is None:
            raise Unauthenticated("GET /metrics needs an admin API key (or METRICS_PUBLIC=true)")
        if not key.allows(Role.ADMIN):
            raise Forbidden(f"this API key's role ({key.role}) does not allow this; it needs admin")
    record_queue_stats(await all_queue_stats(request.app.state.client.redis))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
