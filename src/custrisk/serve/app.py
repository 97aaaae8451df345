"""The HTTP decision service: a Starlette app over a :class:`RecordScorer`.

Routes: ``POST /v1/score`` (one record or ``{"records": [...]}``), ``GET /v1/model``,
``POST /hooks/jiandaoyun``, ``POST /admin/reload``, ``GET /healthz``, ``GET /readyz``,
``GET /openapi.json`` and ``GET /docs``. Bearer tokens (stored hashed, scopes ``score`` and
``admin``), a body limit (413), a per-token rate limit (429), JSON-lines access log
without personal data, every decision stored with masked inputs.

A reload (``POST /admin/reload`` or SIGHUP) loads and verifies the new model version off
the event loop and then swaps one reference: requests in flight finish on the model they
started with, none is dropped.

Here: the app factory (:func:`create_app`) and what wraps every route (token, scope, rate
limit, error answers, access log). The state the routes share is in
:mod:`custrisk.serve.state`, the handlers in :mod:`custrisk.serve.routes`, the request's
parsing in :mod:`custrisk.serve.request` and the OpenAPI document in
:mod:`custrisk.serve.openapi`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from custrisk.errors import CustriskError
from custrisk.io.atomic import ensure_dir
from custrisk.privacy import mask_pii_text
from custrisk.scoring.records import RecordScorer
from custrisk.serve.request import Call, Problem
from custrisk.serve.routes import (
    docs_route,
    healthz_route,
    jiandaoyun_route,
    metrics_route,
    model_route,
    openapi_route,
    readyz_route,
    reload_route,
    score_route,
)
from custrisk.serve.settings import ServeSettings
from custrisk.serve.shared import Seat
from custrisk.serve.state import (
    MicroBatcher,
    RateLimiter,
    ServiceState,
    follow_board,
    load_scorer,
)
from custrisk.serve.store import DecisionStore, TokenInfo, now_text, token_hash
from custrisk.serve.tokens import expiry_text, has_expired
from custrisk.serve.writer import (
    LOST_EXIT,
    WRITER_STOP_SECONDS,
    BackgroundWriter,
    DecisionsLost,
    end_process_soon,
)

log = logging.getLogger(__name__)


def create_app(
    settings: ServeSettings,
    *,
    store: DecisionStore | None = None,
    seat: Seat | None = None,
    scorer: RecordScorer | None = None,
) -> Starlette:
    """The ASGI app; the model is loaded (and verified) here, before the first request.

    ``seat``: the app is one of several worker processes (:mod:`custrisk.serve.workers`):
    the rate limit is shared, a reload switches every worker, and the worker takes its
    seat on the board once it serves. ``scorer``: the model as the supervisor loaded and
    verified it before forking (used unless a reload has published another version).
    """
    if scorer is None and seat is None:  # verified before the store is made: a refused
        scorer = load_scorer(settings)  # model leaves no serve/decisions.db behind
    state = ServiceState(settings, store or DecisionStore(settings.db), seat=seat)
    state.limiter = RateLimiter(settings.rate, settings.burst) if seat is None else seat.limiter
    if seat is not None and seat.metrics is not None:
        state.metrics = seat.metrics  # every worker's counters, summed by GET /metrics
    folder = None
    if seat is not None:  # a worker started after a reload serves the reloaded version
        seat.generation, folder = seat.board.pinned()
    if scorer is None or folder is not None:
        scorer = state.load_scorer(folder)
    state.scorer, state.profile = scorer, state._profile(scorer)
    state.loaded_at = now_text()
    if settings.jdy_profile is not None:
        from custrisk.serve.jiandaoyun import check_secret

        state.jdy_secret = check_secret(settings.jdy_secret_env)
    else:
        state.jdy_secret = os.environ.get(settings.jdy_secret_env) or None
    state.refresh_tokens(force=True)
    state.batcher = MicroBatcher(state, settings.max_batch)
    if settings.access_log is not None:
        path = Path(settings.access_log)
        ensure_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        state.access = os.fdopen(fd, "a", encoding="utf-8")
    state.writer = BackgroundWriter(state.store, state.access)
    if settings.on_high_risk is not None:
        state.notifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="custrisk-notify")

    routes = [
        Route("/v1/score", _endpoint(state, score_route, scope="score"), methods=["POST"]),
        Route("/v1/model", _endpoint(state, model_route, scope="score"), methods=["GET"]),
        Route(
            "/hooks/jiandaoyun", _endpoint(state, jiandaoyun_route, scope=None), methods=["POST"]
        ),
        Route("/admin/reload", _endpoint(state, reload_route, scope="admin"), methods=["POST"]),
        Route(
            "/healthz", _endpoint(state, healthz_route, scope=None, public=True), methods=["GET"]
        ),
        Route("/readyz", _endpoint(state, readyz_route, scope=None, public=True), methods=["GET"]),
        Route(
            "/openapi.json",
            _endpoint(state, openapi_route, scope=None, public=True),
            methods=["GET"],
        ),
        Route("/docs", _endpoint(state, docs_route, scope=None, public=True), methods=["GET"]),
        Route(
            "/metrics", _endpoint(state, metrics_route, scope=None, public=True), methods=["GET"]
        ),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        follower = None
        if seat is not None:
            assert state.scorer is not None
            seat.board.take_seat(seat.slot, os.getpid(), seat.generation, state.scorer.model_id)
            follower = asyncio.get_running_loop().create_task(follow_board(state))
        yield
        if follower is not None:
            follower.cancel()
        if state.batcher is not None:
            state.batcher.close()
        # every decision queued is stored before the process ends, or named in the log
        stored = close_writer(state, worker=seat is not None)
        if state.notifier is not None:
            state.notifier.shutdown(wait=stored)
        if state.access is not None and stored:  # (else the writer may still use it)
            state.access.close()

    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    app.state.service = state
    return app


def close_writer(state: ServiceState, *, worker: bool) -> bool:
    """At the stop: store the decisions queued within :data:`WRITER_STOP_SECONDS`; a
    store that does not answer by then has the writer name them in the log, and the
    process is ended shortly (``worker``: with :data:`LOST_EXIT`, which the supervisor
    reports; alone: with :class:`DecisionsLost`'s exit code) rather than held until it
    is killed. ``False`` then; ``True`` once stored (or nothing to store)."""
    if state.writer is None or state.writer.closed:
        return True
    if state.writer.close(WRITER_STOP_SECONDS):
        return True
    end_process_soon(LOST_EXIT if worker else DecisionsLost.exit_code)
    return False


Handler = Callable[[ServiceState, Request, "Call"], Awaitable[Response]]


def _endpoint(
    state: ServiceState, handler: Handler, *, scope: str | None, public: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        call = Call(uuid.uuid4().hex[:16])
        try:
            if scope is not None:
                call.caller = _authorise(state, request, scope).token_id
                wait = state.limiter.take(call.caller)
                if wait > 0:
                    raise Problem(
                        429,
                        f"rate limit: at most {state.settings.rate:g} requests/s per token "
                        f"(bursts of {state.settings.burst})",
                        headers={"Retry-After": str(max(1, math.ceil(wait)))},
                    )
            response = await handler(state, request, call)
        except Problem as problem:
            response = problem.response()
            call.note = problem.note()
        except CustriskError as exc:
            response = Problem(422, mask_pii_text(exc.one_line())).response()
        except Exception:  # a bug: logged without the request's data, answered 500
            log.exception("internal error on %s %s", request.method, request.url.path)
            response = Problem(500, "internal error; see the service log").response()
        if not public:
            state.log_access(
                {
                    "time": now_text(),
                    "request_id": call.request_id,
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "caller": call.caller,
                    "records": call.records,
                    "decisions": call.decisions[:100],
                    **({"note": call.note} if call.note else {}),
                }
            )
        state.metrics.request(request.url.path, response.status_code, time.perf_counter() - started)
        response.headers["X-Request-Id"] = call.request_id
        if state.seat is not None:
            response.headers["X-Custrisk-Worker"] = str(state.seat.slot)
        return response

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    """An unknown path (404) or method (405) answered as every other error: JSON."""
    assert isinstance(exc, HTTPException)
    what = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        message = f"no endpoint {what}; GET /openapi.json lists them"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{what} is not allowed; {request.url.path} takes {allowed}"
    else:
        message = str(exc.detail)
    service = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.request(request.url.path, exc.status_code, None)
    return Problem(exc.status_code, message, headers=dict(exc.headers or {})).response()


def _authorise(state: ServiceState, request: Request, scope: str) -> TokenInfo:
    header = request.headers.get("authorization", "")
    kind, _, secret = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="custrisk"'}
    if kind.lower() != "bearer" or not secret.strip():
        raise Problem(401, "missing bearer token (Authorization: Bearer TOKEN)", headers=challenge)
    state.refresh_tokens()
    hashed = token_hash(secret.strip())
    info = state.tokens.get(hashed)
    if info is None:  # made since the tokens were read? (at most one read a second)
        state.refresh_tokens(older_than=1.0)
        info = state.tokens.get(hashed)
    if info is None:
        raise Problem(401, "unknown or revoked token", headers=challenge)
    if has_expired(info.expires_at):  # (named by its id, never the token)
        raise Problem(
            401,
            f"token {info.token_id} ({info.name}) expired at {expiry_text(str(info.expires_at))}: "
            "ask for a new one (custrisk serve-token new NAME --expires 90d)",
            headers=challenge,
        )
    if scope not in info.scopes:
        raise Problem(403, f"token {info.token_id} lacks the {scope!r} scope")
    state.warn_if_expiring(info)
    return info


__all__ = ["create_app"]
