"""The FastAPI app factory. `create_app()` reads the environment; tests pass an ApiConfig of their own."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_fastapi_instrumentator import Instrumentator

from notify_pipelines.api.config import DEVELOPMENT_SIGNING_KEY, ApiConfig
from notify_pipelines.api.errors import install_handlers
from notify_pipelines.api.middleware import RequestMiddleware
from notify_pipelines.api.openapi import build_openapi
from notify_pipelines.api.request_context import install_request_id_on_records
from notify_pipelines.api.routes import (
    admin,
    email_callbacks,
    letter_callbacks,
    notifications,
    received_texts,
    sms_callbacks,
    status,
    templates,
)
from notify_pipelines.api.state import ApiState

log = logging.getLogger("notify_pipelines.api")

DESCRIPTION = """The thin API that feeds notify-pipelines' source tables (GOV.UK Notify reference §6).

* `/v2/notifications/...`: create and read notifications, authenticated by a service JWT.
* `/v2/template(s)/...`, `/v2/received-text-messages`: templates and inbound texts, with the same JWT.
* `/notifications/...`: provider callbacks, inbound texts among them (no auth, as the reference).
* `/_status` (liveness), `/_ready` (readiness: the database answers), `/metrics` (Prometheus).
* `/admin/...`: services, templates, API keys, data retention and rates (`Bearer $NOTIFY_ADMIN_TOKEN`).

Every error is `{"status_code": n, "errors": [{"error": ..., "message": ...}]}`; every response carries `X-Request-Id`.
"""


def create_app(config: ApiConfig | None = None) -> FastAPI:
    config = config or ApiConfig.from_env()
    install_request_id_on_records()
    if config.signing_key == DEVELOPMENT_SIGNING_KEY:
        log.warning("NOTIFY_API_SIGNING_KEY is not set: API key secrets are signed with the development key")
    if not config.admin_token:
        log.warning("NOTIFY_ADMIN_TOKEN is not set: admin endpoints refuse every request")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Everything loaded so far lives as long as the process: keep it out of the collector's scans, which
        # otherwise show up as latency spikes under load.
        gc.freeze()
        yield
        app.state.api.close()

    # /docs from Swagger UI's files in the fastapi-offline package (mounted at /docs/assets), not from a CDN: the page
    # renders without the internet.
    app: FastAPI = FastAPIOffline(
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs/assets",
        title="notify-pipelines API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.api = ApiState(config)
    install_handlers(app)
    app.include_router(status.router)
    app.include_router(notifications.router)
    app.include_router(templates.router)
    app.include_router(received_texts.router)
    app.include_router(sms_callbacks.router)
    app.include_router(email_callbacks.router)
    app.include_router(letter_callbacks.router)
    app.include_router(admin.router)

    # /metrics: prometheus-fastapi-instrumentator's exposition (multiprocess-aware, gzip when asked). The request
    # metrics themselves (per route template, never per raw path) are recorded by RequestMiddleware: see there why.
    Instrumentator().expose(app, include_in_schema=False)
    app.add_middleware(RequestMiddleware, max_body_bytes=config.max_body_bytes,
                       max_header_bytes=config.max_header_bytes, access_log=config.access_log)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app
