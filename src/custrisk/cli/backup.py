"""``custrisk backup --out DIR``, ``custrisk backup verify ARCHIVE``, ``custrisk restore``."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from custrisk.cli._console import console, say
from custrisk.cli.keys import KeyfileOpt
from custrisk.protect.keys import Keyring

app = typer.Typer()
backup_app = typer.Typer(
    help="Back up models, runs, configs and the audit log into a verified archive.",
    short_help="Archive models, runs, configs and the audit log",
    invoke_without_command=True,
)
app.add_typer(backup_app, name="backup")


def _part_option(flag: str, what: str, default: str, *aliases: str) -> Any:
    return typer.Option(
        flag,
        *aliases,
        help=f"The {what} to back up (default: {default} when it exists).",
        show_default=False,
    )


@backup_app.callback()
def backup(
    ctx: typer.Context,
    backup_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder the archive is written to (created 0700).", show_default=False
        ),
    ] = None,
    models_dir: Annotated[
        Path | None,
        _part_option(
            "--models", "model registry", "$CUSTRISK_MODELS_DIR or ./models", "--models-dir"
        ),
    ] = None,
    runs_dir: Annotated[Path | None, _part_option("--runs", "run folders", "./runs")] = None,
    configs_dir: Annotated[Path | None, _part_option("--configs", "configs", "./configs")] = None,
    run_config: Annotated[
        Path | None,
        typer.Option(
            "--run",
            help="A batch's RUN.yaml to back up with every config file it names (sources, "
            "policy, alert rules, drift, reports), as run/.",
            show_default=False,
        ),
    ] = None,
    audit_log: Annotated[
        Path | None, _part_option("--audit-log", "audit log (and its head)", "the audit log")
    ] = None,
    encrypt: Annotated[
        bool | None,
        typer.Option(
            "--encrypt/--no-encrypt",
            help="Seal the archive with the active encryption key (default: when a key is "
            "configured).",
            show_default=False,
        ),
    ] = None,
    keyfile: KeyfileOpt = None,
) -> None:
    """Archive the model registry, run folders, configs and audit log with a manifest of
    SHA-256 hashes (encrypted when a key is configured); `backup verify` checks one."""
    if ctx.invoked_subcommand is not None:
        return
    from custrisk.errors import ConfigError, UsageError
    from custrisk.protect import audit, load_keyring
    from custrisk.protect.backup import backup_sources, create_backup

    if backup_dir is None:
        raise UsageError("custrisk backup needs --out DIR", hint="e.g. --out /backups/custrisk")
    run_files = None
    if run_config is not None:
        from custrisk.batch.config import load_run_config

        named = load_run_config(run_config).config_files()  # (RUN.yaml first)
        run_files = tuple(Path(p) for p in named.values() if p is not None)
    sources = backup_sources(
        {
            "models": models_dir,
            "runs": runs_dir,
            "configs": configs_dir,
            "run": run_files,
            "audit": audit_log,
        }
    )
    if "configs" not in sources and "run" not in sources:
        say(
            "Note:",
            "no configs archived: there is no ./configs here; name the folder with "
            "--configs DIR, or a batch's RUN.yaml with --run RUN.yaml (it and the configs it "
            "names)",
        )
    key = None
    if encrypt is not False:
        try:
            key = load_keyring(keyfile).active()
        except ConfigError:
            if encrypt:
                raise
            say(
                "Note:",
                "no encryption key: the archive is not encrypted (its "
                "manifest still detects corruption, not a deliberate rewrite)",
            )
    result = create_backup(sources, backup_dir, key=key)
    audit.audit_event(
        inputs=[p for s in sources.values() for p in (s if isinstance(s, tuple) else (s,))],
        outputs=[result.archive],
        scope=audit.PORTFOLIO,
        rows={"files": result.files},
    )
    parts = ", ".join(f"{part} {count}" for part, count in result.parts.items())
    sealed = f", encrypted with {result.encrypted_with}" if result.encrypted_with else ""
    console.print(
        f"Backed up {result.files} file(s), {result.bytes:,} bytes ({parts}) to "
        f"{result.archive}{sealed}"
    )
    for skipped in result.skipped:
        say("Skipped:", skipped)


def _keyring(keyfile: Path | None) -> Keyring | None:
    from custrisk.errors import ConfigError
    from custrisk.protect import load_keyring

    try:
        return load_keyring(keyfile)
    except ConfigError:
        if keyfile is not None:
            raise
        return None  # a plain archive needs none; an encrypted one says which key it needs


ArchiveArg = Annotated[
    Path, typer.Argument(help="The archive written by custrisk backup.", show_default=False)
]


@backup_app.command("verify", short_help="Check every member of a backup archive")
def verify(archive: ArchiveArg, keyfile: KeyfileOpt = None) -> None:
    """Check every member of an archive against its manifest, and the archive against its
    checksum file; exit 1 naming the first bad member, 2 when the archive is not there or
    its key is missing."""
    from custrisk.protect.backup import check_backup

    check = check_backup(archive, _keyring(keyfile))
    console.print(
        f"{archive}: {check.files} file(s), {check.bytes:,} bytes, every SHA-256 matches the "
        f"manifest (created {check.manifest.get('created', '?')})"
    )


@app.command("restore", short_help="Restore a verified backup into an empty folder")
def restore(
    archive: ArchiveArg,
    to: Annotated[
        Path,
        typer.Option("--to", help="New or empty folder to restore into.", show_default=False),
    ],
    keyfile: KeyfileOpt = None,
) -> None:
    """Restore a backup into an empty folder, only after every member is verified."""
    from custrisk.config._yaml import join_limited
    from custrisk.protect import audit
    from custrisk.protect.backup import restore_backup

    check = restore_backup(archive, to, _keyring(keyfile))
    audit.audit_event(scope=audit.PORTFOLIO, rows={"files": check.files})
    parts = sorted({name.split("/", 1)[0] for name in check.manifest["files"]})
    console.print(
        f"Restored {check.files} file(s), {check.bytes:,} bytes ({', '.join(parts)}) into {to}"
    )
    batch = sorted(name[4:] for name in check.manifest["files"] if name.startswith("run/"))
    if batch:  # backup --run: RUN.yaml and its configs, by their paths from its folder
        named = join_limited(batch)
        say(
            "Note:",
            f"the batch's RUN.yaml and configs are under {to / 'run'} ({named}): copy them "
            f"back beside {to / 'runs'} before the next custrisk run "
            f"(cp -a {shlex.quote(str(to / 'run'))}/. {shlex.quote(str(to))}/; docs/cron.md)",
        )
