"""The gateway's FastAPI application."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from gateway import problems
from gateway.admin_routes import router as admin_router
from gateway.api_docs import router as docs_router
from gateway.api_keys import KeyStore, read_keys_file
from gateway.body_encoding import IdentityBodies
from gateway.body_limit import BodyLimit
from gateway.dashboard import router as dashboard_router
from gateway.dead_routes import router as dead_router
from gateway.event_streams import EventStreams
from gateway.json_body import JsonBodies
from gateway.key_routes import router as key_router
from gateway.live_stream import router as live_router
from gateway.metrics_route import router as metrics_router
from gateway.openapi_doc import document_errors_and_keys
from gateway.refused_keys import RefusedKeys
from gateway.routes import router
from gateway.schedule_routes import router as schedule_router
from gateway.settings import GatewaySettings
from jobcommon import JobClient
from jobcommon.gcra import Rate
from jobcommon.tracing import configure_tracing, shutdown_tracing

log = logging.getLogger("mediajobs.gateway")


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = JobClient(settings, service_name="gateway")
        await client.start()
        app.state.client = client
        app.state.settings = settings
        app.state.keys = KeyStore(client.redis)
        app.state.event_streams = EventStreams(
            per_key=settings.max_event_streams_per_key, total=settings.max_event_streams
        )
        app.state.submit_rate = Rate(settings.submit_rate_per_s, settings.submit_burst)  # per API key
        app.state.refused_keys = RefusedKeys()
        if settings.api_keys_file is not None:
            await app.state.keys.provision(read_keys_file(settings.api_keys_file))
        if not settings.auth:
            log.warning("AUTH=off: no API keys are checked; every caller is an admin. Trusted networks only.")
        gc.freeze()  # start-up's objects out of the collector's sight: see jobcommon.service (_on_startup)
        try:
            yield
        finally:
            await client.close()
            shutdown_tracing()

    app = FastAPI(
        title="mediajobs",
        summary="Background jobs for media work: submit, follow, cancel.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # gateway.api_docs serves /docs and /redoc with files of its own (FastAPI's use a CDN)
        redoc_url=None,
        # FastAPI's own OpenTelemetry: one SERVER span per request, current while it is handled (the jobs it
        # creates are its children) and named after its route once routing found it (`POST /jobs/submit`).
        # Not its spans per dependency and serialization, nor its metrics and logs (the gateway has its own),
        # nor exporters of its own (FASTAPI_OTEL_AUTO_CONFIGURE would add one: every span sent twice).
        telemetry={
            "tracer_provider": configure_tracing("gateway"),
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "auto_configure": False,  # the exporter is jobcommon.tracing's: never a second one
        },
    )
    app.include_router(
        router
    )  # first: most requests are its; its task ids leave /jobs/dead, /jobs/schedules be
    app.include_router(live_router)
    app.include_router(dead_router)
    app.include_router(schedule_router)
    app.include_router(admin_router)
    app.include_router(key_router)
    app.include_router(metrics_router)
    app.include_router(dashboard_router)
    app.include_router(docs_router)
    problems.install(app)
    document_errors_and_keys(app, auth=settings.auth, max_body_bytes=settings.max_body_bytes)
    # Middleware added later runs earlier. Bodies: the coding (415, from the headers alone), then the size
    # (413), then — once the host is known to be ours — a JSON body's reading (422), inside CORS so that a
    # browser sees its reason.
    app.add_middleware(JsonBodies)
    if settings.gateway_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.gateway_cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.gateway_allowed_hosts)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(IdentityBodies)
    return app
