"""custrisk serve --workers 2: the service runs in a subprocess on a free port (and, to
compare with, --workers 1 on another) and is driven with a real HTTP client (httpx).

Which worker answered is in the ``X-Custrisk-Worker`` header; a test that needs both
workers sends requests on fresh connections until both have answered."""

from __future__ import annotations

import concurrent.futures
import csv
import http.server
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import UsageError
from custrisk.sample.application import generate_applications
from custrisk.scoring import train_table
from custrisk.serve.jiandaoyun import signature
from custrisk.serve.shared import ProcessLock, SharedRateLimiter
from custrisk.serve.store import DecisionStore
from custrisk.serve.workers import worker_count
from tests._postgres import free_port

SRC = Path(__file__).resolve().parents[1] / "src"
SIGNING_KEY = "serve-workers-signing-key-0123456789"
JDY_SECRET = "jdy-push-secret-for-worker-tests"
RATE, BURST = 5, 20  # per token; the load below stays under RATE
DECLINED = {  # a customer the application model declines (a high-risk notification)
    "姓名": "张伟",
    "手机号": "13812345678",
    "年龄": 21,
    "地区": "东北",
    "行业": "建筑业",
    "学历": "高中及以下",
    "月收入": 2500,
    "负债收入比": 0.9,
    "工作年限": 0,
    "申请额度": 15000,
    "历史逾期次数": 6,
    "近6月征信查询次数": 9,
    "有房产": "否",
}


class _Receiver(http.server.ThreadingHTTPServer):
    """A local webhook receiving the high-risk notifications."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def _with_key(func: Any, *args: Any, **kwargs: Any) -> Any:
    old = os.environ.get("CUSTRISK_SIGNING_KEY")
    os.environ["CUSTRISK_SIGNING_KEY"] = SIGNING_KEY
    try:
        return func(*args, **kwargs)
    finally:
        if old is None:
            os.environ.pop("CUSTRISK_SIGNING_KEY")
        else:
            os.environ["CUSTRISK_SIGNING_KEY"] = old


def _start(root: Path, name: str, workers: int, receiver: _Receiver) -> dict[str, Any]:
    port = free_port()
    log = (root / f"{name}.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "custrisk",
            "serve",
            "--model",
            "application",
            "--models-dir",
            str(root / "models"),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--db",
            str(root / name / "decisions.db"),
            "--access-log",
            str(root / name / "access.jsonl"),
            "--rate",
            str(RATE),
            "--burst",
            str(BURST),
            "--notify-webhook",
            f"http://127.0.0.1:{receiver.server_address[1]}/hook",
        ],
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "CUSTRISK_SIGNING_KEY": SIGNING_KEY,
            "CUSTRISK_JDY_SECRET": JDY_SECRET,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return {
        "process": process,
        "base": f"http://127.0.0.1:{port}",
        "db": root / name / "decisions.db",
        "log": root / f"{name}.log",
        "handle": log,
        "workers": workers,
    }


def _wait_ready(service: dict[str, Any]) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            ready = httpx.get(f"{service['base']}/readyz", timeout=2)
            if ready.status_code == 200 and all(
                w["pid"] for w in ready.json().get("workers", [{"pid": 1}])
            ):
                return
        except httpx.TransportError:
            pass
        assert service["process"].poll() is None, service["log"].read_text()
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A signed application model, tokens, a webhook receiver, and the service twice:
    with --workers 2 and with --workers 1."""
    root = tmp_path_factory.mktemp("serve-workers")
    generate_applications(root / "data", applicants=1500, seed=7)
    _with_key(
        train_table, root / "data" / "application.csv", "违约", name="application",
        models_dir=root / "models",
    )  # fmt: skip
    tokens: dict[str, dict[str, str]] = {}
    for name in ("two", "one"):
        store = DecisionStore(root / name / "decisions.db")
        tokens[name] = {
            who: store.create_token(who, ["score", "admin"] if who == "ops" else ["score"])[0]
            for who in ("crm", "ops", "limited", "load0", "load1", "load2", "load3")
        }
        store.close()
    receiver = _Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    two = _start(root, "two", 2, receiver)
    one = _start(root, "one", 1, receiver)
    try:
        _wait_ready(two)
        _wait_ready(one)
        two["tokens"], one["tokens"] = tokens["two"], tokens["one"]
        yield {"root": root, "two": two, "one": one, "receiver": receiver}
    finally:
        for service in (two, one):
            if service["process"].poll() is None:
                service["process"].terminate()
                service["process"].wait(timeout=60)
            service["handle"].close()
        receiver.shutdown()
        receiver.server_close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rows(world: dict[str, Any], n: int) -> list[dict[str, str]]:
    with (world["root"] / "data" / "application_next.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))[:n]


def _until_both_workers(
    send: Any, *, at_most: int = 100, patience: float = 0.0
) -> list[httpx.Response]:
    """Call ``send()`` (a request on a fresh connection) until both workers answered:
    ``at_most`` times at once, then (``patience``) one call per token refill, for at
    most that many seconds more. Which worker takes a connection is the kernel's choice:
    on a busy machine one took all of twenty in a row."""
    answers = []
    deadline = None
    while True:
        answers.append(send())
        if {r.headers.get("x-custrisk-worker") for r in answers} >= {"0", "1"}:
            return answers
        if len(answers) >= at_most:
            deadline = deadline or time.monotonic() + patience
            if time.monotonic() >= deadline:
                raise AssertionError(f"one worker answered all {len(answers)} requests")
            time.sleep(1.25 / RATE)  # (under the token's rate: no 429)


def _decision_fields(answer: dict[str, Any]) -> dict[str, Any]:
    keys = ("customer_id", "pd", "score", "grade", "decision", "recommended_limit", "reasons")
    return {k: answer.get(k) for k in keys}


def test_two_workers_score_as_one_worker(world: dict[str, Any]) -> None:
    rows = _rows(world, 60)
    answers = {}
    for name in ("two", "one"):
        service = world[name]
        response = httpx.post(
            f"{service['base']}/v1/score",
            json={"records": rows},
            headers=_auth(service["tokens"]["crm"]),
            timeout=60,
        )
        assert response.status_code == 200, response.text
        answers[name] = [_decision_fields(d) for d in response.json()["decisions"]]
    assert answers["two"] == answers["one"]
    # single requests, answered by each of the two workers, score as the batch did
    two = world["two"]
    index = iter(range(len(rows)))

    def single() -> httpx.Response:
        i = next(index)
        response = httpx.post(
            f"{two['base']}/v1/score", json=rows[i], headers=_auth(two["tokens"]["crm"])
        )
        assert response.status_code == 200, response.text
        assert _decision_fields(response.json()) == answers["one"][i]
        return response

    _until_both_workers(single, at_most=BURST)


def test_the_rate_limit_holds_across_workers(world: dict[str, Any]) -> None:
    two = world["two"]
    headers = _auth(two["tokens"]["limited"])
    statuses: list[tuple[int, str]] = []
    began = time.monotonic()
    for _ in range(200):  # a fresh connection each: either worker may answer
        response = httpx.get(f"{two['base']}/v1/model", headers=headers)
        statuses.append((response.status_code, response.headers["x-custrisk-worker"]))
        refused_by = {worker for status, worker in statuses if status == 429}
        if len(statuses) >= 3 * BURST and refused_by == {"0", "1"}:
            break
    elapsed = time.monotonic() - began
    passed = [worker for status, worker in statuses if status == 200]
    assert {status for status, _ in statuses} == {200, 429}
    assert {worker for status, worker in statuses if status == 429} == {"0", "1"}
    # one bucket for the two workers: the burst plus what refilled meanwhile, not twice
    assert BURST <= len(passed) <= BURST + math.ceil(RATE * elapsed) + 1, (len(passed), elapsed)


def _push(base: str, body: dict[str, Any], deliver: str) -> httpx.Response:
    payload = json.dumps(body, ensure_ascii=False)
    timestamp, nonce = str(int(time.time())), "n0nce"
    return httpx.post(
        f"{base}/hooks/jiandaoyun",
        params={"timestamp": timestamp, "nonce": nonce},
        content=payload.encode("utf-8"),
        headers={
            "Content-Type": "application/json",
            "X-JDY-Signature": signature(nonce, payload, JDY_SECRET, timestamp),
            "X-JDY-DeliverId": deliver,
        },
        timeout=60,
    )


def test_a_delivery_repeated_to_both_workers_is_scored_and_notified_once(
    world: dict[str, Any],
) -> None:
    two, receiver = world["two"], world["receiver"]
    store = DecisionStore(two["db"])
    workers_seen: set[str] = set()
    pushes = 0
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        while workers_seen != {"0", "1"}:  # until a pair lands on two different workers
            assert pushes < 20, "the two deliveries never reached different workers"
            pushes += 1
            body = {"op": "data_create", "data": {"_id": f"jdy-w{pushes}", **DECLINED}}
            deliveries = [(two["base"], body, f"dw-{pushes}")] * 2
            pair = list(pool.map(lambda args: _push(*args), deliveries))
            assert [r.status_code for r in pair] == [200, 200], [r.text for r in pair]
            first, second = (r.json() for r in pair)
            assert first["decision_id"] == second["decision_id"]
            assert first["decision"] == "decline"
            assert sorted(bool(a.get("duplicate")) for a in (first, second)) == [False, True]
            stored = [
                d
                for d in store.list_decisions(limit=10_000)
                if d["customer_id"] == f"JDY-W{pushes}"
            ]
            assert [d["decision_id"] for d in stored] == [first["decision_id"]]
            workers_seen = {r.headers["x-custrisk-worker"] for r in pair}
    store.close()
    deadline = time.monotonic() + 20
    while len([m for m in receiver.received if "JDY-W" in json.dumps(m)]) < pushes:
        assert time.monotonic() < deadline, "the notifications did not arrive"
        time.sleep(0.1)
    time.sleep(0.5)  # a second notification of the same delivery would arrive meanwhile
    notified = [m["decision"]["customer_id"] for m in receiver.received if "JDY-W" in json.dumps(m)]
    assert sorted(notified) == sorted(f"JDY-W{n}" for n in range(1, pushes + 1))


def test_a_reload_under_load_switches_every_worker_without_a_failed_request(
    world: dict[str, Any],
) -> None:
    two = world["two"]
    base = two["base"]
    rows = _rows(world, 40)
    _with_key(
        train_table, world["root"] / "data" / "application.csv", "违约", name="application",
        models_dir=world["root"] / "models", algorithm="tree",
    )  # fmt: skip  # a new version, trained while the service runs
    failures: list[str] = []
    seen: dict[str, set[str]] = {"0": set(), "1": set()}
    stop = threading.Event()
    answered = [threading.Event() for _ in range(4)]

    def load(token: str, first: threading.Event) -> None:
        i = 0
        while not stop.is_set():
            with httpx.Client(headers=_auth(token), timeout=60) as client:  # new connections
                for _ in range(5):
                    response = client.post(f"{base}/v1/score", json=rows[i % len(rows)])
                    i += 1
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:100]}")
                    else:
                        seen[response.headers["x-custrisk-worker"]].add(response.json()["model_id"])
                    first.set()
                    time.sleep(1.5 / RATE)

    threads = [
        threading.Thread(target=load, args=(two["tokens"][f"load{n}"], answered[n]))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    try:
        # the reload comes under load: once each of the four clients has had an answer
        assert all(event.wait(60) for event in answered), "the load did not start"
        reload = httpx.post(
            f"{base}/admin/reload", headers=_auth(two["tokens"]["ops"]), timeout=120
        )
        assert reload.status_code == 200, reload.text
        # the load goes on until each worker has answered with the new version (which
        # worker takes a new connection is the kernel's choice: on a busy machine one
        # could take none in a fixed second and a half)
        deadline = time.monotonic() + 60
        while not (seen["0"] >= {"application@2"} and seen["1"] >= {"application@2"}):
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures[:3]
    done = reload.json()
    assert done["model_id"] == "application@2"
    assert [w["model_id"] for w in done["workers"]] == ["application@2"] * 2
    assert seen["0"] >= {"application@2"} and seen["1"] >= {"application@2"}, seen
    after = _until_both_workers(
        lambda: httpx.post(f"{base}/v1/score", json=rows[0], headers=_auth(two["tokens"]["crm"])),
        at_most=BURST,
        patience=30,
    )
    assert {r.json()["model_id"] for r in after} == {"application@2"}
    # SIGHUP to the supervisor: one worker reloads, the other follows
    generation = httpx.get(f"{base}/readyz").json()["workers"][0]["generation"]
    two["process"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while True:
        workers = httpx.get(f"{base}/readyz").json()["workers"]
        if all(w["generation"] > generation for w in workers):
            break
        assert time.monotonic() < deadline, f"SIGHUP did not reload every worker: {workers}"
        time.sleep(0.2)
    assert [w["model_id"] for w in workers] == ["application@2"] * 2


def test_a_killed_worker_is_replaced(world: dict[str, Any]) -> None:
    two = world["two"]
    base = two["base"]
    before = httpx.get(f"{base}/readyz").json()["workers"]
    os.kill(before[0]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        try:
            workers = httpx.get(f"{base}/readyz", timeout=5).json()["workers"]
        except httpx.TransportError:
            workers = before
        if workers[0]["pid"] not in (0, before[0]["pid"]):
            break
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    assert workers[1]["pid"] == before[1]["pid"]
    # the new worker serves the model the others serve (the reloaded one, if reloaded)
    assert workers[0]["model_id"] == workers[1]["model_id"]
    rows = _rows(world, 1)
    answers = _until_both_workers(
        lambda: httpx.post(f"{base}/v1/score", json=rows[0], headers=_auth(two["tokens"]["crm"])),
        at_most=BURST,
        patience=30,
    )
    assert all(r.status_code == 200 for r in answers)
    assert f"worker 0 (pid {before[0]['pid']}) died (signal SIGKILL)" in two["log"].read_text()


def test_sigterm_finishes_the_requests_in_flight_and_stops_every_worker(
    world: dict[str, Any],
) -> None:
    two = world["two"]
    pids = [w["pid"] for w in httpx.get(f"{two['base']}/readyz").json()["workers"]]
    rows = _rows(world, 200)
    body = json.dumps({"records": rows}, ensure_ascii=False).encode("utf-8")
    sent_half = threading.Event()

    def slowly() -> Iterator[bytes]:  # the request is in flight when SIGTERM arrives
        yield body[: len(body) // 2]
        sent_half.set()
        time.sleep(1.0)
        yield body[len(body) // 2 :]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            httpx.post,
            f"{two['base']}/v1/score",
            content=slowly(),
            headers={**_auth(two["tokens"]["ops"]), "Content-Type": "application/json"},
            timeout=60,
        )
        assert sent_half.wait(30)
        time.sleep(0.2)
        two["process"].send_signal(signal.SIGTERM)
        response = answer.result()
    assert response.status_code == 200, response.text
    assert len(response.json()["decisions"]) == len(rows)
    assert two["process"].wait(timeout=60) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    store = DecisionStore(two["db"])  # the workers stored what they had queued
    ids = {d["decision_id"] for d in store.list_decisions(limit=100_000)}
    store.close()
    assert {d["decision_id"] for d in response.json()["decisions"]} <= ids


def test_workers_is_a_number_from_1_or_auto() -> None:
    assert worker_count("3") == 3
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(UsageError, match=r"--workers must be a whole number from 1 or 'auto'"):
            worker_count(bad)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_the_shared_rate_limiter_is_one_bucket_for_forked_processes(tmp_path: Path) -> None:
    lock_file = tmp_path / "lock"
    lock_file.touch()
    limiter = SharedRateLimiter(0.001, 10, ProcessLock(lock_file))

    def take(n: int) -> int:
        return sum(limiter.take("tok1") == 0 for _ in range(n))

    child = multiprocessing.get_context("fork").Process(target=lambda: sys.exit(take(6)))
    child.start()
    child.join(30)
    assert child.exitcode == 6  # requests that passed in the child
    assert take(6) == 4  # the bucket the child drew from
    assert limiter.take("another token") == 0


def test_a_bad_model_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--model", "nothing-here", "--models-dir", str(tmp_path), "--workers", "2",
         "--db", str(tmp_path / "decisions.db"), "--port", str(free_port())],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no model named 'nothing-here'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_workers_value_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--model", "m", "--workers", "many"])
    assert result.exit_code == 2
    assert "--workers must be a whole number from 1 or 'auto'; got 'many'" in result.stderr


def _claims(store: DecisionStore) -> None:
    outputs = {"model_id": "application@1", "customer_id": "C1", "decision": "review"}
    decision = {
        "decision_id": "dc1",
        "created_at": "2026-12-01T00:00:00",
        "caller": "jiandaoyun",
        "channel": "jiandaoyun",
        "input_fingerprint": "0" * 64,
        "inputs_masked": {},
        "outputs": outputs,
    }
    assert store.claim_delivery("c1") is True
    assert store.claim_delivery("c1") is False  # claimed: the repeat waits
    assert store.delivery("c1") is None  # not answered yet
    assert store.complete_delivery("c1", {"decision_id": "dc1"}, [decision]) is True
    assert store.complete_delivery("c1", {"decision_id": "dc2"}, []) is False
    store.release_delivery("c1")  # an answered delivery stays
    assert store.claim_delivery("c1") is False
    assert store.delivery("c1") == {"decision_id": "dc1"}
    assert store.get_decision("dc1") is not None and store.count_decisions() == 1
    assert store.claim_delivery("c2") is True
    store.release_delivery("c2")  # refused or ignored: handled afresh next time
    assert store.claim_delivery("c2") is True
    assert store.claim_delivery("c2", stale_after=60) is False
    assert store.claim_delivery("c2", stale_after=0) is True  # its worker died: taken over


def test_a_delivery_is_claimed_once_answered_once_and_released_when_refused(
    tmp_path: Path,
) -> None:
    store = DecisionStore(tmp_path / "decisions.db")
    try:
        _claims(store)
    finally:
        store.close()


def test_reads_while_decisions_are_written_lose_no_transaction(tmp_path: Path) -> None:
    """The event loop re-reads the tokens every few seconds while the background writer
    stores decisions; on SQLite both use one connection, and a read must not roll back
    the writer's open transaction ("cannot commit - no transaction is active")."""
    store = DecisionStore(tmp_path / "decisions.db")
    outputs = {"model_id": "application@1", "decision": "review"}

    def decision(n: int) -> dict[str, Any]:
        return {
            "decision_id": f"d{n}",
            "created_at": "2026-12-02T00:00:00.000+00:00",
            "caller": "crm",
            "channel": "api",
            "input_fingerprint": "f",
            "inputs_masked": {},
            "outputs": {**outputs, "customer_id": f"C{n}"},
        }

    stop = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                store.active_tokens()
                store.count_decisions()
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(0, 3000, 10):
            store.add_decisions([decision(n + k) for k in range(10)])
    finally:
        stop.set()
        reader.join()
        count = store.count_decisions()
        store.close()
    assert failures == []
    assert count == 3000


def test_delivery_claims_in_postgresql(postgres_cluster: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(postgres_cluster["admin"], autocommit=True) as connection:
        connection.execute("CREATE DATABASE claims")
    url = (
        postgres_cluster["admin"]
        .replace("postgresql://", "postgresql+psycopg://")
        .replace("/postgres", "/claims")
    )
    store = DecisionStore(url)
    try:
        _claims(store)
    finally:
        store.close()


def test_tokens_past_the_shared_limiter_size_pass_and_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "lock").touch()
    limiter = SharedRateLimiter(0.001, 1, ProcessLock(tmp_path / "lock"), slots=2)
    assert limiter.take("a") == 0 and limiter.take("b") == 0
    assert limiter.take("a") > 0  # limited
    with caplog.at_level("WARNING", logger="custrisk.serve.shared"):
        assert limiter.take("c") == 0 and limiter.take("c") == 0  # no bucket left for c
    assert "over 2 tokens in use" in caplog.text


def test_a_stopping_supervisor_refuses_new_connections_and_says_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SIGTERM the supervisor kept its copy of the listening socket open while the
    workers finished: connections made meanwhile were queued where nobody accepted them,
    then reset (clients saw ReadError: was the POST answered?) instead of refused as with
    one process. And it ended without the 'stopped (SIGTERM)' line one process prints."""
    from types import SimpleNamespace

    from custrisk.serve.settings import ServeSettings
    from custrisk.serve.workers import Supervisor

    settings = ServeSettings(model="m", port=free_port(), db=tmp_path / "d.db")
    supervisor = Supervisor(settings, 2, lambda *_: None)
    seen: dict[str, Any] = {}
    scorer = SimpleNamespace(model_id="m@1")
    monkeypatch.setattr(supervisor, "_preflight", lambda: (scorer, "sqlite:///d.db"))
    monkeypatch.setattr(supervisor, "_start", lambda _worker: None)
    monkeypatch.setattr(supervisor, "_wait_ready", lambda: True)

    def watch() -> None:  # SIGTERM arrives while serving
        seen["listening"] = supervisor.sock.fileno()
        supervisor._on_signal(signal.SIGTERM, None)
        Supervisor._watch(supervisor)

    def stop() -> None:  # the workers are told to finish: the port must be closed by now
        seen["while stopping"] = supervisor.sock.fileno()

    monkeypatch.setattr(supervisor, "_watch", watch)
    monkeypatch.setattr(supervisor, "_stop", stop)
    supervisor.workers = []  # (none started: _watch waits on no sentinel)
    assert supervisor.run() == "SIGTERM"
    assert seen["listening"] >= 0 and seen["while stopping"] == -1
