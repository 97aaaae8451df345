#!/usr/bin/env bash
# Set up custrisk, then run the monthly job end to end on generated demo exports.
# Outputs go to demo_output/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CR=.venv/bin/custrisk
OUT=demo_output
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1. Generate this month's exports (2,000 customers) and a dirty GBK copy"
$CR sample-data "$OUT/exports" --customers 2000 --seed 7
$CR sample-data "$OUT/exports_dirty" --customers 2000 --seed 7 --dirty --encoding gbk

echo "== 2. Validate the clean exports (exit 0 expected)"
$CR validate "$OUT/exports" --out "$OUT/validation"

echo "== 3. Validate the dirty GBK exports (rows rejected: exit 1 expected)"
set +e
$CR validate "$OUT/exports_dirty" --out "$OUT/validation_dirty"
code=$?
set -e
if [ "$code" != 1 ]; then
  echo "expected exit code 1 from validating dirty data, got $code" >&2
  exit 1
fi
echo "   rejected rows are listed in $OUT/validation_dirty/rejects.csv"

echo "== 4. Indicators of every customer"
$CR indicators "$OUT/exports" --out "$OUT/indicators.csv"

echo "== 5. Train a WOE logistic scorecard and a decision tree"
$CR train "$OUT/exports" --labels "$OUT/exports/labels.csv" --algorithm logistic --models-dir "$OUT/models"
$CR train "$OUT/exports" --labels "$OUT/exports/labels.csv" --algorithm tree --models-dir "$OUT/models"
$CR models list --models-dir "$OUT/models"

echo "== 6. Score this month's customers"
$CR score "$OUT/exports" --model logistic --models-dir "$OUT/models" --out "$OUT/run/scores.csv"
echo "Demo finished: see $OUT/"
