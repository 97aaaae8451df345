"""The notifications config: channels, what the digest lists, retries.

Read once into frozen objects. Secrets (SMTP passwords, webhook URLs, which carry the
robot's key, and signing secrets) are never written in the config: it names the
environment variable that holds each (``password_env: SMTP_PASSWORD``), read only when
a message is sent.

A section looks like::

    fail_on_error: false        # custrisk notify / run: exit 1 when a delivery failed
    include: new                # new (default) or all alerts of the run
    min_level: yellow           # the least severe level listed
    max_items: 50               # alerts per message; the rest as "and N more"
    report_url: https://intranet.example.com/risk/{period}/{file}   # optional
    retry: {attempts: 3, backoff_seconds: 1, max_seconds: 60, timeout_seconds: 10}
    channels:
      mail:      {type: smtp, host: smtp.example.com, from: risk@example.com,
                  username: risk-bot, password_env: SMTP_PASSWORD,
                  to: {collections: [cuishou@example.com], default: [risk@example.com]}}
      wecom:     {url_env: WECOM_WEBHOOK_URL}
      dingtalk:  {url_env: DINGTALK_WEBHOOK_URL, secret_env: DINGTALK_SECRET, keyword: 预警}
      feishu:    {url_env: FEISHU_WEBHOOK_URL, secret_env: FEISHU_SECRET}
      webhook:   {url_env: ALERTS_WEBHOOK_URL, secret_env: ALERTS_WEBHOOK_SECRET}
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from custrisk.config._yaml import Node, config_root, load_yaml_file
from custrisk.errors import ConfigError, UsageError
from custrisk.vocab import LEVELS, check_language

#: Keys of the section in a larger file (RUN.yaml has ``notifications:``).
SECTION_KEYS = ("notifications", "notify")
#: Channel types.
CHANNEL_TYPES = ("smtp", "wecom", "dingtalk", "feishu", "webhook")
#: What the digest lists: the new alerts only, or every alert of the run.
INCLUDE = ("new", "all")
#: SMTP transport security: STARTTLS when the server offers it (and always before a
#: password is sent), STARTTLS required, TLS from the first byte (port 465), or none.
SMTP_SECURITY = ("auto", "starttls", "ssl", "none")
#: Keys that would hold a secret in clear, and the key that names its variable instead.
_SECRET_KEYS = {
    "password": "password_env",
    "secret": "secret_env",
    "url": "url_env",
    "webhook": "url_env",
    "token": "headers_env",
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TOP_KEYS = (
    "version",
    "fail_on_error",
    "include",
    "min_level",
    "max_items",
    "report_url",
    "retry",
    "channels",
    "lang",
)
#: Keys of a RUN.yaml (custrisk run) that a notifications file does not have.
_RUN_KEYS = ("exports", "runs", "model")
_RETRY_KEYS = ("attempts", "backoff_seconds", "max_seconds", "timeout_seconds")
_COMMON_KEYS = ("type", "owners", "enabled")
_CHANNEL_KEYS = {
    "smtp": (
        "host",
        "port",
        "security",
        "username",
        "username_env",
        "password_env",
        "from",
        "to",
        "subject",
        "attach_portfolio",
        "ca_file",
    ),
    "wecom": ("url_env",),
    "dingtalk": ("url_env", "secret_env", "keyword"),
    "feishu": ("url_env", "secret_env"),
    "webhook": ("url_env", "secret_env", "headers_env"),
}
_REQUIRED = {
    "smtp": ("host", "from", "to"),
    "wecom": ("url_env",),
    "dingtalk": ("url_env",),
    "feishu": ("url_env",),
    "webhook": ("url_env",),
}
DEFAULT_SUBJECT = "{title}"


@dataclass(frozen=True)
class Retry:
    """Retries with exponential backoff: waits of ``backoff_seconds``, twice that, ...,
    never past ``max_seconds`` in all; each request gives up after ``timeout_seconds``."""

    attempts: int = 3
    backoff_seconds: float = 1.0
    max_seconds: float = 60.0
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Channel:
    """One place notifications go.

    Attributes
    ----------
    name : str
        The key under ``channels`` (shown in delivery results).
    type : str
        One of :data:`CHANNEL_TYPES`.
    owners : tuple of str
        Only alerts of these owner roles (empty: all).
    settings : mapping
        The type's settings, validated (environment variable *names*, never secrets).
    key : str
        Key path in the config, for messages.
    """

    name: str
    type: str
    owners: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""

    def env(self, setting: str) -> str | None:
        """The value of the environment variable named by ``setting`` (None if unset)."""
        name = self.settings.get(setting)
        if not name:
            return None
        return os.environ.get(str(name))


@dataclass(frozen=True)
class NotifyConfig:
    """A validated notifications config."""

    channels: tuple[Channel, ...]
    where: str = "<notify>"
    fail_on_error: bool = False
    include: str = "new"
    min_level: str = LEVELS[-1]
    max_items: int = 50
    report_url: str | None = None
    retry: Retry = field(default_factory=Retry)
    lang: str | None = None
    #: the top-level ``lang:`` of the RUN.yaml this is the ``notifications:`` section of
    #: (the language ``custrisk run`` sends its digests in), None for another file
    run_lang: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for run.json (environment variable names only, never values)."""
        return {
            "where": self.where,
            "fail_on_error": self.fail_on_error,
            "include": self.include,
            "min_level": self.min_level,
            "max_items": self.max_items,
            "channels": [{"name": c.name, "type": c.type} for c in self.channels],
        }

    def only(self, names: Sequence[str]) -> NotifyConfig:
        """The config with only the channels named (``custrisk notify --channel``).

        Raises
        ------
        UsageError
            For a name the config has no enabled channel of (exit 2), naming those it has.
        """
        known = [c.name for c in self.channels]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise UsageError(
                f"--channel {unknown[0]!r}: {self.where} has no enabled channel of that name",
                hint=f"its channels: {', '.join(known) or 'none'}",
            )
        return replace(self, channels=tuple(c for c in self.channels if c.name in names))


def parse_notify_config(section: Any, where: str, *, key: str = "notifications") -> NotifyConfig:
    """Validate a notifications section (e.g. ``notify:`` of RUN.yaml).

    Parameters
    ----------
    section : mapping
        The parsed section.
    where : str
        The file it comes from, named in every message.
    key : str
        The section's key path in that file (default ``notifications``, as in
        RUN.yaml; ``""`` for a file that is only the section); key paths in messages
        start with it.

    Returns
    -------
    NotifyConfig

    Raises
    ------
    ConfigError
        Naming ``where``, the key path, the bad value and how to fix it.
    """
    root = Node(section if section is not None else {}, where, key)
    root.check_keys(_TOP_KEYS, required=("channels",))
    version = root.get("version", 1)
    if version != 1 or isinstance(version, bool):
        raise root.error("version", f"unsupported config version {version!r}", hint="write 1")
    include = root.text("include", "new", allowed=INCLUDE)
    min_level = root.text("min_level", LEVELS[-1], allowed=LEVELS)
    max_items = int(root.number("max_items", 50, minimum=1, integer=True))
    lang = root.text("lang", None, allowed=("zh", "en"))
    report_url = root.text("report_url", None)
    if report_url is not None:
        if not report_url.startswith(("http://", "https://", "file://")):
            raise root.error(
                "report_url",
                f"{report_url!r} is not an http(s) or file URL",
                hint="e.g. https://intranet.example.com/risk/{period}/{file}",
            )
        unknown = set(re.findall(r"\{([^{}]*)\}", report_url)) - {"period", "file", "customer_id"}
        if unknown:
            raise root.error(
                "report_url",
                f"unknown placeholder {{{sorted(unknown)[0]}}} in {report_url!r}",
                hint="placeholders: {period}, {file}, {customer_id}",
            )
    retry = _retry(root.child("retry"))
    raw = root.get("channels")
    if not isinstance(raw, Mapping) or not raw:
        raise root.error(
            "channels",
            f"expected a mapping of channel name -> settings, got {raw!r}"[:160],
            hint=f"e.g. channels: {{wecom: {{url_env: WECOM_WEBHOOK_URL}}}}; types: "
            f"{', '.join(CHANNEL_TYPES)}",
        )
    channels = tuple(
        _channel(
            Node(value if value is not None else {}, where, root.key(f"channels.{name}")), str(name)
        )
        for name, value in raw.items()
    )
    return NotifyConfig(
        channels=tuple(c for c in channels if c.settings.get("enabled", True)),
        where=where,
        fail_on_error=root.flag("fail_on_error", False),
        include=include,
        min_level=min_level,
        max_items=max_items,
        report_url=report_url,
        retry=retry,
        lang=lang,
    )


def load_notify_config(path: str | os.PathLike[str]) -> NotifyConfig:
    """A notifications YAML: the section alone, or a file with a ``notifications:`` (as
    in RUN.yaml) or ``notify:`` section."""
    file = str(Path(path))
    data = load_yaml_file(path)
    for section in SECTION_KEYS:
        if isinstance(data, Mapping) and section in data:
            config = parse_notify_config(data[section], file, key=section)
            if section == "notifications":  # (a RUN.yaml: read once, its lang: kept)
                lang = data.get("lang")
                config = replace(config, run_lang=lang if isinstance(lang, str) else None)
            return config
    if isinstance(data, Mapping) and "channels" not in data and set(_RUN_KEYS) & set(data):
        # a RUN.yaml whose notifications: section is still commented out (as --init
        # writes it): not "unknown key 'exports'" as if it were meant as a notify config
        raise ConfigError(
            "this RUN.yaml has no notifications: section",
            file=file,
            hint="uncomment the notifications: section (custrisk run --init writes it "
            "commented out) and name its channels, or pass the notifications YAML; "
            "docs/notify.md",
        )
    config_root(data, file, allowed=_TOP_KEYS, required=("channels",))
    return parse_notify_config(data, file, key="")


def digest_language(config: NotifyConfig, lang: str | None = None) -> str | None:
    """The language ``custrisk notify`` sends the digest of ``config`` in: ``lang`` when
    given, else the ``lang:`` of the RUN.yaml it was read from (:attr:`NotifyConfig.run_lang`:
    the language the batch sent the month's digests in, so that a message sent again by
    hand reads the same), else ``None``: the run's language (recorded when it was scored).

    Raises
    ------
    UsageError
        A language not supported, naming ``--lang`` or the file's ``lang`` key.
    """
    if lang is not None:
        return check_language(lang)
    if config.run_lang is None:
        return None
    return check_language(config.run_lang, f"{config.where}: lang")


def _retry(node: Node) -> Retry:
    node.check_keys(_RETRY_KEYS)
    default = Retry()
    attempts = node.number("attempts", default.attempts, minimum=1, integer=True)
    if attempts > 10:
        raise node.error("attempts", f"at most 10, got {attempts}", hint="e.g. attempts: 3")
    return Retry(
        attempts=int(attempts),
        backoff_seconds=float(node.number("backoff_seconds", default.backoff_seconds, minimum=0)),
        max_seconds=float(node.number("max_seconds", default.max_seconds, minimum=0)),
        timeout_seconds=float(node.number("timeout_seconds", default.timeout_seconds, minimum=0.1)),
    )


def _channel(node: Node, name: str) -> Channel:
    kind = node.get("type", name if name in CHANNEL_TYPES else None)
    if kind not in CHANNEL_TYPES:
        raise node.error(
            "type",
            f"channel type {kind!r} is not known"
            if kind is not None
            else "required key is missing",
            hint=f"types: {', '.join(CHANNEL_TYPES)} (or name the channel after its type)",
        )
    for secret, instead in _SECRET_KEYS.items():
        if secret in node.data:
            raise node.error(
                secret,
                "a secret must not be written in the config",
                hint=f"put it in an environment variable and name that with {instead}: "
                "(e.g. " + f"{instead}: {name.upper().replace('-', '_')}_{secret.upper()})",
            )
    node.check_keys((*_COMMON_KEYS, *_CHANNEL_KEYS[kind]), required=_REQUIRED[kind])
    settings: dict[str, Any] = {"enabled": node.flag("enabled", True)}
    for key in _CHANNEL_KEYS[kind]:
        if key.endswith("_env") and key != "headers_env" and key in node.data:
            settings[key] = _env_name(node, key)
    owners = node.text_list("owners") or ()
    if kind == "smtp":
        settings.update(_smtp(node))
    elif kind == "dingtalk":
        settings["keyword"] = node.text("keyword", None)
    elif kind == "webhook":
        headers = node.child("headers_env")
        settings["headers_env"] = {str(h): _env_name(headers, str(h)) for h in headers.data}
        for header in settings["headers_env"]:
            if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", header):
                raise headers.error(header, f"{header!r} is not an HTTP header name")
    return Channel(name=name, type=kind, owners=owners, settings=settings, key=node.path)


def _env_name(node: Node, key: str) -> str:
    value = node.get(key)
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        raise node.error(
            key,
            f"expected the name of an environment variable, got {value!r}"[:160],
            hint="e.g. SMTP_PASSWORD: letters, digits and '_'; the value itself is set in "
            "the environment of the job",
        )
    return value


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine (where a clear connection never leaves it)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _smtp(node: Node) -> dict[str, Any]:
    security = node.text("security", "auto", allowed=SMTP_SECURITY)
    port = node.number("port", 465 if security == "ssl" else 587, minimum=1, integer=True)
    if port > 65535:
        raise node.error("port", f"{port} is not a port number", hint="e.g. 587 (STARTTLS)")
    sender = node.text("from", required=True)
    if not _EMAIL.fullmatch(sender.split("<")[-1].rstrip(">").strip()):
        raise node.error("from", f"{sender!r} is not an e-mail address")
    to = node.child("to")
    if not to.data:
        raise node.error("to", "expected owner role -> list of addresses", hint=_TO_HINT)
    recipients: dict[str, tuple[str, ...]] = {}
    for owner in to.data:
        addresses = to.text_list(str(owner))
        for i, address in enumerate(addresses or ()):
            if not _EMAIL.fullmatch(address):
                raise to.error(f"{owner}[{i}]", f"{address!r} is not an e-mail address")
        recipients[str(owner)] = tuple(addresses or ())
    if node.get("username") is not None and node.get("username_env") is not None:
        raise node.error("username", "give username or username_env, not both")
    subject = node.text("subject", DEFAULT_SUBJECT)
    unknown = set(re.findall(r"\{([^{}]*)\}", subject)) - {"title", "owner", "as_of", "count"}
    if unknown:
        raise node.error(
            "subject",
            f"unknown placeholder {{{sorted(unknown)[0]}}} in {subject!r}",
            hint="placeholders: {title}, {owner}, {as_of}, {count}",
        )
    ca_file = node.text("ca_file", None)
    host = node.text("host", required=True)
    if security == "none" and node.get("password_env") is not None and not _loopback(host):
        raise node.error(
            "security",
            f"'none' would send the password to {host} in clear",
            hint="use security: auto, starttls or ssl; 'none' is for a relay on this machine "
            "(127.0.0.1, localhost)",
        )
    return {
        "host": host,
        "port": int(port),
        "security": security,
        "username": node.text("username", None),
        "from": sender,
        "to": recipients,
        "subject": subject,
        "attach_portfolio": node.flag("attach_portfolio", True),
        "ca_file": ca_file,
    }


_TO_HINT = (
    "e.g. to: {collections: [cuishou@example.com], default: [risk@example.com]}; 'default' "
    "gets the alerts of owners not listed"
)


__all__ = [
    "CHANNEL_TYPES",
    "INCLUDE",
    "SMTP_SECURITY",
    "Channel",
    "NotifyConfig",
    "Retry",
    "digest_language",
    "load_notify_config",
    "parse_notify_config",
]
