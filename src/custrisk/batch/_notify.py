"""The one place where the batch calls :mod:`custrisk.notify` (alert digests by e-mail
and group-robot webhooks): parsing the run config's ``notifications`` section and
sending a run's digest, with the delivery results as plain dicts for run.json."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from custrisk.errors import ConfigError
from custrisk.notify import NotifyConfig, deliver_notifications, parse_notify_config
from custrisk.results import ScoringRun
from custrisk.vocab import OWNER_LABELS


def parse(section: dict[str, Any] | None, where: str) -> NotifyConfig | None:
    """The parsed notifications config (raises ConfigError), or None when the run config
    has no such section."""
    if section is None:
        return None
    return parse_notify_config(section, where, key="notifications")


def check_owners(config: NotifyConfig, owners: Collection[str], file: str, rules: str) -> None:
    """Refuse a channel's ``owners:`` or an e-mail ``to:`` key that names an owner role
    neither an alert rule has (``owners``, from the ``rules`` file) nor custrisk knows
    (``custrisk serve``'s decisions go to ``risk_officer``): a typo there would leave the
    channel, or those recipients, without a message every month, silently."""
    owners = {*owners, *OWNER_LABELS}
    known = ", ".join(sorted(owners))
    for channel in config.channels:
        named = [(f"owners[{i}]", owner) for i, owner in enumerate(channel.owners)]
        to = channel.settings.get("to") or {}
        named += [(f"to.{owner}", owner) for owner in to if owner != "default"]
        for key, owner in named:
            if owner not in owners:
                raise ConfigError(
                    f"{owner!r} is not the owner of any alert rule of {rules} nor a role "
                    "custrisk knows",
                    file=file,
                    key=f"{channel.key}.{key}",
                    hint=f"owners: {known}",
                )


def settings_digest(section: dict[str, Any]) -> str:
    """The SHA-256 of the run config's ``notifications`` section (canonical JSON): kept
    in notifications.json, so that a rerun tells an edited section (a recipient or a
    channel added) from the one the month was sent with."""
    text = json.dumps(section, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Send the notifications (``resend``: only those messages, by channel and target;
    ``dry_run``: build them, send none); one plain dict per delivery (with its ``ok``)."""
    deliveries = deliver_notifications(
        config,
        run,
        previous=previous,
        reports_dir=reports_dir,
        portfolio_pdf=portfolio_pdf,
        lang=lang,
        reports_link_dir=reports_link_dir,
        resend=resend,
        dry_run=dry_run,
    )
    return [{**d.as_dict(), "ok": bool(d.ok)} for d in deliveries]


__all__ = ["check_owners", "deliver", "fails_run", "parse", "settings_digest"]
