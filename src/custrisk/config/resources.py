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


def default_templates_dir() -> Path:
    """Folder of the packaged default report templates."""
    return _data_dir() / "report_templates"
