"""Startup: commands that never touch a model do not pay for scikit-learn's import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter on this checkout's sources: its imports are
    the ones a command pays for."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_the_cli_and_the_data_layers_load_without_scikit_learn() -> None:
    code = (
        "import sys, custrisk.cli, custrisk.data, custrisk.indicators, custrisk.scoring\n"
        "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n"
    )
    out = _run(code)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_pandas_engine_loads_neither_dask_nor_the_dask_engine() -> None:
    # custrisk.engine is lazy: the CLI checks --engine and runs the pandas engine through
    # custrisk.engine.choice without importing the Dask engine's modules
    code = (
        "import sys, custrisk.cli, custrisk.engine, custrisk.engine.choice\n"
        "from custrisk.engine import check_engine_options\n"
        "check_engine_options('pandas')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed') "
        "or m.startswith(('custrisk.engine.dask', 'custrisk.engine.partitions'))))\n"
    )
    out = _run(code)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_scoring_a_month_with_a_scorecard_loads_neither_scikit_learn_nor_scipy(
    export_200: Path, models_3000: Path, tmp_path: Path
) -> None:
    # the run written too: nothing after the scoring (policy, alerts, files) imports
    # them; and the drift check of the same month (PDs and scores of the new data)
    code = (
        "import sys\n"
        "from custrisk.scoring import check_data_drift, score_portfolio\n"
        f"run = score_portfolio({str(export_200)!r}, 'logistic', models_dir={str(models_3000)!r})\n"
        f"run.write({str(tmp_path / 'scores.csv')!r})\n"
        f"drift = check_data_drift('logistic', {str(export_200)!r}, models_dir={str(models_3000)!r})\n"
        "print(len(run.scores), drift.model_id, "
        "sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n"
    )
    out = _run(code)
    assert out.stdout.strip() == "200 logistic@1 []", out.stdout + out.stderr
