"""``custrisk keys new|list|rotate|retire|export``, ``encrypt`` and ``decrypt``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from custrisk.cli._console import console, say

app = typer.Typer()
keys_app = typer.Typer(
    help="Encryption and pseudonym keys: create, list, rotate, retire.",
    short_help="Encryption and pseudonym keys",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

KeyfileOpt = Annotated[
    Path | None,
    typer.Option(
        "--keyfile",
        help="The key file (default: $CUSTRISK_KEYFILE, else ~/.config/custrisk/keys.json).",
        show_default=False,
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace an output file that exists already.")
]


#: What losing a key of each purpose means, said when one is created.
LOSING = {
    "encryption": "what it encrypts cannot be read without it",
    "pseudonym": "without it the same customers get other tokens: later runs no longer join "
    "earlier pseudonymised ones (--previous, migration, drift), and custrisk forget cannot "
    "find a customer's tokenised rows",
    "audit": "without it custrisk audit verify fails on the audit log lines it chains; keep "
    "it as long as the log and its copies",
}


@keys_app.command("new", short_help="Create a key and make it the active one")
def new(
    keyfile: KeyfileOpt = None,
    purpose: Annotated[
        str,
        typer.Option(
            "--purpose",
            help="encryption (files at rest), pseudonym (customer id tokens) or audit "
            "(the MACs of the audit log).",
        ),
    ] = "encryption",
) -> None:
    """Create a key and make it the active one of its purpose (the key file is created
    with mode 0600 when missing; older keys stay and still read what they wrote)."""
    from custrisk.protect import add_key, default_keyfile, new_key

    path = keyfile or default_keyfile()
    key = new_key(purpose)
    add_key(path, key)
    console.print(f"Created {purpose} key {key.id} in {path} (now the active {purpose} key)")
    console.print(f"Back up the key file: {LOSING[purpose]}.")


@keys_app.command("list", short_help="List the keys (never the secrets)")
def list_(keyfile: KeyfileOpt = None) -> None:
    """List the keys available: id, purpose, created, active (never the secrets)."""
    from custrisk.protect import load_keyring

    keyring = load_keyring(keyfile)
    table = Table(title=f"Keys from {keyring.source}", title_justify="left")
    for column in ("id", "purpose", "created", "active"):
        table.add_column(column)
    for key in keyring.keys:
        table.add_row(key.id, key.purpose, key.created or "-", "yes" if key.active else "")
    console.print(table)


@keys_app.command("rotate", short_help="Re-wrap encrypted files with the active key")
def rotate(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Encrypted files or folders holding them.", show_default=False),
    ],
    keyfile: KeyfileOpt = None,
) -> None:
    """Re-wrap every encrypted file under PATHS with the active encryption key (create it
    first with keys new); then the old key can be retired."""
    from custrisk.protect import load_keyring, rotate_files

    result = rotate_files(paths, load_keyring(keyfile))
    old = ", ".join(f"{key} ({count})" for key, count in sorted(result.old_keys.items()))
    console.print(
        f"Rotated {len(result.rotated)} file(s) to key {result.new_key}"
        + (f" from {old}" if old else "")
        + f"; {len(result.current)} already used it"
    )
    if result.checksums:
        console.print(f"Rewrote {len(result.checksums)} backup checksum file(s) (*.sha256)")
    if result.in_models:
        say(
            "Note:",
            f"left {len(result.in_models)} file(s) of model folders under their key, e.g. "
            f"{result.in_models[0]}: the model card records each file's SHA-256, and a "
            "re-wrapped file would make the model fail its checks; keep that key while you "
            "keep the model (custrisk train --encrypt writes them with the active key)",
        )
    for sidecar in result.stale_checksums:
        say(
            "Warning:",
            f"{sidecar} did not match its archive before the rotation "
            "(the archive had changed); left as it was: check the archive with "
            "custrisk backup verify",
        )


@keys_app.command("retire", short_help="Remove a key that is no longer active")
def retire(
    key_id: Annotated[str, typer.Argument(help="The key id to remove.", show_default=False)],
    keyfile: KeyfileOpt = None,
    check: Annotated[
        list[Path] | None,
        typer.Option(
            "--check",
            metavar="<path>",
            help="Refuse when an encrypted file under this folder still uses the key (repeatable).",
            show_default=False,
        ),
    ] = None,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            "--audit-log",
            help="The audit log that may need the key (default: $CUSTRISK_AUDIT_LOG, else "
            "~/.local/state/custrisk/audit.log).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Remove a key that is no longer active; files it encrypted become unreadable.

    An audit key the audit log still names is refused. An encryption key leaves the
    audit key derived from it in the key file, so the audit log still verifies."""
    from custrisk.protect import retire as retire_checked

    done = retire_checked(key_id, keyfile, check=check or [], audit_log=audit_log)
    if check:
        console.print(f"Checked {done.files_checked} encrypted file(s): none uses {key_id}")
    if done.kept is not None:
        uses = (
            f"{done.audit.describe()} are chained with it and still verify"
            if done.audit is not None and done.audit.lines
            else "audit lines chained with it (in copies or backups of the log) still verify"
        )
        console.print(
            f"Kept {done.kept.id}, the audit key derived from {key_id} (it decrypts "
            f"nothing), in the key file: {uses}"
        )
    elif done.audit is not None:
        console.print(f"No line of the audit log {done.audit.log} is chained with {key_id}")
    console.print(f"Retired key {key_id} from {done.keyfile}")


@keys_app.command("export", short_help="Print one key as ID:BASE64 for CUSTRISK_KEY")
def export(
    key_id: Annotated[str, typer.Argument(help="The key id.", show_default=False)],
    keyfile: KeyfileOpt = None,
) -> None:
    """Print one key as ID:BASE64 for CUSTRISK_KEY / CUSTRISK_PSEUDONYM_KEY (a secret:
    put it straight into your secret store)."""
    import base64

    from custrisk.protect import load_keyring
    from custrisk.protect.roles import DECRYPT, require

    require(DECRYPT, f"export the secret of key {key_id}")
    key = load_keyring(keyfile).require(key_id, "export")
    typer.echo(f"{key.id}:{base64.b64encode(key.secret).decode('ascii')}")


@app.command("encrypt", short_help="Encrypt files into FILE.enc")
def encrypt(
    paths: Annotated[list[Path], typer.Argument(help="Files to encrypt.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output file (one input only; default FILE.enc).", show_default=False
        ),
    ] = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="Delete each clear file once its copy is written.")
    ] = False,
    force: ForceOpt = False,
    keyfile: KeyfileOpt = None,
) -> None:
    """Encrypt files with the active encryption key (FILE → FILE.enc, mode 0600)."""
    from custrisk.protect import encrypt_files

    for path, written, key in encrypt_files(
        paths, out, keyfile=keyfile, remove=remove, force=force
    ):
        console.print(f"Encrypted {path} → {written} (key {key.id})")


@app.command("decrypt", short_help="Decrypt FILE.enc for another tool")
def decrypt(
    paths: Annotated[
        list[Path], typer.Argument(help="Encrypted files (.enc).", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output file (one input only; default: the name without .enc).",
            show_default=False,
        ),
    ] = None,
    force: ForceOpt = False,
    keyfile: KeyfileOpt = None,
) -> None:
    """Decrypt files for another tool; nothing is written unless every chunk authenticates."""
    from custrisk.protect import decrypt_files

    for path, written in decrypt_files(paths, out, keyfile=keyfile, force=force):
        console.print(f"Decrypted {path} → {written}")
