"""A generic JSON webhook for high-risk decisions (``--notify-webhook URL``): one POST of
the masked decision per call, retried a few times, never raising into the service.

``--notify-config RUN.yaml`` sends them through the run's notification channels instead
(:func:`channel_notifier`, over :mod:`custrisk.notify`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from custrisk.vocab import LEVEL_LABELS

log = logging.getLogger(__name__)
RETRIES = 3
TIMEOUT_SECONDS = 5.0


def generic_webhook_notifier(url: str) -> Callable[[dict[str, Any]], None]:
    """A callable that POSTs ``{"event": "high_risk_decision", "decision": {...}}``."""
    if not url.startswith(("http://", "https://")):
        from custrisk.errors import UsageError

        raise UsageError(f"--notify-webhook must be an http(s) URL; got {url!r}")

    def notify(decision: dict[str, Any]) -> None:
        body = json.dumps(
            {"event": "high_risk_decision", "decision": decision}, ensure_ascii=False
        ).encode("utf-8")
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        why = ""
        for attempt in range(1, RETRIES + 1):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                    if 200 <= response.status < 300:
                        return
                    why = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                why = str(exc)
                log.warning("high-risk webhook attempt %d/%d failed: %s", attempt, RETRIES, exc)
            time.sleep(0.2 * attempt)
        # which decision was not sent, and why: an operator sends it again by hand
        log.error(
            "high-risk webhook gave up on decision %s after %d attempts: %s",
            decision.get("decision_id"),
            RETRIES,
            why,
        )

    return notify


def channel_notifier(config: str | os.PathLike[str]) -> Callable[[dict[str, Any]], None]:
    """A callable that sends a high-risk decision through the notification channels of a
    RUN.yaml (its ``notifications:`` section) or a notify config: e-mail, WeCom, DingTalk,
    Feishu or a webhook, as :mod:`custrisk.notify` sends a run's alerts (masked, retried,
    never raising). The decision becomes one new alert of the ``risk_officer`` owner:
    red for a decline, orange for a review. Raises ConfigError for a bad config (at
    start-up, before the service listens)."""
    import datetime as dt

    import pandas as pd

    from custrisk.errors import ConfigError
    from custrisk.notify import deliver_notifications
    from custrisk.notify.config import load_notify_config
    from custrisk.privacy import mask_pii_text
    from custrisk.results import ScoringRun

    cfg = load_notify_config(config)
    # A channel whose variable is unset would fail on the first decline, maybe hours
    # after the start: it is a configuration error now, before the service listens
    unset = [
        f"{channel.key}.{setting} ({name})"
        for channel in cfg.channels
        if channel.settings.get("enabled", True)
        for setting, name in channel.settings.items()
        if setting.endswith("_env") and isinstance(name, str) and not os.environ.get(name)
    ]
    if unset:
        raise ConfigError(
            f"environment variables of the notification channels are not set: {', '.join(unset)}",
            file=str(config),
            hint="export them before custrisk serve starts, or set enabled: false on the channel",
        )

    def notify(decision: dict[str, Any]) -> None:
        as_of = dt.date.today().isoformat()
        customer = mask_pii_text(str(decision.get("customer_id") or decision.get("decision_id")))
        declined = decision.get("decision") == "decline"
        level = "red" if declined else "orange"
        pd_text = f"{float(decision.get('pd') or 0):.1%}"
        score, grade = decision.get("score"), str(decision.get("grade") or "")
        alert = {
            "customer_id": customer,
            "as_of": as_of,
            "grade": grade,
            "code": "APPLY",
            "level": level,
            "level_zh": LEVEL_LABELS[level]["zh"],
            "message_zh": f"新客户申请{'拒绝' if declined else '需复核'}：评分 {score}，"
            f"违约概率 {pd_text}（决策 {decision.get('decision_id')}）",
            "message_en": f"new customer {'declined' if declined else 'to review'}: score "
            f"{score}, PD {pd_text} (decision {decision.get('decision_id')})",
            "actions_zh": "",
            "actions_en": "",
            "owner": "risk_officer",
            "response_hours": 24,
            "due_by": "",
            "status": "new",
            "since": as_of,
        }
        run = ScoringRun(
            scores=pd.DataFrame({"customer_id": [customer], "grade": [grade]}),
            details=pd.DataFrame(),
            alerts=pd.DataFrame([alert]),
            facts={"as_of": as_of},
        )
        for delivery in deliver_notifications(cfg, run):
            if not delivery.ok:
                log.error(
                    "high-risk notification by %s failed: %s", delivery.channel, delivery.error
                )

    return notify


def high_risk_notifier(
    webhook: str | None = None, config: str | os.PathLike[str] | None = None
) -> Callable[[dict[str, Any]], None] | None:
    """What ``custrisk serve`` sends each high-risk decision to: a plain JSON webhook
    (``--notify-webhook``), the channels of a RUN.yaml or notify config
    (``--notify-config``), or both, in that order; ``None`` for neither. Raises
    ConfigError for a bad config (at start-up, before the service listens)."""
    hooks = [
        h
        for h in (
            generic_webhook_notifier(webhook) if webhook else None,
            channel_notifier(config) if config is not None else None,
        )
        if h is not None
    ]
    if not hooks:
        return None

    def notify(decision: dict[str, Any]) -> None:
        for hook in hooks:
            hook(decision)

    return notify


__all__ = ["channel_notifier", "generic_webhook_notifier", "high_risk_notifier"]
