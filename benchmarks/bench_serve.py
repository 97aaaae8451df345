"""Benchmark ``custrisk serve`` over 127.0.0.1 with a real HTTP client (httpx).

Usage::

    .venv/bin/python benchmarks/bench_serve.py [--single N] [--rate R] [--batches N]

Generates application data, trains a signed application model, starts ``custrisk serve``
in a subprocess (rate limit off) and measures, bounded in count and time:

* baseline, in process: ``score_customer`` (the estimator alone, one customer from its
  feature values) and ``RecordScorer.score`` of one record (cleaning, features, scorer,
  policy: what a request does without HTTP);
* single scores at a fixed arrival rate (default 200 requests/s, open loop: a request is
  sent on schedule whether or not the earlier ones are answered), p50/p99 latency and the
  achieved requests/s. The client for this part is by default a minimal HTTP/1.1 client
  over asyncio streams on 64 keep-alive connections (``--client raw``): httpx's
  AsyncClient spent 2.5 to 9 ms of CPU per request here, more than the service, and
  once behind its pool cost grew further, so on 2 cores it measured itself;
  ``--client httpx`` keeps it for comparison. Everything else goes through httpx;
* batches of 100 records sent one after the other, p50/p99 latency;
* the service's own CPU time per request (from /proc, one request at a time, and per
  batch of 100; with several workers, all of them together): the figure a loaded machine
  does not distort, and the benchmark client's own CPU per request at the fixed rate;
* all of it for each ``--workers`` count given (``--workers 1 2``: one process, then two
  worker processes behind the supervisor);
* the frameworks' own cost per request, in process (ASGI, no network): a JSON echo route
  on Starlette and on FastAPI with a pydantic model, the comparison Starlette was chosen
  by.

Prints milliseconds and ratios to the in-process baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"
KEY = "bench-serve-signing-key-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def _cpu_seconds(*pids: int) -> float:
    """User + system CPU time of processes so far (Linux /proc): what the service spent,
    whatever else the machine runs."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _timed(
    func: Callable[[], Any], n: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    out = []
    for _ in range(n):
        start = clock()
        func()
        out.append(clock() - start)
    return out


async def _open_loop(
    base: str, token: str, rows: list[dict[str, str]], n: int, rate: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
    ) as client:

        async def one(i: int) -> None:
            nonlocal failures
            start = time.perf_counter()
            try:
                response = await client.post("/v1/score", json=rows[i % len(rows)])
                ok = response.status_code == 200
            except httpx.TransportError as exc:
                ok = False
                print(f"request {i}: {type(exc).__name__} {exc}", file=sys.stderr)
            failures += not ok
            latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        tasks = []
        for i in range(n):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return latencies, failures, n / elapsed


async def _open_loop_raw(
    base: str, token: str, rows: list[dict[str, str]], n: int, rate: float, connections: int = 64
) -> tuple[list[float], int, float, dict[str, int]]:
    """The open loop with a minimal HTTP/1.1 client over asyncio streams: ``connections``
    keep-alive connections take the requests in their scheduled order; a request's latency
    runs from its scheduled time (time waiting for a free connection counts)."""
    host, port = base.removeprefix("http://").split(":")
    bodies = [json.dumps(row, ensure_ascii=False).encode("utf-8") for row in rows]
    head = (
        f"POST /v1/score HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode("ascii")
    requests = [head + b"%d\r\n\r\n" % len(b) + b for b in bodies]
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    workers: dict[str, int] = {}
    failures = 0

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, int(port))
        while (item := await queue.get()) is not None:
            i, scheduled = item
            try:
                writer.write(requests[i % len(requests)])
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
                await reader.readexactly(int(fields["content-length"]))
                failures += lines[0].split()[1] != "200"
                worker = fields.get("x-custrisk-worker", "0")
                workers[worker] = workers.get(worker, 0) + 1
            except (OSError, asyncio.IncompleteReadError, KeyError, ValueError) as exc:
                failures += 1
                print(f"request {i}: {type(exc).__name__} {exc}", file=sys.stderr)
                writer.close()
                reader, writer = await asyncio.open_connection(host, int(port))
            latencies.append(time.perf_counter() - scheduled)
        writer.close()

    tasks = [asyncio.create_task(connection()) for _ in range(connections)]
    await asyncio.sleep(0.2)  # connected
    began = time.perf_counter()
    for i in range(n):
        scheduled = began + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, scheduled))
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    return latencies, failures, n / elapsed, workers


def _frameworks(n: int) -> dict[str, float]:
    """Microseconds per request of a JSON echo route, in process (ASGI transport)."""
    from fastapi import FastAPI
    from pydantic import BaseModel
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"echo": await request.json()})

    starlette_app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    fastapi_app = FastAPI()

    class Item(BaseModel):
        age: int
        region: str
        income: float

    @fastapi_app.post("/echo")
    async def echo_fastapi(item: Item) -> dict[str, Any]:
        return {"echo": item.model_dump()}

    body = {"age": 35, "region": "华东", "income": 9000.0}

    async def run(app: Any) -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            for _ in range(50):
                await client.post("/echo", json=body)
            start = time.perf_counter()
            for _ in range(n):
                await client.post("/echo", json=body)
            return (time.perf_counter() - start) / n * 1e6

    return {"starlette": asyncio.run(run(starlette_app)), "fastapi": asyncio.run(run(fastapi_app))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=1000, help="single-score requests")
    parser.add_argument("--rate", type=float, default=200.0, help="their arrival rate (req/s)")
    parser.add_argument("--batches", type=int, default=60, help="requests of 100 records")
    parser.add_argument("--sequential", type=int, default=200, help="singles one at a time")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="worker processes of the service; several counts: measured one after the other",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="the open loop's client: a minimal HTTP/1.1 client over asyncio streams (raw: "
        "about a tenth of httpx's CPU per request, so the client does not starve the "
        "service on 2 cores) or httpx's AsyncClient",
    )
    args = parser.parse_args()
    os.environ["CUSTRISK_SIGNING_KEY"] = KEY
    import logging

    logging.disable(logging.WARNING)
    from custrisk.sample.application import generate_applications
    from custrisk.scoring import open_model, score_customer, train_table
    from custrisk.scoring.features import model_sources, prepare_model_features
    from custrisk.scoring.records import RecordScorer
    from custrisk.serve.store import DecisionStore

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        generate_applications(root / "data", applicants=3000, seed=11)
        train_table(
            root / "data" / "application.csv", "违约", name="app", models_dir=root / "models"
        )
        with (root / "data" / "application_next.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        model = open_model("app", root / "models")
        scorer = RecordScorer(model)
        features = scorer.score(rows[:1])  # warm
        data_dir, sources = model_sources(model, root / "data" / "application_next.csv")
        prepared = prepare_model_features(model, data_dir, sources_config=sources)
        row = prepared.X[list(model.card["candidate_features"])].iloc[0]
        values = {str(k): v for k, v in row.items()}
        one = _timed(lambda: score_customer(model, values), 2000)
        record = _timed(lambda: scorer.score(rows[:1]), 200)
        hundred = _timed(lambda: scorer.score(rows[:100]), 50)
        # CPU time of this thread: what a call costs on an idle core, whatever the load
        cpu_one = statistics.median(_timed(lambda: scorer.score(rows[:1]), 50, time.thread_time))
        cpu_hundred = statistics.median(
            _timed(lambda: scorer.score(rows[:100]), 20, time.thread_time)
        )
        del features
        token = DecisionStore(root / "serve" / "decisions.db").create_token("bench", ["score"])[0]
        served = {n: _serve(root, rows, token, n, args) for n in args.workers}
        frameworks = _frameworks(2000)

    base_ms = statistics.median(one) * 1000
    lines = [
        ("in process: score_customer (estimator only)", (base_ms, None)),
        ("in process: RecordScorer.score, 1 record", _percentiles(record)),
        ("in process: RecordScorer.score, 100 records", _percentiles(hundred)),
    ]
    for n, got in served.items():
        lines += [
            (
                f"{n} worker(s): HTTP single at {args.rate:g} req/s ({args.single})",
                _percentiles(got["singles"]),
            ),
            (f"{n} worker(s): HTTP batch of 100 ({args.batches})", _percentiles(got["batches"])),
        ]
    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'what':52s} {'p50 ms':>9s} {'p99 ms':>9s} {'x baseline':>11s}")
    for what, (p50, p99) in lines:
        shown = f"{p99:9.2f}" if p99 is not None else " " * 9
        print(f"{what:52s} {p50:9.3f} {shown} {p50 / base_ms:11.0f}")
    print(
        f"CPU time in process (load-independent): 1 record {cpu_one * 1000:.1f} ms, "
        f"100 records {cpu_hundred * 1000:.1f} ms"
    )
    for n, got in served.items():
        print(
            f"{n} worker(s): single: achieved {got['achieved']:.0f} req/s, {got['failures']} "
            f"failed, in {got['batched']} scoring calls, answers per worker "
            f"{got['spread'] or '-'} (load average at the start {got['load']:.2f}); "
            "targets p99 < 20 ms, batch of 100 < 50 ms"
        )
        print(
            f"{n} worker(s): service CPU per request (load-independent): single "
            f"{got['sequential_cpu'] * 1000:.1f} ms (wall {got['sequential_wall'] * 1000:.1f} ms "
            f"one at a time, {args.sequential} requests), batch of 100 "
            f"{got['batch_cpu'] * 1000:.1f} ms; at {args.rate:g} req/s: service "
            f"{got['open_cpu'] * 1000:.1f} ms, benchmark client {got['client_cpu'] * 1000:.1f} ms "
            "per request"
        )
    ratio = frameworks["fastapi"] / frameworks["starlette"]
    print(
        f"framework cost per request in process: Starlette {frameworks['starlette']:.0f} µs, "
        f"FastAPI {frameworks['fastapi']:.0f} µs (x{ratio:.2f})"
    )


def _serve(
    root: Path, rows: list[dict[str, str]], token: str, workers: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Start the service with ``workers`` processes and measure it over HTTP."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(SRC))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "custrisk",
            "-q",
            "serve",
            "--model",
            "app",
            "--models-dir",
            str(root / "models"),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--db",
            str(root / "serve" / "decisions.db"),
            "--access-log",
            str(root / "serve" / "access.jsonl"),
            "--rate",
            "0",
            "--max-batch",
            "1000",
        ],
        env=env,
        cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200 and all(
                    w["pid"] for w in ready.json().get("workers", [{"pid": 1}])
                ):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.3)
        pids = [process.pid] + [w["pid"] for w in ready.json().get("workers", [])]

        def scoring_calls() -> int:
            ready = httpx.get(f"{base}/readyz").json()
            if "workers" in ready:
                return sum(w["scoring_calls"] for w in ready["workers"])
            return int(ready["scoring_calls"])

        got: dict[str, Any] = {"load": os.getloadavg()[0]}
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            for i in range(30):
                c.post("/v1/score", json=rows[i])
            # one request at a time: the service's own CPU per request
            cpu0, wall0 = _cpu_seconds(*pids), time.perf_counter()
            for i in range(args.sequential):
                assert c.post("/v1/score", json=rows[i % len(rows)]).status_code == 200
            got["sequential_wall"] = (time.perf_counter() - wall0) / args.sequential
            got["sequential_cpu"] = (_cpu_seconds(*pids) - cpu0) / args.sequential
            calls_before = scoring_calls()
            cpu0, client0 = _cpu_seconds(*pids), time.process_time()
            if args.client == "httpx":
                got["singles"], got["failures"], got["achieved"] = asyncio.run(
                    _open_loop(base, token, rows, args.single, args.rate)
                )
                got["spread"] = {}
            else:
                got["singles"], got["failures"], got["achieved"], got["spread"] = asyncio.run(
                    _open_loop_raw(base, token, rows, args.single, args.rate)
                )
            got["open_cpu"] = (_cpu_seconds(*pids) - cpu0) / args.single
            got["client_cpu"] = (time.process_time() - client0) / args.single
            got["batched"] = scoring_calls() - calls_before
            got["batches"] = []
            cpu0 = _cpu_seconds(*pids)
            for i in range(args.batches):
                start = (i * 100) % max(len(rows) - 100, 1)
                t0 = time.perf_counter()
                response = c.post("/v1/score", json={"records": rows[start : start + 100]})
                got["batches"].append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text
            got["batch_cpu"] = (_cpu_seconds(*pids) - cpu0) / args.batches
    finally:
        process.terminate()
        process.wait(timeout=60)
    return got


if __name__ == "__main__":
    main()
