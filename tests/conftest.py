"""Shared fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.sample import generate_sample_data
from tests._support import strip_zeros, with_zero_pad

# No test writes to the audit log of the user running the tests (nor prints its note),
# nor reads it (a backup takes the audit log it finds): the default log is one of the
# test run's own, which does not exist. tests/test_audit.py turns auditing on with a log
# and a key of its own.
os.environ["CUSTRISK_AUDIT"] = "off"
_AUDIT_DIR = tempfile.mkdtemp(prefix="custrisk-tests-audit-")
atexit.register(shutil.rmtree, _AUDIT_DIR, True)
os.environ["CUSTRISK_AUDIT_LOG"] = str(Path(_AUDIT_DIR) / "audit.log")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def make_workspace(tmp_path: Path) -> Callable[..., Path]:
    """Write files {name: text or bytes} into a fresh data folder and return it."""
    counter = iter(range(1000))

    def make(files: dict[str, str | bytes]) -> Path:
        folder = tmp_path / f"data{next(counter)}"
        folder.mkdir()
        for name, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            (folder / name).write_bytes(data)
        return folder

    return make


# -- exports holding spreadsheet formulas and personal data in rejected rows -------------

#: Customer ids (and names) that a spreadsheet would run as formulas; the first is
#: full-width and becomes ``=HYPERLINK("X")`` after normalisation.
FORMULA_TEXTS = ('＝HYPERLINK("x")', "=1+1")
#: Names of the credit rows that are rejected or repaired, in order: a bad phone, a bad
#: id number, an extra field, an exact duplicate, spaces around the name. Distinctive,
#: to grep for; the last three show in the rejects' values.
REJECTED_NAMES = ("测试丙三", "测试丁四", "测试戊五", "测试己六", "测试庚七")


@pytest.fixture(scope="session")
def rejected_names() -> tuple[str, ...]:
    """The names of the credit rows of :func:`hostile_exports` that are rejected or
    repaired."""
    return REJECTED_NAMES


def _rewrite_csv(path: Path, edit: Callable[[list[list[str]]], list[list[str]]]) -> None:
    import csv
    import io

    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(edit(rows))
    path.write_text(buffer.getvalue(), encoding="utf-8")


@pytest.fixture(scope="session")
def hostile_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated exports where two customers' ids and names and one region are formulas,
    and credit rows with personal data are rejected or repaired (bad phone, bad id
    number, an extra field, an exact duplicate, a name with spaces)."""
    from custrisk.cli import app

    folder = tmp_path_factory.mktemp("hostile") / "exports"
    result = CliRunner().invoke(
        app, ["sample-data", str(folder), "--customers", "600", "--seed", "11"]
    )
    assert result.exit_code == 0, result.output
    ids = {"0000000001": FORMULA_TEXTS[0], "0000000002": FORMULA_TEXTS[1]}

    def rename(rows: list[list[str]]) -> list[list[str]]:
        column = rows[0].index("customer_id")
        for row in rows[1:]:
            row[column] = ids.get(row[column], row[column])
        return rows

    for name in ("transactions.csv", "behaviour.csv", "labels.csv"):
        _rewrite_csv(folder / name, rename)

    def credit(rows: list[list[str]]) -> list[list[str]]:
        rows = rename(rows)
        header = rows[0]
        name, phone, id_number, region = (
            header.index(c) for c in ("name", "phone", "id_number", "region")
        )
        rows[1][name], rows[2][name] = FORMULA_TEXTS
        rows[9][region] = FORMULA_TEXTS[0]
        for row, new_name in zip(rows[3:8], REJECTED_NAMES, strict=True):
            row[name] = new_name
        rows[3][phone] = "2" + rows[3][phone][1:]  # breaks the phone pattern
        last = rows[4][id_number][-1]
        rows[4][id_number] = rows[4][id_number][:-1] + ("1" if last != "1" else "2")
        rows[5].append("extra")  # one field too many
        rows[7][name] = f" {rows[7][name]} "  # repaired: spaces trimmed
        return [*rows, list(rows[6])]  # an exact duplicate of a row

    _rewrite_csv(folder / "credit.csv", credit)
    return folder


@pytest.fixture(scope="session")
def export_200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean sample export of 200 customers (as of 2026-10-31); copy it before editing."""
    folder = tmp_path_factory.mktemp("export_200")
    generate_sample_data(folder, customers=200, seed=1)
    return folder


@pytest.fixture(scope="session")
def dirty_300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 generated customers with the sample's faults (duplicates, blanks, bad numbers
    and dates, orphans, ...)."""
    folder = tmp_path_factory.mktemp("dirty_300")
    generate_sample_data(folder, customers=300, seed=7, dirty=True)
    return folder


@pytest.fixture(scope="session")
def lost_zeros_200(tmp_path_factory: pytest.TempPathFactory, export_200: Path) -> Path:
    """``export_200`` whose transactions.csv lost the leading zeros of its customer ids
    (``42`` for ``0000000042``, as after an Excel number cell), with ``padded.yaml``
    beside it: the packaged sources config with ``zero_pad: 10`` on that column."""
    folder = tmp_path_factory.mktemp("lost_zeros") / "exports"
    shutil.copytree(export_200, folder)
    strip_zeros(folder / "transactions.csv")
    (folder / "padded.yaml").write_text(with_zero_pad("transactions"), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def models_200(tmp_path_factory: pytest.TempPathFactory, export_200: Path) -> Path:
    """A registry with a logistic model trained on ``export_200``."""
    folder = tmp_path_factory.mktemp("models_200")
    args = ["train", str(export_200), "--labels", str(export_200 / "labels.csv")]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


# -- one generated month of 3,000 customers and the models trained on it, built once ------


@pytest.fixture(scope="session")
def export_3000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean sample export of 3,000 customers (seed 1, as of 2026-10-31); read-only."""
    folder = tmp_path_factory.mktemp("export_3000")
    generate_sample_data(folder, customers=3000, seed=1)
    return folder


@pytest.fixture(scope="session")
def export_3000_other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another 3,000 customers from the same distribution (seed 2); read-only."""
    folder = tmp_path_factory.mktemp("export_3000_other")
    generate_sample_data(folder, customers=3000, seed=2)
    return folder


@pytest.fixture(scope="session")
def models_3000(tmp_path_factory: pytest.TempPathFactory, export_3000: Path) -> Path:
    """A registry with logistic@1 and tree@1 trained on ``export_3000``; read-only (copy a
    model folder before editing it)."""
    folder = tmp_path_factory.mktemp("models_3000")
    for algorithm in ("logistic", "tree"):
        args = ["train", str(export_3000), "--labels", str(export_3000 / "labels.csv")]
        args += ["--algorithm", algorithm, "--models-dir", str(folder)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert f"Model id: {algorithm}@1" in result.stdout
    return folder


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL cluster for the whole run (tests/_postgres.py): ``admin``
    URL, ``port``, ``folder``. Skips with the reason when PostgreSQL cannot run here."""
    from tests._postgres import throwaway_cluster, unavailable_reason

    why = unavailable_reason()
    if why is not None:
        pytest.skip(why)
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def short_scheduler_timeout(monkeypatch: pytest.MonkeyPatch) -> int:
    """The Dask engine's scheduler timeout (``SCHEDULER_TIMEOUT``, 5 s) cut to 1 s in this
    process, for tests of an address where no scheduler answers: Dask retries a refused
    connection until that timeout, so the message comes after it, whatever its length.
    The timeout in seconds."""
    cluster = pytest.importorskip("custrisk.engine.cluster")
    monkeypatch.setattr(cluster, "SCHEDULER_TIMEOUT", 1)
    return 1


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """A real Dask LocalCluster of 2 worker processes (one thread each) and its client,
    shared by the Dask engine's tests; skips when Dask distributed is not installed."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
