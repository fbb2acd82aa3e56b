"""The gateway's FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from gateway import problems
from gateway.routes import router
from gateway.settings import GatewaySettings
from jobcommon import JobClient
from jobcommon.tracing import configure_tracing, shutdown_tracing


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = JobClient(settings, service_name="gateway")
        await client.start()
        app.state.client = client
        app.state.settings = settings
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
    )
    app.include_router(router)
    problems.install(app)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=configure_tracing("gateway"))
    return app
