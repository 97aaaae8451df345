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
$CR report "$OUT/run_next/scores.csv" --out "$OUT/reports_next" --history "$OUT/run/scores.csv" \
  --customers 0000000001
echo "   portfolio report with service quality month over month: $OUT/reports_next/portfolio.pdf"
echo "== 10. This month's follow-up plan (回访计划), by owner"
$CR followups "$OUT/run/scores.csv" --limit 5
echo "   the whole plan: $OUT/run/followups.csv (and the followups sheet of a scores.xlsx)"

echo "== 11. Strategy review: this month's run against the outcomes of the following 12 months"
$CR backtest "$OUT/run/scores.csv" --outcomes "$OUT/exports/labels.csv" \
  --target-bad-rate A=1.5%,B=3%,C=8%,D=20% --out "$OUT/review"
$CR backtest "$OUT/run/scores.csv" --outcomes "$OUT/exports/labels.csv" \
  --policy "$OUT/review/proposed_policy.yaml" --out "$OUT/review_whatif" --no-pdf
echo "   grades, alert rules and the proposed policy: $OUT/review/backtest.pdf, backtest.xlsx"
echo "   alert rules against each outcome of labels.csv (went bad, churned, escalated):"
echo "   $OUT/review/alert_effectiveness.csv, alert_effectiveness_churned.csv, _escalated.csv"

echo "== 12. The monthly batch for cron: custrisk run, two consecutive months"
BATCH="$OUT/batch"
mkdir -p "$BATCH/exports"
$CR run --init "$BATCH/run.yaml"
ln -s ../models "$BATCH/models"
cp -r "$OUT/exports" "$BATCH/exports/2026-10"
$CR sample-data "$BATCH/exports/2026-11" --customers 2000 --seed 7 --as-of 2026-11-30
# A local inbox (SMTP server and webhook receiver) stands in for the mail server and the
# WeCom/DingTalk robots; the run's notifications section points at it.
read -r SMTP_PORT HTTP_PORT < <(.venv/bin/python -c "
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(('127.0.0.1', 0))
print(*[s.getsockname()[1] for s in socks])")
.venv/bin/python scripts/demo_inbox.py "$OUT/inbox" --smtp-port "$SMTP_PORT" --http-port "$HTTP_PORT" &
INBOX_PID=$!
trap 'kill $INBOX_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -f "$OUT/inbox/ready" ] && break; sleep 0.2; done
export DEMO_WECOM_URL="http://127.0.0.1:$HTTP_PORT/wecom/send?key=demo"
export DEMO_DINGTALK_URL="http://127.0.0.1:$HTTP_PORT/dingtalk/robot/send?access_token=demo"
export DEMO_DINGTALK_SECRET="SECdemo-signing-secret"
cat >> "$BATCH/run.yaml" <<YAML

notifications:
  min_level: orange
  channels:
    mail:
      type: smtp
      host: 127.0.0.1
      port: $SMTP_PORT
      security: none                # the demo inbox has no TLS; use auto or starttls
      from: risk@example.com
      attach_portfolio: true
      to: {collections: [cuishou@example.com], risk_officer: [fengkong@example.com], default: [risk@example.com]}
    wecom: {type: wecom, url_env: DEMO_WECOM_URL}
    dingtalk: {type: dingtalk, url_env: DEMO_DINGTALK_URL, secret_env: DEMO_DINGTALK_SECRET}
YAML
$CR run "$BATCH/run.yaml" --period 2026-10
$CR run "$BATCH/run.yaml"                 # the latest month: 2026-11, against 2026-10
$CR run "$BATCH/run.yaml" --period 2026-11 | tee "$OUT/batch_again.txt"
grep -q "nothing to do" "$OUT/batch_again.txt" || { echo "expected a no-op rerun" >&2; exit 1; }
echo "   runs: $(ls "$BATCH/runs" | tr '\n' ' ') (run.json, log.jsonl, scores, reports/ in each)"
echo "   notifications the local inbox received (2026-10: every alert is new; 2026-11: only the new ones):"
.venv/bin/python scripts/demo_inbox.py "$OUT/inbox" --summary
kill $INBOX_PID 2>/dev/null || true
echo "== 13. A CRM export (简道云-style workbooks with Chinese headers) through the CRM profile"
$CR sample-data "$OUT/crm" --format crm --customers 600 --seed 7
$CR validate "$OUT/crm" --out "$OUT/crm_validation"   # the profile is chosen: 客户*.xlsx
$CR train "$OUT/crm" --labels "$OUT/crm/labels.csv" --name crm --models-dir "$OUT/models"
$CR score "$OUT/crm" --model crm --models-dir "$OUT/models" --out "$OUT/crm_run/scores.xlsx"
$CR alerts "$OUT/crm_run/scores.csv" --level red --code CR02 --grade E
$CR report "$OUT/crm_run/scores.csv" --out "$OUT/crm_reports" --grade E
$CR init "$OUT/crm" --out "$OUT/crm_configs" --force
echo "   CRM run: $OUT/crm_run/scores.xlsx, reports in $OUT/crm_reports, configs to edit in $OUT/crm_configs"
echo "== 14. Real-time decisions for new customers: custrisk serve (scripts/demo_serve.sh)"
CR=$CR bash scripts/demo_serve.sh "$OUT/serve"
echo "Demo finished: see $OUT/"
