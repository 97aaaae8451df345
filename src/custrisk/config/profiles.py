"""Ready profiles: a set of packaged configs for exports of a known system.

A profile is a folder of configs under the packaged ``configs/`` (``configs/crm/``: the
sources, indicators and alert rules for CRM exports of the 简道云 CRM kind). It is chosen
by name (``--sources crm``) or, when no sources config is given, by the files of the data
folder (``客户*.xlsx`` and no ``credit.csv``). A config the user names explicitly always
wins over the profile's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path

from custrisk.config.resources import default_config_path


@dataclass(frozen=True)
class Profile:
    """A packaged profile and how it was chosen."""

    name: str
    title: str
    marker: str  # a glob: a data folder holding a match is this system's export ...
    marker_header: str  # ... when the match has this header (the system's own name)
    detected: bool = False  # chosen by the data folder's files, not by name

    @property
    def folder(self) -> Path:
        return default_config_path(f"{self.name}/sources.yaml").parent

    def config(self, file: str) -> Path | None:
        """The profile's ``file`` (e.g. ``alerts.yaml``), or ``None`` when it uses the
        packaged default for it."""
        path = self.folder / file
        return path if path.is_file() else None

    @property
    def sources(self) -> Path:
        path = self.config("sources.yaml")
        assert path is not None
        return path

    def describe(self, data_dir: str | os.PathLike[str]) -> str:
        """One line for stdout: which profile is used and why."""
        why = (
            f"{data_dir} holds {self.marker} with the header {self.marker_header}"
            if self.detected
            else f"--sources {self.name}"
        )
        return f"Using the {self.title} profile ({why}): configs from {self.folder}"


PROFILES: dict[str, Profile] = {
    "crm": Profile("crm", "CRM (简道云-style exports)", "客户*.xlsx", "客户编号"),
}
#: A folder of custrisk's own export layout is never taken for a profile's.
_OWN_LAYOUT = ("credit.csv", "credit.parquet")


def resolve_profile(
    data_dir: str | os.PathLike[str],
    sources: str | os.PathLike[str] | None,
    *,
    headers: Callable[[Path], Collection[str] | None] | None = None,
) -> Profile | None:
    """The profile to use for ``data_dir``: named by ``sources`` (a profile name that is
    not an existing file), or detected from the folder's files when ``sources`` is
    ``None``; ``None`` when no profile applies.

    ``headers`` reads the first cells of a file (:func:`custrisk.io.excel.first_cells`;
    ``None`` when unreadable): given, a file matching a profile's marker makes it that
    system's export only when it holds the system's own header (``客户编号``), so that a
    workbook of another layout named ``客户.xlsx`` is not read as a CRM export, its
    other files ignored. An unreadable file still counts (its error comes later, with
    context)."""
    if sources is not None:
        named = PROFILES.get(str(sources))
        if named is not None and not Path(sources).exists():
            return named
        return None
    folder = Path(data_dir)
    if not folder.is_dir() or any((folder / name).exists() for name in _OWN_LAYOUT):
        return None
    for profile in PROFILES.values():
        for path in sorted(p for p in folder.glob(profile.marker) if p.is_file()):
            cells = headers(path) if headers is not None else None
            if cells is None or profile.marker_header in cells:
                return replace(profile, detected=True)
    return None


__all__ = ["PROFILES", "Profile", "resolve_profile"]
