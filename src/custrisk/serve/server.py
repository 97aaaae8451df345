"""Running the service: uvicorn on one process, SIGHUP to reload the model."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import uvicorn

from custrisk.serve.app import ServiceState, create_app
from custrisk.serve.settings import ServeSettings

log = logging.getLogger(__name__)


def run_server(settings: ServeSettings, *, on_ready: Any = None) -> None:
    """Serve until SIGINT/SIGTERM; SIGHUP reloads the model like ``POST /admin/reload``.

    The model is loaded and verified before the port is opened: a bad model never
    listens.
    """
    app = create_app(settings)
    state: ServiceState = app.state.service
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=75,  # above a reverse proxy's idle timeout (nginx: 60 s)
        lifespan="on",
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def reload() -> None:
            def run() -> None:
                try:
                    state.reload()
                except Exception as exc:  # keep serving the current model
                    log.error(
                        "reload on SIGHUP failed, still serving %s: %s",
                        state.scorer.model_id if state.scorer else "-",
                        exc,
                    )

            loop.run_in_executor(None, run)

        loop.add_signal_handler(signal.SIGHUP, reload)
        if on_ready is not None:
            on_ready(state)
        await server.serve()

    asyncio.run(main())


__all__ = ["run_server"]
