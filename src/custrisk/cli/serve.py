"""``custrisk serve``: real-time decisions over HTTP; ``custrisk serve-token``: its tokens."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from custrisk.cli._common import AllowUnverifiedOpt, ModelsDirOpt
from custrisk.cli._console import console, err_console
from custrisk.io.stop import Stopped
from custrisk.serve.settings import DEFAULT_BURST, DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY, DEFAULT_RATE

app = typer.Typer()
tokens_app = typer.Typer(
    help="Create, list and revoke the bearer tokens of custrisk serve.", no_args_is_help=True
)
app.add_typer(tokens_app, name="serve-token", short_help="Bearer tokens of custrisk serve")

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Decisions store: a SQLite file, a SQLAlchemy URL (postgresql+psycopg://...) or "
        "env:NAME (default: $CUSTRISK_DECISIONS_URL, else serve/decisions.db).",
        show_default=False,
    ),
]


@app.command("serve", short_help="Score new customers over HTTP (decision service)")
def serve(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",  # as every other command that takes a model
            help="Model: a folder, NAME (latest version; reload picks up a new one) "
            "or NAME@VERSION, trained on a flat table of application fields.",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free one).", min=0, max=65535)
    ] = 8080,
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            help="Worker processes sharing the port, the rate limits and the decisions store: "
            "a number, or auto (one per CPU).",
        ),
    ] = "1",
    db: DbOpt = None,
    access_log: Annotated[
        Path,
        typer.Option("--access-log", help="JSON-lines access log (no personal data)."),
    ] = Path("serve/access.jsonl"),
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Credit policy with its decision: section (default: packaged).",
            show_default=False,
        ),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of labels: zh or en.")] = "zh",
    max_body: Annotated[
        int, typer.Option("--max-body", help="Largest request body in bytes (413 above).", min=1)
    ] = DEFAULT_MAX_BODY,
    max_batch: Annotated[
        int, typer.Option("--max-batch", help="Most records in one POST /v1/score.", min=1)
    ] = DEFAULT_MAX_BATCH,
    rate: Annotated[
        float,
        typer.Option(
            "--rate", help="Requests per second per token (429 above; 0: no limit).", min=0
        ),
    ] = DEFAULT_RATE,
    burst: Annotated[
        int, typer.Option("--burst", help="Requests a token may burst above --rate.", min=1)
    ] = DEFAULT_BURST,
    jdy_profile: Annotated[
        Path | None,
        typer.Option(
            "--jdy-profile",
            help="简道云 profile: form fields -> model fields (YAML). "
            "Without it the form's labels must be the model's fields.",
            show_default=False,
        ),
    ] = None,
    jdy_secret_env: Annotated[
        str,
        typer.Option(
            "--jdy-secret-env", help="Environment variable holding the 简道云 push secret."
        ),
    ] = "CUSTRISK_JDY_SECRET",
    notify_webhook: Annotated[
        str | None,
        typer.Option(
            "--notify-webhook",
            help="POST each high-risk decision (masked) as JSON to this URL.",
            show_default=False,
        ),
    ] = None,
    notify_config: Annotated[
        Path | None,
        typer.Option(
            "--notify-config",
            help="Send each high-risk decision through the notification channels of this "
            "RUN.yaml (its notifications: section) or notify config.",
            show_default=False,
        ),
    ] = None,
    allow_unsigned: Annotated[
        bool,
        typer.Option(
            "--allow-unsigned",
            help="Serve a model without a checked signature (for trials; "
            "by default the signature is required: CUSTRISK_SIGNING_KEY).",
        ),
    ] = False,
    allow_unverified: AllowUnverifiedOpt = False,
    models_dir: ModelsDirOpt = None,
) -> None:
    """Score new customers over HTTP: POST /v1/score, GET /v1/model, POST /hooks/jiandaoyun,
    POST /admin/reload (or SIGHUP), /healthz, /readyz, /openapi.json. Every decision is
    stored (--db). Tokens: custrisk serve-token new NAME --scope score."""
    from custrisk.serve.server import run_server
    from custrisk.serve.settings import ServeSettings
    from custrisk.serve.webhook import high_risk_notifier
    from custrisk.serve.workers import worker_count

    processes = worker_count(workers)

    settings = ServeSettings(
        model=model,
        models_dir=models_dir,
        host=host,
        port=port,
        db=db,
        access_log=access_log,
        policy=policy,
        lang=lang,
        max_body=max_body,
        max_batch=max_batch,
        rate=rate,
        burst=burst,
        jdy_profile=jdy_profile,
        jdy_secret_env=jdy_secret_env,
        require_signed=not allow_unsigned,
        allow_unverified=allow_unverified,
        on_high_risk=high_risk_notifier(notify_webhook, notify_config),
    )

    # (the service's rule: the hook answers when the secret is set; --jdy-profile needs it)
    jdy_hook = (
        "简道云 push on: POST /hooks/jiandaoyun"
        if os.environ.get(jdy_secret_env)
        else f"简道云 push off: set {jdy_secret_env} to turn it on"
    )

    def ready(service: dict[str, Any]) -> None:
        pids = service["workers"]
        how = (
            f"pid {service['pid']}"
            if len(pids) == 1
            else f"pid {service['pid']}, {len(pids)} workers: {' '.join(map(str, pids))}"
        )
        err_console.print(
            f"custrisk serve: {service['model_id']} on http://{host}:{service.get('port', port)} "
            f"({how}; "
            f"decisions in {service['store']}; {jdy_hook}; SIGHUP reloads)",
            highlight=False,
        )

    try:
        stopped = run_server(settings, workers=processes, on_ready=ready)
    except Stopped as stop:
        # A service's normal end (uvicorn finished the requests in flight, then raised the
        # signal again): exit 0, as the supervisor of --workers does and as systemd
        # expects of a unit it stops, not 143 (a failed unit)
        stopped = stop.signal_name
    if stopped:  # (said by the supervisor of --workers N too, once its workers stopped)
        err_console.print(f"custrisk serve: stopped ({stopped})", highlight=False)


@tokens_app.command("new", short_help="Create a bearer token, printed once")
def token_new(
    name: Annotated[
        str, typer.Argument(help="Who uses the token (a system or person).", show_default=False)
    ],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="<scope>",
            help="score (POST /v1/score, GET /v1/model) and/or admin (reload); repeat.",
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="When the token stops working: a number of days or weeks from now (90d, "
            "12w), a date (2027-03-01: 00:00 UTC that day) or a date and time "
            "(default: never).",
            show_default=False,
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    from custrisk.serve.store import DecisionStore
    from custrisk.serve.tokens import parse_expiry, shown_expiry

    if expires is not None:
        parse_expiry(expires)  # a mistyped --expires is refused before the store is made
    store = DecisionStore(db)
    secret, info = store.create_token(name, scope or ["score"], expires=expires)
    # where it is stored: a service started on another store (another folder or --db)
    # does not know the token
    err_console.print(
        f"token {info.token_id} for {info.name!r}, scopes {' '.join(info.scopes)}, expires "
        f"{shown_expiry(info.expires_at)}, stored hashed in {store.shown_url} (the service's "
        "--db); shown once:",
        highlight=False,
    )
    typer.echo(secret)


@tokens_app.command("list", short_help="The tokens (never the token itself)")
def token_list(db: DbOpt = None) -> None:
    """List the tokens: id, name, scopes, created, expires, revoked (never the token)."""
    from custrisk.serve.store import DecisionStore
    from custrisk.serve.tokens import shown_expiry

    table = Table(title="custrisk serve tokens", title_justify="left")
    for column in ("id", "name", "scopes", "created", "expires", "revoked"):
        table.add_column(column)
    for t in DecisionStore(db, create=False).tokens():
        table.add_row(
            t.token_id,
            t.name,
            " ".join(t.scopes),
            t.created_at,
            shown_expiry(t.expires_at),
            t.revoked_at or "",
        )
    console.print(table)


@tokens_app.command("revoke", short_help="Revoke a token")
def token_revoke(
    token_id: Annotated[
        str, typer.Argument(help="The token's id (custrisk serve-token list).", show_default=False)
    ],
    db: DbOpt = None,
) -> None:
    """Revoke a token (the service refuses it within 5 seconds)."""
    from custrisk.serve.store import DecisionStore

    info = DecisionStore(db, create=False).revoke_token(token_id.strip())
    console.print(f"token {info.token_id} ({info.name}) revoked at {info.revoked_at}")
