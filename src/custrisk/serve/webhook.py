"""A generic JSON webhook for high-risk decisions (``--notify-webhook URL``): one POST of
the masked decision per call, retried a few times, never raising into the service.

A narrow stand-in until the run's notification channels (``custrisk.notify``) are wired
to ``ServeSettings.on_high_risk``.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

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
        for attempt in range(1, RETRIES + 1):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                    if 200 <= response.status < 300:
                        return
            except (urllib.error.URLError, OSError) as exc:
                log.warning("high-risk webhook attempt %d/%d failed: %s", attempt, RETRIES, exc)
            time.sleep(0.2 * attempt)
        log.error("high-risk webhook gave up after %d attempts", RETRIES)

    return notify


__all__ = ["generic_webhook_notifier"]
