"""``custrisk notify``: send the digest of a scored run's new alerts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from custrisk.cli._common import protect_command
from custrisk.cli._console import console, say

app = typer.Typer()


@app.command("notify", short_help="Send a run's new alerts by e-mail and webhooks")
def notify(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="The scored run: its folder, scores file or facts file.", show_default=False
        ),
    ],
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="Notifications YAML: the section alone, or a file with a notifications: "
            "(RUN.yaml) or notify: section. Secrets come from the environment variables it "
            "names.",
            show_default=False,
        ),
    ],
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="The previous period's run: alerts that fired there too are ongoing, not "
            "new (not needed when the run was scored with --previous).",
            show_default=False,
        ),
    ] = None,
    reports_dir: Annotated[
        Path | None,
        typer.Option(
            "--reports",
            help="Folder of the customer reports (customer_<id>.pdf): each alert links its "
            "report. Default: the run folder's reports/, when it has one.",
            show_default=False,
        ),
    ] = None,
    portfolio: Annotated[
        Path | None,
        typer.Option(
            "--portfolio",
            help="Portfolio PDF to attach to e-mails. Default: the reports folder's "
            "portfolio.pdf, when it has one.",
            show_default=False,
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language of the digest: zh or en [default: lang: of the config when it "
            "is a RUN.yaml, as custrisk run sends it; else the run's language].",
            show_default=False,
        ),
    ] = None,
    channels: Annotated[
        list[str] | None,
        typer.Option(
            "--channel",
            help="Only this channel of the config (by its name under channels:; repeat for "
            "more): to send by hand what custrisk run gave up re-sending, or no longer re-sends "
            "(the month before's, once a new month ran).",
            metavar="<name>",
            show_default=False,
        ),
    ] = None,
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="On a month's folder of custrisk run: send again the messages its "
            "notifications.json records as delivered too (by default only those not "
            "delivered yet are sent); a damaged notifications.json is set aside and "
            "recorded anew.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Build and show every message it would send, send nothing (and record nothing).",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the delivery results as JSON (for cron and logs)."),
    ] = False,
) -> None:
    """Send the digest of RUN_DIR's new alerts (red first, grouped by owner, personal
    data masked) to the channels of the config: an e-mail per owner through SMTP, and
    WeCom, DingTalk, Feishu or generic JSON webhooks.

    Each message is retried with backoff; a failure is reported, and exits with code 1
    only when the config says fail_on_error: true.

    On a month's folder of custrisk run, only the messages not delivered yet are sent
    (--again: every one), and what is delivered is recorded in its notifications.json
    (custrisk run does not send it again); refused (exit 2) while custrisk run holds the
    lock of its runs folder.
    """
    protect_command()  # the role decides how customer data is read
    from custrisk.batch._notify import hand_command
    from custrisk.batch.sent import send_by_hand
    from custrisk.io.plain import counted
    from custrisk.notify import load_notify_config
    from custrisk.notify.config import digest_language
    from custrisk.notify.deliver import check_deliveries, idle_channels

    cfg = load_notify_config(config)
    # the command custrisk run prints for a message it no longer re-sends sends it in
    # the language the batch sent the month's digests in (RUN.yaml's lang:)
    lang = digest_language(cfg, lang)
    if channels:
        cfg = cfg.only(channels)
    # a month of custrisk run: sent holding its runs folder's lock, recorded there
    deliveries, notes = send_by_hand(
        run_dir,
        cfg,
        previous=previous,
        reports_dir=reports_dir,
        portfolio_pdf=portfolio,
        lang=lang,
        dry_run=dry_run,
        again=again,
        command=hand_command(run_dir, config),
        channels=channels or (),
    )
    if as_json:
        typer.echo(json.dumps([d.as_dict() for d in deliveries], ensure_ascii=False, indent=2))
    else:
        for d in deliveries:
            if dry_run and not d.already_delivered:
                console.print(f"--- {d.channel} -> {d.target}", highlight=False)
                console.print(d.preview, highlight=False, markup=False)
            state = "skip" if d.already_delivered else "ok" if d.ok else "FAILED"
            shown = counted(d.alerts, "alert")
            shown += f" (+{d.left_out} not listed)" if d.left_out else ""
            if d.already_delivered:
                tries = "delivered before, not sent again"
            elif d.dry_run:
                tries = "dry run"
            else:  # (0: the message could not be built or addressed, never tried)
                tries = counted(d.attempts, "attempt") if d.attempts else "not sent"
            why = f": {d.error}" if d.error else ""
            console.print(
                f"{state:6} {d.channel} -> {d.target}: {shown}, {tries}{why}", highlight=False
            )
        if not cfg.channels:
            console.print("No channel is enabled (each has enabled: false): nothing sent.")
        elif not deliveries:
            console.print("No new alerts to send.")
        else:  # a channel with no message says so, rather than being left out unseen
            for channel in idle_channels(cfg, deliveries):
                whose = f" of owners {', '.join(channel.owners)}" if channel.owners else ""
                new = "new " if cfg.include == "new" else ""
                console.print(
                    f"{'-':6} {channel.name}: nothing to send (no {new}alert at "
                    f"{cfg.min_level} or above{whose})",
                    highlight=False,
                )
    for note in notes:
        say("Note:", note)
    warning = check_deliveries(cfg, deliveries)  # fail_on_error: true raises (exit 1)
    if warning:
        say("Warning:", warning)
