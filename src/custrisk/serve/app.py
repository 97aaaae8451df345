"""The HTTP decision service: a Starlette app over a :class:`RecordScorer`.

Routes: ``POST /v1/score`` (one record or ``{"records": [...]}``), ``GET /v1/model``,
``POST /hooks/jiandaoyun``, ``POST /admin/reload``, ``GET /healthz``, ``GET /readyz``,
``GET /openapi.json`` and ``GET /docs``. Bearer tokens (stored hashed, scopes ``score`` and
``admin``), a body limit (413), a per-token rate limit (429), JSON-lines access log
without personal data, every decision stored with masked inputs.

A reload (``POST /admin/reload`` or SIGHUP) loads and verifies the new model version off
the event loop and then swaps one reference: requests in flight finish on the model they
started with, none is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from custrisk import __version__
from custrisk.errors import CustriskError
from custrisk.io.atomic import ensure_dir
from custrisk.privacy import mask_name_value, mask_pii_text
from custrisk.scoring.features import open_model
from custrisk.scoring.records import RecordError, RecordScorer
from custrisk.serve.jiandaoyun import (
    MAX_AGE_SECONDS,
    JdyProfile,
    identity_profile,
    load_profile,
    verify,
)
from custrisk.serve.settings import ServeSettings
from custrisk.serve.shared import Seat, SharedRateLimiter, alive
from custrisk.serve.store import (
    BackgroundWriter,
    DecisionStore,
    TokenInfo,
    fingerprint,
    now_text,
    token_hash,
)

log = logging.getLogger(__name__)
JSON_TYPE = "application/json"
#: How long a batch waits for requests that have arrived but are not read yet.
COLLECT_SECONDS = 0.001
#: How often a worker looks whether another worker published a new model version.
FOLLOW_SECONDS = 0.1
#: How long a reload waits for every worker to serve the new version.
RELOAD_WAIT_SECONDS = 120.0
#: How long a repeated 简道云 delivery waits for the first one's answer.
DELIVERY_WAIT_SECONDS = 30.0


class _Problem(Exception):
    """An HTTP error answer: status, a one-line message, optional details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.details is not None:
            body["problems"] = self.details
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class RateLimiter:
    """A token bucket per caller: ``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a request may pass, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


@dataclass
class ServiceState:
    """What the routes share; :attr:`scorer` is swapped whole on reload."""

    settings: ServeSettings
    store: DecisionStore
    scorer: RecordScorer | None = None
    profile: JdyProfile | None = None
    jdy_secret: str | None = None
    limiter: RateLimiter | SharedRateLimiter = field(default_factory=lambda: RateLimiter(0, 1))
    tokens: dict[str, TokenInfo] = field(default_factory=dict)
    tokens_loaded: float = 0.0
    loaded_at: str = ""
    reloads: int = 0
    access: Any = None
    writer: BackgroundWriter | None = None
    notifier: ThreadPoolExecutor | None = None
    batcher: MicroBatcher | None = None
    reload_lock: threading.Lock = field(default_factory=threading.Lock)
    seat: Seat | None = None  # one of several worker processes (--workers N)

    # ---------------------------------------------------------------------------------

    def load_scorer(self, folder: str | None = None) -> RecordScorer:
        """Resolve (NAME: its latest version), verify and prepare the model; ``folder``:
        that model folder instead (the version another worker switched to)."""
        s = self.settings
        model = open_model(
            folder or s.model,
            s.models_dir,
            require_signed=s.require_signed,
            allow_unverified=s.allow_unverified,
            predict_only=True,  # a scorecard scores without importing scikit-learn
        )
        return RecordScorer(model, policy=s.policy, alert_rules=s.alert_rules, lang=s.lang)

    def reload(self) -> dict[str, Any]:
        """Load the model again (a new version of NAME, a new policy) and switch to it;
        with several workers, every worker switches before this returns."""
        with self.reload_lock:
            old = self.scorer.model_id if self.scorer is not None else None
            scorer = self.load_scorer()
            generation = 0
            if self.seat is not None:  # the others load the very folder this one loaded
                generation = self.seat.board.publish(str(scorer.model.ref.path.resolve()))
            self._switch(scorer, generation)
            log.info("model reloaded: %s -> %s", old, scorer.model_id)
            done: dict[str, Any] = {
                "previous": old,
                "model_id": scorer.model_id,
                "loaded_at": self.loaded_at,
            }
        if self.seat is not None:
            done["workers"] = self._wait_for_workers(generation)
        return done

    def follow(self) -> None:
        """Switch to the model version another worker published (off the event loop)."""
        assert self.seat is not None
        generation, folder = self.seat.board.pinned()
        if folder is None or generation <= self.seat.generation:
            return
        with self.reload_lock:
            if generation <= self.seat.generation:
                return
            old = self.scorer.model_id if self.scorer is not None else "-"
            try:
                scorer = self.load_scorer(folder)
            except Exception as exc:  # keep serving the current model, say so
                log.error(
                    "worker %d could not switch to %s, still serving %s: %s",
                    self.seat.slot,
                    folder,
                    old,
                    exc,
                )
                self.seat.generation = generation  # not retried: the reload reports it
                self.seat.board.take_seat(self.seat.slot, os.getpid(), generation, old)
                return
            self._switch(scorer, generation)
            log.info("worker %d switched: %s -> %s", self.seat.slot, old, scorer.model_id)

    def _switch(self, scorer: RecordScorer, generation: int) -> None:
        profile = self._profile(scorer)
        self.scorer, self.profile = scorer, profile  # one swap each: no request sees half
        self.loaded_at = now_text()
        self.reloads += 1
        self.refresh_tokens(force=True)
        if self.seat is not None:
            self.seat.generation = generation
            self.seat.board.take_seat(self.seat.slot, os.getpid(), generation, scorer.model_id)

    def _wait_for_workers(self, generation: int) -> list[dict[str, Any]]:
        """The workers once each live one serves ``generation`` (or the wait is over)."""
        assert self.seat is not None
        deadline = time.monotonic() + RELOAD_WAIT_SECONDS
        while True:
            seats = [s for s in self.seat.board.seats() if alive(s["pid"])]
            if all(s["generation"] >= generation for s in seats):
                break
            if time.monotonic() > deadline:
                log.error("reload: not every worker switched in %.0f s", RELOAD_WAIT_SECONDS)
                break
            time.sleep(0.02)
        return [{k: s[k] for k in ("worker", "pid", "model_id")} for s in seats]

    def _profile(self, scorer: RecordScorer) -> JdyProfile:
        s = self.settings
        if s.jdy_profile is None:
            return identity_profile()
        return load_profile(s.jdy_profile, {f.header for f in scorer.fields})

    def refresh_tokens(self, *, force: bool = False) -> None:
        """Re-read the active tokens (every few seconds: a revoked token stops working)."""
        if force or time.monotonic() - self.tokens_loaded > 5:
            self.tokens = self.store.active_tokens()
            self.tokens_loaded = time.monotonic()

    def log_access(self, entry: dict[str, Any]) -> None:
        if self.writer is not None and self.access is not None:
            self.writer.access_line(json.dumps(entry, ensure_ascii=False) + "\n")


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
    state = ServiceState(settings, store or DecisionStore(settings.db), seat=seat)
    state.limiter = RateLimiter(settings.rate, settings.burst) if seat is None else seat.limiter
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
        Route("/v1/score", _endpoint(state, _score, scope="score"), methods=["POST"]),
        Route("/v1/model", _endpoint(state, _model, scope="score"), methods=["GET"]),
        Route("/hooks/jiandaoyun", _endpoint(state, _jiandaoyun, scope=None), methods=["POST"]),
        Route("/admin/reload", _endpoint(state, _reload, scope="admin"), methods=["POST"]),
        Route("/healthz", _endpoint(state, _healthz, scope=None, public=True), methods=["GET"]),
        Route("/readyz", _endpoint(state, _readyz, scope=None, public=True), methods=["GET"]),
        Route(
            "/openapi.json", _endpoint(state, _openapi, scope=None, public=True), methods=["GET"]
        ),
        Route("/docs", _endpoint(state, _docs, scope=None, public=True), methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        follower = None
        if seat is not None:
            assert state.scorer is not None
            seat.board.take_seat(seat.slot, os.getpid(), seat.generation, state.scorer.model_id)
            follower = asyncio.get_running_loop().create_task(_follow_board(state))
        yield
        if follower is not None:
            follower.cancel()
        if state.batcher is not None:
            state.batcher.close()
        if state.notifier is not None:
            state.notifier.shutdown(wait=True)
        if state.writer is not None:
            state.writer.close()  # every decision queued is stored before the process ends
        if state.access is not None:
            state.access.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = state
    return app


async def _follow_board(state: ServiceState) -> None:
    """Switch this worker to a model version another worker published."""
    assert state.seat is not None
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(FOLLOW_SECONDS)
        if state.seat.board.generation() > state.seat.generation:
            try:
                await loop.run_in_executor(None, state.follow)
            except Exception:  # never stop following
                log.exception("worker %d: switching models failed", state.seat.slot)


Handler = Callable[[ServiceState, Request, "Call"], Awaitable[Response]]


@dataclass
class Call:
    """One request as the access log sees it (no personal data)."""

    request_id: str
    caller: str = "-"
    records: int = 0
    decisions: list[str] = field(default_factory=list)
    note: str = ""


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
                    raise _Problem(
                        429,
                        f"rate limit: at most {state.settings.rate:g} requests/s per token "
                        f"(bursts of {state.settings.burst})",
                        headers={"Retry-After": str(max(1, math.ceil(wait)))},
                    )
            response = await handler(state, request, call)
        except _Problem as problem:
            response = problem.response()
            call.note = problem.message[:200]
        except CustriskError as exc:
            response = _Problem(422, mask_pii_text(exc.one_line())).response()
        except Exception:  # a bug: logged without the request's data, answered 500
            log.exception("internal error on %s %s", request.method, request.url.path)
            response = _Problem(500, "internal error; see the service log").response()
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
        response.headers["X-Request-Id"] = call.request_id
        if state.seat is not None:
            response.headers["X-Custrisk-Worker"] = str(state.seat.slot)
        return response

    return endpoint


def _authorise(state: ServiceState, request: Request, scope: str) -> TokenInfo:
    header = request.headers.get("authorization", "")
    kind, _, secret = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="custrisk"'}
    if kind.lower() != "bearer" or not secret.strip():
        raise _Problem(401, "missing bearer token (Authorization: Bearer TOKEN)", headers=challenge)
    state.refresh_tokens()
    info = state.tokens.get(token_hash(secret.strip()))
    if info is None:
        raise _Problem(401, "unknown or revoked token", headers=challenge)
    if scope not in info.scopes:
        raise _Problem(403, f"token {info.token_id} lacks the {scope!r} scope")
    return info


async def _body(state: ServiceState, request: Request) -> bytes:
    """The body, refused with 413 past the limit (declared or streamed)."""
    limit = state.settings.max_body
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Problem(
            413, f"request body of {int(declared):,} bytes is over the {limit:,}-byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Problem(413, f"request body is over the {limit:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


#: How deep a request's JSON may nest: a record is an object of values, a batch a list
#: of them, a 简道云 push a few envelopes more; deeper is an attack, not a customer.
MAX_JSON_DEPTH = 16


def _json(body: bytes) -> Any:
    """The request body parsed, or a 400: not JSON, nested deeper than
    :data:`MAX_JSON_DEPTH`, or a string holding a lone surrogate (``"\\ud800"``, valid
    JSON that no UTF-8 text can hold)."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise _Problem(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Problem(400, f"the body is not valid JSON: {exc}") from None
    _check_json(data)
    return data


def _check_json(data: Any) -> None:
    """Walk a parsed body without recursion: depth and strings checked (see :func:`_json`).
    A bad string is named by its place (``records[3].name``), never by its value."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, place = stack.pop()
        if isinstance(value, str):
            _check_text(value, place or "the body")
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise _Problem(
                400, f"the body nests deeper than {MAX_JSON_DEPTH} levels (at {place or '$'})"
            )
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"a key in {place or 'the body'}")
                name = key if len(key) <= 40 else key[:40] + "…"
                stack.append((item, depth + 1, f"{place}.{name}" if place else name))
        else:
            stack.extend((item, depth + 1, f"{place}[{i}]") for i, item in enumerate(value))


def _check_text(text: str, place: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Problem(
            400,
            f"{place} holds a lone surrogate (\\u{ord(text[exc.start]):04x}), which no "
            "UTF-8 text can hold: send the character whole (one outside the BMP as a pair)",
        ) from None


# ---------------------------------------------------------------------------------------
# routes


async def _score(state: ServiceState, request: Request, call: Call) -> Response:
    data = _json(await _body(state, request))
    if isinstance(data, Mapping) and "records" in data:
        records = data["records"]
        single = False
        if not isinstance(records, list):
            raise _Problem(422, "'records' must be a list of objects")
    elif isinstance(data, Mapping):
        records, single = [data], True
    elif isinstance(data, list):
        records, single = data, False
    else:
        raise _Problem(422, 'expected a JSON object (one customer) or {"records": [...]}')
    if len(records) > state.settings.max_batch:
        raise _Problem(
            413, f"{len(records):,} records in one request; at most {state.settings.max_batch:,}"
        )
    call.records = len(records)
    problems = state.scorer.check(records) if state.scorer is not None else []
    if problems:  # the shape of this request's records, before it waits for a batch
        raise _Problem(422, RecordError(problems).one_line(), details=problems)
    assert state.batcher is not None
    results = await state.batcher.submit(list(records), call.caller)
    call.decisions = [r["decision_id"] for r in results]
    return JSONResponse(results[0] if single else {"decisions": results})


def _decide(
    state: ServiceState,
    records: Sequence[Any],
    *,
    caller: str | Sequence[str],
    channel: str | Sequence[str],
    ids: Sequence[str | None] | None = None,
    store: bool = True,
) -> list[dict[str, Any]]:
    """Score, store and (for high-risk decisions) notify; the decisions as answered.

    ``store=False``: neither stored nor notified; each answer carries the row to store
    under ``_stored`` (a 简道云 delivery stores it with its response, then notifies).

    ``caller``, ``channel`` and ``ids`` may be given per record (a micro-batch of several
    requests); a record without an id gets its decision id (upper case: ids are
    normalised so).
    """
    scorer = state.scorer
    assert scorer is not None
    n = len(records)
    callers = [caller] * n if isinstance(caller, str) else list(caller)
    channels = [channel] * n if isinstance(channel, str) else list(channel)
    decision_ids = [uuid.uuid4().hex for _ in records]
    given = list(ids) if ids is not None else [None] * n
    record_ids = [g if g else d.upper() for g, d in zip(given, decision_ids, strict=True)]
    try:
        batch = scorer.score(records, ids=record_ids)
    except RecordError as exc:
        raise _Problem(422, exc.one_line(), details=exc.problems) from None
    created = now_text()
    pii = {f.header for f in scorer.fields if f.pii} | {f.name for f in scorer.fields if f.pii}
    stored = []
    answers = []
    for i, (decision, record) in enumerate(zip(batch.decisions, records, strict=True)):
        answer = {"decision_id": decision_ids[i], **decision, "as_of": batch.as_of.isoformat()}
        if batch.repaired and batch.repaired[i]:
            answer["repaired"] = batch.repaired[i]
        answers.append(answer)
        stored.append(
            {
                "decision_id": decision_ids[i],
                "created_at": created,
                "caller": callers[i],
                "channel": channels[i],
                "input_fingerprint": fingerprint(record),
                "inputs_masked": _masked(record, pii),
                "outputs": answer,
            }
        )
    if not store:
        return [dict(a, _stored=s) for a, s in zip(answers, stored, strict=True)]
    if state.writer is not None:
        state.writer.decisions(stored)  # stored by the writer thread, in order
    else:
        state.store.add_decisions(stored)
    _notify(state, scorer, answers)
    return answers


@dataclass
class _Job:
    records: list[Any]
    caller: str
    future: asyncio.Future[list[dict[str, Any]]]


class MicroBatcher:
    """Requests that arrive while a batch is being scored are scored together next.

    Scoring has a fixed cost per call (cleaning, features, policy over a table) that
    dwarfs the cost per record, so under load one call for the requests waiting costs
    about as much as one for a single request. Scoring runs on the event loop itself
    (``inline``, the default): requests arriving meanwhile wait in the socket buffers and
    are all read before the next batch closes. On a thread instead (``inline=False``) the
    loop and the scorer share the GIL: measured with bench_serve.py, batches were smaller
    (3.2 against 4.3 requests) for about the same throughput, so the simpler way is the
    default. A batch whose records fail validation is scored again request by request,
    so one bad request never fails another.
    """

    def __init__(self, state: ServiceState, max_records: int, *, inline: bool = True) -> None:
        self.state = state
        self.inline = inline
        self.max_records = max_records
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="custrisk-score")
        self.queue: asyncio.Queue[_Job] | None = None
        self.task: asyncio.Task[None] | None = None
        self.batches = 0

    async def submit(self, records: list[Any], caller: str) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self._run())
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        await self.queue.put(_Job(records, caller, future))
        return await future

    async def _run(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            # Let the loop read what has arrived meanwhile (requests queued while the
            # last batch was scored, and their bodies) before the batch is closed.
            await asyncio.sleep(COLLECT_SECONDS)
            size = len(jobs[0].records)
            while not self.queue.empty() and size < self.max_records:
                job = self.queue.get_nowait()
                jobs.append(job)
                size += len(job.records)
            self.batches += 1
            if self.state.seat is not None:
                self.state.seat.board.count_batch(self.state.seat.slot)
            try:
                if self.inline:
                    results = self._score(jobs)
                else:
                    results = await loop.run_in_executor(self.executor, self._score, jobs)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                results = [exc] * len(jobs)
            for job, result in zip(jobs, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _score(self, jobs: list[_Job]) -> list[list[dict[str, Any]] | BaseException]:
        if len(jobs) > 1:
            records = [r for job in jobs for r in job.records]
            callers = [job.caller for job in jobs for _ in job.records]
            try:
                answers = _decide(self.state, records, caller=callers, channel="api")
            except _Problem:
                pass  # one request's bad record: score them apart
            else:
                out: list[list[dict[str, Any]] | BaseException] = []
                start = 0
                for job in jobs:
                    part = answers[start : start + len(job.records)]
                    for local, answer in enumerate(part):
                        for entry in answer.get("repaired", ()):
                            entry["index"] = local
                    out.append(part)
                    start += len(job.records)
                return out
        results: list[list[dict[str, Any]] | BaseException] = []
        for job in jobs:
            try:
                results.append(_decide(self.state, job.records, caller=job.caller, channel="api"))
            except Exception as exc:  # noqa: BLE001 - answered to that request
                results.append(exc)
        return results

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.executor.shutdown(wait=True)


def _masked(record: Mapping[str, Any], pii: set[str]) -> dict[str, Any]:
    """The record with personal fields masked: a name keeps its first character
    (``张**``), a phone, id number or e-mail its ends (``138****5678``), anything else
    is ``***``."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key not in pii or value in (None, ""):
            out[key] = value
            continue
        text = str(value)
        if not any(c.isdigit() or c == "@" for c in text):
            out[key] = mask_name_value(text)
        else:
            masked = mask_pii_text(text)
            out[key] = masked if masked != text else "***"
    return out


def _notify(state: ServiceState, scorer: RecordScorer, answers: Sequence[dict[str, Any]]) -> None:
    hook = state.settings.on_high_risk
    if hook is None or state.notifier is None:
        return
    for answer in answers:
        if answer["decision"] in scorer.policy.notify:
            state.notifier.submit(_safe_call, hook, dict(answer))


def _safe_call(hook: Callable[[dict[str, Any]], None], decision: dict[str, Any]) -> None:
    try:
        hook(decision)
    except Exception:  # a failing channel never fails the service
        log.exception("high-risk notification failed for decision %s", decision.get("decision_id"))


async def _model(state: ServiceState, request: Request, call: Call) -> Response:
    assert state.scorer is not None
    return JSONResponse(state.scorer.card_summary())


async def _jiandaoyun(state: ServiceState, request: Request, call: Call) -> Response:
    call.caller = "jiandaoyun"
    body = await _body(state, request)
    if state.jdy_secret is None:
        raise _Problem(
            503, f"the 简道云 hook is off: set {state.settings.jdy_secret_env} and restart"
        )
    why = verify(
        nonce=request.query_params.get("nonce"),
        timestamp=request.query_params.get("timestamp"),
        payload=body.decode("utf-8", errors="replace"),
        secret=state.jdy_secret,
        given=request.headers.get("x-jdy-signature"),
    )
    if why is not None:
        raise _Problem(401, f"简道云 push refused: {why}")
    deliver_id = request.headers.get("x-jdy-deliverid") or ""
    loop = asyncio.get_running_loop()
    first = await loop.run_in_executor(
        None,
        functools.partial(
            state.store.first_use_of_signature,
            request.headers.get("x-jdy-signature") or "",
            deliver_id,
            keep=2 * MAX_AGE_SECONDS,  # a timestamp is fresh up to MAX_AGE either side
        ),
    )
    if not first:
        raise _Problem(
            401,
            "简道云 push refused: this signed push was accepted already under another "
            "deliver id (a replay); 简道云 signs each push with a new nonce",
        )
    if not deliver_id:
        return await _jiandaoyun_push(state, body, call, deliver_id)
    # One worker (process) claims the delivery; a repeat, on any worker, waits for its answer.
    earlier = await loop.run_in_executor(None, _claim_or_wait, state, deliver_id)
    if earlier is not None:
        call.note = "duplicate delivery"
        return JSONResponse({**earlier, "duplicate": True})
    try:
        return await _jiandaoyun_push(state, body, call, deliver_id)
    finally:  # refused, ignored or failed: a later delivery is handled afresh
        await loop.run_in_executor(None, state.store.release_delivery, deliver_id)


def _claim_or_wait(state: ServiceState, deliver_id: str) -> dict[str, Any] | None:
    """``None`` when this request has claimed the delivery, else the earlier answer."""
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while True:
        if state.store.claim_delivery(deliver_id):
            return None
        earlier = state.store.delivery(deliver_id)
        if earlier is not None:
            return earlier
        if time.monotonic() > deadline:
            raise _Problem(
                503,
                f"delivery {deliver_id} is still being handled; retry later",
                headers={"Retry-After": "5"},
            )
        time.sleep(0.02)


async def _jiandaoyun_push(
    state: ServiceState, body: bytes, call: Call, deliver_id: str
) -> Response:
    """Score a verified push; with a deliver id (claimed by this request) the decision
    and the answer are stored together and only then notified."""
    data = _json(body)
    profile = state.profile or identity_profile()
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), Mapping):
        raise _Problem(422, 'expected {"op": ..., "data": {...}}')
    op = str(data.get("op", ""))
    if op not in profile.ops:
        call.note = f"op {op} ignored"
        return JSONResponse({"ignored": True, "op": op})
    record, record_id = profile.record(data["data"])
    call.records = 1
    scorer = state.scorer
    loop = asyncio.get_running_loop()
    results = await loop.run_in_executor(
        None,
        functools.partial(
            _decide,
            state,
            [record],
            caller="jiandaoyun",
            channel="jiandaoyun",
            ids=[record_id] if record_id else None,
            store=not deliver_id,
        ),
    )
    answer = results[0]
    stored = answer.pop("_stored", None)
    call.decisions = [answer["decision_id"]]
    response = {"op": op, **answer}
    if record_id is not None:  # as the form has it (customer_id is normalised: upper case)
        response["record_id"] = record_id
    if deliver_id and stored is not None:
        done = await loop.run_in_executor(
            None, state.store.complete_delivery, deliver_id, response, [stored]
        )
        if not done:  # the claim went stale and another worker answered meanwhile
            earlier = state.store.delivery(deliver_id) or response
            return JSONResponse({**earlier, "duplicate": True})
        assert scorer is not None
        _notify(state, scorer, [answer])
    return JSONResponse(response)


async def _reload(state: ServiceState, request: Request, call: Call) -> Response:
    done = await asyncio.get_running_loop().run_in_executor(None, state.reload)
    behind = [w for w in done.get("workers", ()) if w["model_id"] != done["model_id"]]
    if behind:  # a worker could not load the new version: it still serves the old one
        call.note = "not every worker switched"
        return JSONResponse(
            {
                **done,
                "error": "not every worker switched: "
                + ", ".join(f"worker {w['worker']} serves {w['model_id']}" for w in behind)
                + "; see the service log",
            },
            status_code=500,
        )
    return JSONResponse(done)


async def _healthz(state: ServiceState, request: Request, call: Call) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def _readyz(state: ServiceState, request: Request, call: Call) -> Response:
    scorer = state.scorer
    if scorer is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    ready = {
        "status": "ready",
        "model_id": scorer.model_id,
        "loaded_at": state.loaded_at,
        "reloads": state.reloads,
        "scoring_calls": state.batcher.batches if state.batcher is not None else 0,
    }
    if state.seat is not None:  # this worker, and every worker as the board has it
        ready["worker"] = state.seat.slot
        ready["workers"] = [
            {k: v for k, v in seat.items() if k != "started"} for seat in state.seat.board.seats()
        ]
    return JSONResponse(ready)


async def _openapi(state: ServiceState, request: Request, call: Call) -> Response:
    assert state.scorer is not None
    return JSONResponse(openapi_document(state.scorer))


async def _docs(state: ServiceState, request: Request, call: Call) -> Response:
    return HTMLResponse(_DOCS_PAGE)


_DOCS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>custrisk serve</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"><p>custrisk decision service: the OpenAPI document is at
<a href="/openapi.json">/openapi.json</a>.</p></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>if (window.SwaggerUIBundle) SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""

_JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean"}


def openapi_document(scorer: RecordScorer) -> dict[str, Any]:
    """OpenAPI 3.1 of the service, the record schema built from the model's fields."""
    properties: dict[str, Any] = {}
    for f in scorer.fields:
        if f.role == "target":
            continue
        kind = _JSON_TYPES.get(f.type, "string")
        schema: dict[str, Any] = {
            "type": [kind, "string", "null"] if kind != "string" else ["string", "null"]
        }
        if f.allowed is not None:
            schema["enum"] = [*f.allowed, None]
        schema["description"] = (
            f"{f.role}, {f.type}"
            + (", personal data (stored masked)" if f.pii else "")
            + (f", read as {f.name} = value × {f.scale:,}" if f.scale is not None else "")
            + (f", a number, with or without its unit (35 or '35{f.unit}')" if f.unit else "")
        )
        properties[f.header] = schema
    record = {"type": "object", "properties": properties, "additionalProperties": False}
    decision = {
        "type": "object",
        "properties": {
            "decision_id": {"type": "string"},
            "customer_id": {"type": "string"},
            "pd": {"type": "number"},
            "score": {"type": "integer"},
            "grade": {"type": "string"},
            "grade_label": {"type": "string"},
            "decision": {"type": "string", "enum": ["approve", "review", "decline"]},
            "recommended_limit": {"type": ["number", "null"]},
            "reasons": {"type": "array", "items": {"type": "object"}},
            "model_id": {"type": "string"},
        },
    }
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "problems": {"type": "array"}},
    }
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    answers = {
        "401": {"description": "missing or unknown token"},
        "413": {"description": "body over the size limit"},
        "422": {
            "description": "a field is unknown or a value invalid",
            "content": {JSON_TYPE: {"schema": error}},
        },
        "429": {"description": "rate limit; see Retry-After"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "custrisk decision service",
            "version": __version__,
            "description": f"model {scorer.model_id}",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Record": record, "Decision": decision, "Error": error},
        },
        "paths": {
            "/v1/score": {
                "post": {
                    "summary": "Score one customer (a record) or a batch ({records: [...]})",
                    "security": secured,
                    "requestBody": {
                        "content": {
                            JSON_TYPE: {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Record"},
                                        {
                                            "type": "object",
                                            "properties": {
                                                "records": {
                                                    "type": "array",
                                                    "items": {
                                                        "$ref": "#/components/schemas/Record"
                                                    },
                                                }
                                            },
                                        },
                                    ]
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "the decision(s)",
                            "content": {
                                JSON_TYPE: {"schema": {"$ref": "#/components/schemas/Decision"}}
                            },
                        },
                        **answers,
                    },
                }
            },
            "/v1/model": {
                "get": {
                    "summary": "The model's fields, metrics and decisions",
                    "security": secured,
                    "responses": {"200": {"description": "model summary"}},
                }
            },
            "/hooks/jiandaoyun": {
                "post": {
                    "summary": "简道云 data push (signed with X-JDY-Signature)",
                    "responses": {
                        "200": {"description": "the decision"},
                        "401": {"description": "bad signature or stale"},
                    },
                }
            },
            "/admin/reload": {
                "post": {
                    "summary": "Switch to the model's latest version (admin scope)",
                    "security": secured,
                    "responses": {"200": {"description": "reloaded"}},
                }
            },
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: the model is loaded",
                    "responses": {"200": {"description": "ready"}},
                }
            },
        },
    }


__all__ = ["RateLimiter", "ServiceState", "create_app", "openapi_document"]
