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
from custrisk.serve.jiandaoyun import JdyProfile, identity_profile, load_profile, verify
from custrisk.serve.settings import ServeSettings
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
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0, 1))
    tokens: dict[str, TokenInfo] = field(default_factory=dict)
    tokens_loaded: float = 0.0
    loaded_at: str = ""
    reloads: int = 0
    access: Any = None
    writer: BackgroundWriter | None = None
    notifier: ThreadPoolExecutor | None = None
    batcher: MicroBatcher | None = None
    reload_lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------------------------

    def load_scorer(self) -> RecordScorer:
        """Resolve (NAME: its latest version), verify and prepare the model."""
        s = self.settings
        model = open_model(
            s.model,
            s.models_dir,
            require_signed=s.require_signed,
            allow_unverified=s.allow_unverified,
        )
        return RecordScorer(model, policy=s.policy, alert_rules=s.alert_rules, lang=s.lang)

    def reload(self) -> dict[str, Any]:
        """Load the model again (a new version of NAME, a new policy) and switch to it."""
        with self.reload_lock:
            old = self.scorer.model_id if self.scorer is not None else None
            scorer = self.load_scorer()
            profile = self._profile(scorer)
            self.scorer, self.profile = scorer, profile  # one swap each: no request sees half
            self.loaded_at = now_text()
            self.reloads += 1
            self.refresh_tokens(force=True)
            log.info("model reloaded: %s -> %s", old, scorer.model_id)
            return {"previous": old, "model_id": scorer.model_id, "loaded_at": self.loaded_at}

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


def create_app(settings: ServeSettings, *, store: DecisionStore | None = None) -> Starlette:
    """The ASGI app; the model is loaded (and verified) here, before the first request."""
    state = ServiceState(settings, store or DecisionStore(settings.db))
    state.limiter = RateLimiter(settings.rate, settings.burst)
    scorer = state.load_scorer()
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
        yield
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


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Problem(400, f"the body is not valid JSON: {exc}") from None


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
    if store:
        if state.writer is not None:
            state.writer.decisions(stored)  # stored by the writer thread, in order
        else:
            state.store.add_decisions(stored)
    _notify(state, scorer, answers)
    return answers if store else [dict(a, _stored=s) for a, s in zip(answers, stored, strict=True)]


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
    if deliver_id:
        earlier = state.store.delivery(deliver_id)
        if earlier is not None:
            call.note = "duplicate delivery"
            return JSONResponse({**earlier, "duplicate": True})
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
    results = await asyncio.get_running_loop().run_in_executor(
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
    if deliver_id and stored is not None:
        if not state.store.add_delivery(deliver_id, response, [stored]):
            earlier = state.store.delivery(deliver_id) or response
            return JSONResponse({**earlier, "duplicate": True})
    return JSONResponse(response)


async def _reload(state: ServiceState, request: Request, call: Call) -> Response:
    done = await asyncio.get_running_loop().run_in_executor(None, state.reload)
    return JSONResponse(done)


async def _healthz(state: ServiceState, request: Request, call: Call) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def _readyz(state: ServiceState, request: Request, call: Call) -> Response:
    scorer = state.scorer
    if scorer is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    return JSONResponse(
        {
            "status": "ready",
            "model_id": scorer.model_id,
            "loaded_at": state.loaded_at,
            "reloads": state.reloads,
            "scoring_calls": state.batcher.batches if state.batcher is not None else 0,
        }
    )


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
        schema["description"] = f"{f.role}, {f.type}" + (
            ", personal data (stored masked)" if f.pii else ""
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
