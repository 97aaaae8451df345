"""The decision service's route handlers: scoring (``POST /v1/score``), the 简道云 push
(signature, replays and repeated deliveries), the model summary, reload, health and
readiness, and the OpenAPI document and its page. Each takes the service state, the
request and its access-log record (:class:`custrisk.serve.request.Call`)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from custrisk import __version__
from custrisk.data.text import MAX_ID_CHARS
from custrisk.errors import CustriskError
from custrisk.privacy import mask_pii_text
from custrisk.scoring.records import RecordError
from custrisk.serve.jiandaoyun import MAX_AGE_SECONDS, identity_profile, verify
from custrisk.serve.metrics import CONTENT_TYPE
from custrisk.serve.openapi import DOCS_PAGE, openapi_document
from custrisk.serve.request import Call, Problem, parse_json_body
from custrisk.serve.schema import MAX_DELIVER_ID_CHARS
from custrisk.serve.state import ServiceState, decide, notify_high_risk

log = logging.getLogger(__name__)

#: How long a repeated 简道云 delivery waits for the first one's answer.
DELIVERY_WAIT_SECONDS = 30.0


async def _body(state: ServiceState, request: Request) -> bytes:
    """The body, refused with 413 past the limit (declared or streamed)."""
    limit = state.settings.max_body
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(
            413, f"request body of {int(declared):,} bytes is over the {limit:,}-byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"request body is over the {limit:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


#: The request header that makes a score request safe to retry (Stripe's convention and
#: the IETF draft "The Idempotency-Key HTTP Header Field").
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: The answer header of a stored answer given again.
REPLAYED_HEADER = "Idempotent-Replayed"


async def score_route(state: ServiceState, request: Request, call: Call) -> Response:
    key = _idempotency_key(request)
    data = parse_json_body(await _body(state, request), request.headers.get("content-type", ""))
    if key is not None:
        return await _score_once(state, data, call, key)
    records, single = _records(state, data, call)
    assert state.batcher is not None
    results = await state.batcher.submit(list(records), call.caller)
    call.decisions = [r["decision_id"] for r in results]
    return JSONResponse(results[0] if single else {"decisions": results})


def _records(state: ServiceState, data: Any, call: Call) -> tuple[list[Any], bool]:
    """The request's records and whether it sent one (not a batch); 422 or 413 if the
    body is not records or too many."""
    if isinstance(data, Mapping) and "records" in data:
        records = data["records"]
        single = False
        if not isinstance(records, list):
            raise Problem(422, "'records' must be a list of objects")
    elif isinstance(data, Mapping):
        records, single = [data], True
    elif isinstance(data, list):
        records, single = data, False
    else:
        raise Problem(
            422, 'expected a JSON object (one customer), or {"records": [...]} or [...] (a batch)'
        )
    if not records:
        raise Problem(422, 'no record to score: send a JSON object, or {"records": [...]} with one')
    if len(records) > state.settings.max_batch:
        raise Problem(
            413, f"{len(records):,} records in one request; at most {state.settings.max_batch:,}"
        )
    call.records = len(records)
    problems = state.scorer.check(records) if state.scorer is not None else []
    if problems:  # the shape of this request's records, before it waits for a batch
        raise Problem(422, RecordError(problems).one_line(), details=problems)
    return list(records), single


def _idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` (a structured-field string's quotes taken off),
    or a 400 when it is empty, too long or not visible ASCII."""
    given = request.headers.get(IDEMPOTENCY_HEADER)
    if given is None:
        return None
    key = given.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > 255 or not all(" " < c < "\x7f" for c in key):
        raise Problem(
            400,
            f"{IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters (a UUID, say); "
            f"got {len(key)} character(s)" + ("" if key.isascii() else " with some outside ASCII"),
        )
    return key


async def _score_once(state: ServiceState, data: Any, call: Call, key: str) -> Response:
    """A score request with an ``Idempotency-Key``: the first is scored, and its decisions
    and answer stored in one transaction; the same key with the same body (a retry)
    gets that answer again, marked ``Idempotent-Replayed: true``; with another body, a
    422; while the first is still being answered, a 409. The key is never echoed: the
    access log keeps the messages, and a key may be made from a customer's id."""
    loop = asyncio.get_running_loop()
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    printed = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    try:
        outcome, earlier = await loop.run_in_executor(
            None, state.store.claim_idempotency, call.caller, key, printed
        )
    except SQLAlchemyError as exc:
        raise _store_down(exc) from None
    if outcome == "replay":
        assert earlier is not None
        answers = earlier.get("decisions", [earlier])
        call.records = len(answers)
        call.decisions = [a.get("decision_id") for a in answers]
        call.note = "idempotent replay"
        return JSONResponse(earlier, headers={REPLAYED_HEADER: "true"})
    if outcome == "mismatch":
        raise Problem(
            422,
            f"this {IDEMPOTENCY_HEADER} was used with a different body: send the same "
            "body to get its decision(s) again, or a new key for a new request",
        )
    if outcome == "busy":
        raise Problem(
            409,
            f"the request with this {IDEMPOTENCY_HEADER} is still being answered; "
            "retry in a moment",
            headers={"Retry-After": "1"},
        )
    try:
        records, single = _records(state, data, call)
        results = await loop.run_in_executor(
            None,
            functools.partial(
                decide, state, records, caller=call.caller, channel="api", store=False
            ),
        )
        stored = [r.pop("_stored") for r in results]
        answer = results[0] if single else {"decisions": results}
        done = await loop.run_in_executor(
            None, state.store.complete_idempotency, call.caller, key, answer, stored
        )
    except BaseException as exc:  # refused or failed: the key may be sent again
        try:
            await loop.run_in_executor(None, state.store.release_idempotency, call.caller, key)
        except SQLAlchemyError:  # the claim goes stale: taken over after a minute
            log.warning("could not release an idempotency key's claim", exc_info=True)
        if isinstance(exc, SQLAlchemyError):
            raise _store_down(exc) from None
        raise
    if not done:  # the claim went stale and another request answered meanwhile
        raise Problem(
            409, f"the request with this {IDEMPOTENCY_HEADER} was answered by another call"
        )
    call.decisions = [r["decision_id"] for r in results]
    assert state.scorer is not None
    notify_high_risk(state, state.scorer, results)
    return JSONResponse(answer)


def _store_down(exc: Exception) -> Problem:
    """A keyed request the decisions store cannot take: 503, to be retried (its decision
    would be given and not kept, and a retry would get another)."""
    log.error("idempotency key not stored: %s", str(exc).splitlines()[0])
    return Problem(
        503,
        f"the decisions store cannot be written now, so a request with an {IDEMPOTENCY_HEADER} "
        "is not scored (its decision would not be kept): retry later with the same key",
        headers={"Retry-After": "5"},
    )


async def model_route(state: ServiceState, request: Request, call: Call) -> Response:
    assert state.scorer is not None
    return JSONResponse(state.scorer.card_summary())


async def jiandaoyun_route(state: ServiceState, request: Request, call: Call) -> Response:
    call.caller = "jiandaoyun"
    body = await _body(state, request)
    if state.jdy_secret is None:
        raise Problem(
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
        raise Problem(401, f"简道云 push refused: {why}")
    try:
        return await _jiandaoyun_once(state, request, call, body)
    except SQLAlchemyError as exc:  # a full disk, a read-only store: not a bug (no 500)
        log.error("简道云 push not scored: %s", str(exc).splitlines()[0])
        raise Problem(
            503,
            "the decisions store cannot be written now, so the push is not scored (its "
            "decision would not be kept): 简道云 retries it",
            headers={"Retry-After": "5"},
        ) from None


async def _jiandaoyun_once(
    state: ServiceState, request: Request, call: Call, body: bytes
) -> Response:
    """A verified push: refused if replayed, answered once per deliver id."""
    deliver_id = request.headers.get("x-jdy-deliverid") or ""
    if len(deliver_id) > MAX_DELIVER_ID_CHARS:  # (the store's column: PostgreSQL refuses it)
        raise Problem(
            400,
            f"X-JDY-DeliverId has at most {MAX_DELIVER_ID_CHARS} characters; got "
            f"{len(deliver_id):,} (简道云 sends a UUID)",
        )
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
        raise Problem(
            401,
            "简道云 push refused: this signed push was accepted already under another "
            "deliver id (a replay); 简道云 signs each push with a new nonce",
        )
    if not deliver_id:
        return await _jiandaoyun_push(state, body, call, deliver_id)
    # One worker (process) claims the delivery; a repeat, on any worker, waits for its answer.
    earlier = await _claim_or_wait(state, deliver_id)
    if earlier is not None:
        call.note = "duplicate delivery"
        return JSONResponse({**earlier, "duplicate": True})
    try:
        return await _jiandaoyun_push(state, body, call, deliver_id)
    finally:  # refused, ignored or failed: a later delivery is handled afresh
        try:
            await loop.run_in_executor(None, state.store.release_delivery, deliver_id)
        except SQLAlchemyError:  # the claim goes stale: taken over after a minute
            log.warning("could not release a 简道云 delivery's claim", exc_info=True)


async def _claim_or_wait(state: ServiceState, deliver_id: str) -> dict[str, Any] | None:
    """``None`` when this request has claimed the delivery, else the earlier answer.

    A repeat waits on the event loop, not on a thread: the executor's few threads score
    every request (the first delivery's too), so repeats sleeping in them would hold up
    the very answer they wait for, and every other request, for the whole wait."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while True:
        claimed, earlier = await loop.run_in_executor(None, _claim_or_answer, state, deliver_id)
        if claimed:
            return None
        if earlier is not None:
            return earlier
        if time.monotonic() > deadline:
            raise Problem(
                503,
                f"delivery {deliver_id} is still being handled; retry later",
                headers={"Retry-After": "5"},
            )
        await asyncio.sleep(0.02)


def _claim_or_answer(state: ServiceState, deliver_id: str) -> tuple[bool, dict[str, Any] | None]:
    """One try: the delivery claimed by this request, or its earlier answer if there is
    one yet."""
    if state.store.claim_delivery(deliver_id):
        return True, None
    return False, state.store.delivery(deliver_id)


async def _jiandaoyun_push(
    state: ServiceState, body: bytes, call: Call, deliver_id: str
) -> Response:
    """Score a verified push; with a deliver id (claimed by this request) the decision
    and the answer are stored together and only then notified."""
    data = parse_json_body(body)
    profile = state.profile or identity_profile()
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), Mapping):
        raise Problem(422, 'expected {"op": ..., "data": {...}}')
    op = str(data.get("op", ""))
    if op not in profile.ops:  # (named masked and short: the push is the form's data)
        # (masked before it is cut, which could leave 10 digits of a phone unmasked; in a
        # window, as masking a long text takes long)
        shown = mask_pii_text(op[:200])
        shown = shown if len(shown) <= 40 else shown[:40] + "..."
        call.note = f"op {shown} ignored"
        return JSONResponse({"ignored": True, "op": shown})
    scorer = state.scorer
    assert scorer is not None
    pushed = profile.read(data["data"], knows=scorer.knows)
    record, record_id = pushed.values, pushed.record_id
    if record_id is not None and len(record_id.strip()) > MAX_ID_CHARS:  # (the store's limit)
        too_long = f"an id has at most {MAX_ID_CHARS} characters; got {len(record_id.strip()):,}"
        return _rejected(
            op, record_id[:40] + "…", [{"field": profile.id_field, "problem": too_long}],
            deliver_id, call,
        )  # fmt: skip
    widgets = [k for k in data["data"] if str(k).startswith("_widget_")]
    if profile.identity and (widgets or pushed.ignored) and not record and not pushed.unusable:
        # 简道云 names a form's fields by widget id unless they were given aliases
        named = widgets or pushed.ignored
        how = "by widget id" if widgets else "by names the model does not have"
        raise Problem(
            422,
            f"the push names its fields {how} ({', '.join(named[:3])}"
            f"{', ...' if len(named) > 3 else ''}): map them to the model's fields with "
            "--jdy-profile (docs/serve.md), or give them the model's field names as aliases",
        )
    if not profile.identity and not record and not pushed.unusable:
        # (a form the profile was not written for: fixed in the profile, then the retry is)
        raise Problem(
            422,
            f"none of the push's fields is one --jdy-profile {profile.path} maps: map the "
            "form's widget ids or labels (docs/serve.md)",
        )
    needed = {
        name: why
        for name, why in pushed.unusable.items()
        if (known := scorer.field_of(name)) is not None and known.in_model
    }
    if needed:  # 简道云 retries any refusal, and would send these same values forever
        return _not_scored(op, record_id, needed, deliver_id, call)
    ignored = [
        {"field": name, "problem": "not a field of the model: left out"} for name in pushed.ignored
    ] + [{"field": name, "problem": f"{why}: left out"} for name, why in pushed.unusable.items()]
    call.records = 1
    loop = asyncio.get_running_loop()
    try:
        results = await loop.run_in_executor(
            None,
            functools.partial(
                decide,
                state,
                [record],
                caller="jiandaoyun",
                channel="jiandaoyun",
                ids=[record_id] if record_id else None,
                store=not deliver_id,
            ),
        )
    except Problem as exc:  # the cleaner rejects this record's values: 200, not retried
        if exc.status != 422 or _names_fields(scorer, record, exc.details):
            raise  # a field named as the model does not take it: a profile fixes it
        return _rejected(op, record_id, exc.details or [], deliver_id, call)
    answer = results[0]
    stored = answer.pop("_stored", None)
    call.decisions = [answer["decision_id"]]
    response = {"op": op, **answer}
    if record_id is not None:  # as the form has it (customer_id is normalised: upper case)
        response["record_id"] = record_id
    if ignored:  # the form's other widgets, named (never their values)
        response["ignored"] = ignored
    if deliver_id and stored is not None:
        done = await loop.run_in_executor(
            None, state.store.complete_delivery, deliver_id, response, [stored]
        )
        if not done:  # the claim went stale and another worker answered meanwhile
            earlier = state.store.delivery(deliver_id) or response
            return JSONResponse({**earlier, "duplicate": True})
        notify_high_risk(state, scorer, [answer])
    return JSONResponse(response)


def _not_scored(
    op: str, record_id: str | None, needed: Mapping[str, str], deliver_id: str, call: Call
) -> Response:
    """A push whose widgets give fields the model scores on in a shape it cannot read:
    answered 200 (简道云 retries any other answer, with the same data, until it gives up
    and turns the push off), not scored, said in the service log."""
    fields = ", ".join(needed)
    message = (
        f"not scored: the form's widgets give {fields}, which the model scores on, in a shape "
        f"it cannot read ({'; '.join(needed.values())}); map them in --jdy-profile with part: "
        "or option: (docs/serve.md), or map another widget; answered 200 so that 简道云 does "
        "not send the same values again"
    )
    log.error(
        "简道云 push %s (record %s) %s", deliver_id or "without deliver id", record_id, message
    )
    call.note = f"not scored: {fields} unreadable"
    answer: dict[str, Any] = {
        "op": op,
        "scored": False,
        "error": message,
        "problems": [{"index": 0, "field": f, "problem": why} for f, why in needed.items()],
    }
    if record_id is not None:
        answer["record_id"] = record_id
    return JSONResponse(answer)


def _names_fields(scorer: Any, record: Mapping[str, Any], problems: Any) -> bool:
    """Whether the refusal is for how the push names its fields (a field the model does
    not have by that name, or one given twice): fixed by --jdy-profile, after which 简道云's
    retry is scored, unlike a bad value of this one record."""
    counts: dict[str, int] = {}
    for key in record:
        known = scorer.field_of(str(key))
        if known is not None:
            counts[known.name] = counts.get(known.name, 0) + 1
    for problem in problems or ():
        key = str(problem.get("field") or "") if isinstance(problem, Mapping) else ""
        if key in record:
            known = scorer.field_of(key)
            if known is None or counts.get(known.name, 0) > 1:
                return True
    return False


def _rejected(
    op: str, record_id: str | None, problems: list[Any], deliver_id: str, call: Call
) -> Response:
    """A push whose record the cleaner rejects (a control character or scientific
    notation in its id, a value a required field cannot take): answered 200 (简道云
    retries any other answer with the same record, which would be rejected again), not
    scored, said in the service log; values masked, never logged."""
    shown: list[dict[str, Any]] = [
        {
            "index": 0,
            "field": mask_pii_text(str(p.get("field", ""))),
            "problem": mask_pii_text(str(p.get("problem", ""))),
            **({"value": mask_pii_text(str(p["value"]))} if p.get("value") is not None else {}),
        }
        for p in problems
        if isinstance(p, Mapping)
    ]
    reasons = "; ".join(
        (f"{p['field']}: " if p["field"] else "") + str(p["problem"]) for p in shown[:3]
    ) + ("; ..." if len(shown) > 3 else "")
    message = (
        f"not scored: the record is rejected ({reasons}); correct it in 简道云 (an edit "
        "pushes it again as data_update); answered 200 so that 简道云 does not send the same "
        "record again"
    )
    where = repr(mask_pii_text(record_id))[1:-1] if record_id is not None else None
    log.error("简道云 push %s (record %s) %s", deliver_id or "without deliver id", where, message)
    call.note = "not scored: record rejected"
    answer: dict[str, Any] = {"op": op, "scored": False, "error": message, "problems": shown}
    if record_id is not None:
        answer["record_id"] = record_id
    return JSONResponse(answer)


async def reload_route(state: ServiceState, request: Request, call: Call) -> Response:
    try:
        done = await asyncio.get_running_loop().run_in_executor(None, state.reload)
    except CustriskError as exc:  # answered 422 with the reason; logged as SIGHUP's is
        serving = state.scorer.model_id if state.scorer is not None else "-"
        log.error("reload by POST /admin/reload failed, still serving %s: %s", serving, exc)
        call.note = f"reload failed, still serving {serving}"
        raise
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


async def healthz_route(state: ServiceState, request: Request, call: Call) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def readyz_route(state: ServiceState, request: Request, call: Call) -> Response:
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
    # a decision that cannot be stored is a decision the CRM would get and nobody keep
    why = state.writer.failing if state.writer is not None else None
    if why is not None:
        assert state.writer is not None
        state.writer.retry()  # once the store is writable again, the next check is ready
    why = why or await asyncio.get_running_loop().run_in_executor(None, state.store.unwritable)
    if why is not None:
        return JSONResponse({**ready, "status": "not ready", "reason": why}, status_code=503)
    return JSONResponse(ready)


async def openapi_route(state: ServiceState, request: Request, call: Call) -> Response:
    assert state.scorer is not None
    return JSONResponse(openapi_document(state.scorer))


async def metrics_route(state: ServiceState, request: Request, call: Call) -> Response:
    model_id = state.scorer.model_id if state.scorer is not None else ""
    return Response(state.metrics.render(model_id), media_type=CONTENT_TYPE)


async def docs_route(state: ServiceState, request: Request, call: Call) -> Response:
    return HTMLResponse(DOCS_PAGE)
