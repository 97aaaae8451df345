"""Sending the digest: SMTP and group-robot webhooks, retried, never raising.

Each message is one :class:`Delivery`: which channel, a target description without
secrets (an owner role, a host), whether it went through, after how many attempts,
and the error otherwise. :func:`deliver_notifications` never raises for a delivery
problem: a failure is recorded and the run's outputs stand.

Signatures follow the vendors' documentation:

* DingTalk (钉钉) custom robot: ``sign = urlencode(base64(hmac_sha256(secret,
  f"{timestamp_ms}\\n{secret}")))`` appended to the URL with the timestamp.
* Feishu (飞书) custom bot: ``sign = base64(hmac_sha256(key=f"{timestamp_s}\\n{secret}",
  msg=b""))``, with ``timestamp`` and ``sign`` in the JSON body.
* Generic webhook: ``X-Custrisk-Signature: sha256=<hex hmac_sha256(secret,
  f"{timestamp}.{body}")>`` and ``X-Custrisk-Timestamp``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from custrisk.errors import CheckFailed, DataError
from custrisk.io.plain import counted
from custrisk.notify.config import Channel, NotifyConfig, Retry, load_notify_config
from custrisk.notify.digest import (
    Digest,
    Item,
    build_digest,
    fit,
    html_table,
    markdown,
    owner_label,
    plain_text,
)
from custrisk.report.batch import PORTFOLIO_FILE
from custrisk.results import REPORTS_DIR, ScoringRun, read_run

log = logging.getLogger(__name__)

#: Message size limits (UTF-8 bytes of the text part): WeCom markdown content 4096,
#: DingTalk and Feishu about 20 KB per request (kept below for the JSON around it).
MAX_BYTES = {"wecom": 4096, "dingtalk": 18000, "feishu": 18000}
#: API error codes that mean "too many messages, try later" (retried).
_RATE_LIMITED = {45009, 130101, 9499, 11232}
_USER_AGENT = "custrisk-notify"


class DeliveryFailed(Exception):
    """One attempt failed; ``retry`` says whether another attempt may help."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def message_key(channel: str, kind: str, target: str) -> tuple[str, str]:
    """Which message a delivery of channel type ``kind`` is, across sends of a run:
    ``(channel, target)`` for an e-mail (one per owner), ``(channel, type)`` for a robot
    or webhook (one message, whatever host its URL, read from the environment at each
    send, names)."""
    return (channel, target if kind == "smtp" else kind)


@dataclass
class Delivery:
    """The result of one message.

    Attributes
    ----------
    channel : str
        The channel's name in the config.
    target : str
        What the message went to, without secrets: ``owner collections (2 recipients)``,
        the webhook's host.
    ok : bool
    attempts : int
        Attempts made (0 for a dry run or a message that could not be built).
    error : str or None
        Why it failed (secrets removed).
    content_sha256 : str or None
        What the message says (:func:`_says`: its alerts and follow-ups, an e-mail's
        recipients and subject), not the run's inputs: the same in any run of the month
        whose digest lists the same.
    unchanged : bool
        Not sent: the same content went to the same channel before (``already_sent``).
    already_delivered : bool
        Not sent: this message (:attr:`key`) was delivered before (``delivered``).
    """

    channel: str
    type: str
    target: str
    ok: bool = False
    attempts: int = 0
    error: str | None = None
    alerts: int = 0
    left_out: int = 0
    dry_run: bool = False
    preview: str = field(default="", repr=False)
    content_sha256: str | None = None
    unchanged: bool = False
    already_delivered: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """Which message this is, across sends of a run (:func:`message_key`)."""
        return message_key(self.channel, self.type, self.target)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data for run.json (no secrets, no personal data)."""
        return {
            "channel": self.channel,
            "type": self.type,
            "target": self.target,
            "ok": self.ok,
            "attempts": self.attempts,
            "error": self.error,
            "alerts": self.alerts,
            "left_out": self.left_out,
            "dry_run": self.dry_run,
            "content_sha256": self.content_sha256,
            "unchanged": self.unchanged,
        } | ({"already_delivered": True} if self.already_delivered else {})


def deliver_notifications(
    cfg: NotifyConfig,
    run: ScoringRun,
    previous: ScoringRun | None = None,
    reports_dir: str | Path | None = None,
    portfolio_pdf: str | Path | None = None,
    lang: str | None = None,
    *,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    reports_link_dir: str | Path | None = None,
    resend: Collection[tuple[str, str]] | None = None,
    already_sent: Collection[tuple[str, str]] = (),
    delivered: Collection[tuple[str, str]] = (),
) -> list[Delivery]:
    """Send the digest of ``run``'s alerts to every channel of ``cfg``.

    Parameters
    ----------
    cfg : NotifyConfig
        From :func:`~custrisk.notify.parse_notify_config`.
    run : ScoringRun
        The scored run (:func:`custrisk.results.read_run`).
    previous : ScoringRun, optional
        The previous period's run: tells new alerts from ongoing ones when the run was
        scored without it.
    reports_dir : path, optional
        Folder of the customer reports (``customer_<id>.pdf``): each alert links its
        report when there is one.
    portfolio_pdf : path, optional
        Attached to e-mails (``attach_portfolio``, on by default).
    lang : {"zh", "en"}, optional
        Language of the digest (the config's ``lang`` wins; default: the run's).
    dry_run : bool
        Build every message but send nothing (``preview`` holds the text).
    reports_link_dir : path, optional
        Where the reports will be when the message is read, when that is not where they
        are now (``custrisk run`` builds a month in a staging folder and moves it into
        place after this stage); links name this folder.
    resend : collection of (channel, target), optional
        Only these messages (the ones that failed before, by :attr:`Delivery.channel`
        and :attr:`Delivery.target`): the others are neither sent nor returned.
    already_sent : collection of (channel, content_sha256), optional
        Messages delivered before (``custrisk run`` of the same month, run again): a
        message saying the same to the same channel is not sent again; it is returned
        with ``ok`` and ``unchanged`` set.
    delivered : collection of (channel, target or type), optional
        Messages delivered before, by their :attr:`Delivery.key` (``custrisk notify`` on
        a month's folder of ``custrisk run``): not sent again, whatever they say; each is
        returned with ``ok`` and ``already_delivered`` set.

    Returns
    -------
    list of Delivery
        One per message; empty when there is nothing to send. Never raises for a
        delivery problem.
    """
    try:
        digest = build_digest(
            cfg,
            run,
            previous,
            reports_dir=reports_dir,
            lang=lang,
            reports_link_dir=reports_link_dir,
        )
    except Exception as exc:  # a run this cannot read must not stop the caller's run
        log.exception("cannot build the alert digest")
        why = f"cannot build the digest: {type(exc).__name__}: {exc}"
        return [
            Delivery(c.name, c.type, c.type, error=why[:300])
            for c in cfg.channels
            if resend is None or (c.name, c.type) in resend
        ]
    deliveries: list[Delivery] = []
    for channel in cfg.channels:
        scoped = digest.for_owners(channel.owners)
        if not scoped.items:
            continue
        try:
            messages = _messages(channel, scoped, cfg, portfolio_pdf)
        except Exception as exc:  # e.g. an unreadable attachment: this channel fails
            why = _scrub(f"cannot build the message: {exc}", _secrets(channel))
            if resend is None or any(name == channel.name for name, _ in resend):
                deliveries.append(Delivery(channel.name, channel.type, channel.type, error=why))
            continue
        # a channel whose messages could not be built before is sent whole
        whole = resend is None or (channel.name, channel.type) in resend
        for message in messages:
            delivery = message.delivery
            if not whole and (delivery.channel, delivery.target) not in (resend or ()):
                continue
            if delivery.key in delivered:
                delivery.ok, delivery.already_delivered, delivery.error = True, True, None
            elif dry_run:
                delivery.ok, delivery.dry_run = delivery.error is None, True
            elif message.send is not None and (channel.name, message.content) in already_sent:
                delivery.ok, delivery.unchanged = True, True
            elif message.send is not None:
                _attempt(delivery, message.send, cfg.retry, sleep, _secrets(channel))
            deliveries.append(delivery)
    for d in deliveries:
        if d.unchanged or d.already_delivered:
            why = "unchanged since sent" if d.unchanged else "delivered before"
            log.info("notify %s -> %s: %s, not sent again", d.channel, d.target, why)
            continue
        log.info(
            "notify %s -> %s: %s after %s%s",
            d.channel,
            d.target,
            "ok" if d.ok else "FAILED",
            counted(d.attempts, "attempt"),
            f" ({d.error})" if d.error else "",
        )
    return deliveries


@dataclass
class _Message:
    delivery: Delivery
    send: Callable[[float], None] | None
    #: what the message says (:attr:`Delivery.content_sha256`)
    content: str | None = None

    def __post_init__(self) -> None:
        self.delivery.content_sha256 = self.content


def _says(kind: str, digest: Digest, *more: Any) -> str:
    """The SHA-256 of what a message says to its readers: the period, the language, the
    alerts listed (customer, level, rule, message, status, report) and the follow-ups
    due, with ``more`` (an e-mail's recipients and subject). Not the period's totals of
    the first line (a month run again for another owner's customer changes them), nor
    the run's id, nor what changes at each send (a signature, a date)."""
    parts = [
        kind,
        digest.as_of,
        digest.lang,
        [item.as_dict() for item in digest.items],
        [dataclasses.asdict(f) for f in digest.followups],
        *more,
    ]
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def notify_run(
    run_path: str | Path,
    config: NotifyConfig | str | Path,
    *,
    previous: str | Path | None = None,
    reports_dir: str | Path | None = None,
    portfolio_pdf: str | Path | None = None,
    lang: str | None = None,
    dry_run: bool = False,
    delivered: Collection[tuple[str, str]] = (),
) -> list[Delivery]:
    """``custrisk notify``: read the run (and the previous one), send its digest (not
    the messages ``delivered`` before: :func:`deliver_notifications`).

    Raises
    ------
    ConfigError, DataError
        A bad config, a missing or damaged run (never a delivery problem).
    """
    cfg = config if isinstance(config, NotifyConfig) else load_notify_config(config)
    run = read_run(run_path, parts=("scores", "details", "alerts", "closed", "followups"))
    prev = read_run(previous, parts=("scores", "alerts")) if previous is not None else None
    if prev is not None:
        _check_previous(run, prev, Path(str(previous)))
    for path, what in ((reports_dir, "reports folder"), (portfolio_pdf, "portfolio PDF")):
        if path is not None and not Path(path).exists():
            raise DataError(f"{what} not found", file=str(path))
    reports_dir, portfolio_pdf = _run_reports(run, reports_dir, portfolio_pdf)
    return deliver_notifications(
        cfg, run, prev, reports_dir, portfolio_pdf, lang, dry_run=dry_run, delivered=delivered
    )


def idle_channels(cfg: NotifyConfig, deliveries: list[Delivery]) -> list[Channel]:
    """The channels of ``cfg`` without a message in ``deliveries`` (no new alert, or
    none at ``min_level`` or above, for their owners): ``custrisk notify`` names each,
    rather than leaving it out unseen."""
    sent_to = {d.channel for d in deliveries}
    return [channel for channel in cfg.channels if channel.name not in sent_to]


def check_deliveries(cfg: NotifyConfig, deliveries: list[Delivery]) -> str | None:
    """The warning for the deliveries that failed, ``None`` when none did.

    Raises
    ------
    CheckFailed
        When some failed and the config says ``fail_on_error: true`` (exit 1).
    """
    failed = [d for d in deliveries if not d.ok]
    if not failed:
        return None
    tried = [d for d in deliveries if not d.already_delivered]
    failing = "would fail" if all(d.dry_run for d in failed) else "failed"  # (--dry-run)
    message = f"{len(failed):,} of {len(tried):,} notifications {failing}"
    if cfg.fail_on_error:
        raise CheckFailed(message, hint="see the errors above; fail_on_error: true")
    return f"{message} (fail_on_error is off)"


def _run_reports(
    run: ScoringRun, reports_dir: str | Path | None, portfolio_pdf: str | Path | None
) -> tuple[str | Path | None, str | Path | None]:
    """The reports to link and attach when none are given: those of the run's folder
    (``custrisk run`` renders them into ``reports/``), so that a digest sent again has
    the links and the attachment of the run's own; the portfolio PDF of the reports
    folder in use."""
    if reports_dir is None and run.files is not None:
        folder = run.files.folder / REPORTS_DIR
        reports_dir = folder if folder.is_dir() else None
    if portfolio_pdf is None and reports_dir is not None:
        pdf = Path(reports_dir) / PORTFOLIO_FILE
        portfolio_pdf = pdf if pdf.is_file() else None
    return reports_dir, portfolio_pdf


def _check_previous(run: ScoringRun, previous: ScoringRun, path: Path) -> None:
    """``--previous`` must be an earlier run than the one notified: the run itself (every
    alert ongoing, none new) or a later one (new alerts told as ongoing) is refused."""
    if previous.run_id is not None and previous.run_id == run.run_id:
        raise DataError(
            "the previous run is the run notified itself: every alert would count as "
            "ongoing, none as new",
            file=str(path),
            hint="give the run of the month before with --previous, or leave it out",
        )
    before, as_of = str(previous.facts.get("as_of") or ""), str(run.facts.get("as_of") or "")
    if before and as_of and before[:10] > as_of[:10]:
        raise DataError(
            f"the previous run is as of {before[:10]}, after the run notified "
            f"({as_of[:10]}): its alerts would be compared backwards",
            file=str(path),
            hint="give the run of an earlier month with --previous (the two may be swapped)",
        )


def _attempt(
    delivery: Delivery,
    send: Callable[[float], None],
    retry: Retry,
    sleep: Callable[[float], None],
    secrets: list[str],
) -> None:
    """Send with retries: exponential backoff, the total wait bounded."""
    waited = 0.0
    wait = retry.backoff_seconds
    for attempt in range(1, retry.attempts + 1):
        delivery.attempts = attempt
        try:
            send(retry.timeout_seconds)
        except DeliveryFailed as exc:
            delivery.error = _scrub(str(exc), secrets)
            if not exc.retry:
                return
        except Exception as exc:  # a bug in a channel must not stop the others
            delivery.error = _scrub(f"{type(exc).__name__}: {exc}", secrets)
            return
        else:
            delivery.ok, delivery.error = True, None
            return
        if attempt == retry.attempts or waited + wait > retry.max_seconds:
            return
        # said as it happens: a server that does not answer takes timeout_seconds a try
        log.warning(
            "notify %s -> %s: attempt %d of %d failed (%s); trying again in %g s",
            delivery.channel,
            delivery.target,
            attempt,
            retry.attempts,
            delivery.error,
            wait,
        )
        sleep(wait)
        waited += wait
        wait *= 2


def _secrets(channel: Channel) -> list[str]:
    values = [channel.env(k) for k in ("url_env", "secret_env", "password_env")]
    headers = channel.settings.get("headers_env") or {}
    values += [os.environ.get(v) for v in headers.values()]
    return [v for v in values if v]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
        quoted = urllib.parse.quote(secret, safe="")
        if quoted != secret:
            text = text.replace(quoted, "***")
    return text[:300]


def _messages(
    channel: Channel, digest: Digest, cfg: NotifyConfig, portfolio_pdf: str | Path | None
) -> list[_Message]:
    if channel.type == "smtp":
        return _smtp_messages(channel, digest, cfg, portfolio_pdf)
    return [_webhook_message(channel, digest, cfg)]


# -- webhooks -------------------------------------------------------------------------------


def _required_env(channel: Channel, setting: str) -> str:
    value = channel.env(setting)
    if not value:
        name = channel.settings.get(setting)
        raise DeliveryFailed(
            f"environment variable {name} ({channel.key}.{setting}) is not set", retry=False
        )
    return value


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or "?"


def _webhook_message(channel: Channel, digest: Digest, cfg: NotifyConfig) -> _Message:
    items = digest.items
    kind = channel.type
    limit = MAX_BYTES.get(kind)
    if kind == "wecom":
        text, shown, left = fit(_md(True), digest, items, cfg.max_items, limit)
        payload: dict[str, Any] = {"msgtype": "markdown", "markdown": {"content": text}}
    elif kind == "dingtalk":
        keyword = channel.settings.get("keyword")
        title = f"{keyword} {digest.title}" if keyword else digest.title
        text, shown, left = fit(_md(False), digest, items, cfg.max_items, limit)
        if keyword and keyword not in text:
            text = f"{keyword}\n\n{text}"
        payload = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    elif kind == "feishu":
        text, shown, left = fit(plain_text, digest, items, cfg.max_items, limit)
        payload = {"msg_type": "text", "content": {"text": text}}
    else:
        shown = min(len(items), cfg.max_items)
        left = len(items) - shown
        text = ""
        payload = {
            "kind": "custrisk.alerts",
            "as_of": digest.as_of,
            "run_id": digest.run_id,
            "title": digest.title,
            "summary": digest.summary_line(),
            "counts": digest.counts,
            "alerts": [i.as_dict() for i in items[:shown]],
            "left_out": left,
        }
    delivery = Delivery(
        channel.name,
        kind,
        kind,
        alerts=shown,
        left_out=left,
        preview=text or json.dumps(payload, ensure_ascii=False),
    )
    content = _says(kind, digest, channel.settings.get("keyword"))
    try:
        url = _required_env(channel, "url_env")
    except DeliveryFailed as exc:
        delivery.error = str(exc)
        return _Message(delivery, None, content)
    delivery.target = f"{kind} {_host(url)}"

    def send(timeout: float) -> None:
        target, body, headers = _signed(channel, url, payload)
        _post_json(target, body, headers, timeout, kind)

    return _Message(delivery, send, content)


def _md(colours: bool) -> Callable[[Digest, list[Item], int], str]:
    return lambda d, i, n: markdown(d, i, n, colours=colours)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature (Base64 of HMAC-SHA256, not yet URL-encoded)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's signature: HMAC-SHA256 keyed by ``"{timestamp}\\n{secret}"`` of nothing."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def webhook_signature(secret: str, timestamp_s: int, body: bytes) -> str:
    """The generic webhook's ``X-Custrisk-Signature``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _signed(
    channel: Channel, url: str, payload: dict[str, Any]
) -> tuple[str, bytes, dict[str, str]]:
    """URL, body and headers, signed at send time (each attempt gets a fresh timestamp)."""
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT}
    secret = channel.env("secret_env")
    if channel.settings.get("secret_env") and not secret:
        raise DeliveryFailed(
            f"environment variable {channel.settings['secret_env']} ({channel.key}.secret_env) "
            "is not set",
            retry=False,
        )
    body_payload = dict(payload)
    if channel.type == "dingtalk" and secret:
        stamp = int(time.time() * 1000)
        sign = urllib.parse.quote_plus(dingtalk_sign(secret, stamp))
        url = f"{url}{'&' if '?' in url else '?'}timestamp={stamp}&sign={sign}"
    elif channel.type == "feishu" and secret:
        stamp = int(time.time())
        body_payload = {"timestamp": str(stamp), "sign": feishu_sign(secret, stamp), **payload}
    body = json.dumps(body_payload, ensure_ascii=False).encode("utf-8")
    if channel.type == "webhook":
        if secret:
            stamp = int(time.time())
            headers["X-Custrisk-Timestamp"] = str(stamp)
            headers["X-Custrisk-Signature"] = webhook_signature(secret, stamp, body)
        for header, env in (channel.settings.get("headers_env") or {}).items():
            value = os.environ.get(env)
            if not value:
                raise DeliveryFailed(
                    f"environment variable {env} ({channel.key}.headers_env.{header}) is not set",
                    retry=False,
                )
            headers[header] = value
    return url, body, headers


def _post_json(url: str, body: bytes, headers: dict[str, str], timeout: float, kind: str) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data = response.read(1 << 16)
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code in (408, 429)
        raise DeliveryFailed(f"HTTP {exc.code} {exc.reason}", retry=retry) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"cannot reach {_host(url)}: {reason}", retry=True) from None
    if kind == "webhook":
        return
    try:
        answer = json.loads(data.decode("utf-8") or "{}")
    except ValueError:
        raise DeliveryFailed(
            f"{kind} answered with something that is not JSON", retry=False
        ) from None
    code = (
        answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
        if isinstance(answer, dict)
        else 0
    )
    if code not in (0, None):
        message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or ""
        raise DeliveryFailed(
            f"{kind} refused the message: code {code} {message}".strip(),
            retry=code in _RATE_LIMITED,
        )


# -- e-mail ------------------------------------------------------------------------------


def _smtp_messages(
    channel: Channel, digest: Digest, cfg: NotifyConfig, portfolio_pdf: str | Path | None
) -> list[_Message]:
    settings = channel.settings
    recipients: dict[str, tuple[str, ...]] = settings["to"]
    attachment: tuple[str, bytes] | None = None
    if portfolio_pdf is not None and settings.get("attach_portfolio", True):
        path = Path(portfolio_pdf)
        if path.is_file():
            attachment = (path.name, path.read_bytes())
    # (said by --dry-run too, as for a robot's URL)
    unset = _unset_env(channel, ("username_env", "password_env"))
    messages = []
    for owner, group in digest.by_owner():
        to = recipients.get(owner) or recipients.get("default") or ()
        delivery = Delivery(
            channel.name,
            "smtp",
            f"owner {owner} ({len(to)} recipient{'s' if len(to) != 1 else ''})",
        )
        owned = Digest(
            digest.as_of,
            digest.run_id,
            digest.lang,
            tuple(group),
            digest.counts,
            tuple(f for f in digest.followups if f.owner == owner),
        )
        text, shown, left = fit(plain_text, owned, group, cfg.max_items, None)
        body_html = html_table(owned, group[:shown], left)
        delivery.alerts, delivery.left_out, delivery.preview = shown, left, text
        if not to:
            delivery.error = (
                f"no recipients for owner {owner!r} in {channel.key}.to (and no 'default')"
            )
            messages.append(_Message(delivery, None))
            continue
        if unset:
            delivery.error = unset
            messages.append(_Message(delivery, None))
            continue
        subject = settings["subject"].format(
            title=digest.title,
            owner=owner_label(owner, digest.lang),
            as_of=digest.as_of,
            count=len(group),
        )
        email = EmailMessage()
        email["Subject"] = subject
        email["From"] = settings["from"]
        email["To"] = ", ".join(to)
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain=settings["from"].split("@")[-1].rstrip(">"))
        email.set_content(text)
        email.add_alternative(body_html, subtype="html")
        # (not the attachment: the portfolio's PDF changes with every customer's data)
        content = _says("smtp", owned, sorted(to), subject)
        if attachment is not None:
            email.add_attachment(
                attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
            )
        messages.append(_Message(delivery, _smtp_sender(channel, email, list(to)), content))
    return messages


def _unset_env(channel: Channel, settings: tuple[str, ...]) -> str | None:
    """What is wrong when a variable the channel names for ``settings`` is not set."""
    for setting in settings:
        name = channel.settings.get(setting)
        if name and not channel.env(setting):
            return f"environment variable {name} ({channel.key}.{setting}) is not set"
    return None


def _smtp_sender(channel: Channel, email: EmailMessage, to: list[str]) -> Callable[[float], None]:
    settings = channel.settings

    def send(timeout: float) -> None:
        username = settings.get("username") or channel.env("username_env")
        password = channel.env("password_env")
        context = ssl.create_default_context(cafile=settings.get("ca_file"))
        security = settings["security"]
        host, port = settings["host"], settings["port"]
        try:
            if security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, port, timeout=timeout, context=context
                )
            else:
                client = smtplib.SMTP(host, port, timeout=timeout)
            with client:
                client.ehlo()
                if security in ("auto", "starttls"):
                    if client.has_extn("starttls"):
                        client.starttls(context=context)
                        client.ehlo()
                    elif security == "starttls" or password:
                        raise DeliveryFailed(
                            f"{host}:{port} does not offer STARTTLS; refusing to send "
                            + ("the password " if password else "")
                            + "in clear (security: none allows it)",
                            retry=False,
                        )
                if username and password:
                    client.login(username, password)
                refused = client.send_message(email, to_addrs=to)
                if refused:
                    said = counted(len(refused), "recipient")
                    raise DeliveryFailed(f"{said} refused", retry=False)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(f"SMTP login refused ({exc.smtp_code})", retry=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"SMTP error {exc.smtp_code} {_text(exc.smtp_error)[:120]}",
                retry=exc.smtp_code >= 400 and exc.smtp_code < 500,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"cannot send through {host}:{port}: {exc}", retry=True) from None

    return send


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


__all__ = [
    "Delivery",
    "check_deliveries",
    "deliver_notifications",
    "dingtalk_sign",
    "idle_channels",
    "message_key",
    "notify_run",
    "feishu_sign",
    "webhook_signature",
]
