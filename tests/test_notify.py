"""Notifications against real servers: an aiosmtpd SMTP server with STARTTLS and AUTH,
and a local HTTP receiver that checks the DingTalk and Feishu signatures and the
payload shapes of each robot. No PII in anything sent; failures recorded, never raised."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import logging
import shutil
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import ConfigError, UsageError
from custrisk.notify import (
    deliver_notifications,
    load_notify_config,
    notify_run,
    parse_notify_config,
)
from custrisk.report.batch import PORTFOLIO_FILE, customer_file_name
from custrisk.results import REPORTS_DIR, read_run

SECRET_DING = "SEC-ding-0123456789abcdef"
SECRET_FEISHU = "feishu-secret-xyz"
SMTP_USER, SMTP_PASSWORD = "risk-bot", "s3cret-pass"
FAST = {"attempts": 3, "backoff_seconds": 0.01, "max_seconds": 1, "timeout_seconds": 5}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a scored run: October alone, November against it -----------------------------------


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, export_200: Path, models_200: Path
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("notify_runs")
    base = ["score", str(export_200), "-m", "logistic", "--models-dir", str(models_200)]
    october = root / "2026-10" / "scores.csv"
    november = root / "2026-11" / "scores.csv"
    for out, extra in (
        (october, []),
        (november, ["--as-of", "2026-11-30", "--previous", str(october)]),
    ):
        result = CliRunner().invoke(app, [*base, "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
    reports = root / "reports"
    reports.mkdir()
    alerts = read_run(november).alerts
    first = str(alerts.loc[alerts["status"] == "new", "customer_id"].iloc[0])
    (reports / customer_file_name(first)).write_bytes(b"%PDF-1.4 report\n")
    (root / "portfolio.pdf").write_bytes(b"%PDF-1.4 portfolio\n")
    return {
        "oct": october,
        "nov": november,
        "reports": reports,
        "portfolio": root / "portfolio.pdf",
        "credit": export_200 / "credit.csv",
        "with_report": Path(first),
    }


@pytest.fixture(scope="module")
def pii(runs: dict[str, Path]) -> list[str]:
    """Every name, phone and id number in clear in the exports."""
    credit = pd.read_csv(runs["credit"], dtype=str, keep_default_na=False)
    values = [*credit["name"], *credit["phone"], *credit["id_number"]]
    return [v for v in values if len(v) >= 2]


# -- an HTTP receiver playing WeCom, DingTalk, Feishu and a generic webhook ----------------


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_first: dict[str, int] = {}
        self.lock = threading.Lock()

    def answer(self, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            left = self.fail_first.get(path, 0)
            if left:
                self.fail_first[path] = left - 1
                return 500, {"error": "try again"}
        if path == "/always-500":
            return 500, {}
        if path == "/dingtalk":
            stamp, sign = query.get("timestamp", ""), query.get("sign", "")
            mac = hmac.new(SECRET_DING.encode(), f"{stamp}\n{SECRET_DING}".encode(), hashlib.sha256)
            if not stamp or sign != base64.b64encode(mac.digest()).decode():
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
            now = dt.datetime.now(dt.UTC).timestamp() * 1000
            if abs(now - int(stamp)) > 3600 * 1000:
                return 200, {"errcode": 310000, "errmsg": "timestamp too old"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if path == "/feishu":
            stamp, sign = str(body.get("timestamp", "")), body.get("sign", "")
            key = f"{stamp}\n{SECRET_FEISHU}".encode()
            if sign != base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode():
                return 200, {"code": 19021, "msg": "sign match fail"}
            return 200, {"code": 0, "msg": "success"}
        return 200, {"errcode": 0, "errmsg": "ok"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Receiver]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            body = json.loads(raw.decode("utf-8"))
            state.requests.append(
                {"path": url.path, "query": query, "headers": dict(self.headers), "raw": raw}
            )
            status, answer = state.answer(url.path, query, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


# -- a real SMTP server with STARTTLS and AUTH ---------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts it as its CA file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def smtp_server(tls_files: tuple[Path, Path]) -> Iterator[tuple[int, Mailbox]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    controller.start()
    yield controller.port, mailbox
    controller.stop()


@pytest.fixture(scope="module")
def plain_smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """An SMTP server that offers no STARTTLS."""
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_authenticator,
        auth_require_tls=False,
    )
    controller.start()
    yield controller.port, mailbox
    controller.stop()


def _smtp_channel(port: int, cert: Path, **extra: Any) -> dict[str, Any]:
    return {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "username": SMTP_USER,
        "password_env": "TEST_SMTP_PASSWORD",
        "from": "risk-bot@example.com",
        "to": {
            "collections": ["cuishou@example.com"],
            "default": ["risk-team@example.com"],
        },
        "ca_file": str(cert),
        **extra,
    }


# -- e-mail ---------------------------------------------------------------------------------


def test_smtp_sends_one_message_per_owner_over_starttls_with_login(
    runs: dict[str, Path],
    smtp_server: tuple[int, Mailbox],
    tls_files: tuple[Path, Path],
    pii: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, mailbox = smtp_server
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    cfg = parse_notify_config(
        {
            "include": "all",
            "retry": FAST,
            "channels": {"mail": _smtp_channel(port, tls_files[0])},
        },
        "notify.yaml",
    )
    run = read_run(runs["nov"])
    before = len(mailbox.messages)
    deliveries = deliver_notifications(
        cfg, run, reports_dir=runs["reports"], portfolio_pdf=runs["portfolio"]
    )
    assert deliveries and all(d.ok for d in deliveries), [d.as_dict() for d in deliveries]
    owners = sorted(set(run.alerts["owner"]))
    assert len(deliveries) == len(owners)
    sent = mailbox.messages[before:]
    assert len(sent) == len(owners)
    by_to = {tuple(m.rcpt_tos): m for m in sent}
    assert ("cuishou@example.com",) in by_to  # collections has its own address
    assert ("risk-team@example.com",) in by_to  # the others go to default
    for envelope in sent:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert message["Subject"].startswith("客户风险预警 2026-11-30")
        kinds = [part.get_content_type() for part in message.walk()]
        assert {"text/plain", "text/html", "application/pdf"} <= set(kinds)
        attachment = next(p for p in message.walk() if p.get_content_type() == "application/pdf")
        assert attachment.get_filename() == "portfolio.pdf"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "<table" in html
        assert not [v for v in pii if v in text or v in html]
    collections = email.message_from_bytes(
        by_to[("cuishou@example.com",)].content, policy=email.policy.default
    )
    body = collections.get_body(("plain",)).get_content()
    assert "催收专员 (collections)" in body and "CR02" in body
    # a level is named as in alerts.csv's level_zh and the PDFs (it said [高] here)
    assert "[红色] CR02" in body and "[高]" not in body
    assert "（橙色 " in body.splitlines()[1]  # 新增 7 条（橙色 7）；…
    # ongoing alerts are listed after the new ones
    lines = [line for line in body.splitlines() if line.startswith("[")]
    ongoing = ["持续" in line for line in lines]
    assert ongoing == sorted(ongoing)
    record = deliveries[0].as_dict()
    assert set(record) >= {"channel", "target", "ok", "attempts", "error"}
    assert SMTP_PASSWORD not in json.dumps([d.as_dict() for d in deliveries])


def test_a_wrong_password_is_recorded_not_raised(
    runs: dict[str, Path],
    smtp_server: tuple[int, Mailbox],
    tls_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, _ = smtp_server
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    cfg = parse_notify_config(
        {"retry": FAST, "channels": {"mail": _smtp_channel(port, tls_files[0])}}, "n.yaml"
    )
    deliveries = deliver_notifications(cfg, read_run(runs["nov"]))
    assert deliveries and not any(d.ok for d in deliveries)
    assert all(d.attempts == 1 and "login refused" in (d.error or "") for d in deliveries)
    assert "wrong" not in json.dumps([d.as_dict() for d in deliveries])


def test_only_keeps_the_channels_named_and_refuses_an_unknown_one() -> None:
    """custrisk notify --channel: the config with those channels; a name it lacks is a
    usage error naming the file and the channels it has."""
    hook = {"type": "webhook", "url_env": "TEST_HOOK_URL"}
    cfg = parse_notify_config({"channels": {"a": hook, "b": hook}}, "n.yaml")
    assert [c.name for c in cfg.only(["b"]).channels] == ["b"]
    with pytest.raises(UsageError, match=r"--channel 'c': n\.yaml has no enabled channel") as err:
        cfg.only(["b", "c"])
    assert err.value.hint == "its channels: a, b"


def test_an_unset_password_variable_fails_the_dry_run_too(
    runs: dict[str, Path], tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for a robot's URL: --dry-run says the variable is not set, rather than ok."""
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    cfg = parse_notify_config(
        {"retry": FAST, "channels": {"mail": _smtp_channel(_free_port(), tls_files[0])}}, "n.yaml"
    )
    deliveries = deliver_notifications(cfg, read_run(runs["nov"]), dry_run=True)
    assert deliveries and not any(d.ok for d in deliveries)
    unset = "variable TEST_SMTP_PASSWORD (notifications.channels.mail.password_env) is not set"
    assert all(unset in (d.error or "") for d in deliveries), [d.error for d in deliveries]


def test_no_password_is_sent_to_a_server_without_starttls(
    runs: dict[str, Path],
    plain_smtp_server: tuple[int, Mailbox],
    tls_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, mailbox = plain_smtp_server
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    cfg = parse_notify_config(
        {"retry": FAST, "channels": {"mail": _smtp_channel(port, tls_files[0])}}, "n.yaml"
    )
    deliveries = deliver_notifications(cfg, read_run(runs["nov"]))
    assert deliveries and not any(d.ok for d in deliveries)
    assert "does not offer STARTTLS" in (deliveries[0].error or "")
    assert mailbox.messages == []


# -- webhooks -------------------------------------------------------------------------------


def _hooks(base: str, names: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for env, path in names.items():
        monkeypatch.setenv(env, f"{base}{path}")


def _bodies(state: Receiver, start: int) -> list[dict[str, Any]]:
    return [{**r, "json": json.loads(r["raw"].decode("utf-8"))} for r in state.requests[start:]]


def test_robots_get_signed_payloads_of_their_shape(
    runs: dict[str, Path],
    receiver: tuple[str, Receiver],
    pii: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, state = receiver
    _hooks(
        base,
        {
            "T_WECOM": "/wecom?key=wecom-key-123",
            "T_DING": "/dingtalk?access_token=ding-token-456",
            "T_FEISHU": "/feishu",
            "T_HOOK": "/hook",
        },
        monkeypatch,
    )
    monkeypatch.setenv("T_DING_SECRET", SECRET_DING)
    monkeypatch.setenv("T_FEISHU_SECRET", SECRET_FEISHU)
    monkeypatch.setenv("T_HOOK_SECRET", "hook-secret")
    cfg = parse_notify_config(
        {
            "retry": FAST,
            "report_url": "https://intranet.example.com/risk/{period}/{file}",
            "channels": {
                "wecom": {"url_env": "T_WECOM"},
                "dingtalk": {"url_env": "T_DING", "secret_env": "T_DING_SECRET", "keyword": "预警"},
                "feishu": {"url_env": "T_FEISHU", "secret_env": "T_FEISHU_SECRET"},
                "hook": {"type": "webhook", "url_env": "T_HOOK", "secret_env": "T_HOOK_SECRET"},
            },
        },
        "notify.yaml",
    )
    run = read_run(runs["nov"])
    start = len(state.requests)
    deliveries = deliver_notifications(cfg, run, reports_dir=runs["reports"])
    assert [d.ok for d in deliveries] == [True] * 4, [d.as_dict() for d in deliveries]
    assert [d.attempts for d in deliveries] == [1] * 4
    got = {r["path"]: r for r in _bodies(state, start)}
    wecom = got["/wecom"]["json"]
    assert wecom["msgtype"] == "markdown"
    assert len(wecom["markdown"]["content"].encode("utf-8")) <= 4096
    assert '<font color="warning">' in wecom["markdown"]["content"]
    ding = got["/dingtalk"]
    assert ding["query"]["access_token"] == "ding-token-456"
    assert ding["json"]["msgtype"] == "markdown"
    assert "预警" in ding["json"]["markdown"]["title"]
    assert set(got["/feishu"]["json"]) == {"timestamp", "sign", "msg_type", "content"}
    assert got["/feishu"]["json"]["msg_type"] == "text"
    hook = got["/hook"]
    payload = hook["json"]
    stamp = hook["headers"]["X-Custrisk-Timestamp"]
    mac = hmac.new(b"hook-secret", f"{stamp}.".encode() + hook["raw"], hashlib.sha256)
    assert hook["headers"]["X-Custrisk-Signature"] == "sha256=" + mac.hexdigest()
    new = run.alerts[run.alerts["status"] == "new"]
    assert payload["kind"] == "custrisk.alerts" and payload["as_of"] == "2026-11-30"
    assert len(payload["alerts"]) + payload["left_out"] == len(new)
    assert {a["status"] for a in payload["alerts"]} == {"new"}
    ranks = [{"red": 0, "orange": 1, "yellow": 2}[a["level"]] for a in payload["alerts"]]
    assert ranks == sorted(ranks)  # red first
    linked = [a for a in payload["alerts"] if a["report"]]
    assert [a["customer_id"] for a in linked] == [str(runs["with_report"])]
    assert linked[0]["report"].startswith("https://intranet.example.com/risk/2026-11/customer_")
    assert all(a["name_masked"].endswith("**") for a in payload["alerts"])
    everything = b"".join(r["raw"] for r in state.requests[start:]).decode("utf-8")
    assert not [v for v in pii if v in everything]
    records = json.dumps([d.as_dict() for d in deliveries])
    for secret in ("wecom-key-123", "ding-token-456", SECRET_DING, SECRET_FEISHU):
        assert secret not in records


def test_a_500_is_retried_until_it_succeeds(
    runs: dict[str, Path],
    receiver: tuple[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base, state = receiver
    _hooks(base, {"T_FLAKY": "/flaky"}, monkeypatch)
    state.fail_first["/flaky"] = 2
    cfg = parse_notify_config(
        {"retry": FAST, "channels": {"wecom": {"url_env": "T_FLAKY"}}}, "n.yaml"
    )
    waits: list[float] = []
    # an earlier CLI run in this process may have stopped custrisk's log at its handler
    monkeypatch.setattr(logging.getLogger("custrisk"), "propagate", True)
    monkeypatch.setattr(logging.getLogger("custrisk"), "level", logging.WARNING)
    [delivery] = deliver_notifications(cfg, read_run(runs["nov"]), sleep=waits.append)
    assert delivery.ok and delivery.attempts == 3 and delivery.error is None
    assert waits == [0.01, 0.02]  # exponential backoff
    # each retry is said as it comes (a server that does not answer is slow to fail)
    said = list(dict.fromkeys(r.getMessage() for r in caplog.records if r.levelno == 30))
    assert said == [
        f"notify wecom -> wecom 127.0.0.1: attempt {n} of 3 failed (HTTP 500 Internal Server "
        f"Error); trying again in {wait} s"
        for n, wait in ((1, 0.01), (2, 0.02))
    ], said


def test_failures_are_recorded_never_raised(
    runs: dict[str, Path], receiver: tuple[str, Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = receiver
    _hooks(
        base, {"T_500": "/always-500", "T_BADSIGN": "/dingtalk?access_token=tok-789"}, monkeypatch
    )
    monkeypatch.setenv("T_DOWN", f"http://127.0.0.1:{_free_port()}/nobody?key=down-key")
    monkeypatch.setenv("T_WRONG_SECRET", "not-the-secret")
    monkeypatch.delenv("T_UNSET", raising=False)
    cfg = parse_notify_config(
        {
            "retry": {**FAST, "max_seconds": 0.015},
            "channels": {
                "always-500": {"type": "wecom", "url_env": "T_500"},
                "down": {"type": "webhook", "url_env": "T_DOWN"},
                "badsign": {
                    "type": "dingtalk",
                    "url_env": "T_BADSIGN",
                    "secret_env": "T_WRONG_SECRET",
                },
                "unset": {"type": "feishu", "url_env": "T_UNSET"},
            },
        },
        "n.yaml",
    )
    waits: list[float] = []
    found = {
        d.channel: d for d in deliver_notifications(cfg, read_run(runs["nov"]), sleep=waits.append)
    }
    assert not any(d.ok for d in found.values())
    assert found["always-500"].attempts == 2  # the total wait is bounded by max_seconds
    assert "HTTP 500" in (found["always-500"].error or "")
    assert found["down"].attempts == 2 and "cannot reach" in (found["down"].error or "")
    assert found["badsign"].attempts == 1 and "310000" in (found["badsign"].error or "")
    assert found["unset"].attempts == 0 and "T_UNSET" in (found["unset"].error or "")
    records = json.dumps([d.as_dict() for d in found.values()])
    assert "down-key" not in records and "tok-789" not in records


def test_a_channel_for_some_owners_gets_only_their_alerts(
    runs: dict[str, Path], receiver: tuple[str, Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, state = receiver
    _hooks(base, {"T_OWNERS": "/owners"}, monkeypatch)
    cfg = parse_notify_config(
        {
            "include": "all",
            "channels": {
                "team": {"type": "webhook", "url_env": "T_OWNERS", "owners": ["collections"]}
            },
        },
        "n.yaml",
    )
    run = read_run(runs["nov"])
    start = len(state.requests)
    [delivery] = deliver_notifications(cfg, run)
    payload = _bodies(state, start)[0]["json"]
    assert delivery.ok and {a["owner"] for a in payload["alerts"]} == {"collections"}
    assert len(payload["alerts"]) == int((run.alerts["owner"] == "collections").sum())


def test_a_digest_already_sent_is_not_sent_again_unless_what_it_says_changed(
    runs: dict[str, Path], receiver: tuple[str, Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month run again (a corrected export, an edited RUN.yaml) makes the digests
    again: one that lists what it listed before, to the same channel, is not sent again
    (``already_sent``); one whose alerts changed is, although the period's totals (and
    the run's id) changed for both."""
    import dataclasses

    base, state = receiver
    _hooks(base, {"T_COLL": "/coll", "T_RISK": "/risk"}, monkeypatch)
    channels = {
        name: {"type": "webhook", "url_env": env, "owners": [owner]}
        for name, env, owner in (
            ("coll", "T_COLL", "collections"),
            ("risk", "T_RISK", "risk_officer"),
        )
    }
    cfg = parse_notify_config({"include": "all", "channels": channels}, "n.yaml")
    run = read_run(runs["nov"])
    first = deliver_notifications(cfg, run)
    assert [d.channel for d in first if d.ok] == ["coll", "risk"], [d.as_dict() for d in first]
    sent = {(d.channel, str(d.content_sha256)) for d in first}
    start = len(state.requests)
    again = deliver_notifications(cfg, run, already_sent=sent)
    assert len(state.requests) == start  # nothing sent
    assert [(d.ok, d.unchanged, d.attempts) for d in again] == [(True, True, 0)] * 2
    assert [d.as_dict()["unchanged"] for d in again] == [True, True]
    # one collections alert less: its channel's digest changed, the risk officer's did not
    alerts = run.alerts
    dropped = alerts.index[alerts["owner"] == "collections"][0]
    corrected = dataclasses.replace(
        run, alerts=alerts.drop(index=dropped), facts={**run.facts, "run_id": "another"}
    )
    third = deliver_notifications(cfg, corrected, already_sent=sent)
    assert [(d.channel, d.unchanged) for d in third] == [("coll", False), ("risk", True)]
    assert [r["path"] for r in state.requests[start:]] == ["/coll"]


def test_a_long_digest_is_cut_to_the_robot_limit_with_and_n_more(
    runs: dict[str, Path], receiver: tuple[str, Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, state = receiver
    _hooks(base, {"T_WECOM2": "/wecom2"}, monkeypatch)
    cfg = parse_notify_config(
        {
            "include": "all",
            "max_items": 1000,
            "retry": FAST,
            "channels": {"wecom": {"url_env": "T_WECOM2"}},
        },
        "n.yaml",
    )
    run = read_run(runs["nov"])
    start = len(state.requests)
    [delivery] = deliver_notifications(cfg, run, lang="en")
    content = _bodies(state, start)[0]["json"]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert delivery.alerts + delivery.left_out == len(run.alerts)
    assert delivery.left_out > 0 and f"and {delivery.left_out} more not listed" in content


def test_without_the_run_lifecycle_the_previous_run_tells_ongoing_alerts(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    cfg = parse_notify_config({"channels": {"wecom": {"url_env": "T_NONE"}}}, "n.yaml")
    # November scored without --previous: every alert new, unless the previous run is given
    november = read_run(runs["nov"])
    alone = november.alerts.assign(status="new", since="2026-11-30")
    fresh = type(november)(november.scores, november.details, alone, {"as_of": "2026-11-30"})
    [without] = deliver_notifications(cfg, fresh, dry_run=True)
    [with_previous] = deliver_notifications(cfg, fresh, read_run(runs["oct"]), dry_run=True)
    assert without.alerts + without.left_out == len(alone)
    new = int((november.alerts["status"] == "new").sum())
    assert with_previous.alerts + with_previous.left_out == new < len(alone)


# -- config -----------------------------------------------------------------------------


def test_security_none_with_a_password_is_for_a_relay_on_this_machine() -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        mail = {"type": "smtp", "host": host, "from": "a@b.cn", "to": {"x": ["a@b.cn"]}}
        mail |= {"security": "none", "username": "bot", "password_env": "SMTP_PASSWORD"}
        assert parse_notify_config({"channels": {"mail": mail}}, "n.yaml").channels


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({}, r"n\.yaml, key 'notifications\.channels': required key is missing"),
        (
            {"channels": {"sms": {"type": "sms"}}},
            r"notifications\.channels\.sms\.type.*'sms' is not known.*smtp, wecom",
        ),
        ({"channels": {"team": {}}}, r"channels\.team\.type': required key is missing"),
        (
            {"channels": {"wecom": {"url": "https://qyapi.weixin.qq.com/x?key=1"}}},
            r"notifications\.channels\.wecom\.url': a secret must not be written.*url_env",
        ),
        (
            {
                "channels": {
                    "mail": {
                        "type": "smtp",
                        "host": "h",
                        "from": "a@b.cn",
                        "to": {"x": ["a@b.cn"]},
                        "password": "p",
                    }
                }
            },
            r"channels\.mail\.password'.*password_env",
        ),
        ({"channels": {"wecom": {"url_env": "not a name"}}}, r"url_env.*name of an environment"),
        (
            {"include": "some", "channels": {"wecom": {"url_env": "U"}}},
            r"notifications\.include.*'some'",
        ),
        (
            {
                "channels": {
                    "mail": {"type": "smtp", "host": "h", "from": "a@b.cn", "to": {"x": ["nope"]}}
                }
            },
            r"channels\.mail\.to\.x\[0\].*'nope' is not an e-mail",
        ),
        ({"retry": {"attempts": 0}, "channels": {"wecom": {"url_env": "U"}}}, r"retry\.attempts"),
        (
            {
                "channels": {
                    "mail": {
                        "type": "smtp",
                        "host": "smtp.example.com",
                        "from": "a@b.cn",
                        "to": {"x": ["a@b.cn"]},
                        "security": "none",
                        "username": "bot",
                        "password_env": "SMTP_PASSWORD",
                    }
                }
            },
            r"channels\.mail\.security': 'none' would send the password to smtp\.example\.com "
            r"in clear; use security: auto",
        ),
        (
            {"channels": {"wecom": {"url_env": "U", "keyword": "x"}}},
            r"channels\.wecom\.keyword': unknown key",
        ),
    ],
)
def test_a_bad_config_names_the_key_and_the_value(section: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_notify_config(section, "n.yaml")


def test_a_run_config_without_a_notifications_section_says_so(tmp_path: Path) -> None:
    """``-c run.yaml`` before its notifications section is uncommented: not a list of
    RUN.yaml's own keys refused as unknown notification keys."""
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("version: 1\nexports: exports/{period}\nruns: runs\nmodel: m\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: this RUN\.yaml has no notifications:") as e:
        load_notify_config(run_yaml)
    assert "uncomment" in e.value.one_line()


# -- the command ---------------------------------------------------------------------------


def _write_config(path: Path, section: dict[str, Any], wrapped: bool = False) -> Path:
    data = {"version": 1, "notifications": section} if wrapped else section
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_cli_dry_run_shows_messages_and_sends_nothing(
    runs: dict[str, Path],
    receiver: tuple[str, Receiver],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, state = receiver
    _hooks(base, {"T_CLI": "/cli"}, monkeypatch)
    config = _write_config(
        tmp_path / "run.yaml", {"channels": {"wecom": {"url_env": "T_CLI"}}}, wrapped=True
    )
    start = len(state.requests)
    result = CliRunner().invoke(
        app, ["notify", str(runs["nov"].parent), "--config", str(config), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "客户风险预警 2026-11-30" in result.stdout and "dry run" in result.stdout
    assert len(state.requests) == start
    # a channel whose owners have nothing to send is listed as such, not left out unseen
    idle = _write_config(
        tmp_path / "idle.yaml",
        {
            "channels": {
                "wecom": {"url_env": "T_CLI"},
                "desk": {"type": "wecom", "url_env": "T_CLI", "owners": ["nobody"]},
            }
        },
    )
    result = CliRunner().invoke(app, ["notify", str(runs["nov"]), "-c", str(idle), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert (
        "desk: nothing to send (no new alert at yellow or above of owners nobody)" in result.stdout
    )
    off = _write_config(
        tmp_path / "off.yaml", {"channels": {"wecom": {"url_env": "T_CLI", "enabled": False}}}
    )
    result = CliRunner().invoke(app, ["notify", str(runs["nov"]), "-c", str(off), "--dry-run"])
    assert result.exit_code == 0 and "No channel is enabled" in result.stdout, result.output
    result = CliRunner().invoke(app, ["notify", str(runs["nov"]), "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)
    assert record["ok"] and record["channel"] == "wecom" and len(state.requests) == start + 1
    # the command reads the run's follow-up plan too: the digest it sends lists it
    due = len(read_run(runs["nov"], parts=("followups",)).followups)
    assert due and "回访计划" in state.requests[-1]["raw"].decode("utf-8")


def test_cli_again_on_a_run_that_is_not_a_month_of_the_batch_says_it_changes_nothing(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--again`` on a hand-scored run (``score --out``, no notifications.json): one
    note says every message is sent anyway, rather than the option passing unremarked."""
    monkeypatch.setenv("T_AGAIN", "http://127.0.0.1:9/never")
    config = _write_config(tmp_path / "n.yaml", {"channels": {"wecom": {"url_env": "T_AGAIN"}}})
    command = ["notify", str(runs["nov"].parent), "-c", str(config), "--dry-run"]
    result = CliRunner().invoke(app, [*command, "--again"])
    assert result.exit_code == 0, result.output
    [note] = [line for line in result.output.splitlines() if "--again" in line]
    assert note.startswith("Note: --again changes nothing here: ") and "notifications.json" in note
    assert "--again" not in CliRunner().invoke(app, command).output


def test_cli_sends_in_the_language_of_the_run_config_as_custrisk_run_does(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``custrisk notify runs/<month> -c RUN.yaml`` (the command custrisk run prints for
    a message it no longer re-sends) sends the digest in RUN.yaml's ``lang:``, the
    language the batch sent it in, not in Chinese; --lang still chooses."""
    monkeypatch.setenv("T_LANG", "http://127.0.0.1:9/lang")
    config = tmp_path / "run.yaml"
    section = {"channels": {"wecom": {"url_env": "T_LANG"}}}
    run_yaml = {"version": 1, "lang": "en", "notifications": section}
    config.write_text(yaml.safe_dump(run_yaml), encoding="utf-8")
    args = ["notify", str(runs["nov"]), "-c", str(config), "--dry-run"]
    import custrisk.notify.config as notify_config

    read = []
    load = notify_config.load_yaml_file
    monkeypatch.setattr(notify_config, "load_yaml_file", lambda p: read.append(p) or load(p))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Customer risk alerts 2026-11-30" in result.stdout, result.stdout
    assert read == [config]  # RUN.yaml read once, for its section and its lang:
    result = CliRunner().invoke(app, [*args, "--lang", "zh"])
    assert "客户风险预警 2026-11-30" in result.stdout, result.stdout
    config.write_text(yaml.safe_dump({**run_yaml, "lang": "fr"}), encoding="utf-8")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"{config}: lang must be one of zh, en; got 'fr'" in " ".join(result.output.split())


def test_cli_exits_1_on_a_failed_delivery_only_when_configured(
    runs: dict[str, Path],
    receiver: tuple[str, Receiver],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, _ = receiver
    _hooks(base, {"T_BROKEN": "/always-500"}, monkeypatch)
    section: dict[str, Any] = {
        "retry": {**FAST, "attempts": 1},
        "channels": {"wecom": {"url_env": "T_BROKEN"}},
    }
    lenient = _write_config(tmp_path / "lenient.yaml", section)
    strict = _write_config(tmp_path / "strict.yaml", {**section, "fail_on_error": True})
    args = ["notify", str(runs["nov"]), "-c"]
    result = CliRunner().invoke(app, [*args, str(lenient)])
    assert result.exit_code == 0
    assert "1 of 1 notifications failed" in result.stderr
    assert "1 attempt: HTTP 500" in result.stdout, result.stdout  # (not "attempt(s)")
    result = CliRunner().invoke(app, [*args, str(strict)])
    assert result.exit_code == 1
    assert "Error: 1 of 1 notifications failed" in result.stderr
    monkeypatch.delenv("T_BROKEN")  # never tried: "not sent", not "0 attempts"
    result = CliRunner().invoke(app, [*args, str(lenient)])
    said = " ".join(result.stdout.split())
    assert "alerts, not sent: environment variable T_BROKEN (channels.wecom.url_env)" in said
    result = CliRunner().invoke(app, [*args, str(lenient), "--dry-run"])
    assert "Warning: 1 of 1 notifications would fail (fail_on_error" in result.stderr


def test_cli_bad_config_and_missing_run_exit_2_in_one_line(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    bad = _write_config(
        tmp_path / "bad.yaml", {"channels": {"wecom": {"secret": "x", "url_env": "U"}}}
    )
    result = CliRunner().invoke(app, ["notify", str(runs["nov"]), "-c", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml, key 'channels.wecom.secret'" in result.stderr
    assert "Traceback" not in result.output
    good = _write_config(tmp_path / "good.yaml", {"channels": {"wecom": {"url_env": "U"}}})
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["notify", str(empty), "-c", str(good)])
    assert result.exit_code == 2 and "no run" in result.stderr


def test_cli_previous_must_be_an_earlier_run_than_the_one_notified(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    good = _write_config(tmp_path / "good.yaml", {"channels": {"wecom": {"url_env": "U"}}})
    args = ["notify", "-c", str(good), "--dry-run", "--previous"]
    for run, previous, message in (
        (runs["oct"], runs["nov"], "the previous run is as of 2026-11-30, after the run notified"),
        (runs["nov"], runs["nov"], "the previous run is the run notified itself"),
        (runs["nov"], tmp_path / "nowhere", "scores file not found"),
    ):
        result = CliRunner().invoke(app, [*args, str(previous), str(run)])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
        assert str(previous) in result.stderr and "Traceback" not in result.output
    result = CliRunner().invoke(app, [*args, str(runs["oct"]), str(runs["nov"])])
    assert result.exit_code == 0, result.output


def test_a_run_folder_is_notified_with_its_own_reports_and_portfolio(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A digest sent again by hand (``custrisk notify runs/<month>``) links the reports
    and attaches the portfolio of the run folder, as the run's own did."""
    folder = tmp_path / "2026-11"
    shutil.copytree(runs["nov"].parent, folder)
    reports = folder / REPORTS_DIR
    reports.mkdir()
    report = reports / customer_file_name(str(runs["with_report"]))
    report.write_bytes(b"%PDF-1.4 report\n")
    (reports / PORTFOLIO_FILE).write_bytes(b"%PDF-1.4 portfolio\n")
    good = _write_config(tmp_path / "good.yaml", {"channels": {"wecom": {"url_env": "U"}}})
    result = CliRunner().invoke(app, ["notify", str(folder), "-c", str(good), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert str(report.resolve()) in result.stdout.replace("\n", "")
    given: dict[str, Any] = {}

    def deliver(*args: Any, **kwargs: Any) -> list[Any]:
        given["reports"], given["portfolio"] = args[3:5]
        return []

    monkeypatch.setattr("custrisk.notify.deliver.deliver_notifications", deliver)
    notify_run(folder, good, dry_run=True)
    assert given == {"reports": reports, "portfolio": reports / PORTFOLIO_FILE}
    notify_run(folder / "scores.csv", good, reports_dir=runs["reports"], dry_run=True)
    assert given == {"reports": runs["reports"], "portfolio": None}  # the given folder's
    notify_run(runs["nov"], good, dry_run=True)  # a folder without reports
    assert given == {"reports": None, "portfolio": None}


def test_the_digest_lists_each_owners_follow_ups_due(runs: dict[str, Path]) -> None:
    """Issue 17: the follow-up plan is in the digest — each owner's customers due, masked,
    the first few listed and the rest counted."""
    from custrisk.notify import parse_notify_config
    from custrisk.notify.digest import (
        FOLLOWUPS_SHOWN,
        build_digest,
        html_table,
        markdown,
        plain_text,
    )

    run = read_run(runs["oct"])
    assert run.followups is not None and len(run.followups)
    cfg = parse_notify_config({"channels": {"w": {"type": "webhook", "url_env": "X"}}}, "t")
    digest = build_digest(cfg, run)
    plan = run.followups
    owner = digest.owners[0]
    due = plan[plan["owner"] == owner]
    text = plain_text(digest, digest.items, 0)
    assert f"回访计划：{len(due)} 位客户到期" in text
    for customer in due["customer_id"].head(FOLLOWUPS_SHOWN):
        assert str(customer) in text
    if len(due) > FOLLOWUPS_SHOWN:
        assert f"另有 {len(due) - FOLLOWUPS_SHOWN} 位见 followups.csv" in text
    assert f"回访计划：{len(due)} 位客户到期" in markdown(digest, digest.items, 0, colours=False)
    # the e-mail's HTML list cut the first two characters of the count of the rest
    # ("d 1 more in followups.csv", " 1 位见 followups.csv")
    counts = plan["owner"].value_counts()
    many = counts[counts > FOLLOWUPS_SHOWN]
    assert len(many), "the fixture needs an owner with more follow-ups than are listed"
    rest = int(many.iloc[0]) - FOLLOWUPS_SHOWN
    for lang, line in (("zh", f"另有 {rest} 位见"), ("en", f"and {rest} more in")):
        cfg_lang = parse_notify_config(
            {"lang": lang, "channels": {"w": {"type": "webhook", "url_env": "X"}}}, "t"
        )
        listed = build_digest(cfg_lang, run).for_owners([str(many.index[0])])
        assert f"<li>{line} followups.csv</li>" in html_table(listed, listed.items, 0)
    # only the owner's own follow-ups go to a channel for that owner
    scoped = digest.for_owners([owner])
    assert {f.owner for f in scoped.followups} == {owner}
