"""``custrisk init``: proposed configs for data in its own layout, written commented.

A folder of exports gets a sources config (:func:`custrisk.data.propose.propose_sources`);
one table file gets the flat layout of ``custrisk train TABLE`` (a sources and an
indicator config, :func:`custrisk.scoring.table.table_configs`) with the decision for
every column as a comment at the top.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from custrisk.config.profiles import Profile, resolve_profile
from custrisk.config.sources import load_sources_config, parse_sources_config
from custrisk.data.infer import infer_table
from custrisk.data.propose import Proposal, comment, propose_sources
from custrisk.errors import UsageError
from custrisk.io.atomic import ensure_dir, write_text
from custrisk.io.excel import first_cells
from custrisk.scoring.table import TABLE_SOURCES_FILE, table_configs

INDICATORS_FILE = "indicators.yaml"


@dataclass(frozen=True)
class InitResult:
    """What ``custrisk init`` proposed and wrote."""

    data: Path
    flat: bool
    written: tuple[Path, ...]
    proposal: Proposal | None  # exports
    column_lines: tuple[str, ...]  # flat table: one line per column
    unmapped: tuple[str, ...]  # "file: header" not recognised
    profile: Profile | None = None  # a folder of a known system's exports: its configs
    missing: tuple[str, ...] = ()  # "file: name" required by the packaged config, not found
    outcome: str | None = None  # flat table without --target: a column named as the outcome


def propose_configs(
    data: str | Path,
    out: str | Path,
    *,
    force: bool = False,
    target: str | None = None,
    id_column: str | None = None,
    encoding: str | None = None,
    use_profile: bool = True,
) -> InitResult:
    """Propose configs for ``data`` (a folder of exports or one table file) and write them
    into the folder ``out`` (``sources.yaml``; ``indicators.yaml`` too for a table).

    A folder of a known system's exports (a profile: ``客户*.xlsx`` is a CRM export, see
    :mod:`custrisk.config.profiles`) gets that profile's sources, indicators and alert
    rules, ready to run and to edit; ``use_profile=False`` proposes from the headers as
    for any folder.

    Raises
    ------
    UsageError
        A file to write exists and ``force`` is not set.
    DataError
        The data cannot be read or holds nothing custrisk can use.
    """
    data, out = Path(data), Path(out)
    if not data.exists():
        raise UsageError(f"{data} does not exist", hint="pass a folder of exports or one file")
    flat = data.is_file()
    profile = None if flat or not use_profile else resolve_profile(data, None, headers=first_cells)
    targets = [out / TABLE_SOURCES_FILE] + ([out / INDICATORS_FILE] if flat else [])
    if profile is not None:
        targets = [out / name for name in PROFILE_FILES if profile.config(name) is not None]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise UsageError(
            f"{existing[0]} exists; custrisk init does not overwrite a config",
            hint="pass --force to replace it, or choose another --out folder",
        )
    missing: tuple[str, ...] = ()
    outcome = None
    if flat:
        schema = infer_table(data, target=target, id_column=id_column, encoding=encoding)
        configs = table_configs(schema)
        lines = tuple(schema.summary_lines())
        head = "".join(comment(line) + "\n" for line in lines)
        sources_text = head + configs.sources_text
        parse_sources_config(sources_text, str(targets[0]))  # validates as written
        texts = [sources_text, configs.indicators_text]
        unmapped = tuple(f"{data.name}: {c.header}" for c in schema.columns if c.role == "ignored")
        proposal = None
        outcome = schema.outcome_guess
    elif target is not None or id_column is not None:
        raise UsageError(
            "--target and --id-column apply to one table file, not a folder of exports"
        )
    elif profile is not None:
        texts = [_profile_text(profile, path.name, data) for path in targets]
        proposal, lines, unmapped = None, (), ()
        load_sources_config(profile.sources)  # the packaged profile loads as written
    else:
        proposal = propose_sources(data, encoding=encoding)
        texts = [proposal.sources_text]
        lines = ()
        unmapped = tuple(
            f"{f.file}: {h}" for f in proposal.files if f.source is not None for h in f.unmapped
        )
        missing = tuple(
            f"{f.file}: {name} ({f.source})"
            for f in proposal.files
            if f.source is not None
            for name in f.missing
        )
    ensure_dir(out)
    for path, text in zip(targets, texts, strict=True):
        write_text(path, text, sensitive=False)
    return InitResult(
        data,
        flat,
        tuple(targets),
        proposal,
        lines,
        unmapped,
        profile,
        missing=missing,
        outcome=outcome,
    )


#: The configs a profile may have, in the order they are written.
PROFILE_FILES = ("sources.yaml", "indicators.yaml", "alerts.yaml", "policy.yaml")


def _profile_text(profile: Profile, name: str, data: Path) -> str:
    """A profile's config with a first comment saying where it comes from."""
    path = profile.config(name)
    assert path is not None
    head = comment(
        f"custrisk init: the {profile.title} profile's {name}, since {data.name} holds "
        f"{profile.marker}; edit it to fit your export"
    )
    return head + "\n" + path.read_text(encoding="utf-8")
