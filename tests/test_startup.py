"""Startup: commands that never touch a model do not pay for scikit-learn's import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def test_the_cli_and_the_data_layers_load_without_scikit_learn() -> None:
    code = (
        "import sys, custrisk.cli, custrisk.data, custrisk.indicators, custrisk.scoring\n"
        "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
