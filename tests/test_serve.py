"""custrisk serve: the service runs in a subprocess on a free port and is driven with a real
HTTP client (httpx); high-risk notifications reach a real local HTTP receiver; a model
reload happens under load."""

from __future__ import annotations

import concurrent.futures
import csv
import datetime as dt
import hashlib
import http.server
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.sample.application import generate_applications
from custrisk.scoring import score_portfolio, train_table
from custrisk.serve.jiandaoyun import signature
from custrisk.serve.store import DecisionStore
from tests._postgres import free_port

SRC = Path(__file__).resolve().parents[1] / "src"
SIGNING_KEY = "serve-test-signing-key-0123456789abcdef"
JDY_SECRET = "jdy-push-secret-for-tests"
NAME = "张伟"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(CUSTRISK_SIGNING_KEY=SIGNING_KEY, CUSTRISK_JDY_SECRET=JDY_SECRET, **extra)
    return env


def _cli(*args: str, cwd: Path) -> Any:
    """The command in-process (typer's runner): exit code, stdout and stderr apart."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


class _Receiver(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.raw.append(body)
                outer.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="session")
def serve_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Applications, a signed application model, tokens, a webhook receiver and the
    running service (``custrisk serve`` in a subprocess)."""
    root = tmp_path_factory.mktemp("serve")
    data = root / "data"
    generate_applications(data, applicants=1500, seed=7)
    models = root / "models"
    old = os.environ.get("CUSTRISK_SIGNING_KEY")
    os.environ["CUSTRISK_SIGNING_KEY"] = SIGNING_KEY
    try:
        train_table(data / "application.csv", "违约", name="application", models_dir=models)
    finally:
        if old is None:
            os.environ.pop("CUSTRISK_SIGNING_KEY")
        else:
            os.environ["CUSTRISK_SIGNING_KEY"] = old
    db = root / "serve" / "decisions.db"
    done = _cli("serve-token", "new", "crm", "--scope", "score", "--db", str(db), cwd=root)
    assert done.exit_code == 0, done.stderr
    tokens = {"crm": done.stdout.strip()}
    store = DecisionStore(db)
    tokens["ops"] = store.create_token("ops", ["score", "admin"])[0]
    for name in ("burst", "load0", "load1", "load2", "load3"):
        tokens[name] = store.create_token(name, ["score"])[0]
    store.close()
    receiver = _Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    # the run's notification channels (a RUN.yaml notifications: section): a WeCom robot
    notify_config = root / "run.yaml"
    notify_config.write_text(
        "notifications:\n  channels:\n    wecom: {type: wecom, url_env: TEST_WECOM_URL}\n",
        encoding="utf-8",
    )
    log = (root / "service.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "custrisk",
            "serve",
            "--model",
            "application",
            "--models-dir",
            str(models),
            "--port",
            "0",  # any free port: the ready line says which
            "--db",
            str(db),
            "--access-log",
            str(root / "serve" / "access.jsonl"),
            "--rate",
            "40",
            "--burst",
            "60",
            "--max-body",
            "300000",
            "--notify-webhook",
            f"http://127.0.0.1:{receiver.server_address[1]}/hook",
            "--notify-config",
            str(notify_config),
        ],
        cwd=root,
        env={**_env(), "TEST_WECOM_URL": f"http://127.0.0.1:{receiver.server_address[1]}/wecom"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while True:
        said = re.search(r"custrisk serve: \S+ on (http://127\.0\.0\.1:(\d+)) ", _read(root))
        if said is not None and said.group(2) != "0":
            base = said.group(1)
            try:  # announced once it listens: connecting now must not be refused
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TimeoutException:
                pass
        assert process.poll() is None, (root / "service.log").read_text()
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.3)
    try:
        yield {
            "root": root,
            "data": data,
            "models": models,
            "db": db,
            "base": base,
            "tokens": tokens,
            "receiver": receiver,
            "process": process,
        }
    finally:
        process.terminate()
        code = process.wait(timeout=30)
        receiver.shutdown()
        receiver.server_close()
        log.close()
    # SIGTERM (systemd stopping the unit) is the service's normal end: exit 0, one line
    assert code == 0, (root / "service.log").read_text()
    assert (root / "service.log").read_text().rstrip().endswith("custrisk serve: stopped (SIGTERM)")


def _read(root: Path) -> str:
    return (root / "service.log").read_text(encoding="utf-8", errors="replace")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rows(path: Path, n: int | None = None) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return rows[:n] if n else rows


def _scored_and_stored(serve_world: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The CRM token's answer to ``record`` (200 OK), once its decision is stored and in
    the access log."""
    response = httpx.post(
        f"{serve_world['base']}/v1/score", json=record, headers=_auth(serve_world["tokens"]["crm"])
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    _wait_stored(serve_world, answer["decision_id"])
    return answer


def _wait_stored(serve_world: dict[str, Any], decision_id: str) -> None:
    """Decisions are written by the service's writer thread just after the answer."""
    store = DecisionStore(serve_world["db"])
    deadline = time.monotonic() + 10
    try:
        while store.get_decision(decision_id) is None:
            assert time.monotonic() < deadline, f"decision {decision_id} was not stored"
            time.sleep(0.02)
    finally:
        store.close()
    access = serve_world["root"] / "serve" / "access.jsonl"
    while decision_id not in access.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, f"decision {decision_id} not in the access log"
        time.sleep(0.02)


def test_health_readiness_model_and_openapi(serve_world: dict[str, Any]) -> None:
    base = serve_world["base"]
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["status"] == "ready" and ready["model_id"].startswith("application@")
    model = httpx.get(f"{base}/v1/model", headers=_auth(serve_world["tokens"]["crm"])).json()
    fields = {f["field"]: f for f in model["fields"]}
    assert fields["地区"]["type"] == "category" and "华东" in fields["地区"]["allowed"]
    assert fields["姓名"]["personal_data"] is True
    assert "违约" not in fields
    assert model["metrics"]["auc"] > 0.6
    assert model["decision"]["grades"]["E"] == "decline"
    spec = httpx.get(f"{base}/openapi.json").json()
    assert "/v1/score" in spec["paths"]
    income = spec["components"]["schemas"]["Record"]["properties"]["月收入"]
    assert "read as annual_income = value × 12" in income["description"]
    region = spec["components"]["schemas"]["Record"]["properties"]["地区"]
    assert "enum" not in region and "华东" in region["examples"]  # an unseen region is scored
    assert fields["月收入"]["scale"] == 12 and fields["月收入"]["name"] == "annual_income"
    assert "openapi.json" in httpx.get(f"{base}/docs").text
    # the start line says whether the 简道云 push answers (its secret is set here)
    assert "; 简道云 push on: POST /hooks/jiandaoyun; " in _read(serve_world["root"])


def test_requests_without_a_valid_token_are_refused(serve_world: dict[str, Any]) -> None:
    base = serve_world["base"]
    bare = httpx.post(f"{base}/v1/score", json={"年龄": 30})
    assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.post(f"{base}/v1/score", json={"年龄": 30}, headers=_auth("crk_nope_x"))
    assert wrong.status_code == 401
    scope = httpx.post(f"{base}/admin/reload", headers=_auth(serve_world["tokens"]["crm"]))
    assert scope.status_code == 403 and "admin" in scope.json()["error"]


def test_one_customer_gets_a_decision_that_is_stored_masked(serve_world: dict[str, Any]) -> None:
    record = {
        "客户编号": "NEW0001",
        "姓名": NAME,
        "手机号": "13812345678",
        "年龄": 35,
        "地区": "华东",
        "行业": "制造业",
        "学历": "本科",
        "月收入": 12000,
        "负债收入比": 0.25,
        "申请额度": 30000,
        "历史逾期次数": 0,
        "近6月征信查询次数": 1,
        "有房产": True,
    }
    answer = _scored_and_stored(serve_world, record)
    assert answer["customer_id"] == "NEW0001"
    assert 0 < answer["pd"] < 1 and answer["decision"] in ("approve", "review", "decline")
    assert answer["grade"] in "ABCDE" and answer["grade_label"]
    assert answer["reasons"] and all(r["code"] and r["label"] for r in answer["reasons"])
    shown = _cli(
        "decisions",
        "show",
        answer["decision_id"],
        "--db",
        str(serve_world["db"]),
        cwd=serve_world["root"],
    )
    assert shown.exit_code == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert stored["outputs"]["score"] == answer["score"]
    assert stored["caller"] != "-" and stored["channel"] == "api"
    assert stored["inputs_masked"]["姓名"] == "张**"
    assert "13812345678" not in shown.stdout and NAME not in shown.stdout
    assert (
        stored["input_fingerprint"]
        == hashlib.sha256(
            json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
    )
    listed = _cli(
        "decisions", "list", "--db", str(serve_world["db"]), "--json", cwd=serve_world["root"]
    )
    assert answer["decision_id"] in listed.stdout
    table = _cli("decisions", "list", "--db", str(serve_world["db"]), cwd=serve_world["root"])
    assert "caller" in table.stdout and answer["decision_id"][:8] in table.stdout  # as --help says
    access = (serve_world["root"] / "serve" / "access.jsonl").read_text(encoding="utf-8")
    assert answer["decision_id"] in access and NAME not in access and "13812345678" not in access


def test_a_record_keyed_by_phone_is_answered_as_sent_and_stored_masked(
    serve_world: dict[str, Any],
) -> None:
    """A CRM keyed by phone: the id was stored and listed as the customer id in clear.
    The caller gets it back as sent; the store (no pseudonym key here) keeps it masked,
    and decisions list --customer finds the decision by the phone."""
    record = {"客户编号": "13812345678", "年龄": 41, "地区": "华南", "月收入": 9000}
    answer = _scored_and_stored(serve_world, record)
    assert answer["customer_id"] == "13812345678"
    db = str(serve_world["db"])
    root = serve_world["root"]
    shown = _cli("decisions", "show", answer["decision_id"], "--db", db, cwd=root)
    assert shown.exit_code == 0 and "13812345678" not in shown.stdout
    kept = json.loads(shown.stdout)["customer_id"]  # (psn_...: under a pseudonym key)
    assert kept == "138****5678" or kept.startswith("psn_")
    found = _cli("decisions", "list", "--customer", "13812345678", "--db", db, cwd=root)
    assert answer["decision_id"][:8] in found.stdout and "13812345678" not in found.stdout


def test_scores_equal_the_batch_score_of_the_same_table(serve_world: dict[str, Any]) -> None:
    table = serve_world["data"] / "application_next.csv"
    rows = _rows(table)
    assert len(rows) >= 300
    old = os.environ.get("CUSTRISK_SIGNING_KEY")
    os.environ["CUSTRISK_SIGNING_KEY"] = SIGNING_KEY
    try:
        run = score_portfolio(table, "application", models_dir=serve_world["models"])
    finally:
        if old is None:
            os.environ.pop("CUSTRISK_SIGNING_KEY")
    batch = run.scores.set_index("customer_id")
    served: list[dict[str, Any]] = []
    for start in range(0, len(rows), 100):
        response = httpx.post(
            f"{serve_world['base']}/v1/score",
            json={"records": rows[start : start + 100]},
            headers=_auth(serve_world["tokens"]["ops"]),
            timeout=60,
        )
        assert response.status_code == 200, response.text
        served.extend(response.json()["decisions"])
    assert len(served) == len(rows) == len(batch)
    for answer in served:
        expected = batch.loc[answer["customer_id"]]
        assert answer["pd"] == pytest.approx(float(expected["pd"]), abs=1e-9)
        assert answer["score"] == int(expected["score"])
        assert answer["grade"] == expected["grade"]
        limit = expected["recommended_limit"]
        assert answer["recommended_limit"] == (None if pd.isna(limit) else float(limit))
        assert answer["review_flag"] == bool(expected["review_flag"])
        codes = [expected[f"reason_{k}_code"] for k in (1, 2, 3)]
        assert [r["code"] for r in answer["reasons"]] == [c for c in codes if isinstance(c, str)]
    assert {a["decision"] for a in served} >= {"review"}


# Records the quick path must score exactly as the batch path does, or leave to it.
HOSTILE: list[dict[str, Any]] = [
    {"年龄": "", "月收入": None, "地区": "NULL", "学历": "n/a", "行业": "nUlL"},
    {"月收入": "１２０００", "年龄": "３５", "负债收入比": "０．２８"},
    {"年龄": " 35", "地区": "华东 ", "行业": "\u3000制造业", "学历": "大专\t"},
    {"年龄": "-5", "月收入": "99999999999999999999", "工作年限": "1e1", "申请额度": "1,234"},
    {"年龄": "12.5", "负债收入比": ".5", "月收入": "5.", "工作年限": "-0", "申请额度": "+7"},
    {"年龄": 34, "负债收入比": 0.28, "月收入": 12000.0, "历史逾期次数": True},
    {"地区": "火星", "学历": "博士后", "行业": "制造业x"},
    {"地区": "=1+1", "行业": "-5", "学历": "@x"},
    {"姓名": "=HYPERLINK(1)"},
    {"姓名": "＝SUM(A1)", "地区": "华东"},
    {"姓名": "张\x07伟"},
    {"姓名": "a\tb", "手机号": "+86 138"},
    {"客户编号": "ab 12", "年龄": 30},
    {"客户编号": "ＡＢ12"},
    {"客户编号": "=cmd"},
    {"有房产": "是"},
    {"有房产": "TRUE"},
    {"有房产": "Yes"},
    {"有房产": "2"},
    {"有房产": " 否"},
    {"负债收入比": "0.280", "月收入": "007", "年龄": "nan"},
    {"负债收入比": "inf", "年龄": "NaN"},
    {"负债收入比": "1e-3"},
]


def _scorers(serve_world: dict[str, Any]) -> tuple[Any, Any]:
    """Two scorers of the served model: the quick path on, and off (batch path only)."""
    from custrisk.scoring.features import open_model
    from custrisk.scoring.records import RecordScorer

    model = open_model("application", serve_world["models"], allow_unverified=True)
    quick, batch = RecordScorer(model), RecordScorer(model)
    batch.quick = None
    assert quick.quick is not None, "the application model should have a quick path"
    return quick, batch


def _outcome(scorer: Any, records: list[dict[str, Any]]) -> Any:
    from custrisk.scoring.records import RecordError

    try:
        done = scorer.score(records, as_of=dt.date(2026, 12, 1))
    except RecordError as exc:
        return ("error", exc.problems)
    return ("scored", done.decisions, done.repaired)


def test_quick_path_and_batch_path_agree_field_by_field(serve_world: dict[str, Any]) -> None:
    quick, batch = _scorers(serve_world)
    base = _rows(serve_world["data"] / "application_next.csv", 40)
    taken = 0
    for i, change in enumerate(HOSTILE):
        record = {**base[i], **change}
        columns = quick._columns([record], None)
        taken += quick.quick.features_of(columns, 1) is not None
        assert _outcome(quick, [record]) == _outcome(batch, [record]), record
    # plainly clean records (and blanks, JSON numbers, unknown categories) take the quick
    # path; the rest is left to the batch path
    assert 3 <= taken < len(HOSTILE)
    assert quick.quick.features_of(quick._columns(base, None), len(base)) is not None
    scoreable = [{**base[i], **c} for i, c in enumerate(HOSTILE) if "姓名" not in c]
    for records in (
        base,
        scoreable,
        [{k: v for k, v in r.items() if k != "客户编号"} for r in base],
    ):
        assert _outcome(quick, records) == _outcome(batch, records)
    # the same customer twice in one request is the batch path's to reject
    twice = [base[0], dict(base[0])]
    assert _outcome(quick, twice) == _outcome(batch, twice)
    assert _outcome(quick, twice)[0] == "error"


def test_a_yes_no_columns_reason_reads_as_the_table_writes_it(
    serve_world: dict[str, Any],
) -> None:
    """有房产 (是/否 in the table) was given as a reason with the value "0" or "1"."""
    records = _rows(serve_world["data"] / "application_next.csv", 300)
    for scorer in _scorers(serve_world):  # (quick path and batch path)
        decided = scorer.score(records, as_of=dt.date(2026, 12, 1)).decisions
        shown = {r["value"] for d in decided for r in d["reasons"] if r["label"] == "有房产"}
        assert shown and shown <= {"是", "否"}, shown


#: A Hong Kong or Taiwan CRM's spelling of the application fields and of their values.
_TRADITIONAL = {
    **{"客户编号": "客戶編號", "手机号": "手機號", "年龄": "年齡", "地区": "地區"},
    **{"行业": "行業", "学历": "學歷", "负债收入比": "負債收入比", "申请额度": "申請額度"},
    **{"历史逾期次数": "歷史逾期次數", "近6月征信查询次数": "近6月徵信查詢次數"},
    **{"有房产": "有房產", "华东": "華東", "华南": "華南", "华北": "華北", "华中": "華中"},
    **{"东北": "東北", "制造业": "製造業", "建筑业": "建築業", "农林牧渔": "農林牧漁"},
    **{"医疗健康": "醫療健康", "房地产": "房地產", "教育培训": "教育培訓", "大专": "大專"},
    **{"信息技术": "信息技術", "交通运输": "交通運輸", "餐饮住宿": "餐飲住宿"},
}


def test_records_in_traditional_characters_score_as_their_simplified_twins(
    serve_world: dict[str, Any],
) -> None:
    """A CRM whose users type traditional characters: 年齡, 地區 and 負債收入比 were
    unknown fields (the batch matched most of them), and 華南 was scored as a region the
    model had never seen. Fields now match as a table's headers do, and a known category
    in traditional characters is read as it, listed under repaired; a personal field so
    named (手機號) is stored masked."""
    quick, batch = _scorers(serve_world)
    base = _rows(serve_world["data"] / "application_next.csv", 30)
    ours = [{_TRADITIONAL.get(k, k): _TRADITIONAL.get(v, v) for k, v in r.items()} for r in base]
    assert all("年齡" in r and "地區" in r for r in ours)
    for scorer in (quick, batch):
        _, decisions, repaired = _outcome(scorer, ours)
        assert decisions == _outcome(scorer, base)[1]
        fixed = [(p["field"], p["value"]) for record in repaired for p in record]
        assert ("地区", "華東") in fixed and all(f in ("地区", "行业", "学历") for f, _ in fixed)
    response = httpx.post(
        f"{serve_world['base']}/v1/score",
        json=ours[0],
        headers=_auth(serve_world["tokens"]["crm"]),
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    _wait_stored(serve_world, answer["decision_id"])
    store = DecisionStore(serve_world["db"])
    try:
        stored = store.get_decision(answer["decision_id"])
    finally:
        store.close()
    assert stored is not None
    assert stored["inputs_masked"]["手機號"] != ours[0]["手機號"]
    assert answer["customer_id"] == ours[0]["客戶編號"] and "record_id" not in answer


def test_one_record_on_python_scalars_scores_as_the_batch_on_every_customer(
    serve_world: dict[str, Any],
) -> None:
    """A request of one customer is scored without frames (the scorecard's score_one on
    the record's values); every customer gets the PD, score, reasons (values as text),
    grade and limit the vectorised score_table path and the cleaning batch path give."""
    from custrisk.scoring.records import ONE_BY_ONE

    quick, batch = _scorers(serve_world)
    assert quick._one is not None
    rows = _rows(serve_world["data"] / "application_next.csv")
    rows += [
        {k: v for k, v in r.items() if k != "违约"}
        for r in _rows(serve_world["data"] / "application.csv", 300)
    ]
    assert len(rows) >= 600
    taken = 0
    for start in range(0, len(rows), 100):
        chunk = rows[start : start + 100]
        assert len(chunk) > ONE_BY_ONE  # the vectorised path
        vectorised = _outcome(quick, chunk)
        assert vectorised == _outcome(batch, chunk)
        for record, expected in zip(chunk, vectorised[1], strict=True):
            taken += quick.quick.records_of(quick._columns([record], None), 1) is not None
            assert _outcome(quick, [record]) == ("scored", [expected], [[]]), record
    assert taken == len(rows)  # plainly clean records: all took the scalar path
    # a few records together (a micro-batch of singles) are scored one by one too
    few = rows[:ONE_BY_ONE]
    assert _outcome(quick, few) == _outcome(batch, few)
    # blanks, unknown categories and JSON numbers on the scalar path, hostile records
    # left to the batch path: the same answers
    for i, change in enumerate(HOSTILE):
        record = {**rows[i], **change}
        assert _outcome(quick, [record]) == _outcome(batch, [record]), record


def test_scorecard_and_tree_reasons_are_the_same_served_on_either_path_and_in_batch(
    serve_world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree model served answered with reasons too (a helper saw them empty): for both
    algorithms, a few dozen customers get the same PD, score and reasons (codes, labels,
    order, values, impacts) from the quick path (vectorised, and one record at a time),
    the cleaning batch path and ``custrisk score`` on a table holding them."""
    from custrisk.scoring.features import open_model
    from custrisk.scoring.records import ONE_BY_ONE, RecordScorer

    monkeypatch.setenv("CUSTRISK_SIGNING_KEY", SIGNING_KEY)
    rows = _rows(serve_world["data"] / "application_next.csv", 40)
    assert len(rows) > ONE_BY_ONE  # the vectorised quick path, and singles one by one
    table = tmp_path / "some.csv"
    with table.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tree_models = tmp_path / "models"
    train_table(
        serve_world["data"] / "application.csv",
        "违约",
        name="application",
        models_dir=tree_models,
        algorithm="tree",
    )
    as_of = dt.date(2026, 12, 1)
    for models in (serve_world["models"], tree_models):
        model = open_model("application", models)
        quick, slow = RecordScorer(model), RecordScorer(model)
        slow.quick = None
        assert quick.quick is not None
        vectorised = quick.score(rows, as_of=as_of).decisions
        assert slow.score(rows, as_of=as_of).decisions == vectorised
        singles = [quick.score([r], as_of=as_of).decisions[0] for r in rows]
        assert singles == vectorised, model.card["algorithm"]
        batch = score_portfolio(table, "application", models_dir=models, as_of=as_of)
        scores = batch.scores.set_index("customer_id")
        details = batch.details.set_index("customer_id")
        for answer in vectorised:
            expected = scores.loc[answer["customer_id"]]
            assert answer["pd"] == pytest.approx(float(expected["pd"]), abs=1e-12)
            assert answer["score"] == int(expected["score"])
            assert answer["grade"] == expected["grade"]
            ranks = [k for k in (1, 2, 3) if isinstance(expected[f"reason_{k}_code"], str)]
            assert [(r["code"], r["label"]) for r in answer["reasons"]] == [
                (expected[f"reason_{k}_code"], expected[f"reason_{k}_label"]) for k in ranks
            ], (model.card["algorithm"], answer["customer_id"])
            shown = details.loc[answer["customer_id"]]
            assert [r["impact"] for r in answer["reasons"]] == pytest.approx(
                [float(shown[f"reason_{k}_impact"]) for k in ranks]
            )
        # reasons are given (a tree's: the features that sent it down riskier branches)
        assert sum(bool(a["reasons"]) for a in vectorised) >= 10, model.card["algorithm"]
        assert all(a["reasons"] for a in vectorised if a["decision"] == "decline")


def test_a_batch_may_be_sent_as_a_bare_array_as_the_docs_and_schema_say(
    serve_world: dict[str, Any],
) -> None:
    """A top-level JSON array was taken as a batch though docs/serve.md and the OpenAPI
    schema named only an object or {"records": [...]}: now both say so, and it is
    answered as {"records": [...]} is."""
    base, headers = serve_world["base"], _auth(serve_world["tokens"]["ops"])
    rows = _rows(serve_world["data"] / "application_next.csv", 5)
    answers = [
        httpx.post(f"{base}/v1/score", json=body, headers=headers, timeout=30)
        for body in (rows, {"records": rows})
    ]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    bare, wrapped = (a.json()["decisions"] for a in answers)
    assert [d["customer_id"] for d in bare] == [r["客户编号"] for r in rows]

    def outcome(decisions: list[dict[str, Any]]) -> list[Any]:
        return [(d["pd"], d["score"], d["decision"], d["reasons"]) for d in decisions]

    assert outcome(bare) == outcome(wrapped)
    body = httpx.get(f"{base}/openapi.json").json()["paths"]["/v1/score"]["post"]
    shapes = body["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}.items() <= (
        shapes[-1].items()
    )
    for other in (42, "AP1", True):
        refused = httpx.post(f"{base}/v1/score", json=other, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["error"] == (
            'expected a JSON object (one customer), or {"records": [...]} or [...] (a batch)'
        )


def test_concurrent_requests_each_get_their_own_answer(serve_world: dict[str, Any]) -> None:
    """Requests that arrive together are scored in one batch and split back; two requests
    for the same customer at the same time are both answered (scored apart)."""
    rows = _rows(serve_world["data"] / "application_next.csv", 30)
    rows.append(dict(rows[0]))  # the same customer twice, concurrently
    expected = httpx.post(
        f"{serve_world['base']}/v1/score",
        json={"records": rows[:30]},
        headers=_auth(serve_world["tokens"]["ops"]),
        timeout=60,
    ).json()["decisions"]
    answers: dict[int, dict[str, Any]] = {}

    def send(i: int) -> None:
        response = httpx.post(
            f"{serve_world['base']}/v1/score",
            json=rows[i],
            headers=_auth(serve_world["tokens"][f"load{i % 4}"]),
            timeout=60,
        )
        answers[i] = {"status": response.status_code, **response.json()}

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(rows))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a["status"] == 200 for a in answers.values()), answers
    for i, row in enumerate(rows):
        want = expected[i % 30]
        assert answers[i]["customer_id"] == row["客户编号"] == want["customer_id"]
        assert (answers[i]["score"], answers[i]["pd"]) == (want["score"], want["pd"])
    assert len({a["decision_id"] for a in answers.values()}) == len(rows)


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"月收x": 9000}, "月收x", "did you mean '月收入'"),
        # a near miss in traditional characters is near its simplified field
        ({"負債收入": 0.3}, "負債收入", "did you mean '负债收入比'"),
        # 月收入 is read as annual_income × 12: an annual figure sent under that name
        # would be read × 12 again
        ({"annual_income": 144000}, "annual_income", "from the field '月收入', its value × 12"),
        ({"年龄": {"value": 3}}, "年龄", "got an object"),
        ({"客户编号": True, "年龄": 30}, "客户编号", "an id is text or a number"),
        (  # the cleaner's "line 2" is the request's record 1
            {"records": [{"客户编号": "yq1", "年龄": 30}, {"客户编号": "YQ1", "年龄": 40}]},
            "客户编号",
            "'yq1' (record 0), 'YQ1' (record 1) become the same id 'YQ1'",
        ),
        # its header and custrisk's name, with two values: neither silently wins
        ({"地区": "华东", "region": "华北", "年龄": 30}, "region", "'地区' is given twice"),
        (
            {"records": [{"客户编号": "D1", "年龄": 30}, {"客户编号": "D1", "年龄": 40}]},
            "客户编号",
            "key already used by another record",  # not "the first row is kept": none is
        ),
        ({"records": [{"客户编号": "D2", "姓名": NAME, "年龄": 30}] * 2}, "", "duplicate"),
        ({}, "", "the record gives no value the model scores on (年龄"),
        ({"客户编号": "D3", "姓名": NAME, "年龄": None, "地区": " "}, "", "no value the model"),
    ],
)
def test_invalid_records_are_a_422_naming_the_field(
    serve_world: dict[str, Any], body: dict[str, Any], field: str, problem: str
) -> None:
    response = httpx.post(
        f"{serve_world['base']}/v1/score", json=body, headers=_auth(serve_world["tokens"]["ops"])
    )
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(p["field"] == field and problem in p["problem"] for p in problems), problems
    assert NAME not in response.text


def test_missing_and_unparseable_values_are_blanks_as_in_batch(serve_world: dict[str, Any]) -> None:
    response = httpx.post(
        f"{serve_world['base']}/v1/score",
        json={"年龄": "abc", "地区": "华东"},
        headers=_auth(serve_world["tokens"]["ops"]),
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert any(r["field"] == "年龄" and r["value"] == "abc" for r in answer["repaired"])
    assert answer["score"] > 0


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"[" * 5000 + b"]" * 5000, "nests deeper than"),  # past json's own recursion
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "nests deeper than 16 levels (at a.a.a"),
        (rb'{"\u5e74\u9f84": "\ud800x"}', "年龄 holds a lone surrogate (\\ud800)"),
        (rb'{"records": [{}, {"\udc00": 1}]}', "a key in records[1] holds a lone surrogate"),
        (b"{not json", "not valid JSON"),
        (b"", "the body is empty: send one customer as a JSON object"),  # not "Expecting value"
        (b" \r\n", "the body is empty"),
        ('{"地区": "华东"}'.encode("gbk"), "not UTF-8 text (byte 0xb5 at offset 2)"),
        (b'{"a": ' + b"9" * 5000 + b"}", "a number with more digits than any value"),
    ],
)
def test_a_hostile_body_is_a_400_naming_where(
    serve_world: dict[str, Any], body: bytes, said: str
) -> None:
    response = httpx.post(
        f"{serve_world['base']}/v1/score",
        content=body,
        headers={**_auth(serve_world["tokens"]["ops"]), "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert said in response.json()["error"]


def test_a_form_posted_instead_of_json_is_told_to_send_json(serve_world: dict[str, Any]) -> None:
    """curl -d '年龄=30' (a form's fields) was answered 'not valid JSON: Expecting value:
    line 1 column 1 (char 0)', which does not say what was sent instead."""
    response = httpx.post(
        f"{serve_world['base']}/v1/score",
        data={"年龄": "30"},
        headers=_auth(serve_world["tokens"]["ops"]),
    )
    assert response.status_code == 400, response.text
    assert (
        "sent as application/x-www-form-urlencoded: a form's fields; send the JSON"
        in (response.json()["error"])
    )


def test_a_body_over_the_limit_is_a_413(serve_world: dict[str, Any]) -> None:
    rows = _rows(serve_world["data"] / "application_next.csv") * 8
    response = httpx.post(
        f"{serve_world['base']}/v1/score",
        json={"records": rows},
        headers=_auth(serve_world["tokens"]["ops"]),
    )
    assert response.status_code == 413
    assert "limit" in response.json()["error"]


def test_a_token_past_its_rate_gets_429_with_retry_after(serve_world: dict[str, Any]) -> None:
    statuses = []
    with httpx.Client(headers=_auth(serve_world["tokens"]["burst"])) as client:
        for _ in range(400):
            response = client.get(f"{serve_world['base']}/v1/model")
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
                break
    assert 429 in statuses and statuses[0] == 200


def _push(
    base: str,
    body: dict[str, Any],
    *,
    deliver: str,
    secret: str = JDY_SECRET,
    nonce: str | None = None,
    timestamp: str | None = None,
) -> httpx.Response:
    """A push signed as 简道云 signs it: a new nonce each time unless one is given."""
    payload = json.dumps(body, ensure_ascii=False)
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_hex(8)
    headers = {
        "Content-Type": "application/json",
        "X-JDY-Signature": signature(nonce, payload, secret, timestamp),
    }
    if deliver:
        headers["X-JDY-DeliverId"] = deliver
    return httpx.post(
        f"{base}/hooks/jiandaoyun",
        params={"timestamp": timestamp, "nonce": nonce},
        content=payload.encode("utf-8"),
        headers=headers,
    )


def test_jiandaoyun_push_is_verified_scored_once_and_repeats_are_answered(
    serve_world: dict[str, Any],
) -> None:
    base = serve_world["base"]
    row = _rows(serve_world["data"] / "application_next.csv", 1)[0]
    form = {k: v for k, v in row.items() if k != "客户编号"}
    body = {"op": "data_create", "data": {"_id": "jdy-0001", **form}}
    store = DecisionStore(serve_world["db"])
    before = store.count_decisions()
    first = _push(base, body, deliver="deliver-1")
    assert first.status_code == 200, first.text
    assert first.json()["customer_id"] == "JDY-0001"
    assert first.json()["record_id"] == "jdy-0001"  # as the form has it, for a write-back
    assert "repaired" not in first.json()  # its id, made upper case, is not the form's fault
    again = _push(base, body, deliver="deliver-1")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["decision_id"] == first.json()["decision_id"]
    assert store.count_decisions() == before + 1
    forged = _push(base, body, deliver="deliver-2", secret="not-the-secret")
    assert forged.status_code == 401 and "signature" in forged.json()["error"]
    assert store.count_decisions() == before + 1
    # the same signed push (nonce, timestamp, body) captured and sent again within the
    # freshness window: refused under another deliver id or none, answered under its own
    signed = {"nonce": "c0ffee", "timestamp": str(int(time.time()))}
    body = {"op": "data_create", "data": {"_id": "jdy-0003", **form}}
    assert _push(base, body, deliver="deliver-4", **signed).status_code == 200
    assert _push(base, body, deliver="deliver-4", **signed).json()["duplicate"] is True
    for deliver in ("deliver-5", ""):
        replay = _push(base, body, deliver=deliver, **signed)
        assert replay.status_code == 401 and "a replay" in replay.json()["error"], replay.text
    assert store.count_decisions() == before + 2
    # a form whose fields are all 简道云's own (``_widget_...``): nothing to decide on
    empty = {"op": "data_create", "data": {"_id": "jdy-0002", "_widget_1": "x", "_widget_2": 3}}
    refused = _push(base, empty, deliver="deliver-3")
    assert refused.status_code == 422, refused.text
    assert "names its fields by widget id (_widget_1, _widget_2)" in refused.json()["error"]
    assert "--jdy-profile" in refused.json()["error"]
    assert _push(base, empty, deliver="deliver-3").status_code == 422  # not held as done
    assert store.count_decisions() == before + 2


def test_a_profile_naming_model_fields_in_traditional_characters_is_read(
    tmp_path: Path,
) -> None:
    """A 简道云 profile written by a user of traditional characters (年齡, 地區): the
    service matched such fields in requests, but refused them in the profile."""
    from custrisk.errors import ConfigError
    from custrisk.serve.jiandaoyun import Target, load_profile

    path = tmp_path / "jdy.yaml"
    path.write_text("fields:\n  age_widget: 年齡\n  地區: 地區\n", encoding="utf-8")
    profile = load_profile(path, {"年龄", "地区", "客户编号"})
    assert dict(profile.fields) == {"age_widget": (Target("年龄"),), "地區": (Target("地区"),)}
    path.write_text("fields:\n  x: 年紀\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'年紀' is not an input field of the model"):
        load_profile(path, {"年龄"})


def test_repeated_deliveries_wait_without_holding_the_threads_that_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """简道云 retrying a delivery still being scored: the repeats waited for its answer
    on the executor's threads, which the first delivery needed to be scored, so a handful
    of repeats froze it (and every request) for the whole 30 s wait, then got a 503."""
    import asyncio
    from types import SimpleNamespace

    from custrisk.serve import routes

    monkeypatch.setattr(routes, "DELIVERY_WAIT_SECONDS", 5.0)
    answers: dict[str, dict[str, str]] = {}
    store = SimpleNamespace(
        claim_delivery=lambda _deliver_id: False,  # the first delivery holds the claim
        delivery=answers.get,
    )

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(2))
        state = SimpleNamespace(store=store)
        repeats = [asyncio.create_task(routes._claim_or_wait(state, "d-1")) for _ in range(6)]
        await asyncio.sleep(0.1)
        # the first delivery is scored and answered on a thread of the same executor
        answer = {"decision_id": "abc"}
        await asyncio.wait_for(loop.run_in_executor(None, answers.__setitem__, "d-1", answer), 1)
        return await asyncio.gather(*repeats)

    assert asyncio.run(main()) == [{"decision_id": "abc"}] * 6


#: A 简道云 form record as its data push sends it (the shapes of 简道云's field table):
#: a phone widget, an address, a checkbox group, a member, a department, a multi-select,
#: a sub-form and an image besides the plain numbers.
JDY_FORM = {
    "_id": "65a1b2c3d4e5f60718293a4b",
    "appId": "5f1",
    "entryId": "5f2",
    "_widget_name": NAME,
    "_widget_phone": {"phone": "13812345678", "verified": False},
    "_widget_age": 34,
    "_widget_income": 12000,
    "_widget_dti": 0.28,
    "_widget_addr": {
        "province": "江苏省",
        "city": "无锡市",
        "district": "梁溪区",
        "detail": "清扬路138号",
    },
    "_widget_assets": ["有房产", "有车"],
    "_widget_manager": {"name": "李经理", "username": "li", "status": 1, "type": 0},
    "_widget_dept": {"name": "华东销售部", "dept_no": 3, "type": 0, "status": 1},
    "_widget_tags": ["老客户介绍", "线上"],
    "_widget_items": [{"_id": "r1", "_widget_x": "a"}],
    "_widget_photo": [{"name": "id.png", "size": 2048, "mime": "image/png", "url": "https://f"}],
    "creator": {"name": "李经理", "username": "li", "status": 1, "type": 0},
    "createTime": "2026-12-07T12:00:00.000Z",
}


def test_widgets_that_send_objects_and_lists_are_read_as_the_fields_take_them() -> None:
    """An address, a member, a phone widget or a checkbox group in a 简道云 push was a 422
    ('got an object', 'got a list'), which 简道云 retried with the same values forever."""
    from custrisk.serve.jiandaoyun import Target, widget_value

    form = JDY_FORM
    assert widget_value(form["_widget_addr"], Target("地区")) == ("江苏省无锡市梁溪区", None)
    assert widget_value(form["_widget_addr"], Target("地区", part="province")) == ("江苏省", None)
    location = {**form["_widget_addr"], "lnglatXY": [120.31, 31.49]}  # 定位
    assert widget_value(location, Target("地区", part="city")) == ("无锡市", None)
    assert widget_value(form["_widget_phone"], Target("手机号")) == ("13812345678", None)
    assert widget_value(form["_widget_manager"], Target("x")) == ("李经理", None)
    assert widget_value(form["_widget_dept"], Target("x")) == ("华东销售部", None)
    assert widget_value(form["_widget_tags"], Target("x")) == ("老客户介绍、线上", None)
    assert widget_value(["本科"], Target("学历")) == ("本科", None)  # one ticked: that one
    assert widget_value([], Target("学历")) == (None, None)  # none ticked: blank
    assert widget_value(form["_widget_assets"], Target("有房产", option="有房产")) == (True, None)
    assert widget_value(["有车"], Target("有房产", option="有房产")) == (False, None)
    members = [form["_widget_manager"], {"name": "王五", "username": "w5"}]  # 成员多选
    assert widget_value(members, Target("x", part="username")) == ("li、w5", None)
    for shape in ("_widget_items", "_widget_photo"):  # a sub-form, files: no one value
        value, why = widget_value(form[shape], Target("年龄"))
        assert value is None and why is not None and "not one value" in why
    assert "清扬路" not in repr(widget_value(form["_widget_photo"], Target("年龄")))


def test_a_widget_keyed_by_personal_data_is_named_masked() -> None:
    """An object keyed by a phone, ID number or e-mail, and a form field named by one
    (no profile), were echoed in clear in the 200 answer's error and the service log."""
    from custrisk.serve.jiandaoyun import Target, identity_profile, widget_value

    hostile = {"13812345678": "x", "110101199003071234": 1, "a@b.com": 2}
    for value in (hostile, [hostile]):
        _, why = widget_value(value, Target("年龄", option="y" if value is not hostile else None))
        assert why is not None and "138****5678" in why and "110***********1234" in why
        assert "13812345678" not in why and "a@b.com" not in why
    pushed = identity_profile().read({"13812345678": "x", "年龄": 30}, knows={"年龄"}.__contains__)
    assert pushed.ignored == ["138****5678"] and pushed.values == {"年龄": 30}


def test_a_profile_reads_a_widgets_part_or_option_and_refuses_an_unknown_part(
    tmp_path: Path,
) -> None:
    from custrisk.errors import ConfigError
    from custrisk.serve.jiandaoyun import Target, load_profile

    path = tmp_path / "jdy.yaml"
    path.write_text(
        "fields:\n  _widget_addr: {field: 地区, part: province}\n"
        "  _widget_assets:\n    - {field: 有房产, option: 有房产}\n    - 学历\n",
        encoding="utf-8",
    )
    profile = load_profile(path, {"地区", "有房产", "学历"})
    assert profile.fields["_widget_addr"] == (Target("地区", part="province"),)
    assert profile.fields["_widget_assets"] == (Target("有房产", option="有房产"), Target("学历"))
    path.write_text("fields:\n  _widget_addr: {field: 地区, part: provice}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key 'fields._widget_addr.part'.*allowed values"):
        load_profile(path, {"地区"})


def _jdy_push(client: Any, data: dict[str, Any], deliver: str, op: Any = "data_create") -> Any:
    body = json.dumps({"op": op, "data": data}, ensure_ascii=False)
    stamp, nonce = str(int(time.time())), secrets.token_hex(4)
    return client.post(
        "/hooks/jiandaoyun",
        params={"timestamp": stamp, "nonce": nonce},
        content=body.encode("utf-8"),
        headers={
            "Content-Type": "application/json",
            "X-JDY-Signature": signature(nonce, body, JDY_SECRET, stamp),
            "X-JDY-DeliverId": deliver,
        },
    )


def test_a_push_with_object_widgets_is_scored_and_one_it_cannot_read_is_not_retried(
    serve_world: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from custrisk.serve.app import create_app
    from custrisk.serve.settings import ServeSettings

    monkeypatch.setenv("CUSTRISK_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("CUSTRISK_JDY_SECRET", JDY_SECRET)
    profile = tmp_path / "jdy.yaml"
    profile.write_text(
        "fields:\n  _widget_name: 姓名\n  _widget_phone: 手机号\n  _widget_age: 年龄\n"
        "  _widget_income: 月收入\n  _widget_dti: 负债收入比\n  _widget_addr: 地区\n"
        "  _widget_assets: {field: 有房产, option: 有房产}\n",
        encoding="utf-8",
    )
    settings = ServeSettings(
        model="application",
        models_dir=serve_world["models"],
        db=tmp_path / "d.db",
        access_log=None,
        jdy_profile=profile,
    )
    with TestClient(create_app(settings)) as client:
        store = client.app.state.service.store
        scored = _jdy_push(client, JDY_FORM, "d-objects")
        assert scored.status_code == 200, scored.text
        assert "repaired" not in scored.json() and "ignored" not in scored.json()
        stored = store.get_decision(scored.json()["decision_id"])["inputs_masked"]
        assert stored["地区"] == "江苏省无锡市梁溪区" and stored["有房产"] is True
        assert stored["手机号"] == "138****5678" and "清扬路" not in json.dumps(stored)
        # a sub-form mapped to a field the model scores on: 200 (简道云 retries anything
        # else, with the same values), not scored, said in the log
        profile.write_text("fields:\n  _widget_items: 年龄\n  _widget_income: 月收入\n")
        client.app.state.service.profile = _profile_of(client, profile)
        refused = _jdy_push(client, JDY_FORM, "d-subform")
        assert refused.status_code == 200, refused.text
        answer = refused.json()
        assert answer["scored"] is False and "decision_id" not in answer
        assert "年龄, which the model scores on" in answer["error"]
        assert answer["problems"][0]["field"] == "年龄"
        assert "not scored" in caplog.text and "d-subform" in caplog.text
        assert store.count_decisions() == 1
        # an op it does not take is named short and masked (answer and access log)
        ignored = _jdy_push(client, JDY_FORM, "d-op", op={"x": "13812345678" + "z" * 10**5})
        assert ignored.status_code == 200 and ignored.json()["ignored"] is True
        assert "13812345678" not in ignored.text and len(ignored.text) < 200


def test_a_push_whose_record_is_rejected_is_answered_200_not_scored_and_not_retried(
    serve_world: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A record the cleaner rejects was a 422, which 简道云 retries with the same record
    forever; a form the profile does not map stays a 422 (a profile fix lets the retry in)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from custrisk.serve.app import create_app
    from custrisk.serve.settings import ServeSettings

    monkeypatch.setenv("CUSTRISK_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("CUSTRISK_JDY_SECRET", JDY_SECRET)
    profile = tmp_path / "jdy.yaml"
    profile.write_text(
        "fields:\n  _widget_phone: 手机号\n  _widget_age: 年龄\n  _widget_income: 月收入\n",
        encoding="utf-8",
    )
    settings = ServeSettings(
        model="application",
        models_dir=serve_world["models"],
        db=tmp_path / "d.db",
        access_log=None,
        jdy_profile=profile,
    )
    with TestClient(create_app(settings)) as client:
        store = client.app.state.service.store
        pushes = {
            "d-nul": ({**JDY_FORM, "_id": "jdy\x00-1"}, "control character"),
            "d-sci": ({**JDY_FORM, "_id": "6.22848E+17"}, "scientific notation"),
            "d-blank": (
                {**JDY_FORM, "_widget_age": None, "_widget_income": ""},
                "no value the model scores on",
            ),
        }
        for deliver, (form, why) in pushes.items():
            answer = _jdy_push(client, form, deliver)
            assert answer.status_code == 200, answer.text
            assert answer.json()["scored"] is False and "decision_id" not in answer.json()
            assert why in answer.json()["error"] and answer.json()["problems"]
            assert "13812345678" not in answer.text + caplog.text
            assert f"简道云 push {deliver} " in caplog.text
        assert caplog.text.count("d-sci") == 1 and "\x00" not in caplog.text
        assert _jdy_push(client, pushes["d-sci"][0], "d-sci").status_code == 200  # a retry
        # a form the profile does not map: the profile is fixed, then the retry scores it
        other = {"_id": "jdy-x", "_widget_9": 30}
        refused = _jdy_push(client, other, "d-other")
        assert refused.status_code == 422 and "--jdy-profile" in refused.json()["error"]
        assert store.count_decisions() == 0


def _profile_of(client: Any, path: Path) -> Any:
    from custrisk.serve.jiandaoyun import load_profile

    scorer = client.app.state.service.scorer
    return load_profile(path, {f.header for f in scorer.fields})


def test_a_push_without_a_profile_leaves_other_widgets_out_and_names_them(
    serve_world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form whose fields have the model's names as aliases (简道云 aliases are lower-case
    ASCII: custrisk's names, GET /v1/model) and other widgets besides: those were 'unknown
    field' 422s, retried forever."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from custrisk.serve.app import create_app
    from custrisk.serve.settings import ServeSettings

    monkeypatch.setenv("CUSTRISK_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("CUSTRISK_JDY_SECRET", JDY_SECRET)
    settings = ServeSettings(
        model="application", models_dir=serve_world["models"], db=tmp_path / "d.db", access_log=None
    )
    form = {
        "_id": "jdy-alias-1",
        "col4": 41,
        "region": {"province": "江苏省", "city": "无锡市", "district": "梁溪区"},
        "annual_income": 9000,
        "manager": JDY_FORM["_widget_manager"],
        "remark": "老客户",
    }
    with TestClient(create_app(settings)) as client:
        refused = _jdy_push(client, form, "d-alias-1")  # 月收入's name: read × 12, so refused
        assert refused.status_code == 422 and "annual_income" in refused.json()["error"]
        del form["annual_income"]
        answer = _jdy_push(client, form, "d-alias-2")
        assert answer.status_code == 200, answer.text
        assert [i["field"] for i in answer.json()["ignored"]] == ["manager", "remark"]
        assert "老客户" not in answer.text and "李经理" not in answer.text


def test_a_push_without_a_profile_leaves_jiandaoyuns_own_fields_out() -> None:
    from custrisk.serve.jiandaoyun import identity_profile

    pushed = {
        "_id": "jdy-9",
        "_widget_1": 3,
        "appId": "5e8",
        "entryId": "5e9",
        "creator": {"name": "张三", "username": "zs"},
        "updater": {"name": "张三"},
        "deleter": None,
        "createTime": "2026-12-07T12:00:00.000Z",
        "updateTime": "2026-12-07T12:00:00.000Z",
        "deleteTime": None,
        "年龄": 30,
    }
    assert identity_profile().record(pushed) == ({"年龄": 30}, "jdy-9")


def test_a_field_named_with_personal_data_is_stored_under_its_masked_name() -> None:
    """A flat table's header 紧急联系人13812345678 is the model's field (matched to the
    masked header it keeps): a request sent under it was stored with the name in clear."""
    from custrisk.serve.state import _masked

    header = "紧急联系人13812345678"
    stored = _masked({header: "13812345678", "年龄": 30}, {header})
    assert stored == {"紧急联系人138****5678": "138****5678", "年龄": 30}


def test_personal_data_in_other_fields_is_stored_masked(serve_world: dict[str, Any]) -> None:
    """A phone sent as the region, an age that does not parse with a phone in it, an
    e-mail as the income, a phone as a field's name: the decisions store kept them in
    clear in inputs_masked and in the answer's repaired values, and the access log
    named the field in clear."""
    record = {"客户编号": "NEW0042", "年龄": "三十 13833334444", "地区": "请致电13844445555"}
    record["月收入"] = "abc wang@example.cn"
    auth = _auth(serve_world["tokens"]["crm"])
    response = httpx.post(f"{serve_world['base']}/v1/score", json=record, headers=auth)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert {r["field"] for r in answer["repaired"]} == {"年龄", "地区", "月收入"}
    bad = httpx.post(f"{serve_world['base']}/v1/score", json={"13855556666": 1}, headers=auth)
    assert bad.status_code == 422
    _wait_stored(serve_world, answer["decision_id"])
    shown = _cli(
        "decisions", "show", answer["decision_id"], "--db", str(serve_world["db"]),
        cwd=serve_world["root"],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert stored["inputs_masked"]["地区"] == "请致电138****5555"
    assert stored["inputs_masked"]["年龄"] == "三十 138****4444"
    said = shown.stdout + json.dumps(answer, ensure_ascii=False)
    for value in ("13833334444", "13844445555", "wang@example.cn"):
        assert value not in said
    access = serve_world["root"] / "serve" / "access.jsonl"
    deadline = time.monotonic() + 5
    while "138****6666" not in access.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, "the 422 is not in the access log"
        time.sleep(0.02)
    assert "13855556666" not in access.read_text(encoding="utf-8")


def test_a_declined_customer_is_sent_to_the_webhook_without_personal_data(
    serve_world: dict[str, Any],
) -> None:
    record = {
        "姓名": NAME,
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
    response = httpx.post(
        f"{serve_world['base']}/v1/score", json=record, headers=_auth(serve_world["tokens"]["ops"])
    )
    answer = response.json()
    assert answer["decision"] == "decline", answer
    receiver = serve_world["receiver"]
    deadline = time.monotonic() + 20
    while not any(
        m.get("decision", {}).get("decision_id") == answer["decision_id"] for m in receiver.received
    ):
        assert time.monotonic() < deadline, "no notification arrived"
        time.sleep(0.1)
    sent = next(
        m
        for m in receiver.received
        if m.get("decision", {}).get("decision_id") == answer["decision_id"]
    )
    assert sent["event"] == "high_risk_decision" and sent["decision"]["score"] == answer["score"]
    # and through the run's channels (--notify-config): a WeCom markdown message, red
    decision = answer["decision_id"]
    while not any(decision in str(m.get("markdown", {}).get("content")) for m in receiver.received):
        assert time.monotonic() < deadline + 20, "no robot message arrived"
        time.sleep(0.1)
    robot = next(
        m for m in receiver.received if decision in str(m.get("markdown", {}).get("content"))
    )
    content = robot["markdown"]["content"]
    assert "新客户申请拒绝" in content and f"评分 {answer['score']}" in content
    raw = b"".join(receiver.raw).decode("utf-8")
    assert NAME not in raw and "13812345678" not in raw


def test_a_reload_under_load_switches_model_without_a_failed_request(
    serve_world: dict[str, Any],
) -> None:
    base = serve_world["base"]
    rows = _rows(serve_world["data"] / "application_next.csv", 40)
    old = os.environ.get("CUSTRISK_SIGNING_KEY")
    os.environ["CUSTRISK_SIGNING_KEY"] = SIGNING_KEY
    try:  # a new version of the model, trained while the service runs
        train_table(
            serve_world["data"] / "application.csv",
            "违约",
            name="application",
            models_dir=serve_world["models"],
            algorithm="tree",
        )
    finally:
        if old is None:
            os.environ.pop("CUSTRISK_SIGNING_KEY")
    failures: list[str] = []
    models_seen: set[str] = set()
    stop = threading.Event()
    answered = [threading.Event() for _ in range(4)]

    def load(token: str, first: threading.Event) -> None:
        with httpx.Client(headers=_auth(token), timeout=30) as client:
            i = 0
            while not stop.is_set():
                response = client.post(f"{base}/v1/score", json=rows[i % len(rows)])
                i += 1
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:100]}")
                else:
                    models_seen.add(response.json()["model_id"])
                first.set()
                time.sleep(0.03)

    threads = [
        threading.Thread(target=load, args=(serve_world["tokens"][f"load{n}"], answered[n]))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    try:
        # the reload comes under load: once each of the four clients has had an answer
        assert all(event.wait(60) for event in answered), "the load did not start"
        reload = httpx.post(
            f"{base}/admin/reload", headers=_auth(serve_world["tokens"]["ops"]), timeout=120
        )
        assert reload.status_code == 200, reload.text
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert reload.json()["model_id"] == "application@2"
    assert not failures, failures[:3]
    assert "application@2" in models_seen
    serve_world["process"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while httpx.get(f"{base}/readyz").json()["reloads"] < 2:
        assert time.monotonic() < deadline, "SIGHUP did not reload"
        time.sleep(0.2)
    assert httpx.get(f"{base}/readyz").json()["model_id"] == "application@2"


def test_tokens_are_stored_hashed_and_listed_without_the_secret(
    serve_world: dict[str, Any],
) -> None:
    listed = _cli("serve-token", "list", "--db", str(serve_world["db"]), cwd=serve_world["root"])
    assert listed.exit_code == 0 and "crm" in listed.stdout
    secret = serve_world["tokens"]["crm"]
    assert secret not in listed.stdout
    for stored in serve_world["db"].parent.glob("decisions.db*"):  # with the WAL
        assert secret.encode() not in stored.read_bytes()
    assert (
        hashlib.sha256(secret.encode()).hexdigest()
        in DecisionStore(serve_world["db"]).active_tokens()
    )
    bad = _cli(
        "serve-token",
        "new",
        "x",
        "--scope",
        "root",
        "--db",
        str(serve_world["db"]),
        cwd=serve_world["root"],
    )
    assert bad.exit_code == 2 and "--scope must be one of score, admin" in bad.stderr


def test_revoking_a_revoked_token_or_the_token_itself_says_so(tmp_path: Path) -> None:
    """'no active token with id ...' for a token revoked already (it is listed) and for
    the token pasted in place of its id, which the message then printed in clear."""
    db = str(tmp_path / "d.db")
    store = DecisionStore(db)
    secret, info = store.create_token("crm", ["score"])
    store.close()
    pasted = _cli("serve-token", "revoke", secret, "--db", db, cwd=tmp_path)
    assert pasted.exit_code == 2 and secret not in pasted.stderr
    assert f"the token itself, not its id; its id is {info.token_id} (crm)" in pasted.stderr
    assert _cli("serve-token", "revoke", info.token_id, "--db", db, cwd=tmp_path).exit_code == 0
    again = _cli("serve-token", "revoke", info.token_id, "--db", db, cwd=tmp_path)
    assert again.exit_code == 2
    assert f"token {info.token_id} (crm) was revoked already, at 20" in again.stderr
    unknown = _cli("serve-token", "revoke", "abcd1234", "--db", db, cwd=tmp_path)
    assert unknown.exit_code == 2 and "no active token with id 'abcd1234'" in unknown.stderr
    # the revoked token's secret pasted, or another store's: still never echoed
    revoked = _cli("serve-token", "revoke", secret, "--db", db, cwd=tmp_path)
    assert revoked.exit_code == 2 and secret not in revoked.stderr
    assert f"its id is {info.token_id} (crm), revoked already" in revoked.stderr
    other = "crk_0badc0de_" + "x" * 43
    foreign = _cli("serve-token", "revoke", other, "--db", db, cwd=tmp_path)
    assert foreign.exit_code == 2 and other not in foreign.stderr
    assert "no token id of this store" in foreign.stderr


def test_a_decision_stored_by_an_earlier_release_reads_masked(tmp_path: Path) -> None:
    """Before 2026-12 the store kept a field name holding a phone (a flat table's header
    紧急联系人13812345678), a phone sent in a text field not flagged as personal data,
    and a reason label holding an e-mail in clear: decisions show/list read them masked."""
    store = DecisionStore(tmp_path / "d.db")
    label = "经理wang.li@bank.cn评分"
    store.add_decisions(
        [
            {
                "decision_id": "d" * 32,
                "created_at": "2026-11-30T10:00:00.000+00:00",
                "caller": "abcd1234",
                "channel": "api",
                "input_fingerprint": "f" * 64,
                "inputs_masked": {
                    "紧急联系人13812345678": "138****5678",
                    "备注": "请致电13912345678",
                    "年龄": 30,
                },
                "outputs": {
                    "model_id": "flat@1",
                    "customer_id": "N1",
                    "reasons": [{"code": "col3", "label": label, "value": "1"}],
                },
            }
        ]
    )
    shown = json.dumps([store.get_decision("d" * 32), *store.list_decisions()], ensure_ascii=False)
    store.close()
    for clear in ("13812345678", "13912345678", "wang.li@"):
        assert clear not in shown, clear
    assert '"紧急联系人138****5678": "138****5678"' in shown and '"年龄": 30' in shown


def test_a_model_trained_on_exports_is_refused_with_the_fix(models_200: Path) -> None:
    from custrisk.errors import UsageError
    from custrisk.scoring.records import RecordScorer

    with pytest.raises(UsageError, match="trained on monthly exports.*flat table"):
        RecordScorer("logistic", models_dir=models_200)


def test_decisions_are_kept_in_postgresql(postgres_cluster: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(postgres_cluster["admin"], autocommit=True) as connection:
        connection.execute("CREATE DATABASE decisions")
    url = (
        postgres_cluster["admin"]
        .replace("postgresql://", "postgresql+psycopg://")
        .replace("/postgres", "/decisions")
    )
    store = DecisionStore(url)
    secret, info = store.create_token("crm", ["score"])
    assert store.active_tokens()[hashlib.sha256(secret.encode()).hexdigest()].name == "crm"
    outputs = {
        "model_id": "application@1",
        "customer_id": "C1",
        "pd": 0.1,
        "score": 550,
        "grade": "D",
        "decision": "review",
    }
    store.add_decisions(
        [
            {
                "decision_id": "d1",
                "created_at": "2026-12-01T00:00:00",
                "caller": info.token_id,
                "channel": "api",
                "input_fingerprint": "0" * 64,
                "inputs_masked": {"姓名": "张**"},
                "outputs": outputs,
            }
        ]
    )
    assert store.get_decision("d1")["inputs_masked"] == {"姓名": "张**"}
    assert store.add_delivery("x1", {"decision_id": "d2"}, []) is True
    assert store.add_delivery("x1", {"decision_id": "d3"}, []) is False
    assert store.delivery("x1") == {"decision_id": "d2"}
    # an Idempotency-Key's claim, a second claim and the answer, as on SQLite
    assert store.claim_idempotency("t1", "k", "p") == ("claimed", None)
    assert store.claim_idempotency("t1", "k", "p") == ("busy", None)
    assert store.complete_idempotency("t1", "k", {"decision_id": "d4"}, [])
    assert store.claim_idempotency("t1", "k", "p") == ("replay", {"decision_id": "d4"})
    assert store.unwritable() is None
    counts = {"decisions": 1, "deliveries": 0, "idempotency_keys": 0, "masked": 0}
    assert store.forget_customer("c1") == counts
    store.close()


def test_a_port_in_use_is_one_line_before_anything_is_announced(tmp_path: Path) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        done = _cli(
            "serve",
            "--model",
            "application",
            "--models-dir",
            str(tmp_path),
            "--port",
            str(port),
            cwd=tmp_path,
        )
    assert done.exit_code == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "pick another with --port" in done.stderr
    assert "custrisk serve:" not in done.stderr  # never "serving" before the bind failed


@pytest.mark.parametrize(
    "option", [("--max-body", "0"), ("--max-batch", "0"), ("--rate", "-5"), ("--burst", "0")]
)
def test_a_limit_that_would_refuse_every_request_is_refused_at_start(
    tmp_path: Path, option: tuple[str, str]
) -> None:
    done = _cli("serve", "--model", "application", *option, cwd=tmp_path)
    assert done.exit_code == 2 and option[0] in done.stderr, done.stderr


def test_the_access_log_notes_where_records_failed_never_their_values(
    serve_world: dict[str, Any],
) -> None:
    # two ids that normalise alike: the answer quotes both, the access log neither
    records = [{"客户编号": "zq900001", "年龄": 30}, {"客户编号": "ZQ900001", "年龄": 40}]
    response = httpx.post(
        f"{serve_world['base']}/v1/score",
        json={"records": records},
        headers=_auth(serve_world["tokens"]["ops"]),
    )
    assert response.status_code == 422 and "zq900001" in response.text
    request_id = response.headers["X-Request-Id"]
    access = serve_world["root"] / "serve" / "access.jsonl"
    deadline = time.monotonic() + 10
    while request_id not in access.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, "the call was not logged"
        time.sleep(0.02)
    line = next(x for x in access.read_text(encoding="utf-8").splitlines() if request_id in x)
    assert "900001" not in line
    assert "record 0 field '客户编号'" in json.loads(line)["note"]


@pytest.mark.parametrize(
    ("method", "path", "status", "said"),
    [("GET", "/status", 404, "no endpoint GET /status"), ("GET", "/v1/score", 405, "POST")],
)
def test_an_unknown_path_or_method_is_answered_in_json(
    serve_world: dict[str, Any], method: str, path: str, status: int, said: str
) -> None:
    response = httpx.request(method, f"{serve_world['base']}{path}")
    assert response.status_code == status
    assert said in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"records": []}, "no record to score: send a JSON object"),
        ([], "no record to score"),
        ({}, "record 0: the record gives no value the model scores on"),  # not "field ''"
    ],
)
def test_a_request_without_a_record_to_score_says_so(
    serve_world: dict[str, Any], body: Any, said: str
) -> None:
    response = httpx.post(
        f"{serve_world['base']}/v1/score", json=body, headers=_auth(serve_world["tokens"]["ops"])
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith(said), response.text


def test_a_failed_reload_by_post_is_logged_and_the_old_model_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio
    from types import SimpleNamespace

    from custrisk.errors import ModelArtifactError
    from custrisk.serve.request import Call
    from custrisk.serve.routes import reload_route

    def reload() -> None:
        raise ModelArtifactError("models/application/3/model.json: signature check failed")

    state = SimpleNamespace(reload=reload, scorer=SimpleNamespace(model_id="application@2"))
    call = Call("r1")
    with pytest.raises(ModelArtifactError):
        asyncio.run(reload_route(state, None, call))  # type: ignore[arg-type]
    assert "still serving application@2: models/application/3/model.json" in caplog.text
    assert call.note == "reload failed, still serving application@2"


def test_a_webhook_that_gives_up_names_the_decision_and_why(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custrisk.serve import webhook

    monkeypatch.setattr(webhook.time, "sleep", lambda _s: None)
    port = free_port()  # nothing listens there: connection refused
    notify = webhook.generic_webhook_notifier(f"http://127.0.0.1:{port}/hook?key=SECRET")
    notify({"decision_id": "d-77", "decision": "decline"})
    assert "gave up on decision d-77 after 3 attempts" in caplog.text
    assert "refused" in caplog.text.lower() and "SECRET" not in caplog.text


@pytest.mark.parametrize(
    "command", [("decisions", "list"), ("decisions", "show", "abcdef12"), ("serve-token", "list")]
)
def test_reading_a_decisions_store_that_is_not_there_says_so(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    db = tmp_path / "serve" / "decisions.db"  # the wrong folder: no service ever ran here
    done = _cli(*command, "--db", str(db), cwd=tmp_path)
    assert done.exit_code == 2
    assert "no decisions store at" in done.stderr and "--db" in done.stderr
    assert not db.exists()  # not created empty, to show no decision and no token
    made = _cli("serve-token", "new", "crm", "--db", str(db), cwd=tmp_path)
    assert made.exit_code == 0 and f"stored hashed in sqlite:///{db}" in made.stderr


def test_a_notification_channel_whose_variable_is_unset_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custrisk.errors import ConfigError
    from custrisk.serve.webhook import channel_notifier

    config = tmp_path / "run.yaml"
    config.write_text(
        "notifications:\n  channels:\n    wecom: {type: wecom, url_env: NO_SUCH_WECOM_URL}\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("NO_SUCH_WECOM_URL", raising=False)
    with pytest.raises(ConfigError, match=r"wecom\.url_env \(NO_SUCH_WECOM_URL\)"):
        channel_notifier(config)
    monkeypatch.setenv("NO_SUCH_WECOM_URL", "http://127.0.0.1:9/wecom")
    assert callable(channel_notifier(config))


def test_a_high_risk_decision_goes_to_the_webhook_then_the_channels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--notify-webhook and --notify-config together: each decision to both, in that
    order; neither: no notifier."""
    from custrisk.serve import webhook

    sent: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        webhook, "generic_webhook_notifier", lambda url: lambda d: sent.append((url, d))
    )
    monkeypatch.setattr(webhook, "channel_notifier", lambda c: lambda d: sent.append((c, d)))
    assert webhook.high_risk_notifier(None, None) is None
    notify = webhook.high_risk_notifier("http://hook", "run.yaml")
    assert notify is not None
    notify({"decision": "decline"})
    assert sent == [("http://hook", {"decision": "decline"}), ("run.yaml", {"decision": "decline"})]


def test_the_decisions_listed_are_of_a_known_outcome_and_a_limit_from_0(tmp_path: Path) -> None:
    """decisions list --decision maybe, --limit -1: a usage error naming the option."""
    from custrisk.errors import UsageError
    from custrisk.serve.store import check_decision_filters

    check_decision_filters(limit=1, decision="decline")
    with pytest.raises(UsageError, match=r"--decision must be one of approve, review, decline"):
        check_decision_filters(limit=1, decision="maybe")
    with pytest.raises(UsageError, match=r"--limit must be 0 \(all\) or more; got -1"):
        DecisionStore(tmp_path / "d.db").list_decisions(limit=-1)


def test_a_body_of_thousands_of_bad_fields_is_answered_with_the_first_hundred(
    serve_world: dict[str, Any],
) -> None:
    response = httpx.post(
        f"{serve_world['base']}/v1/score",
        json={f"bad{i}": 1 for i in range(5000)},
        headers=_auth(serve_world["tokens"]["ops"]),
    )
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert len(problems) == 101 and problems[0]["field"] == "bad0"
    assert problems[-1]["problem"] == "more problems not listed: these are the first 100"


def test_a_refused_duplicate_does_not_claim_a_record_was_kept(serve_world: dict[str, Any]) -> None:
    records = [{"客户编号": "KP1", "年龄": 30}, {"客户编号": "KP1", "年龄": 40}]
    response = httpx.post(
        f"{serve_world['base']}/v1/score",
        json={"records": records},
        headers=_auth(serve_world["tokens"]["ops"]),
    )
    assert response.status_code == 422  # neither is scored: the request is refused whole
    assert "kept" not in response.text and "row" not in response.text


# Idempotency-Key, schema, readiness, metrics ----------------------------------------

IDEM_RECORD = {"年龄": 41, "地区": "华北", "月收入": 9000, "负债收入比": 0.4}


def _score(
    serve_world: dict[str, Any], body: Any, key: str | bytes | None, token: str = "crm"
) -> Any:
    headers: dict[str, Any] = _auth(serve_world["tokens"][token])
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(f"{serve_world['base']}/v1/score", json=body, headers=headers, timeout=30)


def _stored_for(serve_world: dict[str, Any], customer: str) -> list[dict[str, Any]]:
    store = DecisionStore(serve_world["db"])
    try:
        return [d for d in store.list_decisions(limit=10_000) if d["customer_id"] == customer]
    finally:
        store.close()


def test_a_retry_with_the_same_idempotency_key_gets_the_stored_decision(
    serve_world: dict[str, Any],
) -> None:
    key = secrets.token_hex(8)
    body = {"客户编号": "IDEM0001", **IDEM_RECORD}
    first = _score(serve_world, body, key)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    _wait_stored(serve_world, first.json()["decision_id"])
    # the CRM timed out and sends it again (its JSON may order the keys otherwise)
    again = _score(serve_world, dict(reversed(list(body.items()))), key)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert [d["decision_id"] for d in _stored_for(serve_world, "IDEM0001")] == [
        first.json()["decision_id"]
    ]
    # the same key with another body is refused, saying why; nothing is scored
    other = _score(serve_world, {**body, "年龄": 42}, key)
    assert other.status_code == 422 and "different body" in other.json()["error"]
    assert key not in other.text  # nor in the access log's note: a key may hold an id
    # keys are the caller's: another token's same key is a request of its own
    theirs = _score(serve_world, body, key, token="load0")
    assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["decision_id"] != first.json()["decision_id"]
    # a batch is replayed whole
    batch = {
        "records": [
            {"客户编号": "IDEM0002", **IDEM_RECORD},
            {"客户编号": "IDEM0003", **IDEM_RECORD},
        ]
    }
    key2 = secrets.token_hex(8)
    ids = [d["decision_id"] for d in _score(serve_world, batch, key2).json()["decisions"]]
    replay = _score(serve_world, batch, key2)
    assert [d["decision_id"] for d in replay.json()["decisions"]] == ids
    assert replay.headers["idempotent-replayed"] == "true"


def test_a_refused_keyed_request_may_be_corrected_under_the_same_key(
    serve_world: dict[str, Any],
) -> None:
    key = secrets.token_hex(8)
    bad = _score(serve_world, {"客户编号": "IDEM0010", "年龄x": 41}, key)
    assert bad.status_code == 422 and "unknown field" in bad.json()["error"]
    fixed = _score(serve_world, {"客户编号": "IDEM0010", **IDEM_RECORD}, key)
    assert fixed.status_code == 200 and "idempotent-replayed" not in fixed.headers
    for wrong in ("", "x" * 256, "a key", "clé".encode()):
        answer = _score(serve_world, IDEM_RECORD, wrong)
        assert answer.status_code == 400 and "Idempotency-Key" in answer.json()["error"]


def test_concurrent_requests_with_one_key_store_one_decision(serve_world: dict[str, Any]) -> None:
    key = secrets.token_hex(8)
    body = {"客户编号": "IDEM0020", **IDEM_RECORD}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _score(serve_world, body, key), range(6)))
    assert {a.status_code for a in answers} <= {200, 409}
    ids = {a.json()["decision_id"] for a in answers if a.status_code == 200}
    assert len(ids) == 1
    for busy in (a for a in answers if a.status_code == 409):
        assert busy.headers["retry-after"] == "1" and "still being answered" in busy.json()["error"]
    _wait_stored(serve_world, ids.pop())
    assert len(_stored_for(serve_world, "IDEM0020")) == 1


def test_a_second_claim_of_a_key_waits_for_the_first_answer(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "d.db")
    try:
        assert store.claim_idempotency("t1", "k", "print") == ("claimed", None)
        assert store.claim_idempotency("t1", "k", "print") == ("busy", None)
        assert store.claim_idempotency("t1", "k", "other") == ("mismatch", None)
        assert store.claim_idempotency("t2", "k", "other") == ("claimed", None)
        # a claim whose worker died is taken over after a while
        assert store.claim_idempotency("t1", "k", "print", stale_after=-1) == ("claimed", None)
        assert store.complete_idempotency("t1", "k", {"decision_id": "d1"}, [])
        assert store.claim_idempotency("t1", "k", "print") == ("replay", {"decision_id": "d1"})
        # kept for a day, then forgotten
        assert store.claim_idempotency("t1", "k", "print", keep=-1) == ("claimed", None)
    finally:
        store.close()


def test_the_schema_says_a_record_may_leave_its_id_out_and_answers_match_back(
    serve_world: dict[str, Any],
) -> None:
    base, token = serve_world["base"], serve_world["tokens"]["crm"]
    fields = {
        f["field"]: f for f in httpx.get(f"{base}/v1/model", headers=_auth(token)).json()["fields"]
    }
    assert fields["客户编号"]["required"] is False  # a record without one is scored
    spec = httpx.get(f"{base}/openapi.json").json()
    described = spec["components"]["schemas"]["Record"]["properties"]["客户编号"]["description"]
    assert described.startswith("id, optional: a record without one (or with it empty)")
    batch = {
        "records": [
            {"客户编号": " crm-7", **IDEM_RECORD},
            {"客户编号": "CRM8", **IDEM_RECORD},
            IDEM_RECORD,
        ]
    }
    answers = _score(serve_world, batch, None).json()["decisions"]
    # an id the service normalises is answered as sent too, for the CRM to match it back
    assert answers[0]["customer_id"] == "CRM-7" and answers[0]["record_id"] == " crm-7"
    assert answers[1]["customer_id"] == "CRM8" and "record_id" not in answers[1]
    # without an id, the customer id is the decision id in upper case; both find it
    bare = answers[2]
    assert bare["customer_id"] == bare["decision_id"].upper() and "record_id" not in bare
    # an id sent empty (a web form's blank input) is no id either, not a 422 saying
    # "required value is blank" of a field GET /v1/model calls optional
    for blank in ("", "  "):
        answer = _score(serve_world, {"客户编号": blank, **IDEM_RECORD}, None).json()
        assert answer.get("customer_id") == answer["decision_id"].upper(), answer
        assert "record_id" not in answer
    _wait_stored(serve_world, bare["decision_id"])
    shown = _cli(
        "decisions",
        "show",
        bare["customer_id"],
        "--db",
        str(serve_world["db"]),
        cwd=serve_world["root"],
    )
    assert shown.exit_code == 0 and json.loads(shown.stdout)["decision_id"] == bare["decision_id"]


@pytest.fixture
def in_process(serve_world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service in this process (Starlette's test client) on a store of its own."""
    import warnings

    with warnings.catch_warnings():  # Starlette would have httpx2; httpx does the same here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from custrisk.serve.app import create_app
    from custrisk.serve.settings import ServeSettings

    monkeypatch.setenv("CUSTRISK_SIGNING_KEY", SIGNING_KEY)
    settings = ServeSettings(
        model="application", models_dir=serve_world["models"], db=tmp_path / "d.db", access_log=None
    )
    store = DecisionStore(settings.db)
    token = store.create_token("crm", ["score"])[0]
    store.close()
    with TestClient(create_app(settings)) as client:
        client.token = token
        yield client


def test_readiness_says_when_decisions_cannot_be_stored(
    in_process: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import custrisk.serve.store as store_module

    assert in_process.get("/readyz").json()["status"] == "ready"
    store = in_process.app.state.service.store
    with store.engine.connect() as conn:  # the store's one connection turns read-only
        conn.exec_driver_sql("PRAGMA query_only=1")
    answer = in_process.get("/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "not ready"
    assert "cannot be written" in answer.json()["reason"] and "readonly" in answer.json()["reason"]
    # a keyed request is not scored: its decision would not be kept; retried, it is
    keyed = {**_auth(in_process.token), "Idempotency-Key": "k-read-only"}
    refused = in_process.post("/v1/score", json=IDEM_RECORD, headers=keyed)
    assert refused.status_code == 503 and "retry later with the same key" in refused.json()["error"]
    # a decision answered meanwhile waits to be stored: not ready until it is
    answered = in_process.post("/v1/score", json=IDEM_RECORD, headers=_auth(in_process.token))
    assert answered.status_code == 200
    writer = in_process.app.state.service.writer
    deadline = time.monotonic() + 10
    while writer.failing is None:
        assert time.monotonic() < deadline, "the failed write was not noticed"
        time.sleep(0.02)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA query_only=0")
    waiting = in_process.get("/readyz").json()
    assert (
        waiting["status"] == "not ready" and "1 decision(s) wait to be stored" in waiting["reason"]
    )
    while in_process.get("/readyz").status_code != 200:  # the check retried the write
        assert time.monotonic() < deadline, "the waiting decision was never stored"
        time.sleep(0.02)
    assert store.get_decision(answered.json()["decision_id"]) is not None
    # the log that said they cannot be stored says when they are (not only /readyz)
    assert "cannot store 1 decision(s) (will retry)" in caplog.text
    assert "can be written again: the 1 decision(s) that waited are stored" in caplog.text
    assert in_process.post("/v1/score", json=IDEM_RECORD, headers=keyed).status_code == 200
    full = store_module.shutil.disk_usage(".")._replace(free=2**20)
    monkeypatch.setattr(store_module.shutil, "disk_usage", lambda _path: full)
    answer = in_process.get("/readyz")
    assert answer.status_code == 503 and "1.0 MiB free" in answer.json()["reason"]


def test_a_store_outage_is_logged_once_a_minute_and_a_loss_says_what_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each readiness check and request logged `cannot store N decision(s)` again, and
    a stop said only `N decision(s) not stored at shutdown`: not where, nor which."""
    import sqlalchemy as sa

    from custrisk.serve.writer import BackgroundWriter

    store = DecisionStore(tmp_path / "d.db")
    tries: list[int] = []

    def full_disk(_rows: Any) -> None:
        tries.append(1)
        raise sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(store, "add_decisions", full_disk)
    writer = BackgroundWriter(store)

    def attempt(rows: Any = ()) -> None:  # one more failed write, then wait for it
        done = len(tries) + 1
        writer.decisions(rows) if rows else writer.retry()
        deadline = time.monotonic() + 10
        while len(tries) < done:
            assert time.monotonic() < deadline, "the write was not tried"
            time.sleep(0.01)

    attempt([{"decision_id": "dec-aaaa"}])
    attempt()
    attempt([{"decision_id": "dec-bbbb"}])
    assert caplog.text.count("cannot store") == 1  # the outage's start only
    writer._said -= 61  # a minute later: said again, with the count waiting
    attempt()
    assert caplog.text.count("cannot store") == 2
    assert "cannot store 2 decision(s) (will retry)" in caplog.text
    writer.close()  # the stop: the last write fails too
    lost = caplog.records[-1].getMessage()
    assert lost.startswith("2 decision(s) answered but lost at shutdown"), lost
    assert store.shown_url in lost and "database or disk is full" in lost
    assert "will not send them again" in lost and "dec-aaaa, dec-bbbb" in lost
    assert caplog.text.count("cannot store") == 2  # no "will retry" at the stop
    store.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stop_that_loses_decisions_exits_2_not_0(
    serve_world: dict[str, Any], tmp_path: Path, workers: str
) -> None:
    """At SIGTERM the decisions still waiting for a store that could not take them were
    lost (named in the log) but the service exited 0: systemd and Kubernetes saw a clean
    stop. A real service on a store that fills up (a file size limit: the kernel refuses
    the writes as on a full disk)."""
    import resource

    db = tmp_path / "serve" / "decisions.db"
    store = DecisionStore(db)
    token = store.create_token("crm", ["score"])[0]
    store.close()  # (its write-ahead log checkpointed and removed)
    limit = db.stat().st_size + 100_000  # the write-ahead log fills within a few decisions

    def full_soon() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    log = tmp_path / "service.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "custrisk", "serve", "--model", "application"]
            + ["--models-dir", str(serve_world["models"]), "--port", "0", "--db", str(db)]
            + ["--access-log", str(tmp_path / "access.jsonl"), "--workers", workers],
            cwd=tmp_path,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=full_soon,
        )
        try:
            deadline = time.monotonic() + 60
            while (said := re.search(r" on (http://\S+:[1-9]\d*) ", log.read_text())) is None:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            base, sent = said.group(1), 0
            while httpx.get(f"{base}/readyz").status_code == 200:  # until a write fails
                answer = httpx.post(f"{base}/v1/score", json=IDEM_RECORD, headers=_auth(token))
                assert answer.status_code == 200 and sent < 500, answer.text
                sent += 1
            for _ in range(2):  # answered (200), never to be stored
                assert httpx.post(
                    f"{base}/v1/score", json=IDEM_RECORD, headers=_auth(token)
                ).is_success
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    said = log.read_text()
    assert code == 2, said
    assert "answered but lost at shutdown" in said
    last = said.rstrip().splitlines()[-1]
    assert last.startswith("Error: custrisk serve stopped (SIGTERM) after losing"), said
    assert "stop the service only once GET /readyz is ready again" in last
    assert "Traceback" not in said


_HUNG_STORE = """
import sys, time
from pathlib import Path

import custrisk.serve.app as app_module
from custrisk.entry import main
from custrisk.serve.store import DecisionStore

app_module.WRITER_STOP_SECONDS = 2.0  # (30 s would be the test's wait; the logic is the same)
add_decisions = DecisionStore.add_decisions
HANG = Path(sys.argv.pop(1))


def hung(self, rows):  # a write that never returns once HANG exists: a locked table
    while HANG.exists():
        time.sleep(0.05)
    add_decisions(self, rows)


DecisionStore.add_decisions = hung
main()
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stop_with_a_hung_store_names_every_decision_not_stored_before_it_goes(
    serve_world: dict[str, Any], tmp_path: Path, workers: str
) -> None:
    """A worker whose store hung (a PostgreSQL table locked, a network dropped) waited on
    it at the stop until the supervisor killed it after 30 s (or systemd, alone): the
    decisions it had answered and queued were lost with no id in the log. Now it gives
    the store a few seconds, names each decision not stored, and ends (exit 2)."""
    db = tmp_path / "serve" / "decisions.db"
    store = DecisionStore(db)
    token = store.create_token("crm", ["score"])[0]
    store.close()
    hang = tmp_path / "hang"
    (tmp_path / "hung_store.py").write_text(_HUNG_STORE)
    log = tmp_path / "service.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(tmp_path / "hung_store.py"), str(hang), "serve"]
            + ["--model", "application", "--models-dir", str(serve_world["models"])]
            + ["--port", "0", "--db", str(db), "--workers", workers]
            + ["--access-log", str(tmp_path / "access.jsonl"), "--rate", "0"],
            cwd=tmp_path,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while (said := re.search(r" on (http://\S+:[1-9]\d*) ", log.read_text())) is None:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            base = said.group(1)

            def answered(n: int) -> list[str]:
                ids = []
                for _ in range(n):  # fresh connections: either worker answers
                    answer = httpx.post(f"{base}/v1/score", json=IDEM_RECORD, headers=_auth(token))
                    assert answer.status_code == 200, answer.text
                    ids.append(answer.json()["decision_id"])
                return ids

            stored = answered(3)
            deadline = time.monotonic() + 30
            while len(DecisionStore(db).list_decisions(limit=0)) < 3:  # written meanwhile
                assert time.monotonic() < deadline, "the first decisions were never stored"
                time.sleep(0.1)
            hang.touch()
            queued = answered(4)  # answered (200); their write never returns
            time.sleep(0.5)
        finally:
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    said = log.read_text()
    assert code == 2, said
    assert time.monotonic() - started < 20, said  # not held until a kill (30 s)
    assert "did not stop in 30 s; killed" not in said and "Traceback" not in said
    named = [line for line in said.splitlines() if "answered but not stored at shutdown" in line]
    assert named, said
    assert sorted(i for line in named for i in queued if i in line) == sorted(queued), said
    assert not any(i in line for line in named for i in stored), said  # those were stored
    assert "did not finish a write in 2 s" in named[0] and str(db) in named[0]
    last = said.rstrip().splitlines()[-1]
    assert last.startswith("Error: custrisk serve stopped (SIGTERM) after losing"), said
    hang.unlink()
    assert {d["decision_id"] for d in DecisionStore(db).list_decisions(limit=0)} == set(stored)


def test_a_reload_is_said_in_the_log_without_verbose(
    in_process: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Only -v said a reload (an Info: line): without it the log showed the policy's
    warnings again, at some moment, and not which model now served."""
    import logging

    from custrisk.vocab import NOTE

    store = in_process.app.state.service.store
    admin = store.create_token("ops", ["admin"])[0]
    in_process.app.state.service.refresh_tokens(force=True)  # (read every 5 s otherwise)
    with caplog.at_level(logging.WARNING, logger="custrisk"):
        answer = in_process.post("/admin/reload", headers=_auth(admin))
    assert answer.status_code == 200, answer.text
    said = [r for r in caplog.records if "model reloaded" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING  # said by default...
    assert all(getattr(said[0], key) for key in NOTE)  # ...as a Note:, not a warning
    assert re.fullmatch(r"model reloaded: application@\d+ -> application@\d+", said[0].getMessage())


def test_a_token_made_while_the_service_runs_works_at_once(in_process: Any) -> None:
    """The service re-read its tokens every 5 s: a token made a moment ago (serve-token
    new, then a first try from the CRM) was refused as 'unknown or revoked'."""
    state = in_process.app.state.service
    state.refresh_tokens(force=True)
    state.tokens_loaded -= 2  # the tokens were read 2 s ago...
    token = state.store.create_token("crm-2027", ["score"])[0]  # ...this one made since
    answer = in_process.post("/v1/score", json=IDEM_RECORD, headers=_auth(token))
    assert answer.status_code == 200, answer.text
    refused = in_process.post("/v1/score", json=IDEM_RECORD, headers=_auth("not-a-token"))
    assert refused.status_code == 401 and refused.json()["error"] == "unknown or revoked token"


def test_a_token_may_expire_is_then_refused_saying_so_and_is_warned_of_before(
    in_process: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Tokens never expired: a leaked CRM token worked until someone revoked it."""
    from custrisk.serve.store import tokens_table

    state = in_process.app.state.service
    store = state.store
    soon, info = store.create_token("crm-2027", ["score"], expires="3d")
    assert info.expires_at is not None
    state.refresh_tokens(force=True)
    with caplog.at_level("WARNING", logger="custrisk"):
        for _ in range(2):  # said once, not at every request
            answer = in_process.post("/v1/score", json=IDEM_RECORD, headers=_auth(soon))
            assert answer.status_code == 200, answer.text
        state.expiry_checked.clear()  # another worker process: the store says it was said
        in_process.post("/v1/score", json=IDEM_RECORD, headers=_auth(soon))
    said = [r.getMessage() for r in caplog.records if "expires at" in r.getMessage()]
    assert len(said) == 1, said
    assert said[0].startswith(f"token {info.token_id} (crm-2027) expires at ")
    assert "custrisk serve-token revoke" in said[0] and soon not in said[0]
    with store.engine.begin() as conn:  # its time has come
        conn.execute(
            tokens_table.update()
            .where(tokens_table.c.token_id == info.token_id)
            .values(expires_at="2026-01-01T00:00:00.000+00:00")
        )
    state.refresh_tokens(force=True)
    expired = in_process.post("/v1/score", json=IDEM_RECORD, headers=_auth(soon))
    assert expired.status_code == 401 and expired.headers["www-authenticate"].startswith("Bearer")
    assert expired.json()["error"].startswith(
        f"token {info.token_id} (crm-2027) expired at 2026-01-01 00:00 UTC"
    )
    assert soon not in expired.text
    # a token made without --expires (every token made before there was one) never does
    assert in_process.post(
        "/v1/score", json=IDEM_RECORD, headers=_auth(in_process.token)
    ).is_success


def test_serve_token_new_takes_expires_and_list_shows_it_also_on_an_old_store(
    tmp_path: Path,
) -> None:
    import sqlite3

    db = tmp_path / "serve" / "decisions.db"
    db.parent.mkdir()
    with sqlite3.connect(db) as old:  # a store made before tokens could expire
        old.execute(
            "CREATE TABLE tokens (token_id VARCHAR(16) PRIMARY KEY, name VARCHAR(80) NOT NULL, "
            "sha256 VARCHAR(64) NOT NULL UNIQUE, scopes VARCHAR(80) NOT NULL, "
            "created_at VARCHAR(32) NOT NULL, revoked_at VARCHAR(32))"
        )
        old.execute(
            "INSERT INTO tokens VALUES ('0ld70ken', 'legacy', 'x', 'score', '2026-01-01', NULL)"
        )
    made = _cli(
        "serve-token", "new", "crm", "--expires", "2099-03-01", "--db", str(db), cwd=tmp_path
    )
    assert made.exit_code == 0, made.stderr
    assert "expires 2099-03-01 00:00 UTC" in made.stderr
    listed = _cli("serve-token", "list", "--db", str(db), cwd=tmp_path)
    assert listed.exit_code == 0, listed.stderr
    rows = {line.split("│")[2].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert "never" in rows["legacy"] and "2099-03-01 00:00 UTC" in rows["crm"]
    for bad, said in (
        ("90", "takes a number of days or weeks"),
        ("2020-01-01", "not in the future"),
        ("9" * 5000 + "d", "too far away"),  # (was ValueError: int() over 4,300 digits)
        ("9999-12-31T23:00-05:00", "too far away"),  # (was OverflowError in UTC)
    ):
        refused = _cli("serve-token", "new", "x", "--expires", bad, "--db", str(db), cwd=tmp_path)
        assert refused.exit_code == 2 and said in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1


def test_a_push_the_decisions_store_cannot_take_is_a_503_not_an_internal_error(
    serve_world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 简道云 push on a full disk or a read-only store was answered 500 'internal error'
    and logged as a bug (with --debug a traceback); a keyed /v1/score gets a 503 there."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from custrisk.serve.app import create_app
    from custrisk.serve.settings import ServeSettings

    monkeypatch.setenv("CUSTRISK_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("CUSTRISK_JDY_SECRET", JDY_SECRET)
    settings = ServeSettings(
        model="application", models_dir=serve_world["models"], db=tmp_path / "d.db", access_log=None
    )
    body = json.dumps({"op": "data_create", "data": {"_id": "jdy-full", **IDEM_RECORD}})

    def push(client: Any, nonce: str) -> Any:
        stamp = str(int(time.time()))
        return client.post(
            "/hooks/jiandaoyun",
            params={"timestamp": stamp, "nonce": nonce},
            content=body.encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "X-JDY-Signature": signature(nonce, body, JDY_SECRET, stamp),
                "X-JDY-DeliverId": "full-disk-1",
            },
        )

    with TestClient(create_app(settings)) as client:
        store = client.app.state.service.store
        with store.engine.connect() as conn:  # the store's one connection turns read-only
            conn.exec_driver_sql("PRAGMA query_only=1")
        refused = push(client, "n1")
        assert refused.status_code == 503, refused.text
        assert "cannot be written now" in refused.json()["error"]
        assert refused.headers["Retry-After"] == "5"
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA query_only=0")
        retried = push(client, "n2")  # 简道云 retrying the delivery: scored now, once
        assert retried.status_code == 200 and "duplicate" not in retried.json(), retried.text
        assert store.count_decisions() == 1


def _metrics(base: str) -> dict[str, float]:
    answer = httpx.get(f"{base}/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    series = [line.rsplit(" ", 1) for line in answer.text.splitlines() if line[:1] != "#"]
    return {name: float(value) for name, value in series}


def test_metrics_count_requests_decisions_and_latency_without_customer_data(
    serve_world: dict[str, Any],
) -> None:
    base = serve_world["base"]
    before = _metrics(base)
    record = {"客户编号": "METRICS0001", "姓名": NAME, **IDEM_RECORD, "负债收入比": 0.95}
    key = secrets.token_hex(8)
    first = _score(serve_world, record, key).json()
    _score(serve_world, record, key)  # a replay: a request, not a new decision
    httpx.get(f"{base}/no/such/path/METRICS0001")
    after = _metrics(base)

    def grew(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert grew('custrisk_http_requests_total{route="/v1/score",status="200"}') == 2
    assert grew('custrisk_http_requests_total{route="other",status="404"}') == 1
    assert grew(f'custrisk_decisions_total{{decision="{first["decision"]}"}}') == 1
    assert (
        sum(
            grew(f'custrisk_decisions_total{{decision="{d}"}}')
            for d in ("approve", "review", "decline")
        )
        == 1
    )
    latency = 'custrisk_http_request_duration_seconds_{}{{route="/v1/score"{}}}'
    assert grew(latency.format("count", "")) == 2 and grew(latency.format("sum", "")) > 0
    assert grew(latency.format("bucket", ',le="+Inf"')) == 2
    model_info = [k for k in after if k.startswith("custrisk_model_info{")]
    assert model_info == [
        f'custrisk_model_info{{model_id="{first["model_id"]}",version="{__import__("custrisk").__version__}"}}'
    ]
    text = httpx.get(f"{base}/metrics").text
    assert "METRICS0001" not in text and NAME not in text and "no/such" not in text


def test_metrics_of_several_workers_are_summed() -> None:
    from custrisk.serve.metrics import Metrics

    shared = Metrics(2)
    one, two = shared.worker(0), shared.worker(1)
    one.request("/v1/score", 200, 0.003)
    two.request("/v1/score", 200, 0.2)
    two.decisions(["approve", "approve", "decline"])
    text = one.render("m@1")  # any worker answers for all
    assert 'custrisk_http_requests_total{route="/v1/score",status="200"} 2' in text
    assert 'custrisk_http_request_duration_seconds_bucket{route="/v1/score",le="0.005"} 1' in text
    assert 'custrisk_http_request_duration_seconds_bucket{route="/v1/score",le="0.25"} 2' in text
    assert 'custrisk_decisions_total{decision="approve"} 2' in text


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_refused_model_leaves_no_decisions_store_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """The store was opened (serve/decisions.db created in the current folder) before the
    model was verified: a start refused for its model left an empty store behind."""
    monkeypatch.chdir(tmp_path)
    args = ["serve", "--model", "nosuch", "--models-dir", str(tmp_path), "--port", "0"]
    result = CliRunner().invoke(app, [*args, "--workers", workers])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "serve").exists()


def test_a_decision_is_found_by_its_id_or_a_prefix_in_any_case(tmp_path: Path) -> None:
    from custrisk.errors import UsageError

    store = DecisionStore(str(tmp_path / "decisions.db"))
    _, info = store.create_token("crm", ["score"])
    outputs = {"model_id": "application@1", "customer_id": "C1", "pd": 0.1, "score": 550}
    store.add_decisions(
        [
            {
                "decision_id": "0123456789abcdef",
                "created_at": "2026-12-01T00:00:00",
                "caller": info.token_id,
                "channel": "api",
                "input_fingerprint": "0" * 64,
                "inputs_masked": {},
                "outputs": outputs,
            }
        ]
    )
    assert store.find_decision(" 0123456789ABCDEF ")["decision_id"] == "0123456789abcdef"
    assert store.find_decision("0123456789AB")["decision_id"] == "0123456789abcdef"
    with pytest.raises(UsageError, match="no decision with id '0123456'"):
        store.find_decision("0123456")  # too short for a prefix
    store.close()


def test_the_decisions_list_names_each_rows_model_and_keeps_ids_whole(tmp_path: Path) -> None:
    """After a reload the list held decisions of two models without saying which row
    was whose; on an 80-column terminal it cut the ids (needed by decisions show) to
    '71…' and left the score and grade columns empty."""
    db = tmp_path / "decisions.db"
    store = DecisionStore(str(db))
    rows = []
    for i, (model, customer) in enumerate(
        [("application@1", "C1"), ("application@2", "65A0B1C2D3E4F5A6B7C8D9E0")]
    ):
        outputs = {"model_id": model, "customer_id": customer, "score": 551 + i, "grade": "D"}
        outputs["decision"] = "review"
        rows.append(
            {
                "decision_id": f"{i}123456789abcdef",
                "created_at": f"2026-12-0{i + 1}T00:00:00.000+00:00",
                "caller": "jiandaoyun",
                "channel": "jiandaoyun",
                "input_fingerprint": "0" * 64,
                "inputs_masked": {},
                "outputs": outputs,
            }
        )
    store.add_decisions(rows)
    store.close()
    wide = _cli("decisions", "list", "--db", str(db), cwd=tmp_path)
    assert wide.exit_code == 0, wide.output
    lines = [line for line in wide.stdout.splitlines() if "123456" in line]
    assert "application@2" in lines[0] and "application@1" in lines[1], wide.stdout
    narrow = CliRunner().invoke(app, ["decisions", "list", "--db", str(db)], env={"COLUMNS": "80"})
    for shown in ("01234567", "11234567", "551", "552", " D ", "review"):
        assert shown in narrow.stdout, narrow.stdout
    one_model = _cli("decisions", "list", "--db", str(db), "--limit", "1", cwd=tmp_path)
    assert "model" not in one_model.stdout.split("\n", 1)[1]  # the title names it
    # the decisions since a moment (a reload, say), read as UTC however it is written
    for since in ("2026-12-02", "2026-12-01 12:00", "2026-12-01T16:00-08:00"):
        later = _cli("decisions", "list", "--db", str(db), "--since", since, "--json", cwd=tmp_path)
        assert [json.loads(line)["decision_id"] for line in later.stdout.splitlines()] == [
            "1123456789abcdef"
        ], (since, later.output)
    # --decision in any case, as the table shows it or as a user types it
    declined = _cli("decisions", "list", "--db", str(db), "--decision", "Review", cwd=tmp_path)
    assert declined.exit_code == 0 and "01234567" in declined.stdout, declined.output
    bad = _cli("decisions", "list", "--db", str(db), "--since", "yesterday", cwd=tmp_path)
    assert bad.exit_code == 2 and "--since must be a date or a date and time" in bad.stderr


def test_a_long_decisions_list_is_paged_counted_and_exported_without_reading_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decisions list had no way to list everything (--limit 0 was refused), no export,
    and read and masked every row's inputs even for the table, which shows none of them
    (2.3 s for 10,000 rows, the whole listing held in memory)."""
    import csv

    import custrisk.cli.decisions as decisions_cli
    import custrisk.serve.store as store_module

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "decisions.db"
    store = DecisionStore(str(db))
    rows = []
    for i in range(25):
        customer = "=1+1" if i == 3 else f"C{i:04d}" * (1 + 3 * (i == 5))  # one wider later
        outputs = {"model_id": "application@1", "customer_id": customer, "score": 500 + i}
        outputs.update(grade="D", decision="review", pd=0.1)
        rows.append(
            {
                "decision_id": f"{i:02d}" + "ab" * 15,
                "created_at": f"2026-12-01T00:00:{i:02d}.000+00:00",
                "caller": "aa977ccd",
                "channel": "api",
                "input_fingerprint": "0" * 64,
                # (stored in clear by a release before 2026-12: read masked)
                "inputs_masked": {"联系人": "请致电13812345678"},
                "outputs": outputs,
            }
        )
    store.add_decisions(rows)
    store.close()
    monkeypatch.setattr(decisions_cli, "PAGE", 7)
    latest = _cli("decisions", "list", "--db", str(db), cwd=tmp_path)
    assert latest.exit_code == 0, latest.output
    assert latest.stdout.startswith("20 latest decisions (application@1)")
    assert "... and 5 more (--limit 0 for all, --out FILE.csv to export them)" in latest.stdout
    real_out = store_module._decision_out
    monkeypatch.setattr(store_module, "_decision_out", lambda _row: pytest.fail("inputs read"))
    everything = _cli("decisions", "list", "--db", str(db), "--limit", "0", cwd=tmp_path)
    assert everything.exit_code == 0, everything.output
    assert everything.stdout.startswith("25 latest decisions") and "more" not in everything.stdout
    listed = [line for line in everything.stdout.splitlines() if "abab" in line]
    assert [line.split()[1][:2] for line in listed] == [f"{i:02d}" for i in reversed(range(25))]
    # four pages of 7 rows: a later page's wider customer widens it, never narrows it
    widths = [len(line) for line in listed]
    assert widths == sorted(widths) and len(set(widths)) == 2, everything.stdout
    table = _cli(
        "decisions", "list", "--db", str(db), "--limit", "0", "-o", "all.csv", cwd=tmp_path
    )
    assert table.exit_code == 0 and "Wrote 25 decisions to all.csv" in table.stdout, table.output
    with open("all.csv", encoding="utf-8-sig", newline="") as handle:  # noqa: PTH123
        exported = list(csv.DictReader(handle))
    assert len(exported) == 25 and exported[0]["decision_id"].startswith("24")
    assert exported[-4]["customer_id"] == "'=1+1"  # a spreadsheet shows it, never runs it
    assert exported[0]["score"] == "524" and exported[0]["model_id"] == "application@1"
    assert oct(Path("all.csv").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setattr(store_module, "_decision_out", real_out)
    whole = _cli(
        "decisions", "list", "--db", str(db), "--limit", "3", "--out", "d.jsonl", cwd=tmp_path
    )
    assert whole.exit_code == 0 and "Wrote 3 decisions to d.jsonl" in whole.stdout, whole.output
    lines = [json.loads(line) for line in Path("d.jsonl").read_text().splitlines()]
    assert [d["inputs_masked"]["联系人"] for d in lines] == ["请致电138****5678"] * 3
    assert "13812345678" not in Path("d.jsonl").read_text()
    bad = _cli("decisions", "list", "--db", str(db), "--out", "d.txt", cwd=tmp_path)
    assert bad.exit_code == 2 and not Path("d.txt").exists()
    assert "--out d.txt: cannot tell the format from .txt; it takes .csv, .jsonl" in bad.stderr


def test_an_id_longer_than_the_store_keeps_is_refused_not_answered_and_lost(
    serve_world: dict[str, Any],
) -> None:
    """A 300-character customer id was answered 200 and queued: the decisions store keeps
    120 (PostgreSQL refuses longer), and its refusal failed the write of every decision
    queued with it, again at every retry, until the stop lost them all."""
    long_id = "A" * 300
    answer = httpx.post(
        f"{serve_world['base']}/v1/score",
        json={"客户编号": long_id, "年龄": 30},
        headers=_auth(serve_world["tokens"]["crm"]),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["problems"] == [
        {"index": 0, "field": "客户编号", "problem": "an id has at most 120 characters; got 300"}
    ]
    assert httpx.post(  # 120 is kept
        f"{serve_world['base']}/v1/score",
        json={"客户编号": long_id[:120], "年龄": 30},
        headers=_auth(serve_world["tokens"]["crm"]),
    ).is_success
    pushed = _push(  # a 简道云 form's id: answered 200 (not retried), not scored
        serve_world["base"], {"op": "data_create", "data": {"_id": long_id, "年龄": 30}}, deliver=""
    )
    assert pushed.status_code == 200 and pushed.json()["scored"] is False, pushed.text
    assert "an id has at most 120 characters; got 300" in pushed.json()["error"]
    body = {"op": "data_create", "data": {"_id": "f1", "年龄": 30}}
    delivered = _push(serve_world["base"], body, deliver="D" * 300)  # the deliveries' column
    assert delivered.status_code == 400, delivered.text
    assert "X-JDY-DeliverId has at most 120 characters; got 300" in delivered.json()["error"]


def test_a_decision_the_store_refuses_does_not_keep_the_others_from_being_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One row the store refused (a value too long for a PostgreSQL column; here a
    duplicate id) failed the transaction of every decision queued with it, and every
    retry after: none of them was ever stored, and the service stayed not ready."""
    from custrisk.serve.writer import BackgroundWriter

    store = DecisionStore(tmp_path / "d.db")

    def row(decision_id: str) -> dict[str, Any]:
        outputs = {"model_id": "application@1", "customer_id": "C1", "decision": "review"}
        return {
            "decision_id": decision_id,
            "created_at": "2026-12-01T00:00:00.000+00:00",
            "caller": "aa977ccd",
            "channel": "api",
            "input_fingerprint": "0" * 64,
            "inputs_masked": {},
            "outputs": outputs,
        }

    store.add_decisions([row("dup")])
    writer = BackgroundWriter(store)
    writer.decisions([row("new1"), row("dup"), row("new2")])
    assert writer.close(10)
    assert {d["decision_id"] for d in store.list_decisions(limit=0)} == {"dup", "new1", "new2"}
    assert writer.refused == ["dup"] and writer.failing is None and writer.lost == []
    assert "decision dup answered but not stored: the decisions store refuses it" in caplog.text
    store.close()
