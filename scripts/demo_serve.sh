#!/usr/bin/env bash
# custrisk serve, end to end: train an application model on new customers' application
# fields, start the decision service, score a new customer with curl and with a signed
# 简道云-style data push, list the stored decisions, stop. Outputs go to OUT (default
# demo_output/serve). Run by scripts/demo.sh; on its own after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
CR=${CR:-.venv/bin/custrisk}
OUT=${1:-demo_output/serve}
PORT=${PORT:-8765}
rm -rf "$OUT"
mkdir -p "$OUT"
# The service requires a signed model; the 简道云 push secret is the form's push setting.
export CUSTRISK_SIGNING_KEY=${CUSTRISK_SIGNING_KEY:-demo-signing-key-change-me-0123456789}
export CUSTRISK_JDY_SECRET=${CUSTRISK_JDY_SECRET:-demo-jdy-secret}

echo "== S1. Application data: new customers' fields at application time, outcome 违约"
$CR sample-data "$OUT/data" --format application --customers 3000 --seed 7

echo "== S2. Train an application model (flat table, no YAML)"
$CR -q train "$OUT/data/application.csv" --target 违约 --name application --models-dir "$OUT/models"

echo "== S3. A token for the CRM, then start the service"
TOKEN=$($CR serve-token new crm --scope score --db "$OUT/decisions.db")
$CR serve --model application --models-dir "$OUT/models" --port "$PORT" \
  --db "$OUT/decisions.db" --access-log "$OUT/access.jsonl" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/readyz"; echo

echo "== S4. Score a new customer with curl"
curl -sf -X POST "http://127.0.0.1:$PORT/v1/score" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"客户编号":"AP90000001","姓名":"张伟","手机号":"13812345678","年龄":34,"地区":"华东",
       "行业":"制造业","学历":"本科","月收入":12000,"负债收入比":0.28,"工作年限":8,
       "申请额度":40000,"历史逾期次数":0,"近6月征信查询次数":2,"有房产":"是"}'
echo

echo "== S5. A signed 简道云 data push (X-JDY-Signature = sha1(nonce:payload:secret:timestamp))"
BODY='{"op":"data_create","data":{"_id":"jdy-5f1c2a","年龄":23,"地区":"东北","行业":"建筑业","学历":"高中及以下","月收入":3000,"负债收入比":0.85,"申请额度":20000,"历史逾期次数":5,"近6月征信查询次数":8,"有房产":"否"}}'
TS=$(date +%s)
NONCE=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
SIG=$(printf '%s' "$NONCE:$BODY:$CUSTRISK_JDY_SECRET:$TS" | sha1sum | cut -d' ' -f1)
for attempt in 1 2; do  # 简道云 retries a delivery: the second answer is the stored one
  curl -sf -X POST "http://127.0.0.1:$PORT/hooks/jiandaoyun?timestamp=$TS&nonce=$NONCE" \
    -H 'Content-Type: application/json' -H "X-JDY-Signature: $SIG" \
    -H "X-JDY-DeliverId: demo-delivery-1" --data-binary "$BODY"
  echo
done

echo "== S6. The stored decisions (personal data masked)"
$CR decisions list --db "$OUT/decisions.db"

kill $PID
wait $PID 2>/dev/null || true
trap - EXIT
echo "   service stopped; decisions in $OUT/decisions.db, access log $OUT/access.jsonl"
