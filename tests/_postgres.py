"""A throwaway PostgreSQL cluster for tests (initdb in a temp folder, a free port, its
socket in that folder, run as the postgres user under root), shared by the tests that
need a real PostgreSQL. Not a test module: fixtures in conftest.py use it."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PASSWORD = "Zq7-s3cret-pw"  # distinctive: tests grep outputs for it
USER = "custrisk"


def pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why no cluster can be started here (the test skips with it), or None."""
    if pg_bin() is None:
        return (
            "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in "
            "/usr/lib/postgresql/*/bin); scripts/setup.sh installs Debian's postgresql as root"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL"
    return None


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[dict[str, str]]:
    """Start a cluster; yield ``admin`` (a psycopg URL to the postgres database),
    ``port`` and ``folder``; stop and remove it afterwards."""
    bindir = pg_bin()
    assert bindir is not None, unavailable_reason()
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        owner = pwd.getpwnam("postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="custrisk-pg-"))
    data = folder / "data"
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    if owner is not None:
        for path in (folder, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*run_as, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout}\n{done.stderr}"

    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        USER,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        f"--pwfile={pwfile}",
        "--no-sync",
        "-E",
        "UTF8",
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        yield {
            "admin": f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres",
            "port": str(port),
            "folder": str(folder),
        }
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(folder, ignore_errors=True)
