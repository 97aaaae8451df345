"""Ready profiles: a set of packaged configs for exports of a known system.

A profile is a folder of configs under the packaged ``configs/`` (``configs/crm/``: the
sources, indicators and alert rules for CRM exports of the 简道云 CRM kind). It is chosen
by name (``--sources crm``) or, when no sources config is given, by the files of the data
folder (``客户*.xlsx`` and no ``credit.csv``). A config the user names explicitly always
wins over the profile's.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Collection, Iterable
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
    exports: str = ""  # what its exports are called in a message ("CRM exports")

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
    "crm": Profile(
        "crm", "CRM (简道云-style exports)", "客户*.xlsx", "客户编号", exports="CRM exports"
    ),
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
        for path in marked_files(folder, profile.marker):
            cells = headers(path) if headers is not None else None
            if cells is None or profile.marker_header in cells:
                return replace(profile, detected=True)
    return None


def marked_files(folder: Path, marker: str) -> list[Path]:
    """The files of ``folder`` a profile's marker matches, sorted: as written, else in
    other letters (``客户.XLSX`` copied from Windows, whose file names ignore case)."""
    found = sorted(p for p in folder.glob(marker) if p.is_file())
    if found:
        return found
    wanted = marker.lower()
    return sorted(
        p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatchcase(p.name.lower(), wanted)
    )


@dataclass(frozen=True)
class Layout:
    """The layout of a set of export files: a profile's, or custrisk's own CSV exports
    (``profile`` None); ``files`` are those that show it, named in messages."""

    profile: Profile | None
    files: tuple[str, ...]

    def same_as(self, other: Layout) -> bool:
        return (self.profile and self.profile.name) == (other.profile and other.profile.name)

    def describe(self) -> str:
        """E.g. ``CRM exports (客户.xlsx, 合同.xlsx, 回款计划.xlsx, …)``."""
        what = (self.profile.exports or self.profile.title) if self.profile else "CSV exports"
        shown = ", ".join(self.files[:3]) + (", …" if len(self.files) > 3 else "")
        return f"{what} ({shown})" if shown else what


def files_layout(names: Iterable[str]) -> Layout | None:
    """The layout of the export files ``names`` (e.g. those a model was trained on, from
    its card): custrisk's own when one is ``credit.csv`` (or ``.parquet``), a profile's
    when one matches its marker; ``None`` when neither (a layout of the user's own)."""
    names = tuple(names)
    if any(name in _OWN_LAYOUT for name in names):
        return Layout(None, names)
    for profile in PROFILES.values():
        if any(fnmatch.fnmatchcase(name, profile.marker) for name in names):
            return Layout(profile, names)
    return None


def folder_layout(
    data_dir: str | os.PathLike[str],
    *,
    headers: Callable[[Path], Collection[str] | None] | None = None,
) -> Layout | None:
    """The layout of the exports in the folder ``data_dir``: a profile's (detected as
    by :func:`resolve_profile`), custrisk's own when it holds ``credit.csv``, else (or
    for a file) ``None``. Its ``files`` are the files that show it."""
    folder = Path(data_dir)
    if not folder.is_dir():
        return None
    own = tuple(name for name in _OWN_LAYOUT if (folder / name).exists())
    if own:
        return Layout(None, own)
    profile = resolve_profile(folder, None, headers=headers)
    if profile is None:
        return None
    marked = [p.name for p in marked_files(folder, profile.marker)]
    return Layout(profile, tuple(marked))


__all__ = ["PROFILES", "Layout", "Profile", "files_layout", "folder_layout", "resolve_profile"]
