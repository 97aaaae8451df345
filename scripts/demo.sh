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

echo "== 6. Score this month: PD, score, reasons, grade, limits and early warnings"
$CR score "$OUT/exports" --model logistic --models-dir "$OUT/models" --out "$OUT/run/scores.csv"

echo "== 7. The red alerts, for the people who handle them"
$CR alerts "$OUT/run/scores.csv" --level red

echo "== 8. PDF risk reports: every customer of the committed sample export, and the portfolio"
$CR score sample_data --model logistic --models-dir "$OUT/models" --out "$OUT/sample_run/scores.csv"
$CR report "$OUT/sample_run/scores.csv" --out "$OUT/reports"
$CR report "$OUT/sample_run/scores.csv" --out "$OUT/reports_en" --lang en --grade E

echo "== 9. Next month's export has drifted: score it against this month, then gate on drift"
$CR sample-data "$OUT/exports_next" --customers 2000 --seed 7 --drift 0.5
$CR score "$OUT/exports_next" --model logistic --models-dir "$OUT/models" \
  --out "$OUT/run_next/scores.csv" --previous "$OUT/run/scores.csv"
set +e
$CR drift "$OUT/exports_next" --model logistic --models-dir "$OUT/models" \
  --format junit --out "$OUT/run_next/drift.xml"
code=$?
set -e
if [ "$code" != 1 ]; then
  echo "expected exit code 1 from the drift check on drifted data, got $code" >&2
  exit 1
fi
echo "   drift found (exit 1, as a CI gate would): $OUT/run_next/drift.xml"
echo "== 10. Real-time decisions for new customers: custrisk serve (scripts/demo_serve.sh)"
CR=$CR bash scripts/demo_serve.sh "$OUT/serve"
echo "Demo finished: see $OUT/"
