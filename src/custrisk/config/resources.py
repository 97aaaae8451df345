"""Where the packaged default configs and report templates live.

The repository keeps them in top-level ``configs/`` and ``report_templates/``; the
package ships the same files under ``custrisk/defaults/`` so that a user who installed the
wheel (not a clone) has them too.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from custrisk.errors import ConfigError


def _data_dir() -> Path:
    return Path(str(resources.files("custrisk") / "defaults"))


def default_config_path(name: str) -> Path:
    """Path of the packaged default config ``name`` (e.g. ``"sources.yaml"``)."""
    path = _data_dir() / "configs" / name
    if not path.is_file():
        raise ConfigError(
            f"the packaged default config '{name}' is missing from {path.parent}",
            hint="reinstall custrisk or pass the config file explicitly with --config",
        )
    return path


def is_packaged_config(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is one of custrisk's packaged configs (a profile's included),
    rather than a user's own file."""
    try:
        return Path(path).resolve().is_relative_to((_data_dir() / "configs").resolve())
    except OSError:
        return False


#: How run facts, reports and model cards name a packaged config: the package, then the
#: file's path in it (``custrisk:defaults/configs/policy.yaml``), the same on every install
PACKAGED_PREFIX = "custrisk:"


#: The folders of the package's data (:func:`_data_dir`) a run may name
_PACKAGED_FOLDERS = ("configs", "report_templates")


def _package_dir() -> Path:
    return Path(str(resources.files("custrisk")))


def recorded_config_path(path: str | os.PathLike[str] | None) -> str | None:
    """The name a config (or the report templates' folder) is recorded by in an output:
    ``custrisk:defaults/configs/NAME`` for a packaged one (where custrisk is installed
    is no fact of a run, and made two installs' runs differ), else the path as it is.
    :func:`recorded_config_file` reads either back."""
    if path is None:
        return None
    try:
        resolved = Path(path).resolve()
        for folder in _PACKAGED_FOLDERS:  # (each resolved: a checkout links them)
            base = (_data_dir() / folder).resolve()
            if resolved.is_relative_to(base):
                inside = resolved.relative_to(base).parts
                return PACKAGED_PREFIX + "/".join((_data_dir().name, folder, *inside))
    except OSError:
        pass
    return os.fspath(path)


def recorded_config_file(recorded: str) -> Path:
    """The file a config recorded by :func:`recorded_config_path` is: a packaged one's in
    this install, else the path recorded (an older run's install path included)."""
    if recorded.startswith(PACKAGED_PREFIX):
        return _package_dir() / recorded[len(PACKAGED_PREFIX) :]
    return Path(recorded)


def default_templates_dir() -> Path:
    """Folder of the packaged default report templates."""
    return _data_dir() / "report_templates"
