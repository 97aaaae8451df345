"""The one place where the batch calls :mod:`custrisk.notify` (alert digests by e-mail
and group-robot webhooks): parsing the run config's ``notifications`` section and
sending a run's digest, with the delivery results as plain dicts for run.json."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from custrisk.notify import NotifyConfig, deliver_notifications, parse_notify_config
from custrisk.results import ScoringRun


def parse(section: dict[str, Any] | None, where: str) -> NotifyConfig | None:
    """The parsed notifications config (raises ConfigError), or None when the run config
    has no such section."""
    if section is None:
        return None
    return parse_notify_config(section, where, key="notifications")


def fails_run(config: NotifyConfig) -> bool:
    """Whether a failed delivery fails the run's gate (``fail_on_error``)."""
    return bool(config.fail_on_error)


def deliver(
    config: NotifyConfig,
    run: ScoringRun,
    *,
    previous: ScoringRun | None,
    reports_dir: Path | None,
    portfolio_pdf: Path | None,
    lang: str,
    reports_link_dir: Path | None = None,
    resend: Collection[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Send the notifications (``resend``: only those messages, by channel and target);
    one plain dict per delivery (with its ``ok``)."""
    deliveries = deliver_notifications(
        config,
        run,
        previous=previous,
        reports_dir=reports_dir,
        portfolio_pdf=portfolio_pdf,
        lang=lang,
        reports_link_dir=reports_link_dir,
        resend=resend,
    )
    return [{**d.as_dict(), "ok": bool(d.ok)} for d in deliveries]


__all__ = ["deliver", "fails_run", "parse"]
