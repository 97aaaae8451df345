"""Saving and loading model artifacts with integrity checks.

A model version is a folder ``NAME/VERSION`` holding ``model.joblib`` (the fitted
pipeline), ``model.json`` (the model card) and the files scoring reads (the model's own
``indicators.yaml``) or people read (points and bins tables). The card lists every other
file of the folder with its SHA-256 and size, and names its own model and version; when
``CUSTRISK_SIGNING_KEY`` is set, an HMAC-SHA256 over the whole card is written at training
and required at loading, so the signature covers every file and the folder's identity.

Loading reads each file once, checks those bytes against the card and unpickles the model
from the same bytes in memory: what was checked is what runs. Without a signing key only
the card's own hashes are checked, which protects against damage, not against someone who
can write the model folder (see docs/security.md): ``CUSTRISK_REQUIRE_SIGNED=1`` (or
``require_signed=True``) refuses every model that is not signed and verified.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import platform
import shutil
import stat
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import custrisk.estimators as estimators
from custrisk import __version__
from custrisk.config._yaml import join_limited
from custrisk.errors import ModelArtifactError, UsageError
from custrisk.estimators.fitted import STAND_INS, FittedScorecard
from custrisk.io.atomic import atomic_path, write_bytes, write_text
from custrisk.io.clock import recorded_now
from custrisk.io.digest import sha256_file
from custrisk.io.plain import brief_repr
from custrisk.protect.audit import audit_event
from custrisk.registry.card import check_card_sections
from custrisk.registry.legacy import clear_headers, mask_feature_labels, mask_table_headers
from custrisk.registry.store import (
    CARD,
    ModelRef,
    NameLock,
    list_models,
    lock_model_name,
    models_dir,
    next_version,
)

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
MODEL_CARD = CARD
SIGNING_KEY_ENV = "CUSTRISK_SIGNING_KEY"
REQUIRE_SIGNED_ENV = "CUSTRISK_REQUIRE_SIGNED"
FORMAT_VERSION = 2
# library -> how many leading version parts must match for a pickle to be trusted
COMPATIBLE_PARTS = {"scikit-learn": 2, "numpy": 1, "joblib": 1}
# how a model's signature was checked when it was loaded
TRUST_VERIFIED = "verified"  # HMAC checked with the signing key
TRUST_UNSIGNED = "unsigned"  # no key, no signature: SHA-256 against the card only
TRUST_UNVERIFIED = "unverified"  # signed, but loaded without the key (--allow-unverified)
_YES = ("1", "true", "yes", "on")
_NO = ("", "0", "false", "no", "off")


@dataclass
class LoadedModel:
    """A verified model: the fitted object, its card and the verified bytes of its files."""

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    ref: ModelRef
    model: Any
    card: dict[str, Any]
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    trust: str = TRUST_UNSIGNED

    @property
    def model_id(self) -> str:
        return str(self.card.get("model_id", self.ref.model_id))

    def file_bytes(self, name: str) -> bytes:
        """The bytes of one file of the model folder, as verified at loading.

        Read from memory, never again from disk: the folder may have changed since.
        """
        try:
            return self.files[name]
        except KeyError:
            raise ModelArtifactError(
                f"{self.ref.path / name}: not a verified file of model {self.model_id}",
                hint="the model card lists no such file; retrain the model",
            ) from None

    def file_text(self, name: str) -> str:
        """A verified text file of the model folder (UTF-8)."""
        try:
            return self.file_bytes(name).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ModelArtifactError(
                f"{self.ref.path / name}: not valid UTF-8 (byte {exc.start})",
                hint="retrain the model",
            ) from None


@dataclass
class VerifiedFolder:
    """A model folder whose card and files passed every check (nothing unpickled yet)."""

    card: dict[str, Any]
    files: dict[str, bytes]
    trust: str
    #: an earlier release's flat-table headers held in clear -> masked (registry.legacy)
    masked_headers: Mapping[str, str] = field(default_factory=dict)


# the libraries a model's pickle depends on, by their installed distribution names
_PICKLE_LIBRARIES = ("scikit-learn", "numpy", "pandas", "joblib")


def library_versions() -> dict[str, str]:
    """The versions of the libraries a model's pickle depends on, as installed.

    Read from the installed metadata, not from the modules: importing scikit-learn takes
    about a second, which loading a model overlaps with reading the exports
    (:func:`load_model`'s ``background``), and the answer does not depend on what was
    imported first.
    """
    return {
        "custrisk": __version__,
        "python": platform.python_version(),
        **{library: metadata.version(library) for library in _PICKLE_LIBRARIES},
    }


def _canonical(card: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in card.items() if k != "signature"}
    return json.dumps(
        unsigned, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _signing_key() -> bytes | None:
    key = os.environ.get(SIGNING_KEY_ENV)
    return key.encode("utf-8") if key else None


def _no_key() -> str:
    """Why there is no signing key: unset, or set to nothing (a CI secret not defined
    where the job runs expands to an empty value, and the job's env then looks right)."""
    if os.environ.get(SIGNING_KEY_ENV) == "":
        return (
            f"{SIGNING_KEY_ENV} is set but empty (a CI secret not defined for this job, "
            "e.g. in a fork's pull request, expands to nothing)"
        )
    return f"{SIGNING_KEY_ENV} is not set"


#: The shortest signing key taken without a warning: 32 bytes, the HMAC-SHA256 block's half.
MIN_SIGNING_KEY_BYTES = 32


def _warn_of_a_weak_key(key: bytes) -> None:
    """Warn when the key a model is signed with is short (guessable offline from the card's
    HMAC, and then anyone can sign a pickle), or has blanks at its ends (a newline read
    from a file: another machine with the trimmed key refuses every model)."""
    hint = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    if len(key) < MIN_SIGNING_KEY_BYTES:
        log.warning(
            "%s is %d bytes long: a short key can be guessed from a model card, and whoever "
            "guesses it can sign any model; use at least %d random characters (%s) and "
            "train again",
            SIGNING_KEY_ENV,
            len(key),
            MIN_SIGNING_KEY_BYTES,
            hint,
        )
    if key != key.strip():
        log.warning(
            "%s starts or ends with a blank or a newline, and the model is signed with it; "
            "a machine given the key without it will refuse the model: remove it and train again",
            SIGNING_KEY_ENV,
        )


def require_signed_default() -> bool:
    """Whether ``CUSTRISK_REQUIRE_SIGNED`` asks to refuse models that are not signed."""
    raw = os.environ.get(REQUIRE_SIGNED_ENV, "")
    value = raw.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise UsageError(
        f"{REQUIRE_SIGNED_ENV}={raw!r} is not a yes/no value",
        hint=f"set it to 1 to refuse models that are not signed, or 0 ({', '.join(_YES)} mean yes)",
    )


def _plain_file_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..", MODEL_CARD)
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not name.startswith(".")
    )


def save_model(
    model: Any,
    card: dict[str, Any],
    *,
    name: str,
    models: str | os.PathLike[str] | None = None,
    extra_files: dict[str, str | bytes] | None = None,
    lock: NameLock | None = None,
) -> ModelRef:
    """Write a new version of model ``name``: joblib file, extra files (text, or bytes
    written as they are, e.g. an encrypted table), and the card listing them all (signed
    when ``CUSTRISK_SIGNING_KEY`` is set).

    The folder appears complete or not at all (written under ``.VERSION.partial``, then
    renamed), under the name's lock: pass ``lock`` when the caller already holds it
    (see :func:`custrisk.registry.lock_model_name`), else it is taken here.

    Raises
    ------
    UsageError
        When the name is not allowed, or another live process is writing a version of it.
    """
    root = models_dir(models)
    for filename in extra_files or {}:
        if not _plain_file_name(filename) or filename == MODEL_FILE:
            raise UsageError(f"extra model file name {filename!r} is not allowed")
    if lock is not None:
        if (lock.root, lock.name) != (root, name):
            raise UsageError(f"the lock held is for model {lock.name!r} in {lock.root}")
        return _save_locked(model, card, root=root, name=name, extra_files=extra_files)
    with lock_model_name(name, root):
        return _save_locked(model, card, root=root, name=name, extra_files=extra_files)


def _save_locked(
    model: Any,
    card: dict[str, Any],
    *,
    root: Path,
    name: str,
    extra_files: dict[str, str | bytes] | None,
) -> ModelRef:
    import joblib

    version = next_version(root, name)
    final = root / name / str(version)
    staging = root / name / f".{version}.partial"
    staging.mkdir(mode=0o700)
    try:
        with atomic_path(staging / MODEL_FILE, sensitive=False) as tmp:
            joblib.dump(model, tmp, compress=3)
        for filename, text in (extra_files or {}).items():
            if isinstance(text, bytes):
                write_bytes(staging / filename, text, sensitive=False)
            else:
                write_text(staging / filename, text, sensitive=False)
        artifact = staging / MODEL_FILE
        files = {
            path.name: {"sha256": sha256_file(path), "bytes": path.stat().st_size}
            for path in sorted(staging.iterdir())
        }
        card = {
            "format_version": FORMAT_VERSION,
            "model_id": f"{name}@{version}",
            "name": name,
            "version": version,
            "created_at": recorded_now().isoformat(),  # (SOURCE_DATE_EPOCH pins it)
            **card,
            "libraries": library_versions(),
            "artifact": {"file": MODEL_FILE, **files[artifact.name]},
            "files": files,
        }
        key = _signing_key()
        if key is not None:
            _warn_of_a_weak_key(key)
            card["signature"] = {
                "algorithm": "hmac-sha256",
                "value": hmac.new(key, _canonical(card), hashlib.sha256).hexdigest(),
            }
        write_text(
            staging / MODEL_CARD,
            json.dumps(card, ensure_ascii=False, indent=2, allow_nan=False) + "\n",
            sensitive=False,
        )
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("saved model %s@%d to %s", name, version, final)
    ref = ModelRef(name, version, final)
    # the folder hashed in the command's audit line: the model it made, and custrisk
    # audit trace vouches for its files by it
    audit_event(outputs=[final], model=ref.model_id)
    return ref


def _parse_card(card_path: Path, data: bytes) -> dict[str, Any]:
    try:
        card = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ModelArtifactError(
            f"{card_path}: model card is not valid JSON ({exc})",
            hint="the card was damaged or edited; retrain the model",
        ) from None
    if not isinstance(card, dict) or card.get("format_version") != FORMAT_VERSION:
        raise ModelArtifactError(
            f"{card_path}: unsupported model card format "
            f"{card.get('format_version') if isinstance(card, dict) else '?'}",
            hint=f"this custrisk reads format {FORMAT_VERSION} (a card that lists and signs "
            "every file of the model folder); retrain the model",
        )
    return card


def _read_card_bytes(ref: ModelRef) -> bytes:
    card_path = ref.path / MODEL_CARD
    try:
        return card_path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise ModelArtifactError(
            f"{card_path}: model card missing",
            hint="the model folder is incomplete (a copy cut short, or a folder made by "
            "hand): restore it from a backup or retrain the model; to use another version, "
            "name it (NAME@VERSION: custrisk models list) or remove the folder",
        ) from None


def _check_signature(
    card_path: Path,
    card: dict[str, Any],
    *,
    require_signed: bool,
    allow_unverified: bool,
    warn: bool = True,
) -> str:
    """How far the card can be trusted, or a ModelArtifactError; ``warn=False`` for a
    check that loads nothing (the unverified warning is about running the pickle)."""
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
        return TRUST_VERIFIED
    if require_signed:
        # (custrisk serve requires it unless --allow-unsigned; other commands when asked)
        asked = f"custrisk serve, {REQUIRE_SIGNED_ENV}=1 or --require-signed"
        if not signature:
            raise ModelArtifactError(
                f"{card_path}: the model is not signed, and signed models are required ({asked})",
                hint=f"train it again with {SIGNING_KEY_ENV} set, and set it when the model "
                "is loaded; custrisk serve --allow-unsigned serves an unsigned model for a "
                "trial",
            )
        raise ModelArtifactError(
            f"{card_path}: signed models are required ({asked}) but {_no_key()}, so no "
            "signature can be checked",
            hint=f"set {SIGNING_KEY_ENV} to the key the model was signed with",
        )
    if signature:
        if not allow_unverified:
            raise ModelArtifactError(
                f"{card_path}: the model is signed but {_no_key()}, so its signature "
                "cannot be checked; it was not loaded",
                hint=f"set {SIGNING_KEY_ENV} to the key it was signed with (or pass "
                "--allow-unverified to load it unchecked, which is unsafe)",
            )
        if not warn:
            return TRUST_UNVERIFIED
        log.warning(
            "UNVERIFIED MODEL: %s is signed but %s; loading it anyway "
            "(--allow-unverified). Anyone who can write that folder can run code here.",
            card_path.parent,
            _no_key(),
        )
        return TRUST_UNVERIFIED
    return TRUST_UNSIGNED


def _check_identity(ref: ModelRef, card: dict[str, Any], card_path: Path) -> None:
    """The card's name and version are those of the folder it was loaded from."""
    name, version = card.get("name"), card.get("version")
    if (
        not isinstance(name, str)
        or not isinstance(version, int)
        or isinstance(version, bool)
        or card.get("model_id") != f"{name}@{version}"
    ):
        raise ModelArtifactError(
            f"{card_path}: the card's name, version and model_id do not agree "
            f"({name!r}, {version!r}, {card.get('model_id')!r})",
            hint="the card was edited or damaged; retrain the model",
        )
    folder = Path(os.path.abspath(ref.path))
    where = f"{folder.parent.name}/{folder.name}"
    if (folder.parent.name, folder.name) != (name, str(version)) or (
        ref.name,
        ref.version,
    ) != (name, version):
        raise ModelArtifactError(
            f"{card_path}: the card is model {name}@{version} but its folder is {where}",
            hint=f"a model version stays in the folder it was saved to ({name}/{version}); "
            "move it back there (a copy under another name or version is refused), or "
            "retrain",
        )


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


def _manifest(card: dict[str, Any], card_path: Path) -> dict[str, tuple[str, int]]:
    """``{file name: (sha256, size)}`` from the card's file list, checked for shape."""
    files = card.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise ModelArtifactError(
            f"{card_path}: the card lists no files (or not {MODEL_FILE})",
            hint="the card was edited or damaged; retrain the model",
        )
    manifest: dict[str, tuple[str, int]] = {}
    for name, entry in files.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("bytes") if isinstance(entry, dict) else None
        if (
            not _plain_file_name(name)
            or not isinstance(digest, str)
            or not isinstance(size, int)
            or isinstance(size, bool)
            or size < 0
        ):
            raise ModelArtifactError(
                f"{card_path}: key 'files': bad entry {name!r}",
                hint="the card was edited or damaged; retrain the model",
            )
        manifest[name] = (digest, size)
    artifact = card.get("artifact")
    if not isinstance(artifact, dict) or artifact.get("file") != MODEL_FILE:
        raise ModelArtifactError(
            f"{card_path}: key 'artifact': not {MODEL_FILE}",
            hint="the card was edited or damaged; retrain the model",
        )
    if artifact.get("sha256") != manifest[MODEL_FILE][0]:
        raise ModelArtifactError(
            f"{card_path}: keys 'artifact' and 'files' give {MODEL_FILE} different hashes",
            hint="the card was edited or damaged; retrain the model",
        )
    return manifest


def _check_listing(ref: ModelRef, manifest: Mapping[str, tuple[str, int]]) -> None:
    """The folder holds exactly the card and the files it lists."""
    try:
        present = sorted(os.listdir(ref.path))
    except OSError as exc:
        raise ModelArtifactError(
            f"{ref.path}: model folder unreadable ({exc.strerror})",
            hint="check the path and its permissions",
        ) from None
    unexpected = [name for name in present if name != MODEL_CARD and name not in manifest]
    if unexpected:
        raise ModelArtifactError(
            f"{ref.path}: {len(unexpected)} file(s) in the model folder are not listed in "
            f"its card: {join_limited(repr(n) for n in unexpected)}",
            hint="a model folder holds only the files its card lists; remove them, or "
            "restore the folder from a clean copy",
        )


def _read_verified(path: Path, digest: str, size: int) -> bytes:
    """Open ``path`` once, read it and check the bytes read against the card."""
    try:
        handle = path.open("rb")
    except (FileNotFoundError, NotADirectoryError):
        raise ModelArtifactError(
            f"{path}: model file missing", hint="the model folder is incomplete; retrain the model"
        ) from None
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ModelArtifactError(
                f"{path}: not a regular file", hint="restore the model folder from a clean copy"
            )
        found = info.st_size
        data = handle.read(size + 1) if found == size else b""
    if found != size or len(data) != size:
        raise ModelArtifactError(
            f"{path}: SHA-256 check failed: the file does not match its model card "
            f"(expected {size:,} bytes, found {max(found, len(data)):,}); it was not loaded",
            hint="the file was changed or damaged. Retrain or restore it",
        )
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, digest):
        raise ModelArtifactError(
            f"{path}: SHA-256 check failed: the file does not match its model card "
            f"(expected {digest[:12]}…, found {actual[:12]}…); it was not loaded",
            hint="the file was changed or damaged. Retrain or restore it",
        )
    return data


def verify_model(
    ref: ModelRef, *, require_signed: bool | None = None, allow_unverified: bool = False
) -> VerifiedFolder:
    """Check a model folder without unpickling anything.

    In order: the card (and its HMAC signature when ``CUSTRISK_SIGNING_KEY`` is set), that
    the card names this folder's model and version, library compatibility, that the folder
    holds exactly the files the card lists, and each file's size and SHA-256. Each file
    is read once; the verified bytes are returned.

    Parameters
    ----------
    ref : ModelRef
        The model version (see :func:`custrisk.registry.resolve_model`).
    require_signed : bool, optional
        Refuse a model whose signature is not checked with the key; ``None`` reads
        ``CUSTRISK_REQUIRE_SIGNED``.
    allow_unverified : bool
        Load a signed model without the key to check it (a loud warning is logged);
        otherwise it is refused. Ignored when signed models are required.

    Raises
    ------
    ModelArtifactError
        Naming the file and the failed check (exit code 2).
    """
    require = require_signed_default() if require_signed is None else require_signed
    card_path = ref.path / MODEL_CARD
    card = _parse_card(card_path, _read_card_bytes(ref))
    trust = _check_signature(
        card_path, card, require_signed=require, allow_unverified=allow_unverified
    )
    _check_identity(ref, card, card_path)
    check_card_sections(card, card_path)
    _check_libraries(ref, card)
    manifest = _manifest(card, card_path)
    _check_listing(ref, manifest)
    files = {
        name: _read_verified(ref.path / name, digest, size)
        for name, (digest, size) in manifest.items()
    }
    # (an earlier release's flat-table model: its headers masked, as this one saves them)
    headers = clear_headers(card)
    card, files = mask_table_headers(card, files, headers)
    return VerifiedFolder(card, files, trust, headers)


#: The outcome of :func:`check_model`: every check passed and the signature was verified
#: with the key, ...
CHECK_OK = "ok"
#: ... every file matches an unsigned card (no key was set at training, none is now) ...
CHECK_UNSIGNED = "unsigned"
#: ... every file matches a signed card whose signature was not checked (no key set) ...
CHECK_NOT_CHECKED = "signature not checked"
#: ... or a check failed (``ModelCheck.problem`` says which, naming the file).
CHECK_FAILED = "FAILED"


@dataclass(frozen=True)
class ModelCheck:
    """What :func:`check_model` found in one model folder.

    Attributes
    ----------
    status : str
        ``CHECK_OK``, ``CHECK_UNSIGNED``, ``CHECK_NOT_CHECKED`` or ``CHECK_FAILED``.
    problem : str
        For a failed check, the first failure, one line naming the file (relative to
        the model folder) and the check; empty otherwise.
    files : dict
        Each file the card lists -> ``"ok"`` or what is wrong with it (every file is
        hashed, not only up to the first failure); empty when the card itself failed.
    """

    status: str
    problem: str = ""
    files: Mapping[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == CHECK_FAILED

    def summary(self) -> str:
        """One line: the status, and for a failure what failed."""
        return f"{CHECK_FAILED}: {self.problem}" if self.failed else self.status


def check_model(ref: ModelRef) -> ModelCheck:
    """Run the checks of :func:`verify_model` on a model folder for display (``models
    list``, ``models show``): never unpickles, never raises for a bad folder, logs no
    warning for a signed model when no key is set (its status says the signature was
    not checked). Every listed file is hashed, so that ``models show`` can say which.

    Parameters
    ----------
    ref : ModelRef
        The model version.

    Returns
    -------
    ModelCheck
        The status, and for a failure the first problem found.
    """
    card_path = ref.path / MODEL_CARD

    def relative(exc: ModelArtifactError) -> str:
        # the row or the warning already names the model: the file is named within it
        text = exc.message.replace(f"{ref.path}{os.sep}", "").replace(str(ref.path), ".")
        return text.removesuffix("; it was not loaded")

    problems: list[str] = []
    trust = TRUST_UNSIGNED
    try:
        card = _parse_card(card_path, _read_card_bytes(ref))
    except ModelArtifactError as exc:
        return ModelCheck(CHECK_FAILED, relative(exc))
    # The files are hashed whatever the card's checks find, so that a display can tell a
    # changed card from a changed file; each check's first failure is kept.
    try:
        # require_signed=False: a display shows an unsigned model as unsigned rather than
        # failing it, whatever CUSTRISK_REQUIRE_SIGNED says (loading still refuses it)
        trust = _check_signature(
            card_path, card, require_signed=False, allow_unverified=True, warn=False
        )
    except ModelArtifactError as exc:
        problems.append(relative(exc))
    try:
        _check_identity(ref, card, card_path)
        check_card_sections(card, card_path)
        _check_libraries(ref, card)
        manifest = _manifest(card, card_path)
    except ModelArtifactError as exc:
        return ModelCheck(CHECK_FAILED, (problems or [relative(exc)])[0])
    files: dict[str, str] = {}
    for name, (digest, size) in manifest.items():
        try:
            _read_verified(ref.path / name, digest, size)
            files[name] = "ok"
        except ModelArtifactError as exc:
            files[name] = relative(exc).removeprefix(f"{name}: ")
            problems.append(relative(exc))
    try:
        _check_listing(ref, manifest)
    except ModelArtifactError as exc:
        problems.append(relative(exc))
    if problems:
        return ModelCheck(CHECK_FAILED, problems[0], files)
    status = {TRUST_VERIFIED: CHECK_OK, TRUST_UNSIGNED: CHECK_UNSIGNED}.get(
        trust, CHECK_NOT_CHECKED
    )
    return ModelCheck(status, "", files)


def checked_models(
    models: str | os.PathLike[str] | None = None,
) -> list[tuple[dict[str, Any], ModelCheck]]:
    """Every model version in the registry (:func:`~custrisk.registry.store.list_models`,
    sorted by name and version) with its check (:func:`check_model`: nothing loaded)."""
    return [
        (row, check_model(ModelRef(row["name"], row["version"], Path(row["path"]))))
        for row in list_models(models)
    ]


def estimator_types() -> tuple[type, ...]:
    """The classes a custrisk model file may hold."""
    return (estimators.LogisticScorecard, estimators.TreeModel)


def load_model(
    ref: ModelRef,
    *,
    require_signed: bool | None = None,
    allow_unverified: bool = False,
    types: tuple[type, ...] | None = None,
    background: bool = False,
    predict_only: bool = False,
) -> LoadedModel:
    """Verify and load a model version.

    Runs :func:`verify_model`, then unpickles the model from the verified bytes in memory
    (the file is not opened again) and checks that it is one of ``types`` (default:
    custrisk's estimators) before anything uses it.

    Parameters
    ----------
    ref, require_signed, allow_unverified
        As for :func:`verify_model`.
    types : tuple of classes, optional
        What the unpickled object must be an instance of.
    background : bool
        Unpickle in a thread and return at once, once the folder is verified: the
        returned model's ``model`` waits for the estimator when first used (and raises
        an unpickling error then). Unpickling imports scikit-learn, about a second,
        which a command overlaps with reading its exports.
    predict_only : bool
        For a caller that only scores: a scorecard is unpickled as a
        :class:`~custrisk.estimators.fitted.FittedScorecard` (the same attributes and
        predictions, no scikit-learn import); a tree model loads as it was saved. Not
        with ``types``.

    Raises
    ------
    ModelArtifactError
        Naming the file and the failed check (exit code 2).
    """
    verified = verify_model(ref, require_signed=require_signed, allow_unverified=allow_unverified)
    path = ref.path / MODEL_FILE
    data = verified.files.pop(MODEL_FILE)
    if predict_only and types is not None:
        raise UsageError("load_model: predict_only loads custrisk's estimators; not with types")
    if not background:
        model = _unpickle(path, data, types, predict_only, verified.masked_headers)
        return LoadedModel(ref, model, verified.card, verified.files, verified.trust)
    pending: Future[Any] = Future()

    def unpickle() -> None:
        try:
            pending.set_result(_unpickle(path, data, types, predict_only, verified.masked_headers))
        except BaseException as exc:  # handed to whoever asks for the model
            pending.set_exception(exc)

    # not a daemon: a command that stops early (bad data) waits for the import to end
    # rather than the interpreter shutting down under it
    threading.Thread(target=unpickle, name="custrisk-load-model").start()
    return _PendingModel(ref, pending, verified.card, verified.files, verified.trust)


def _unpickle(
    path: Path,
    data: bytes,
    types: tuple[type, ...] | None,
    predict_only: bool = False,
    masked_headers: Mapping[str, str] | None = None,
) -> Any:
    """The estimator pickled in ``data`` (the verified bytes of ``path``), checked to be
    one of ``types`` (default: custrisk's estimators); with ``predict_only``, a scorecard
    as its :class:`~custrisk.estimators.fitted.FittedScorecard`; its labels with
    ``masked_headers`` masked."""
    model = _unpickle_checked(path, data, types, predict_only)
    mask_feature_labels(model, masked_headers or {})
    return model


def _unpickle_checked(
    path: Path, data: bytes, types: tuple[type, ...] | None, predict_only: bool
) -> Any:
    import joblib

    model = _unpickle_fitted(data) if predict_only else None
    if isinstance(model, FittedScorecard):
        return model
    if model is None:
        try:
            model = joblib.load(io.BytesIO(data))
        except Exception as exc:
            raise ModelArtifactError(
                f"{path}: the model could not be unpickled ({type(exc).__name__}: {exc})",
                hint="retrain the model with this environment's libraries",
            ) from None
    allowed = types if types is not None else estimator_types()
    if not isinstance(model, allowed):
        raise ModelArtifactError(
            f"{path}: holds a {type(model).__module__}.{type(model).__qualname__}, not one of "
            f"{', '.join(t.__name__ for t in allowed)}",
            hint="the folder does not hold a model saved by custrisk train; retrain the model",
        )
    return model


def _unpickle_fitted(data: bytes) -> Any:
    """What ``data`` holds, a scorecard as a :class:`FittedScorecard` (its classes
    mapped by :data:`~custrisk.estimators.fitted.STAND_INS`, nothing else changed); None
    when it cannot be read this way (or is an unfitted scorecard): the caller then
    loads it as saved, and reports its errors.

    joblib reads its arrays through its own unpickler, whose ``find_class`` is
    overridden here; the unpickler and the check of the stream's compression are
    joblib's internals (1.3 to 1.6), so a joblib that changed them loads the model as
    saved, only slower."""
    from joblib import numpy_pickle

    class ScoringUnpickler(numpy_pickle.NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            stand_in = STAND_INS.get((module, name))
            return stand_in if stand_in is not None else super().find_class(module, name)

    try:
        with numpy_pickle._validate_fileobject_and_memmap(io.BytesIO(data), "", None) as (
            stream,
            _,
        ):
            model = ScoringUnpickler("", stream, True).load()
    except Exception:  # read as saved, where the error is told
        return None
    if isinstance(model, FittedScorecard) and "coef_" not in model.__dict__:
        return None
    return model


class _PendingModel(LoadedModel):
    """A verified model whose estimator is being unpickled in a thread: ``model`` waits
    for it on first use (and raises the unpickling's error, if any)."""

    @property
    def model(self) -> Any:
        value = self.__dict__["_model"]
        if isinstance(value, Future):
            value = self.__dict__["_model"] = value.result()
        return value

    @model.setter
    def model(self, value: Any) -> None:
        self.__dict__["_model"] = value

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (sent to Dask workers, copied) as the loaded model it stands for
        return (LoadedModel, (self.ref, self.model, self.card, self.files, self.trust))
