"""Saving and loading model artifacts with integrity checks.

A model version is a folder holding ``model.joblib`` (the fitted pipeline) and
``model.json`` (the model card). The card records the SHA-256 of the joblib file; when
``CUSTRISK_SIGNING_KEY`` is set, an HMAC-SHA256 over the card is written at training and
required at loading. Loading checks the card, the library versions and the hash *before*
unpickling: a tampered, unsigned or incompatible artifact is refused and never loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custrisk import __version__
from custrisk.errors import ModelArtifactError
from custrisk.io.atomic import atomic_path, write_text
from custrisk.registry.store import CARD, ModelRef, check_name, models_dir, next_version

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
MODEL_CARD = CARD
SIGNING_KEY_ENV = "CUSTRISK_SIGNING_KEY"
FORMAT_VERSION = 1
# library -> how many leading version parts must match for a pickle to be trusted
COMPATIBLE_PARTS = {"scikit-learn": 2, "numpy": 1, "joblib": 1}


@dataclass
class LoadedModel:
    """A verified model: the fitted object and its card."""

    ref: ModelRef
    model: Any
    card: dict[str, Any]

    @property
    def model_id(self) -> str:
        return str(self.card.get("model_id", self.ref.model_id))


def library_versions() -> dict[str, str]:
    import joblib
    import numpy
    import pandas
    import sklearn

    return {
        "custrisk": __version__,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "joblib": joblib.__version__,
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(card: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in card.items() if k != "signature"}
    return json.dumps(
        unsigned, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _signing_key() -> bytes | None:
    key = os.environ.get(SIGNING_KEY_ENV)
    return key.encode("utf-8") if key else None


def save_model(
    model: Any,
    card: dict[str, Any],
    *,
    name: str,
    models: str | os.PathLike[str] | None = None,
    extra_files: dict[str, str] | None = None,
) -> ModelRef:
    """Write a new version of model ``name``: joblib file, card, and extra text files.

    The folder appears complete or not at all (written under a temporary name, then
    renamed).
    """
    import joblib

    root = models_dir(models)
    check_name(name)
    (root / name).mkdir(parents=True, exist_ok=True)
    version = next_version(root, name)
    final = root / name / str(version)
    staging = root / name / f".{version}.partial"
    staging.mkdir(mode=0o700)
    try:
        with atomic_path(staging / MODEL_FILE) as tmp:
            joblib.dump(model, tmp, compress=3)
        artifact = staging / MODEL_FILE
        card = {
            "format_version": FORMAT_VERSION,
            "model_id": f"{name}@{version}",
            "name": name,
            "version": version,
            "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            **card,
            "libraries": library_versions(),
            "artifact": {
                "file": MODEL_FILE,
                "sha256": sha256_file(artifact),
                "bytes": artifact.stat().st_size,
            },
        }
        key = _signing_key()
        if key is not None:
            card["signature"] = {
                "algorithm": "hmac-sha256",
                "value": hmac.new(key, _canonical(card), hashlib.sha256).hexdigest(),
            }
        write_text(
            staging / MODEL_CARD,
            json.dumps(card, ensure_ascii=False, indent=2, allow_nan=False) + "\n",
        )
        for filename, text in (extra_files or {}).items():
            write_text(staging / filename, text)
        os.replace(staging, final)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("saved model %s@%d to %s", name, version, final)
    return ModelRef(name, version, final)


def read_card(ref: ModelRef) -> dict[str, Any]:
    """The model card, parsed and with its signature verified when a key is configured."""
    card_path = ref.path / MODEL_CARD
    if not card_path.is_file():
        raise ModelArtifactError(
            f"{card_path}: model card missing",
            hint="the model folder is incomplete; retrain the model",
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelArtifactError(
            f"{card_path}: model card is not valid JSON ({exc})",
            hint="the card was damaged or edited; retrain the model",
        ) from None
    if not isinstance(card, dict) or card.get("format_version") != FORMAT_VERSION:
        raise ModelArtifactError(
            f"{card_path}: unsupported model card format "
            f"{card.get('format_version') if isinstance(card, dict) else '?'}",
            hint=f"this custrisk reads format {FORMAT_VERSION}; retrain the model",
        )
    key = _signing_key()
    signature = card.get("signature")
    if key is not None:
        if not isinstance(signature, dict) or "value" not in signature:
            raise ModelArtifactError(
                f"{card_path}: signature check failed: the model is not signed but "
                f"{SIGNING_KEY_ENV} is set",
                hint="retrain it with the signing key set, or unset the key to load "
                "unsigned models",
            )
        expected = hmac.new(key, _canonical(card), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(signature["value"])):
            raise ModelArtifactError(
                f"{card_path}: signature check failed: the HMAC does not match (the card was "
                "changed, or it was signed with another key)",
                hint="use the model's original signing key, or retrain the model",
            )
    elif signature:
        log.warning(
            "%s is signed but %s is not set: the signature is not checked",
            card_path,
            SIGNING_KEY_ENV,
        )
    return card


def load_model(ref: ModelRef) -> LoadedModel:
    """Verify and load a model version.

    Checks, in order and before unpickling: the card (and its HMAC signature when
    ``CUSTRISK_SIGNING_KEY`` is set), library compatibility, the joblib file's presence and
    its SHA-256.

    Raises
    ------
    ModelArtifactError
        Naming the file and the failed check (exit code 2).
    """
    card = read_card(ref)
    _check_libraries(ref, card)
    artifact = card.get("artifact") or {}
    path = ref.path / str(artifact.get("file", MODEL_FILE))
    if path.name != MODEL_FILE or not path.is_file():
        raise ModelArtifactError(
            f"{path}: model file missing", hint="the model folder is incomplete; retrain the model"
        )
    actual = sha256_file(path)
    if not hmac.compare_digest(actual, str(artifact.get("sha256", ""))):
        raise ModelArtifactError(
            f"{path}: SHA-256 check failed: the file does not match its model card "
            f"(expected {str(artifact.get('sha256', ''))[:12]}…, found {actual[:12]}…)",
            hint="the file was changed or damaged; it was not loaded. Retrain or restore it",
        )
    import joblib

    model = joblib.load(path)
    return LoadedModel(ref, model, card)


def _check_libraries(ref: ModelRef, card: dict[str, Any]) -> None:
    trained = card.get("libraries") or {}
    current = library_versions()
    for library, parts in COMPATIBLE_PARTS.items():
        was = str(trained.get(library, ""))
        now = current[library]
        if was.split(".")[:parts] != now.split(".")[:parts]:
            raise ModelArtifactError(
                f"{ref.path / MODEL_CARD}: library check failed: trained with {library} "
                f"{was or 'unknown'}, this environment has {now}",
                hint=f"install {library}=={was} or retrain the model here",
            )
