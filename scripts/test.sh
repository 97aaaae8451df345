#!/usr/bin/env bash
# Run the test suite (sets up .venv first when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
exec .venv/bin/python -m pytest -q "$@"
