"""An audited command's files are hashed once: on the way (the encoding scan, the run's
staged tables) and taken back by the audit line only while the file is unchanged."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from custrisk.io.digest import forget_digests, sha256_file, want_digests
from custrisk.io.encoding import scan_text_file


@pytest.fixture(autouse=True)
def _forgotten() -> Iterator[None]:
    forget_digests()
    yield
    forget_digests()


def _swap_content(path: Path, data: bytes) -> None:
    """Rewrite ``path`` with ``data`` (the same size) and give back its modification time:
    the file looks unchanged to everything but its bytes."""
    info = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "exports" / "credit.csv"
    path.parent.mkdir()
    path.write_bytes(b"customer_id,city\n" + b"".join(b"C%06d,Shanghai\n" % i for i in range(500)))
    return path


def test_a_wanted_file_is_hashed_by_its_scan_and_the_digest_taken_back(export: Path) -> None:
    original = hashlib.sha256(export.read_bytes()).hexdigest()
    want_digests([export.parent])  # the audit asks for the folder the command reads
    scan_text_file(export)
    _swap_content(export, export.read_bytes().replace(b"Shanghai", b"Hangzhou"))
    assert sha256_file(export, reuse=True) == original  # the scan's digest, not a re-read
    assert sha256_file(export) != original  # (the bytes did change)


def test_an_unwanted_file_is_not_hashed_by_its_scan(export: Path) -> None:
    scan_text_file(export)
    _swap_content(export, export.read_bytes().replace(b"Shanghai", b"Hangzhou"))
    assert sha256_file(export, reuse=True) == hashlib.sha256(export.read_bytes()).hexdigest()


def test_a_file_changed_since_its_digest_was_taken_is_hashed_again(export: Path) -> None:
    want_digests(())
    sha256_file(export, remember=True)
    with export.open("ab") as handle:  # appended to: another size
        handle.write(b"C999999,Beijing\n")
    assert sha256_file(export, reuse=True) == hashlib.sha256(export.read_bytes()).hexdigest()


def test_digests_are_kept_only_while_an_audited_command_runs(export: Path) -> None:
    sha256_file(export, remember=True)  # no audited command: nothing kept
    _swap_content(export, export.read_bytes().replace(b"Shanghai", b"Hangzhou"))
    assert sha256_file(export, reuse=True) == hashlib.sha256(export.read_bytes()).hexdigest()


def test_a_link_swapped_while_it_is_read_files_no_digest_under_the_other_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link pointed at another file while it is opened, and back before the read
    ends: the digest of the file read was remembered under the identity of the file the
    link names, and the audit then recorded it for a file with other bytes."""
    real, other, link = tmp_path / "real.csv", tmp_path / "other.csv", tmp_path / "in.csv"
    real.write_bytes(b"customer_id\nC1\n")
    other.write_bytes(b"customer_id\nC2\n")
    link.symlink_to(real)
    opened = Path.open

    def swapped(self: Path, *args: object, **kwargs: object) -> object:
        if self != link:
            return opened(self, *args, **kwargs)  # type: ignore[call-overload]
        link.unlink()
        link.symlink_to(other)
        handle = opened(self, *args, **kwargs)  # type: ignore[call-overload]
        link.unlink()
        link.symlink_to(real)
        return handle

    want_digests([tmp_path])
    with monkeypatch.context() as patched:
        patched.setattr(Path, "open", swapped)
        sha256_file(link, remember=True)
    assert sha256_file(link, reuse=True) == hashlib.sha256(real.read_bytes()).hexdigest()
