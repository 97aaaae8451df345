"""Running the service: uvicorn on one process, or on several worker processes under a
small supervisor (:mod:`custrisk.serve.workers`); SIGHUP reloads the model."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from custrisk.io.stop import Stopped
from custrisk.scoring.records import RecordScorer
from custrisk.serve.app import close_writer, create_app
from custrisk.serve.settings import ServeSettings
from custrisk.serve.shared import Seat
from custrisk.serve.state import ServiceState
from custrisk.serve.workers import Supervisor, bind_sockets
from custrisk.serve.writer import REQUESTS_STOP_SECONDS, DecisionsLost

log = logging.getLogger(__name__)


def run_server(
    settings: ServeSettings,
    *,
    workers: int = 1,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> str | None:
    """Serve until SIGINT/SIGTERM; SIGHUP reloads the model like ``POST /admin/reload``.

    The model is loaded and verified before the port is opened: a bad model never
    listens. ``workers`` above 1: that many processes share the listening socket, the
    per-token rate limit and the decisions store; a reload switches them all and a worker
    that dies is replaced. ``on_ready`` is called once the service answers, with its
    ``model_id``, ``pid``, ``store`` (the store's URL without a password), ``workers``
    (their pids) and ``port`` (the one listened on: ``--port 0`` lets the system choose).

    Returns the name of the signal that stopped the workers (``workers`` above 1); one
    process raises :class:`custrisk.io.stop.Stopped` instead (uvicorn raises the signal
    again once it has finished the requests in flight), or returns its name when that
    signal is ignored (SIGINT of a shell's background job).

    Raises
    ------
    DecisionsLost
        At the stop, when decisions already answered could not be stored (the log named
        them): the service's end is then a failure, not a clean stop.
    """
    if workers > 1:
        supervisor = Supervisor(settings, workers, serve_worker, on_ready=on_ready)
        stopped = supervisor.run()
        if supervisor.lost_by:
            slots = sorted(set(supervisor.lost_by))
            which = ("workers " if len(slots) > 1 else "worker ") + ", ".join(map(str, slots))
            raise DecisionsLost(
                f"custrisk serve stopped ({stopped}) after losing decisions it had answered: "
                f"{which} could not store them (the errors above name them and the "
                "decisions store)",
                hint=_LOST_HINT,
            )
        return stopped
    # Bound first (a port in use is a one-line error before the model is loaded, never
    # after "serving" was announced), listened on once the app is ready (serve_app)
    sockets = bind_sockets(settings.host, settings.port)
    try:
        return serve_app(settings, sockets=sockets, on_ready=on_ready)
    finally:
        for sock in sockets:
            sock.close()


def serve_app(
    settings: ServeSettings,
    *,
    seat: Seat | None = None,
    sockets: list[socket.socket] | None = None,
    scorer: RecordScorer | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> str | None:
    """One uvicorn process: on its own port, or (a worker) on the supervisor's socket.
    Raises :class:`Stopped` at the stop, or returns the name of the signal when uvicorn
    ended on one that custrisk ignores."""
    app = create_app(settings, seat=seat, scorer=scorer)
    state: ServiceState = app.state.service
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=75,  # above a reverse proxy's idle timeout (nginx: 60 s)
        # a stop waits this long for the requests in flight, then the writer's turn
        timeout_graceful_shutdown=REQUESTS_STOP_SECONDS,
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
        for sock in sockets or ():  # the app is ready: connections queue from here on,
            sock.listen(2048)  # so that whoever read "serving" may connect at once
        if on_ready is not None:
            assert state.scorer is not None
            on_ready(
                {
                    "model_id": state.scorer.model_id,
                    "pid": os.getpid(),
                    "store": state.store.shown_url,
                    "workers": [os.getpid()],
                    "port": sockets[0].getsockname()[1] if sockets else settings.port,
                }
            )
        await server.serve(sockets=sockets)

    try:
        asyncio.run(main())
    except Stopped as stop:
        _check_stored(state, seat, stop.signal_name)
        raise  # the service's normal end
    # uvicorn stopped on a signal it raised again into a handler that ignores it (SIGINT
    # of a shell's background job): the same stop, said and checked the same way
    captured = getattr(server, "_captured_signals", None) or [signal.SIGTERM]
    name = signal.Signals(captured[0]).name
    _check_stored(state, seat, name)
    return name


def _check_stored(state: ServiceState, seat: Seat | None, stopped_by: str) -> None:
    """At the stop: every decision answered is stored, or :class:`DecisionsLost`."""
    # a second signal makes uvicorn skip the app's shutdown: the decisions queued are
    # stored (or named) here
    close_writer(state, worker=seat is not None)
    lost = state.writer.lost if state.writer is not None else []
    if lost:
        raise DecisionsLost(
            f"custrisk serve stopped ({stopped_by}) after losing {len(lost)} "
            f"decision(s) it had answered: the decisions store {state.store.shown_url} "
            "could not take them (the error above names them)",
            hint=_LOST_HINT,
        ) from None


_LOST_HINT = "free the store and stop the service only once GET /readyz is ready again"


def serve_worker(
    settings: ServeSettings, seat: Seat, sock: socket.socket, scorer: RecordScorer
) -> None:
    """A worker process: the app on the supervisor's listening socket."""
    serve_app(settings, seat=seat, sockets=[sock], scorer=scorer)


__all__ = ["run_server", "serve_app", "serve_worker"]
