"""`notify-pipelines api`: serve the app with uvicorn (uvloop + httptools), one process per worker."""

from __future__ import annotations

import uvicorn

from notify_pipelines.api.config import ApiConfig
from notify_pipelines.api.request_context import configure_logging
from notify_pipelines.api.startup import DatabaseNotReady, check_database
from notify_pipelines.core import settings


def serve(host: str, port: int, workers: int) -> None:
    settings.set_api_workers_for_child_processes(workers)  # read by each worker: the rate limit is shared
    config = ApiConfig.from_env()  # fail here, in one line, if the configuration is wrong (ConfigError)
    try:
        check_database(config.database_url)
    except DatabaseNotReady as exc:
        raise SystemExit(f"notify-pipelines api: not starting: {exc}") from None
    configure_logging()
    uvicorn.run(
        "notify_pipelines.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the app logs one line per request, with its request id
        log_config=None,  # keep our logging configuration (request ids on every line)
        timeout_graceful_shutdown=10,
    )
