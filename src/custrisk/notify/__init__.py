"""Notifications of a run's alerts: an e-mail per owner and group-robot webhooks.

>>> from custrisk.notify import parse_notify_config, deliver_notifications
>>> cfg = parse_notify_config(run_yaml["notifications"], "run.yaml")  # doctest: +SKIP
>>> deliveries = deliver_notifications(cfg, read_run("runs/2026-11"))  # doctest: +SKIP
>>> [d.as_dict() for d in deliveries]                                 # doctest: +SKIP

The digest lists the new alerts (red first, grouped by owner role) with masked personal
data only and a link to each customer's report; SMTP (STARTTLS, credentials from the
environment, the portfolio PDF attached), WeCom (企业微信), DingTalk (钉钉, signed),
Feishu (飞书, signed) and a generic JSON webhook (HMAC-signed). Deliveries are retried
with backoff and never raise: each result is a :class:`Delivery`.
"""

from custrisk.notify.config import (
    CHANNEL_TYPES,
    Channel,
    NotifyConfig,
    Retry,
    load_notify_config,
    parse_notify_config,
)
from custrisk.notify.deliver import (
    Delivery,
    deliver_notifications,
    dingtalk_sign,
    feishu_sign,
    message_key,
    notify_run,
    webhook_signature,
)
from custrisk.notify.digest import Digest, Item, build_digest

__all__ = [
    "CHANNEL_TYPES",
    "Channel",
    "Delivery",
    "Digest",
    "Item",
    "NotifyConfig",
    "Retry",
    "build_digest",
    "deliver_notifications",
    "dingtalk_sign",
    "feishu_sign",
    "load_notify_config",
    "message_key",
    "notify_run",
    "parse_notify_config",
    "webhook_signature",
]
