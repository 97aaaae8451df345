"""The one place where the batch calls :mod:`custrisk.notify` (alert digests by e-mail
and group-robot webhooks).

Until that package is installed, a RUN.yaml with a ``notifications`` section still loads,
and the stage is recorded as skipped; nothing is ever reported as delivered that was not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custrisk.results import ScoringRun

SKIPPED_NOT_INSTALLED = "skipped: notify not installed"


def _module() -> Any | None:
    try:
        import custrisk.notify as notify
    except ImportError:
        return None
    return notify


def parse(section: dict[str, Any] | None, where: str) -> Any | None:
    """The parsed notifications config (raises ConfigError), or None when there is no
    section or the notify package is missing."""
    notify = _module()
    if section is None or notify is None:
        return None
    return notify.parse_notify_config(section, where, key="notifications")


def available() -> bool:
    return _module() is not None


def fails_run(config: Any) -> bool:
    """Whether a failed delivery fails the run's gate (``fail_on_error``)."""
    return bool(getattr(config, "fail_on_error", False))


def deliver(
    config: Any,
    run: ScoringRun,
    *,
    previous: ScoringRun | None,
    reports_dir: Path | None,
    portfolio_pdf: Path | None,
    lang: str,
) -> list[dict[str, Any]]:
    """Send the notifications; one plain dict per delivery (with its ``ok``)."""
    notify = _module()
    assert notify is not None
    deliveries = notify.deliver_notifications(
        config,
        run,
        previous=previous,
        reports_dir=reports_dir,
        portfolio_pdf=portfolio_pdf,
        lang=lang,
    )
    return [{**d.as_dict(), "ok": bool(d.ok)} for d in deliveries]


__all__ = ["SKIPPED_NOT_INSTALLED", "available", "deliver", "fails_run", "parse"]
