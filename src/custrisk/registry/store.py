"""Finding models: a path, a NAME (its latest version) or NAME@VERSION.

Writing a new version of a model name happens under that name's lock
(``NAME/.lock``, an ``fcntl.flock`` held by the writing process, holding its pid, host and
start time): a second writer is refused while the first lives, and the half-written
``NAME/.N.partial`` folder of a writer that died is removed by the next one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custrisk.errors import ModelArtifactError, UsageError
from custrisk.io.atomic import ensure_dir
from custrisk.io.lock import LockHeld, describe_holder, exclusive_lock
from custrisk.io.plain import path_argument
from custrisk.registry.card import card_problem
from custrisk.vocab import models_dir

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CARD = "model.json"
LOCK_FILE = ".lock"
PARTIAL_RE = re.compile(r"\.\d+\.partial")


@dataclass(frozen=True)
class ModelRef:
    """One model version in a registry folder."""

    name: str
    version: int
    path: Path

    @property
    def model_id(self) -> str:
        return f"{self.name}@{self.version}"


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"model name {name!r} is not allowed",
            hint="use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def versions(root: Path, name: str) -> list[int]:
    folder = root / name
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir())


def next_version(root: Path, name: str) -> int:
    found = versions(root, name)
    return (found[-1] + 1) if found else 1


@dataclass(frozen=True)
class NameLock:
    """The lock on one model name, held while a new version of it is trained and saved."""

    root: Path
    name: str

    @property
    def folder(self) -> Path:
        return self.root / self.name


@contextlib.contextmanager
def lock_model_name(name: str, models: str | os.PathLike[str] | None = None) -> Iterator[NameLock]:
    """Hold the lock on model ``name`` while a new version of it is written.

    A half-written ``.N.partial`` folder found once the lock is held was left by a
    writer that died (a live one would hold the lock); it is removed.

    Raises
    ------
    UsageError
        When another live process holds the lock, naming its pid, host and start time.
    """
    root = models_dir(models)
    check_name(name)
    folder = root / name
    created = [p for p in (root, folder) if not p.exists()]
    ensure_dir(folder)
    path = folder / LOCK_FILE
    try:
        with exclusive_lock(path, what=f"model {name!r}") as held:
            _remove_stale_partials(folder, describe_holder(held.previous))
            try:
                yield NameLock(root, name)
            except BaseException:
                if created and not versions(root, name):
                    # a first train that failed leaves the registry as it found it
                    path.unlink(missing_ok=True)
                    for made in reversed(created):
                        with contextlib.suppress(OSError):
                            made.rmdir()
                raise
    except LockHeld as exc:
        raise UsageError(
            f"model {name!r} in {root} is being trained by another process "
            f"({describe_holder(exc.holder)})",
            hint="wait for that train to finish, or train under another --name",
        ) from None


def _remove_stale_partials(folder: Path, previous: str) -> None:
    for stale in sorted(p for p in folder.iterdir() if PARTIAL_RE.fullmatch(p.name)):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        else:
            stale.unlink()
        log.warning(
            "removed %s: left by a train that did not finish (%s)",
            stale,
            f"{previous}, no longer running" if previous else "its process is no longer running",
        )


def resolve_model(spec: str, models: str | os.PathLike[str] | None = None) -> ModelRef:
    """Turn a path, NAME or NAME@VERSION into the model's folder.

    Raises
    ------
    ModelArtifactError
        When nothing matches, naming what was looked for and where.
    """
    root = models_dir(models)
    as_path = path_argument(spec, "model", hint="pass NAME, NAME@VERSION or a model's folder")
    spec = os.fspath(spec)
    if (as_path / CARD).is_file():
        card = read_card_light(as_path / CARD)
        return ModelRef(
            str(card.get("name", as_path.parent.name)), int(card.get("version", 0) or 0), as_path
        )
    name, _, version_text = spec.partition("@")
    folder = Path(name)
    if not NAME_RE.fullmatch(name) and folder.is_dir() and versions(folder.parent, folder.name):
        # a model name's folder of versions (models/logistic): its latest, or @VERSION
        root, name = folder.parent, folder.name
    if not NAME_RE.fullmatch(name) or (version_text and not version_text.isdigit()):
        raise ModelArtifactError(
            f"model {spec!r} not found: not a model folder, NAME or NAME@VERSION",
            hint=f"list the models with: custrisk models list --models-dir {root}",
        )
    found = versions(root, name)
    if not found:
        raise ModelArtifactError(
            f"no model named {name!r} in {root}",
            hint="train one with custrisk train, or name the registry it is in (--models-dir; "
            "models_dir: in RUN.yaml) or the model's folder",
        )
    version = int(version_text) if version_text else found[-1]
    if version not in found:
        raise ModelArtifactError(
            f"model {name!r} has no version {version} in {root}",
            hint=f"versions: {', '.join(map(str, found))}",
        )
    return ModelRef(name, version, root / name / str(version))


def list_models(models: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """One summary per model version in the registry, sorted by name and version."""
    root = models_dir(models)
    rows: list[dict[str, Any]] = []
    if not root.is_dir():
        return rows
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for version in versions(root, folder.name):
            path = folder / str(version) / CARD
            try:
                card = read_card_light(path) if path.is_file() else {}
            except ModelArtifactError:
                card = {}  # listed all the same: its check (models list) says what is wrong
            if card_problem(card) is not None:  # edited by hand: its check says how
                card = {k: card[k] for k in ("algorithm", "created_at") if k in card}
            metrics = card.get("metrics", {}).get("holdout") or {}
            rows.append(
                {
                    "model_id": f"{folder.name}@{version}",
                    "name": folder.name,
                    "version": version,
                    "algorithm": card.get("algorithm", "?"),
                    "created_at": card.get("created_at", "?"),
                    "features": len(card.get("features", [])),
                    "auc": metrics.get("auc"),
                    "ks": metrics.get("ks"),
                    "path": str(folder / str(version)),
                }
            )
    return rows


def read_card_light(path: Path) -> dict[str, Any]:
    """A model card parsed as JSON, nothing checked (for display and for finding a model;
    see :func:`custrisk.registry.artifact.check_model`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelArtifactError(
            f"{path}: unreadable model card ({exc})",
            hint="the model folder is damaged; retrain the model",
        ) from None
    if not isinstance(data, dict):
        raise ModelArtifactError(f"{path}: the model card is not a JSON object")
    return data
