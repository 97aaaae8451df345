"""A whole month's outputs stay byte-identical: validation, indicators and a scoring run
of the committed sample data are compared with golden files.

The golden files are the outputs of this version; a change to any of them must be
intended. Regenerate them only on purpose, with
``CUSTRISK_UPDATE_GOLDEN=1 pytest tests/test_golden_run.py``, and review the diff.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
GOLDEN = Path(__file__).parent / "golden" / "run"
UPDATE = os.environ.get("CUSTRISK_UPDATE_GOLDEN", "") not in ("", "0")


def _invoke(*args: object, code: int = 0) -> None:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output


@pytest.fixture(scope="module")
def golden_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the golden run: data/, validation/, models/, run/ and the indicators."""
    root = tmp_path_factory.mktemp("golden_run")
    data = root / "data"
    shutil.copytree(SAMPLE, data)
    # A few faults, so that the rejects and the repairs are part of the comparison.
    credit = (data / "credit.csv").read_text(encoding="utf-8").splitlines()
    southwest = next(i for i, line in enumerate(credit) if ",西南," in line)
    credit[southwest] = credit[southwest].replace(",西南,", ",  西南 ,")  # repaired: trimmed
    credit[5] = credit[5] + ",surplus"  # rejected: a field too many
    (data / "credit.csv").write_text("\n".join(credit) + "\n", encoding="utf-8")
    _invoke("validate", data, "--out", root / "validation", code=1)
    _invoke("indicators", data, "--out", root / "indicators.csv")
    _invoke("train", data, "--labels", data / "labels.csv", "--models-dir", root / "models")
    _invoke(
        "score",
        data,
        "-m",
        "logistic",
        "--models-dir",
        root / "models",
        "-o",
        root / "run" / "scores.csv",
    )
    return root


@pytest.fixture(scope="module")
def outputs(golden_root: Path) -> dict[str, bytes]:
    """Every output of validate, indicators, train and score on the sample data."""
    root = golden_root
    run = root / "run"
    details = pd.read_parquet(run / "scores.details.parquet")
    files = {
        "rejects.csv": (root / "validation" / "rejects.csv").read_bytes(),
        "validation_report.json": _without_paths(root / "validation" / "validation_report.json"),
        "indicators.csv": (root / "indicators.csv").read_bytes(),
        "indicators.rejects.csv": (root / "indicators.rejects.csv").read_bytes(),
        "scores.csv": (run / "scores.csv").read_bytes(),
        "alerts.csv": (run / "alerts.csv").read_bytes(),
        "followups.csv": (run / "followups.csv").read_bytes(),
        "scores.rejects.csv": (run / "scores.rejects.csv").read_bytes(),
        "scores.run.json": _without_paths(
            run / "scores.run.json", drop=("files", "run_id", "facts_sha256")
        ),
        # Parquet bytes carry the writer's version: the details are compared as a table.
        "scores.details.csv": details.to_csv(index=False, lineterminator="\n").encode("utf-8"),
    }
    return files


def _without_paths(path: Path, drop: tuple[str, ...] = ()) -> bytes:
    """JSON with the machine's absolute paths (and parquet-dependent hashes) left out."""
    data = json.loads(path.read_text(encoding="utf-8"))

    def clean(value: object) -> object:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in drop}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, float):
            # The last bits of a fitted number depend on the machine's BLAS and cores.
            return float(f"{value:.10g}")
        if isinstance(value, str) and os.path.isabs(value):
            # Where the checkout or the temporary folder lives is the machine's business.
            return Path(value).name
        return value

    return (json.dumps(clean(data), ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()


NAMES = [
    "rejects.csv",
    "validation_report.json",
    "indicators.csv",
    "indicators.rejects.csv",
    "scores.csv",
    "alerts.csv",
    "followups.csv",
    "scores.rejects.csv",
    "scores.run.json",
    "scores.details.csv",
]


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_byte_identical_to_the_golden_run(outputs: dict[str, bytes], name: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(outputs[name])
        return
    assert golden.is_file(), f"{golden} is missing: run with CUSTRISK_UPDATE_GOLDEN=1"
    expected = golden.read_bytes()
    if outputs[name] != expected:
        got = outputs[name].decode("utf-8-sig").splitlines()
        want = expected.decode("utf-8-sig").splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
            min(len(got), len(want)),
        )
        pytest.fail(
            f"{name} differs from {golden} from line {first + 1}:\n"
            f"  golden: {want[first] if first < len(want) else '<end>'}\n"
            f"  now:    {got[first] if first < len(got) else '<end>'}\n"
            "if the change is intended, regenerate with CUSTRISK_UPDATE_GOLDEN=1 and review"
        )


def test_score_gives_the_same_bytes_under_another_hash_seed_time_zone_and_locale(
    golden_root: Path,
) -> None:
    """docs/architecture.md#reproducibility: a fresh process with another PYTHONHASHSEED,
    TZ, locale and thread count, run from another folder with relative paths, writes the
    same bytes as the in-process run (set order, local dates or number formats would
    show here)."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": "1",
        "TZ": "Asia/Shanghai",
        "LC_ALL": "C",
        "LANG": "C",
        "OMP_NUM_THREADS": "1",
        "ARROW_NUM_THREADS": "1",
        "CUSTRISK_AUDIT": "off",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
    }
    args = ["score", "data", "-m", "logistic", "--models-dir", "models", "-o", "again/scores.csv"]
    done = subprocess.run(
        [sys.executable, "-m", "custrisk", *args],
        cwd=golden_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in (
        "scores.csv",
        "alerts.csv",
        "followups.csv",
        "scores.rejects.csv",
        "scores.run.json",
    ):
        again = (golden_root / "again" / name).read_bytes()
        assert again == (golden_root / "run" / name).read_bytes(), name


def test_the_golden_run_reads_back(outputs: dict[str, bytes]) -> None:
    scores = pd.read_csv(io.BytesIO(outputs["scores.csv"]), dtype={"customer_id": str})
    assert len(scores) == 499  # 500 customers, one rejected for a surplus field
    assert scores["customer_id"].str.len().eq(10).all()  # leading zeros kept


def test_packaged_alert_rules_are_a_workload_a_team_can_handle(outputs: dict[str, bytes]) -> None:
    """docs/policy.md, "Alert volume": at most 15 % of customers with an alert, at most
    2 % red, and every customer who went on to default while already past due with an
    amount overdue (what the red rule used to flag) still gets a red alert."""
    scores = pd.read_csv(
        io.BytesIO(outputs["scores.csv"]), dtype={"customer_id": str}, keep_default_na=False
    )
    details = pd.read_csv(io.BytesIO(outputs["scores.details.csv"]), dtype={"customer_id": str})
    labels = pd.read_csv(SAMPLE / "labels.csv", dtype={"customer_id": str})
    table = scores.merge(details, on="customer_id").merge(labels, on="customer_id")
    alerted = table["alert_level"] != ""
    red = table["alert_level"] == "red"
    assert alerted.mean() <= 0.15
    assert red.mean() <= 0.02
    arrears = (table["ind__max_days_past_due_12m"] > 30) & (table["overdue_amount"] > 0)
    defaulted_in_arrears = arrears & (table["bad"] == 1)
    assert defaulted_in_arrears.sum() > 0
    assert red[defaulted_in_arrears].all()
    # red is worth a call within 24 hours: far more precise than the base rate
    assert table.loc[red, "bad"].mean() > 3 * table["bad"].mean()
