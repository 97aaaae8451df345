"""Verified backups: the model registry, run folders, configs (and a batch's RUN.yaml
with the configs it names) and the audit log in one
archive with a manifest of SHA-256 hashes, restored only when everything checks.

An archive is a gzip-compressed tar stream (``custrisk-backup-<UTC time>.tar.gz``),
sealed in the encryption envelope when a key is given (``.tar.gz.enc``: every byte then
authenticated, so an altered archive is refused even by someone who recomputes the
hashes), with ``ARCHIVE.sha256`` beside it (``sha256sum -c`` reads it). Members are
stored under the name of the part they belong to (``models/``, ``runs/``, ``configs/``,
``run/``, ``audit/``); ``MANIFEST.json`` comes last and lists every member with its SHA-256, size
and mode.

Restoring reads the archive twice: first to verify every member against the manifest
(nothing is written), then to extract into a staging folder beside the target, checking
each member again; the staging folder is renamed into place only when complete. Member
names are checked before anything: no absolute names, no ``..``, no links, devices or
other special members, no member the manifest does not list, nothing listed missing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from custrisk.errors import CheckFailed, DataError, UsageError
from custrisk.io.atomic import DIR_MODE, ensure_dir
from custrisk.io.digest import sha256_file
from custrisk.protect.audit import default_log_path
from custrisk.protect.envelope import (
    MAGIC_PREFIX,
    SUFFIX,
    EncryptingWriter,
    is_encrypted,
    key_id_in,
    open_decrypted,
)
from custrisk.protect.keys import Key, Keyring
from custrisk.vocab import models_dir

MANIFEST = "MANIFEST.json"
FORMAT = 1
#: The parts an archive may hold, in the order they are written.
PARTS = ("models", "runs", "configs", "run", "audit")
#: A part given as files rather than a folder: a RUN.yaml and the config files it names
#: (``run/`` holds them by their paths from the RUN.yaml's folder)
Source = str | os.PathLike[str] | tuple[Path, ...]
NAME_PREFIX = "custrisk-backup-"
_BLOCK = 1 << 20
#: Bytes read from the start of a member to find its key id (the envelope's header)
_HEAD = 1 << 16


@dataclass
class BackupResult:
    """What :func:`create_backup` wrote."""

    archive: Path
    files: int
    bytes: int
    parts: dict[str, int] = field(default_factory=dict)  # part -> files
    skipped: list[str] = field(default_factory=list)  # links and special files left out
    encrypted_with: str | None = None


@dataclass
class ArchiveCheck:
    """What :func:`verify_backup` found in a sound archive."""

    archive: Path
    manifest: dict[str, Any]
    files: int
    bytes: int


def _walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Regular files under ``root`` (sorted); links and special files with a reason."""
    if root.is_file():
        yield root, None
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames) + sorted(
            d for d in dirnames if Path(dirpath, d).is_symlink()
        ):
            path = Path(dirpath, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                yield path, "a symbolic link"
            elif not stat.S_ISREG(mode):
                yield path, "not a regular file"
            else:
                yield path, None


def default_parts() -> dict[str, Path]:
    """Where each part is when not named: the model registry ($CUSTRISK_MODELS_DIR, else
    ./models), ./runs, ./configs and the audit log (``$CUSTRISK_AUDIT_LOG``, else the
    state folder's)."""
    return {
        "models": models_dir(None),
        "runs": Path("runs"),
        "configs": Path("configs"),
        "audit": default_log_path(),
    }


def backup_sources(
    named: Mapping[str, Source | None],
) -> dict[str, Source]:
    """The parts to back up (for :func:`create_backup`): each part in ``named`` (part
    name -> path, ``None`` when not named) at its path, else at its default place
    (:func:`default_parts`) when something is there, in the order of :data:`PARTS`.

    Raises
    ------
    UsageError
        Nothing named and nothing at the default places.
    """
    defaults = default_parts()
    sources: dict[str, Source] = {}
    for part in PARTS:
        given = named.get(part)
        if given is not None:
            sources[part] = given if isinstance(given, tuple) else Path(given)
        elif part in defaults and defaults[part].exists():
            sources[part] = defaults[part]
    if not sources:
        raise UsageError(
            "nothing to back up: no ./models, ./runs, ./configs or audit log here",
            hint="name them with --models, --runs, --configs, --run, --audit-log",
        )
    return sources


def create_backup(
    sources: Mapping[str, Source],
    out_dir: str | os.PathLike[str],
    *,
    key: Key | None = None,
    now: dt.datetime | None = None,
) -> BackupResult:
    """Archive ``sources`` (part name -> folder or file) into ``out_dir``.

    Parameters
    ----------
    sources : mapping
        Which parts to archive (keys from :data:`PARTS`) and where they are: a folder or
        file, or (``run``) the RUN.yaml and the config files it names.
    out_dir : path
        The folder the archive is written to (created 0700); the archive is written to a
        temporary name and renamed when complete.
    key : Key, optional
        The encryption key: the archive is sealed in the envelope.

    Raises
    ------
    UsageError
        An unknown part, a missing source, or an archive inside a source.
    """
    unknown = [name for name in sources if name not in PARTS]
    if unknown:
        raise UsageError(f"unknown backup part {unknown[0]!r}; use {', '.join(PARTS)}")
    out = ensure_dir(out_dir)
    for name, given in sources.items():
        for source in given if isinstance(given, tuple) else (Path(given),):
            if not source.exists():
                raise UsageError(f"the {name} to back up do not exist: {source}")
            with contextlib.suppress(ValueError):
                out.resolve().relative_to(source.resolve())
                raise UsageError(
                    f"--out {out} is inside the {name} folder {source}",
                    hint="write backups outside the folders they hold",
                )
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    name = f"{NAME_PREFIX}{stamp}.tar.gz" + (SUFFIX if key is not None else "")
    target = out / name
    if target.exists():
        raise UsageError(f"{target} exists already", hint="wait a second and back up again")
    result = BackupResult(target, 0, 0, encrypted_with=key.id if key is not None else None)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "sources": {
            part: str((src[0] if isinstance(src, tuple) else Path(src)).resolve())
            for part, src in sources.items()
        },
        "files": {},
    }
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as sink:
            stream: IO[bytes] = sink
            writer = EncryptingWriter(sink, key) if key is not None else None
            if writer is not None:
                stream = writer  # type: ignore[assignment]
            with tarfile.open(fileobj=stream, mode="w|gz", format=tarfile.PAX_FORMAT) as tar:
                for part in PARTS:
                    if part not in sources:
                        continue
                    given = sources[part]
                    count = (
                        _add_files(tar, part, given, manifest["files"], result)
                        if isinstance(given, tuple)
                        else _add_part(tar, part, Path(given), manifest["files"], result)
                    )
                    result.parts[part] = count
                data = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True)
                _add_bytes(tar, MANIFEST, data.encode("utf-8"))
            if writer is not None:
                writer.close()
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
        write_checksum(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def checksum_file(archive: str | os.PathLike[str]) -> Path:
    """``ARCHIVE.sha256`` beside an archive: its SHA-256 in ``sha256sum`` format."""
    path = Path(archive)
    return path.with_name(path.name + ".sha256")


def write_checksum(archive: Path) -> None:
    """Write ``ARCHIVE.sha256`` for the archive's bytes as they are (private)."""
    sidecar = checksum_file(archive)
    fd = os.open(sidecar, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"{sha256_file(archive)}  {archive.name}\n")  # the format of sha256sum -c


def stated_checksum(sidecar: Path) -> str | None:
    """The SHA-256 a checksum file states (``None``: no such file)."""
    if not sidecar.is_file():
        return None
    stated = sidecar.read_text(encoding="ascii", errors="replace").split()[:1]
    return stated[0] if stated else ""


def _check_checksum(archive: Path) -> None:
    """When the checksum file is there, the archive's bytes must match it (this catches a
    changed byte that no member covers, e.g. in the gzip header of a plain archive)."""
    sidecar = checksum_file(archive)
    stated = stated_checksum(sidecar)
    if stated is not None and stated != sha256_file(archive):
        raise DataError(
            f"the archive's SHA-256 differs from {sidecar.name} (every member checks, but "
            "other bytes changed); nothing was restored",
            file=str(archive),
            hint="restore from another backup, or from this one after checking why",
        )


def _add_files(
    tar: tarfile.TarFile,
    part: str,
    files: tuple[Path, ...],
    listed: dict[str, Any],
    result: BackupResult,
) -> int:
    """A RUN.yaml (first) and the config files it names, by their paths from its folder
    (a file elsewhere by its name): ``run/run.yaml``, ``run/configs/policy.yaml``."""
    base = files[0].resolve().parent
    named: dict[str, Path] = {}
    for path in files:
        try:
            relative = path.resolve().relative_to(base).as_posix()
        except ValueError:
            relative = path.name
        if named.setdefault(relative, path.resolve()) != path.resolve():
            raise UsageError(
                f"two config files of {files[0]} would be archived as {part}/{relative}: "
                f"{named[relative]} and {path}",
                hint="keep the configs a RUN.yaml names beside it (or in a folder under it)",
            )
    found = [item for resolved in dict.fromkeys(named.values()) for item in _walk(resolved)]
    members = {path: relative for relative, path in named.items()}
    return _add_found(tar, part, found, lambda path: members[path.resolve()], listed, result)


def _add_part(
    tar: tarfile.TarFile, part: str, root: Path, listed: dict[str, Any], result: BackupResult
) -> int:
    found = list(_walk(root))
    head = root.with_name(root.name + ".head")  # a log file goes with its signed head
    if root.is_file() and head.is_file():
        found.append((head, None))
    return _add_found(
        tar,
        part,
        found,
        lambda path: path.name if root.is_file() else path.relative_to(root).as_posix(),
        listed,
        result,
    )


def _add_found(
    tar: tarfile.TarFile,
    part: str,
    found: list[tuple[Path, str | None]],
    relative_of: Callable[[Path], str],
    listed: dict[str, Any],
    result: BackupResult,
) -> int:
    count = 0
    for path, problem in found:
        member = f"{part}/{relative_of(path)}"
        if problem:
            result.skipped.append(f"{member} ({problem})")
            continue
        info = tar.gettarinfo(str(path), arcname=member)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            info.size = os.fstat(handle.fileno()).st_size
            tar.addfile(info, _Hashing(handle, digest, info.size))
        listed[member] = {
            "sha256": digest.hexdigest(),
            "bytes": info.size,
            "mode": info.mode & 0o777,
        }
        count += 1
        result.files += 1
        result.bytes += info.size
    return count


class _Hashing(io.RawIOBase):
    """Reads exactly ``size`` bytes of ``source`` while hashing them (a file that grows
    while being archived is cut at the size recorded; one that shrinks is an error)."""

    def __init__(self, source: IO[bytes], digest: Any, size: int) -> None:
        super().__init__()
        self._source, self._digest, self._left = source, digest, size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._source.read(n)
        if len(data) < n:
            raise UsageError(
                f"{getattr(self._source, 'name', 'a file')} shrank while being backed up",
                hint="back up when no custrisk command writes to these folders",
            )
        self._left -= len(data)
        self._digest.update(data)
        return data


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


# -- reading ----------------------------------------------------------------------------


def _archives_in(folder: Path) -> list[Path]:
    """The archives ``custrisk backup`` wrote in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.glob(f"{NAME_PREFIX}*.tar.gz*")
        if p.is_file() and not p.name.endswith(".sha256")
    ]
    return sorted(found, key=lambda p: p.name, reverse=True)


def _check_archive(path: Path, keyring: Keyring | None) -> None:
    """The archive is there and can be opened (a missing archive is not a damaged one)."""
    if path.is_dir():
        newest = _archives_in(path)
        raise DataError(
            "is a folder, not a backup archive",
            file=str(path),
            hint=f"name one of its archives (the newest: {newest[0].name})"
            if newest
            else "name an archive written by custrisk backup (custrisk-backup-*.tar.gz[.enc])",
        )
    if not path.is_file():
        beside = _archives_in(path.parent)
        sidecar = checksum_file(path)
        raise DataError(
            "backup archive not found"
            + (
                f" (its checksum file {sidecar.name} is there: moved or deleted?)"
                if sidecar.is_file()
                else ""
            ),
            file=str(path),
            hint=f"the newest archive in {path.parent} is {beside[0].name}"
            if beside
            else "check the path; archives are named custrisk-backup-<UTC time>.tar.gz[.enc]",
        )
    if is_encrypted(path) and keyring is None:
        raise DataError(
            "the archive is encrypted and no key is available",
            file=str(path),
            hint="set CUSTRISK_KEYFILE or CUSTRISK_KEY to the key that wrote it",
        )


@contextlib.contextmanager
def _open_archive(path: Path, keyring: Keyring | None) -> Iterator[tarfile.TarFile]:
    _check_archive(path, keyring)
    if keyring is not None and is_encrypted(path):
        raw: IO[bytes] = open_decrypted(path, keyring)
    else:
        raw = path.open("rb")
    try:
        # gzip.GzipFile checks the CRC and length of the data at its end (tarfile's own
        # stream reader does not); the caller drains it with _drain after the last member
        unzipped = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            tar = tarfile.open(fileobj=unzipped, mode="r|")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(f"not a custrisk backup archive ({exc})", file=str(path)) from None
        with tar:
            yield tar
            while unzipped.read(_BLOCK):
                pass
    finally:
        raw.close()


def _check_name(name: str, archive: Path) -> str:
    pure = PurePosixPath(name)
    parts = pure.parts
    if (
        not name
        or pure.is_absolute()
        or name.startswith(("/", "\\"))
        or "\\" in name
        or any(p in ("..", ".", "") for p in parts)
        or ":" in parts[0]
        or (name != MANIFEST and parts[0] not in PARTS)
        or (name != MANIFEST and len(parts) < 2)
    ):
        raise DataError(
            f"member {name!r} has an unsafe or unexpected name (absolute, '..', or outside "
            f"{', '.join(PARTS)}); nothing was restored",
            file=str(archive),
            hint="this archive was not written by custrisk backup, or was altered",
        )
    return name


def _members(archive: Path, keyring: Keyring | None) -> Iterator[tuple[str, IO[bytes] | None]]:
    """Each member's name and content stream; every error names the member being read
    (a missing archive, a folder or an encrypted archive without a key are said as such)."""
    _check_archive(archive, keyring)
    current = "(archive header)"
    try:
        with _open_archive(archive, keyring) as tar:
            for info in tar:
                current = info.name
                _check_name(info.name, archive)
                if not info.isreg():
                    kind = "a link" if info.issym() or info.islnk() else "not a regular file"
                    raise DataError(
                        f"member {info.name!r} is {kind}; nothing was restored",
                        file=str(archive),
                        hint="custrisk backups hold regular files only: the archive was altered",
                    )
                yield info.name, tar.extractfile(info)
            current = "(end of archive)"
    except DataError as exc:
        if "member" in exc.message:
            raise
        raise _damaged(archive, current, exc) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _damaged(archive, current, exc) from None


@contextlib.contextmanager
def _reading(archive: Path, name: str) -> Iterator[None]:
    """Errors while reading a member's bytes, as a DataError naming the member."""
    try:
        yield
    except DataError as exc:
        if "member" in exc.message:
            raise
        raise _damaged(archive, name, exc) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _damaged(archive, name, exc) from None


def _damaged(archive: Path, name: str, exc: Exception) -> DataError:
    """A problem found in member ``name``: nothing was restored."""
    if isinstance(exc, DataError):
        message = exc.message.removeprefix(f"{archive}: ")
        return DataError(
            f"member {name!r}: {message}; nothing was restored",
            file=str(archive),
            hint="the archive is damaged or altered; restore from another backup",
        )
    return DataError(
        f"member {name!r}: the archive is damaged ({exc}); nothing was restored",
        file=str(archive),
        hint="restore from another backup",
    )


def _copy_hashing(source: IO[bytes] | None, sink: IO[bytes] | None) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    if source is not None:
        while data := source.read(_BLOCK):
            digest.update(data)
            size += len(data)
            if sink is not None:
                sink.write(data)
    return digest.hexdigest(), size


def _parse_manifest(data: bytes, archive: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        manifest = None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("files"), dict)
    ):
        raise DataError(
            f"member {MANIFEST!r} is not a custrisk backup manifest of format {FORMAT} "
            "(damaged or altered); nothing was restored",
            file=str(archive),
            hint="restore from another backup",
        )
    for name in manifest["files"]:
        _check_name(str(name), archive)
    return manifest


def _check_member(
    name: str, digest: str, size: int, manifest: Mapping[str, Any] | None, archive: Path
) -> None:
    if manifest is None:
        return
    entry = manifest["files"].get(name)
    if entry is None:
        raise DataError(
            f"member {name!r} is not listed in the manifest; nothing was restored",
            file=str(archive),
            hint="the archive was altered",
        )
    if entry.get("sha256") != digest or entry.get("bytes") != size:
        raise DataError(
            f"member {name!r} does not match its SHA-256 in the manifest (corrupted or "
            "altered); nothing was restored",
            file=str(archive),
            hint="restore from another backup",
        )


def verify_backup(archive: str | os.PathLike[str], keyring: Keyring | None = None) -> ArchiveCheck:
    """Read the whole archive and check every member against the manifest; writes
    nothing.

    Raises
    ------
    DataError
        Naming the first member that is damaged, altered, unlisted, missing or unsafe.
    """
    path = Path(archive)
    seen: dict[str, tuple[str, int]] = {}
    manifest: dict[str, Any] | None = None
    for name, source in _members(path, keyring):
        if manifest is not None:
            raise DataError(
                f"member {name!r} comes after the manifest; nothing was restored",
                file=str(path),
                hint="the archive was altered",
            )
        if name == MANIFEST:
            with _reading(path, name):
                data = source.read() if source is not None else b""
            manifest = _parse_manifest(data, path)
            continue
        if name in seen:
            raise DataError(
                f"member {name!r} appears twice; nothing was restored",
                file=str(path),
                hint="the archive was altered",
            )
        with _reading(path, name):
            seen[name] = _copy_hashing(source, None)
    if manifest is None:
        last = f"ends after member {list(seen)[-1]!r}" if seen else "has no member"
        raise DataError(
            f"the archive {last} without its {MANIFEST} (cut short, damaged, or not a "
            "custrisk backup); nothing was restored",
            file=str(path),
        )
    for name, (digest, size) in seen.items():
        _check_member(name, digest, size, manifest, path)
    missing = sorted(set(manifest["files"]) - set(seen))
    if missing:
        named = ", ".join(repr(name) for name in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DataError(
            f"{'member' if len(missing) == 1 else 'members'} {named}{more} "
            f"{'is' if len(missing) == 1 else 'are'} listed in the manifest but not in the "
            "archive (removed from it: the archive was rebuilt or altered); nothing was "
            "restored",
            file=str(path),
            hint="restore from another backup",
        )
    _check_checksum(path)
    total = sum(size for _, size in seen.values())
    return ArchiveCheck(path, manifest, len(seen), total)


def check_backup(archive: str | os.PathLike[str], keyring: Keyring | None = None) -> ArchiveCheck:
    """:func:`verify_backup` as ``custrisk backup verify`` reports it: a damaged or
    altered archive is a check that found a problem (CheckFailed, exit 1, naming the first
    bad member), as ``models verify`` says of a model folder; an archive that is not there,
    a folder or an encrypted archive without its key stays a DataError (exit 2)."""
    path = Path(archive)
    _check_archive(path, keyring)
    try:
        return verify_backup(path, keyring)
    except DataError as exc:
        raise CheckFailed(exc.message, hint=exc.hint) from None


def archives_under(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """The archives ``custrisk backup`` wrote among ``paths`` and under their folders."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob(f"{NAME_PREFIX}*.tar.gz*")
                if p.is_file() and not p.name.endswith(".sha256")
            )
        elif path.is_file() and path.name.startswith(NAME_PREFIX) and ".tar.gz" in path.name:
            yield path


def sealed_members(
    archive: str | os.PathLike[str], keyring: Keyring | None
) -> Iterator[tuple[str, str]]:
    """The name and key id of every member sealed in the envelope (a run written with
    ``--encrypt``): reading it once restored needs that key, whatever key seals the
    archive itself (``keys rotate`` re-wraps the archive, not the files inside it)."""
    path = Path(archive)
    for name, source in _members(path, keyring):
        if source is None:
            continue
        with _reading(path, name):
            head = source.read(_HEAD)
            if head.startswith(MAGIC_PREFIX):
                yield name, key_id_in(io.BytesIO(head), f"{path}: {name}")


def restore_backup(
    archive: str | os.PathLike[str],
    to: str | os.PathLike[str],
    keyring: Keyring | None = None,
) -> ArchiveCheck:
    """Verify the whole archive, then extract it into ``to`` (which must not exist or be
    empty): staged beside it and renamed into place once every member checked again.

    Raises
    ------
    DataError
        A damaged or altered archive (nothing is written).
    UsageError
        ``to`` exists and is not empty.
    """
    target = Path(to)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"--to {target} exists and is not empty",
            hint="restore into a new folder, then move what you need",
        )
    check = verify_backup(archive, keyring)
    parent = ensure_dir(target.parent if str(target.parent) else Path("."))
    stage = Path(tempfile.mkdtemp(prefix=".custrisk-restore-", dir=parent))
    try:
        listed = check.manifest["files"]
        restored = 0
        for name, source in _members(Path(archive), keyring):
            if name == MANIFEST:
                continue
            destination = stage.joinpath(*PurePosixPath(name).parts)
            ensure_dir(destination.parent, DIR_MODE)
            fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as sink, _reading(Path(archive), name):
                digest, size = _copy_hashing(source, sink)
            _check_member(name, digest, size, check.manifest, Path(archive))
            os.chmod(destination, int(listed[name].get("mode", 0o600)) & 0o700)
            restored += 1
        if restored != len(listed):
            raise DataError(
                f"the archive changed while it was restored ({restored} of {len(listed)} "
                "members); nothing was restored",
                file=str(archive),
            )
        if target.exists():
            target.rmdir()
        os.replace(stage, target)
        os.chmod(target, DIR_MODE)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return check


__all__ = [
    "MANIFEST",
    "PARTS",
    "ArchiveCheck",
    "BackupResult",
    "backup_sources",
    "check_backup",
    "create_backup",
    "default_parts",
    "restore_backup",
    "verify_backup",
]
