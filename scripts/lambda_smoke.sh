#!/usr/bin/env bash
# Smoke test of the Lambda binaries as Lambda runs them: cargo lambda's Lambda runtime API
# emulator (`watch --only-lambda-apis`), the binary `cargo test` built, and `cargo lambda invoke`
# with Firehose event fixtures. Usage: scripts/lambda_smoke.sh TOOLS_DIR (from scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=$1
PY="$TOOLS/venv/bin/python"
export PATH="$TOOLS/venv/bin:$PATH"
BIN=target/debug/spendguard-transform
test -x "$BIN" || cargo build -p spendguard-transform --locked
PIDS=""
cleanup() { if [ -n "$PIDS" ]; then kill $PIDS 2>/dev/null || true; fi; }
trap cleanup EXIT
# Starts cargo lambda's runtime API emulator on a free port (sets PORT; logs to $TOOLS/$1).
start_runtime_api() {
  PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$PORT" --timeout 60 >"$TOOLS/$1" 2>&1 &
  PIDS="$PIDS $!"
  for _ in $(seq 1 150); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
}
start_runtime_api watch.log
AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 AWS_LAMBDA_FUNCTION_NAME=_ \
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$PORT/.rt" AWS_REGION=us-east-1 \
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$BIN" >"$TOOLS/transform.log" 2>&1 &
PIDS="$PIDS $!"
for f in kinesis-many kinesis-bad; do
  cargo lambda invoke _ -A 127.0.0.1 -P "$PORT" \
    --data-file "schemas/fixtures/example-firehose-$f.json" >"$TOOLS/invoke-$f.json"
done
"$PY" - "$TOOLS" <<'PY'
import base64, json, sys
tools = sys.argv[1]
many = json.load(open(f"{tools}/invoke-kinesis-many.json"))["records"]
assert [r["result"] for r in many] == ["Ok"] * 4, many
assert {r["metadata"]["partitionKeys"]["dt"] for r in many} == {"2026-11-20"}
rows = [json.loads(l) for r in many for l in base64.b64decode(r["data"]).decode().splitlines()]
assert len(rows) == 14 and all(r["cost_usd"] for r in rows), len(rows)
bad = json.load(open(f"{tools}/invoke-kinesis-bad.json"))["records"]
assert [r["result"] for r in bad] == ["Dropped", "ProcessingFailed", "ProcessingFailed", "Ok",
                                      "Dropped", "ProcessingFailed"], bad
log = [json.loads(l) for l in open(f"{tools}/transform.log") if l.startswith("{")]
emf = [l for l in log if "_aws" in l]
assert [e["RecordsIn"] for e in emf] == [4, 6], emf
print(f"ok: 2 invocations through the Lambda runtime API, {len(rows)} rows, {len(log) - len(emf)} problem lines")
PY

# The aggregator binary, the same way, applying to DynamoDB on moto ($SPENDGUARD_TEST_MOTO, started
# by scripts/test.sh): the Firehose fixtures' records re-packed as a Kinesis event, invoked twice.
BIN=target/debug/spendguard-aggregator
test -x "$BIN" || cargo build -p spendguard-aggregator --locked
: "${SPENDGUARD_TEST_MOTO:?the aggregator smoke needs moto (scripts/test.sh starts it)}"
TABLE="smoke-$$"
"$PY" - "$SPENDGUARD_TEST_MOTO" "$TABLE" "$TOOLS" <<'PY'
import boto3, json, sys
url, table, tools = sys.argv[1:4]
d = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
d.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
               AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
               KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
recs = []
for f in ("kinesis-many", "kinesis-bad"):
    for r in json.load(open(f"schemas/fixtures/example-firehose-{f}.json"))["records"]:
        recs.append({"kinesis": {"data": r["data"], "partitionKey": "111122223333", "kinesisSchemaVersion": "1.0",
                                 "sequenceNumber": "49590338271490256608559692538361571095921575989%09d" % len(recs)},
                     "eventSource": "aws:kinesis", "eventName": "aws:kinesis:record"})
json.dump({"Records": recs}, open(f"{tools}/kinesis-event.json", "w"))
PY
start_runtime_api watch-agg.log
AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 AWS_LAMBDA_FUNCTION_NAME=_ \
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$PORT/.rt" AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$SPENDGUARD_TEST_MOTO" \
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test SPENDGUARD_LEDGER_TABLE="$TABLE" \
SPENDGUARD_DEDUP_HORIZON_DAYS=3650 "$BIN" >"$TOOLS/aggregator.log" 2>&1 &
PIDS="$PIDS $!"
for i in 1 2; do
  cargo lambda invoke _ -A 127.0.0.1 -P "$PORT" --data-file "$TOOLS/kinesis-event.json" >"$TOOLS/invoke-agg-$i.json"
done
"$PY" - "$SPENDGUARD_TEST_MOTO" "$TABLE" "$TOOLS" <<'PY'
import boto3, json, sys
url, table, tools = sys.argv[1:4]
for i in (1, 2):
    r = json.load(open(f"{tools}/invoke-agg-{i}.json"))
    assert r == {"batchItemFailures": []}, r
log = [json.loads(l) for l in open(f"{tools}/aggregator.log") if l.startswith("{")]
emf = [l for l in log if "_aws" in l]
assert [e["RecordsIn"] for e in emf] == [10, 10], emf
assert emf[0]["InvocationsApplied"] > 0 and emf[1]["InvocationsApplied"] == 0, emf
assert emf[1]["DuplicatesSkipped"] == emf[0]["InvocationsApplied"], emf
d = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
items = d.scan(TableName=table)["Items"]
markers = [i for i in items if i["sk"]["S"] == "req"]
assert len(markers) == emf[0]["InvocationsApplied"], (len(markers), emf[0])
print(f"ok: aggregator applied {len(markers)} invocations once over 2 deliveries, "
      f"{len(items) - len(markers)} window items, {emf[0]['ComputedWriteUnits']} computed WCU")
PY
