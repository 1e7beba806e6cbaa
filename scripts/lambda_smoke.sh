#!/usr/bin/env bash
# Smoke test of the Lambda binaries as Lambda runs them: cargo lambda's Lambda runtime API
# emulator (`watch --only-lambda-apis`), the binary, and `cargo lambda invoke` with Firehose,
# Kinesis, DynamoDB Stream and EventBridge events. With SAM_BUILD_DIR the binaries are the
# `bootstrap` artifacts `sam build` produced (what would be deployed), else the debug builds.
# Usage: scripts/lambda_smoke.sh TOOLS_DIR [SAM_BUILD_DIR] (from scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=$1
SAM_BUILD=${2:-}
PY="$TOOLS/venv/bin/python"
export PATH="$TOOLS/venv/bin:$PATH"
# The binary for a function: bin_of CARGO_BIN SAM_LOGICAL_ID
bin_of() {
  if [ -n "$SAM_BUILD" ]; then
    test -x "$SAM_BUILD/$2/bootstrap" || { echo "FAIL: sam build produced no $SAM_BUILD/$2/bootstrap" >&2; exit 1; }
    echo "$SAM_BUILD/$2/bootstrap"
  else
    test -x "target/debug/$1" || cargo build --locked --bin "$1" >&2
    echo "target/debug/$1"
  fi
}
BIN=$(bin_of spendguard-transform TransformFunction)
echo "transform: $BIN"
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
BIN=$(bin_of spendguard-aggregator AggregatorFunction)
echo "aggregator: $BIN"
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
assert emf[0]["SpendMicroUsd"] > 0 and emf[0]["InputTokens"] > 0, emf  # the dashboard's spend and tokens
d = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
items = d.scan(TableName=table)["Items"]
markers = [i for i in items if i["sk"]["S"] == "req"]
assert len(markers) == emf[0]["InvocationsApplied"], (len(markers), emf[0])
print(f"ok: aggregator applied {len(markers)} invocations once over 2 deliveries, "
      f"{len(items) - len(markers)} window items, {emf[0]['ComputedWriteUnits']} computed WCU")
PY

# The evaluator and the enforcer binaries, the same way, on moto: a window item over its budget
# (today, UTC) as a DynamoDB Stream record -> the evaluator publishes to a custom bus; the
# enforcer, given the threshold event, attaches the deny policy to the IAM user; a second invoke
# changes nothing.
EVALUATOR_BIN=$(bin_of spendguard-evaluator EvaluatorFunction)
ENFORCER_BIN=$(bin_of spendguard-enforcer EnforcerFunction)
echo "evaluator: $EVALUATOR_BIN, enforcer: $ENFORCER_BIN"
ENF="enf-smoke-$$"
"$PY" - "$SPENDGUARD_TEST_MOTO" "$TABLE" "$ENF" "$TOOLS" <<'PY'
import boto3, datetime, json, sys, time
url, ledger, enf, tools = sys.argv[1:5]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
d, iam, sns, ev = (boto3.client(s, **kw) for s in ("dynamodb", "iam", "sns", "events"))
S = lambda n: {"AttributeName": n, "AttributeType": "S"}
d.create_table(TableName=enf, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=[S("pk"), S("sk"), S("watch")],
               KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
               GlobalSecondaryIndexes=[{"IndexName": "watching", "Projection": {"ProjectionType": "KEYS_ONLY"},
                   "KeySchema": [{"AttributeName": "watch", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}]}])
user = f"{enf}-alice"
iam.create_user(UserName=user)
doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["bedrock:InvokeModel"], "Resource": "*"}]}
policy = iam.create_policy(PolicyName=f"{enf}-deny", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
topic = sns.create_topic(Name=f"{enf}-alerts")["TopicArn"]
ev.create_event_bus(Name=f"{enf}-bus")
arn = f"arn:aws:iam::123456789012:user/{user}"
now = datetime.datetime.now(datetime.timezone.utc)
day = now.strftime("%Y-%m-%d")
ms = str(int(time.time() * 1000))
item = {"pk": {"S": f"principal#{arn}"}, "sk": {"S": f"day#{day}"}, "scope": {"S": "principal"}, "key": {"S": arn},
        "window": {"S": "day"}, "window_start": {"S": day}, "spend_usd": {"N": "5.5"}, "input_tokens": {"N": "10"},
        "output_tokens": {"N": "5"}, "cache_read_tokens": {"N": "0"}, "cache_write_tokens": {"N": "0"},
        "invocations": {"N": "1"}, "first_event_ms": {"N": ms}, "last_event_ms": {"N": ms}}
d.put_item(TableName=ledger, Item=item)
json.dump({"Records": [{"eventName": "INSERT", "eventSource": "aws:dynamodb",
                        "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "NewImage": item,
                                     "SequenceNumber": "100000000000000000001", "StreamViewType": "NEW_AND_OLD_IMAGES"}}]},
          open(f"{tools}/stream-event.json", "w"))
fx = json.load(open("schemas/fixtures/example-eventbridge-threshold.json"))
fx["detail"].update(key=arn, window_start=day)
json.dump(fx, open(f"{tools}/threshold-event.json", "w"))
open(f"{tools}/enf.env", "w").write(f"POLICY={policy}\nTOPIC={topic}\nUSER={user}\n")
PY
. "$TOOLS/enf.env"
SMOKE_BUDGETS=$'[defaults]\ndaily_usd = "5"\nmonthly_usd = "1000"\ngrace_seconds = 0\n'
for b in evaluator enforcer; do
  start_runtime_api "watch-$b.log"
  AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_FUNCTION_NAME=_ \
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$PORT/.rt" AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$SPENDGUARD_TEST_MOTO" \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test SPENDGUARD_LEDGER_TABLE="$TABLE" \
  SPENDGUARD_ENFORCEMENT_TABLE="$ENF" SPENDGUARD_EVENT_BUS="$ENF-bus" SPENDGUARD_ALERT_TOPIC_ARN="$TOPIC" \
  SPENDGUARD_DENY_POLICY_ARN="$POLICY" SPENDGUARD_BUDGETS="$SMOKE_BUDGETS" \
  "$([ "$b" = evaluator ] && echo "$EVALUATOR_BIN" || echo "$ENFORCER_BIN")" >"$TOOLS/$b.log" 2>&1 &
  PIDS="$PIDS $!"
  data="$TOOLS/threshold-event.json"; [ "$b" = evaluator ] && data="$TOOLS/stream-event.json"
  for i in 1 2; do
    cargo lambda invoke _ -A 127.0.0.1 -P "$PORT" --data-file "$data" >"$TOOLS/invoke-$b-$i.json"
  done
done
"$PY" - "$SPENDGUARD_TEST_MOTO" "$USER" "$POLICY" "$TOOLS" <<'PY'
import boto3, json, sys
url, user, policy, tools = sys.argv[1:5]
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
load = lambda n: json.load(open(f"{tools}/{n}"))
for i in (1, 2):
    assert load(f"invoke-evaluator-{i}.json") == {"batchItemFailures": []}
emf = [json.loads(l) for l in open(f"{tools}/evaluator.log") if l.startswith("{") and "_aws" in l]
assert [e["BudgetEvents"] for e in emf] == [2, 0], emf  # threshold + state, then nothing new
first, second = load("invoke-enforcer-1.json"), load("invoke-enforcer-2.json")
assert [d["action"] for d in first["decisions"]] == ["alert", "alert", "alert", "suspend"], first
assert second["decisions"] == [] and second["alerts_already_sent"] == 3, second  # each alert once
attached = [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]
assert attached == [policy], attached
emf = [json.loads(l) for l in open(f"{tools}/enforcer.log") if l.startswith("{") and "_aws" in l]
assert [e["Suspensions"] for e in emf] == [1, 0], emf
print(f"ok: the evaluator published 2 events once; the enforcer suspended {user} once (deny attached), alerts not repeated")
PY

# The price refresh binary, the same way: offer files served over HTTP by a local server (as
# pricing.us-east-1.amazonaws.com lays them out) and the overlay written to a versioned bucket on
# moto; the first invoke writes it, the second finds nothing to change.
REFRESH_BIN=$(bin_of spendguard-refresh RefreshFunction)
echo "refresh: $REFRESH_BIN"
OFFERS="$TOOLS/offers-site"
BUCKET="prices-smoke-$$"
"$PY" - "$SPENDGUARD_TEST_MOTO" "$BUCKET" "$OFFERS" <<'PY'
import boto3, json, os, shutil, sys
url, bucket, site = sys.argv[1:4]
svc = "AmazonBedrockFoundationModels"
offer = f"/offers/v1.0/aws/{svc}/20260501202025/us-east-1/index.json"
shutil.rmtree(site, ignore_errors=True)
os.makedirs(os.path.dirname(site + offer))
os.makedirs(f"{site}/offers/v1.0/aws/{svc}/current")
shutil.copy(f"tests/fixtures/aws-price-list-offer/{svc}-us-east-1-index.json", site + offer)
json.dump({"formatVersion": "v1.0", "regions": {"us-east-1": {"regionCode": "us-east-1", "currentVersionUrl": offer}}},
          open(f"{site}/offers/v1.0/aws/{svc}/current/region_index.json", "w"))
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket=bucket)
s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
PY
HTTP_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$OFFERS" >"$TOOLS/offers-http.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 100); do
  "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $HTTP_PORT), 0.2)" 2>/dev/null && break
  sleep 0.1
done
start_runtime_api watch-refresh.log
AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024 AWS_LAMBDA_FUNCTION_NAME=_ \
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$PORT/.rt" AWS_REGION=us-east-1 AWS_ENDPOINT_URL="$SPENDGUARD_TEST_MOTO" \
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test SPENDGUARD_PRICES_BUCKET="$BUCKET" \
SPENDGUARD_OFFERS_URL="http://127.0.0.1:$HTTP_PORT" SPENDGUARD_PRICE_SERVICES=AmazonBedrockFoundationModels \
"$REFRESH_BIN" >"$TOOLS/refresh.log" 2>&1 &
PIDS="$PIDS $!"
for i in 1 2; do
  echo '{"spendguard": "price-refresh"}' >"$TOOLS/refresh-event.json"
  cargo lambda invoke _ -A 127.0.0.1 -P "$PORT" --data-file "$TOOLS/refresh-event.json" >"$TOOLS/invoke-refresh-$i.json"
done
"$PY" - "$SPENDGUARD_TEST_MOTO" "$BUCKET" "$TOOLS" <<'PY'
import boto3, json, sys
url, bucket, tools = sys.argv[1:4]
first, second = (json.load(open(f"{tools}/invoke-refresh-{i}.json")) for i in (1, 2))
assert first["outcome"] == "written" and first["versionId"], first
assert second["outcome"] == "unchanged", second
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
text = s3.get_object(Bucket=bucket, Key="prices/overlay.toml")["Body"].read().decode()
assert 'model = "anthropic.claude-opus-4-7"' in text, text[:500]
versions = s3.list_object_versions(Bucket=bucket, Prefix="prices/")["Versions"]
assert len(versions) == 1, versions
emf = [json.loads(l) for l in open(f"{tools}/refresh.log") if l.startswith("{") and "_aws" in l]
assert [e["PriceRefreshSucceeded"] for e in emf] == [1, 1], emf
print(f"ok: the refresh wrote the overlay once ({first['skusMapped']} SKUs mapped, {first['entries']} entries), "
      f"then found nothing to change")
PY
